"""Billing: a payment request per won opportunity, its Stripe Checkout sessions and outcome.

Stripe tells us what happened through webhooks that may come twice, late or out
of order. The rules below make the final state depend on the facts, not on the
order they arrive in: money received wins over an expiry or a failure, a refund
only ever follows a payment, and a session that is no longer the current one
cannot expire the request.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from crm_core.aggregate import CrmAggregate
from crm_core.billing.ports import CheckoutSession, NoticeKind, PaymentNotice, StripeMode
from crm_core.checks import FieldErrors
from crm_core.errors import InvalidInputError, OpportunityNotWonError, PaymentError
from crm_core.ids import payment_request_id_for, stripe_event_record_id, stripe_settings_id_for
from crm_core.sales.domainmodel import Opportunity
from crm_core.values import Stage


class PaymentKind(StrEnum):
    """What the request asks for. Deposits, balances and instalments come later."""

    TOTAL = "total"


class PaymentStatus(StrEnum):
    EN_ATTENTE = "en_attente"
    PAYE = "paye"
    ECHOUE = "echoue"
    EXPIRE = "expire"
    REMBOURSE = "rembourse"


class PaymentAlreadyMadeError(PaymentError):
    def __init__(self) -> None:
        super().__init__("Cette opportunité est déjà payée : aucun nouveau lien n’est nécessaire.")


class PaymentRequest(CrmAggregate):
    """A request that a client pays an amount, through one or more Checkout sessions.

    The id derives from (workspace, opportunity, kind), so a double click finds
    the request the first click made. A new session is opened only when the
    previous one can no longer be paid (expired, failed, or for another amount).
    """

    class Requested(CrmAggregate.Created):
        opportunity_id: UUID
        client_id: UUID
        kind: PaymentKind
        amount: Decimal
        currency: str
        description: str

    class CheckoutSessionCreated(CrmAggregate.Event):
        session_id: str
        url: str
        mode: StripeMode
        amount: Decimal
        currency: str
        expires_at: datetime | None

    class PaymentPending(CrmAggregate.Event):
        """The client completed Checkout with a delayed method (SEPA debit, transfer)."""

        session_id: str
        payment_intent_id: str
        stripe_event_id: str

    class Paid(CrmAggregate.Event):
        session_id: str
        payment_intent_id: str
        amount: Decimal
        currency: str
        stripe_event_id: str

    class Failed(CrmAggregate.Event):
        session_id: str
        stripe_event_id: str

    class Expired(CrmAggregate.Event):
        session_id: str
        stripe_event_id: str

    class Refunded(CrmAggregate.Event):
        payment_intent_id: str
        amount_refunded: Decimal
        fully: bool
        stripe_event_id: str

    @staticmethod
    def create_id(workspace_id: UUID, opportunity_id: UUID, kind: str, **_: Any) -> UUID:
        return payment_request_id_for(workspace_id, opportunity_id, PaymentKind(kind).value)

    @classmethod
    def request(cls, *, opportunity: Opportunity, kind: PaymentKind) -> PaymentRequest:
        """Only a won opportunity with an amount above zero can be paid."""
        if opportunity.etape is not Stage.GAGNE:
            raise OpportunityNotWonError(
                "Seule une opportunité gagnée peut recevoir un lien de paiement."
            )
        if not opportunity.montant_estime or opportunity.montant_estime <= 0:
            raise InvalidInputError(
                {"montant_estime": "Le montant de l’opportunité doit être supérieur à zéro."}
            )
        return cls(
            workspace_id=opportunity.workspace_id,
            opportunity_id=opportunity.id,
            client_id=opportunity.client_id,
            kind=kind,
            amount=opportunity.montant_estime,
            currency=opportunity.devise,
            description=opportunity.titre,
        )

    @event(Requested)
    def __init__(
        self,
        workspace_id: UUID,
        opportunity_id: UUID,
        client_id: UUID,
        kind: PaymentKind,
        amount: Decimal,
        currency: str,
        description: str,
    ) -> None:
        self.workspace_id = workspace_id
        self.opportunity_id = opportunity_id
        self.client_id = client_id
        self.kind = kind
        self.amount = amount
        self.currency = currency
        self.description = description
        self.status = PaymentStatus.EN_ATTENTE
        self.sessions: list[str] = []
        self.url = ""
        self.session_expires_at: datetime | None = None
        self.processing = False
        self.payment_intent_id = ""
        self.amount_refunded = Decimal(0)
        self.mode = StripeMode.TEST

    # --- sessions -------------------------------------------------------------
    @property
    def current_session_id(self) -> str:
        return self.sessions[-1] if self.sessions else ""

    @property
    def is_paid(self) -> bool:
        return self.status in (PaymentStatus.PAYE, PaymentStatus.REMBOURSE)

    def open_session_for(self, amount: Decimal, currency: str, now: datetime) -> str | None:
        """The URL of a session the client can still pay for this amount, if any."""
        if self.is_paid:
            raise PaymentAlreadyMadeError
        if self.status is not PaymentStatus.EN_ATTENTE or not self.sessions:
            return None
        if self.processing:  # a delayed payment is on its way: never offer a second one
            return self.url
        if (amount, currency) != (self.amount, self.currency):
            return None
        if self.session_expires_at is not None and self.session_expires_at <= now:
            return None
        return self.url

    @property
    def replaced_session_id(self) -> str:
        """The session still open at Stripe that a new one would replace ('' if none)."""
        if self.status is PaymentStatus.EN_ATTENTE and self.sessions and not self.processing:
            return self.current_session_id
        return ""

    def idempotency_key(self, amount_minor: int, currency: str) -> str:
        """Derived from the request and the attempt: the same attempt asks Stripe once."""
        return f"crm-payment-request-{self.id}-{len(self.sessions) + 1}-{amount_minor}{currency}"

    def record_session(self, session: CheckoutSession, amount: Decimal, currency: str) -> None:
        self._record_session(
            session_id=session.id,
            url=session.url,
            mode=StripeMode.LIVE if session.livemode else StripeMode.TEST,
            amount=amount,
            currency=currency,
            expires_at=session.expires_at,
        )

    @event(CheckoutSessionCreated)
    def _record_session(
        self,
        session_id: str,
        url: str,
        mode: StripeMode,
        amount: Decimal,
        currency: str,
        expires_at: datetime | None,
    ) -> None:
        self.sessions.append(session_id)
        self.mode = mode
        self.url = url
        self.amount = amount
        self.currency = currency
        self.session_expires_at = expires_at
        self.status = PaymentStatus.EN_ATTENTE
        self.processing = False

    # --- what Stripe tells us -------------------------------------------------
    def knows_session(self, session_id: str) -> bool:
        return session_id in self.sessions

    def apply(self, notice: PaymentNotice) -> bool:
        """Record what the notice changes; returns False when it changes nothing."""
        before = self.version
        if notice.kind is NoticeKind.PAID:
            self._on_paid(notice)
        elif notice.kind is NoticeKind.PENDING:
            if not self.is_paid and not self.processing and self.knows_session(notice.session_id):
                self._pending(
                    session_id=notice.session_id,
                    payment_intent_id=notice.payment_intent_id,
                    stripe_event_id=notice.source_event_id,
                )
        elif notice.kind is NoticeKind.FAILED:
            if not self.is_paid and self.knows_session(notice.session_id):
                self._fail(session_id=notice.session_id, stripe_event_id=notice.source_event_id)
        elif notice.kind is NoticeKind.EXPIRED:
            # Only the current, unpaid, not-processing session can expire the request:
            # an older session superseded by a new link, or a late expiry after the
            # payment, changes nothing.
            if (
                self.status is PaymentStatus.EN_ATTENTE
                and not self.processing
                and notice.session_id == self.current_session_id
            ):
                self._expire(session_id=notice.session_id, stripe_event_id=notice.source_event_id)
        elif notice.kind is NoticeKind.REFUNDED:
            self._on_refunded(notice)
        return self.version != before

    def _on_paid(self, notice: PaymentNotice) -> None:
        if self.is_paid or not self.knows_session(notice.session_id):
            return
        self._pay(
            session_id=notice.session_id,
            payment_intent_id=notice.payment_intent_id or self.payment_intent_id,
            amount=notice.amount if notice.amount is not None else self.amount,
            currency=notice.currency or self.currency,
            stripe_event_id=notice.source_event_id,
        )

    def _on_refunded(self, notice: PaymentNotice) -> None:
        if not self.is_paid:
            # A refund is proof the money was received: when it arrives before the
            # payment's own webhook, the payment is recorded first, so `rembourse`
            # always follows `paye` and the late payment webhook changes nothing.
            self._pay(
                session_id=self.current_session_id,
                payment_intent_id=notice.payment_intent_id,
                amount=self.amount,
                currency=self.currency,
                stripe_event_id=notice.source_event_id,
            )
        # Stripe reports the cumulated refunded amount: an older, smaller figure
        # arriving late changes nothing.
        if notice.amount_refunded > self.amount_refunded or (
            notice.fully_refunded and self.status is not PaymentStatus.REMBOURSE
        ):
            self._refund(
                payment_intent_id=notice.payment_intent_id,
                amount_refunded=max(notice.amount_refunded, self.amount_refunded),
                fully=notice.fully_refunded,
                stripe_event_id=notice.source_event_id,
            )

    @event(PaymentPending)
    def _pending(self, session_id: str, payment_intent_id: str, stripe_event_id: str) -> None:
        self.processing = True
        self.payment_intent_id = payment_intent_id
        self.status = PaymentStatus.EN_ATTENTE

    @event(Paid)
    def _pay(
        self,
        session_id: str,
        payment_intent_id: str,
        amount: Decimal,
        currency: str,
        stripe_event_id: str,
    ) -> None:
        self.status = PaymentStatus.PAYE
        self.processing = False
        self.payment_intent_id = payment_intent_id

    @event(Failed)
    def _fail(self, session_id: str, stripe_event_id: str) -> None:
        self.status = PaymentStatus.ECHOUE
        self.processing = False

    @event(Expired)
    def _expire(self, session_id: str, stripe_event_id: str) -> None:
        self.status = PaymentStatus.EXPIRE

    @event(Refunded)
    def _refund(
        self,
        payment_intent_id: str,
        amount_refunded: Decimal,
        fully: bool,
        stripe_event_id: str,
    ) -> None:
        self.amount_refunded = amount_refunded
        if fully:
            self.status = PaymentStatus.REMBOURSE


class ProcessedStripeEvent(CrmAggregate):
    """The record that a Stripe event took effect, saved with the change it caused.

    Its id derives from the Stripe event id: a redelivery of the same event
    conflicts in the event store, so it is acknowledged and counted once.
    """

    class Recorded(CrmAggregate.Created):
        stripe_event_id: str
        event_type: str
        payment_request_id: UUID

    @staticmethod
    def create_id(stripe_event_id: str, **_: Any) -> UUID:
        return stripe_event_record_id(stripe_event_id)

    @event(Recorded)
    def __init__(
        self, workspace_id: UUID, stripe_event_id: str, event_type: str, payment_request_id: UUID
    ) -> None:
        self.workspace_id = workspace_id
        self.stripe_event_id = stripe_event_id


_SECRET_KEY = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9]{8,247}$")
_WEBHOOK_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=]{8,250}$")


def parse_mode(mode: str) -> StripeMode:
    """'test' or 'live', or an InvalidInputError naming the field `mode`."""
    with FieldErrors() as check:
        return check.choice("mode", mode, StripeMode, label="Mode")


def mode_of_secret_key(secret_key: str) -> StripeMode | None:
    match = _SECRET_KEY.match(secret_key)
    return StripeMode(match.group(2)) if match else None


def mask(secret: str) -> str:
    """'sk_test_51H…4242': enough to recognise a key, never enough to use it."""
    if not secret:
        return ""
    parts = secret.split("_")
    # The prefix says what the secret is (sk_test_, rk_live_, whsec_), not its value.
    prefix = "_".join(parts[: min(len(parts) - 1, 2)]) + "_" if len(parts) > 1 else ""
    return f"{prefix}…{secret[-4:]}"


class StripeSettings(CrmAggregate):
    """The workspace's Stripe keys for the test and live modes, and the active mode.

    Events carry the keys only sealed (encrypted by the SecretBox port) and
    masked for display; the clear key never enters the event store.
    """

    class Created(CrmAggregate.Created):
        mode: StripeMode

    class KeysSaved(CrmAggregate.Event):
        mode: StripeMode
        secret_key_sealed: str
        secret_key_hint: str
        webhook_secret_sealed: str
        webhook_secret_hint: str

    class ModeChosen(CrmAggregate.Event):
        mode: StripeMode

    @staticmethod
    def create_id(workspace_id: UUID, **_: Any) -> UUID:
        return stripe_settings_id_for(workspace_id)

    @event(Created)
    def __init__(self, workspace_id: UUID, mode: StripeMode) -> None:
        self.workspace_id = workspace_id
        self.mode = mode
        #: Per mode: (sealed secret key, sealed webhook secret).
        self.sealed: dict[StripeMode, tuple[str, str]] = {}
        #: Per mode: (secret key hint, webhook secret hint), for display.
        self.hints: dict[StripeMode, tuple[str, str]] = {}

    def webhook_secret_of(self, mode: StripeMode) -> tuple[str, str]:
        """The stored (sealed, hint) webhook secret of a mode; empty strings when none."""
        sealed = self.sealed.get(mode, ("", ""))[1]
        hint = self.hints.get(mode, ("", ""))[1]
        return sealed, hint

    @staticmethod
    def check_keys(mode: str, secret_key: str, webhook_secret: str) -> StripeMode:
        with FieldErrors() as check:
            chosen = parse_mode(mode)
            key_mode = mode_of_secret_key(secret_key)
            # (S105 reads these French messages keyed by field name as passwords.)
            if key_mode is None:
                check.add(
                    "cle_secrete",
                    "Clé secrète invalide : elle commence par sk_test_ ou sk_live_ "
                    "(ou rk_ pour une clé restreinte).",
                )
            elif key_mode is not chosen:
                check.add(
                    "cle_secrete", f"Cette clé est une clé {key_mode.value}, pas {chosen.value}."
                )
            if webhook_secret and not _WEBHOOK_SECRET.match(webhook_secret):
                check.add("secret_webhook", "Secret de webhook invalide : il commence par whsec_.")
        return chosen

    def save_keys(
        self,
        mode: StripeMode,
        *,
        secret_key_sealed: str,
        secret_key_hint: str,
        webhook_secret_sealed: str,
        webhook_secret_hint: str,
    ) -> None:
        self._save_keys(
            mode=mode,
            secret_key_sealed=secret_key_sealed,
            secret_key_hint=secret_key_hint,
            webhook_secret_sealed=webhook_secret_sealed,
            webhook_secret_hint=webhook_secret_hint,
        )

    @event(KeysSaved)
    def _save_keys(
        self,
        mode: StripeMode,
        secret_key_sealed: str,
        secret_key_hint: str,
        webhook_secret_sealed: str,
        webhook_secret_hint: str,
    ) -> None:
        self.sealed[mode] = (secret_key_sealed, webhook_secret_sealed)
        self.hints[mode] = (secret_key_hint, webhook_secret_hint)

    def choose_mode(self, mode: str) -> None:
        chosen = parse_mode(mode)
        if chosen not in self.sealed:
            raise PaymentError(
                f"Enregistrez d’abord une clé secrète {chosen.value} avant d’activer ce mode."
            )
        if chosen is not self.mode:
            self._choose_mode(mode=chosen)

    @event(ModeChosen)
    def _choose_mode(self, mode: StripeMode) -> None:
        self.mode = mode
