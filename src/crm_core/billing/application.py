"""Commands of billing: Stripe settings, payment links, and what Stripe tells us back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec

from crm_core.application import CrmApplication, Receipt, command
from crm_core.billing.domainmodel import (
    PaymentKind,
    PaymentRequest,
    PaymentStatus,
    ProcessedStripeEvent,
    StripeSettings,
    mask,
    parse_mode,
)
from crm_core.billing.money import to_minor_units
from crm_core.billing.ports import (
    CheckoutRequest,
    CheckoutSession,
    NoticeKind,
    PaymentGateway,
    PaymentGatewayFactory,
    PaymentNotice,
    PaymentRef,
    StripeCredentials,
    StripeMode,
    payment_ref_from_metadata,
)
from crm_core.errors import (
    ConcurrentChangeError,
    ConflictError,
    NotFoundError,
    PaymentError,
    StripeNotConfiguredError,
)
from crm_core.ids import payment_request_id_for, stripe_event_record_id, stripe_settings_id_for
from crm_core.ports import SecretBox
from crm_core.sales.domainmodel import Client, Opportunity

# Two webhooks about one payment request may be saved at the same instant; the
# loser reloads and applies its notice again. More attempts than this means
# something else is wrong.
_MAX_ATTEMPTS = 5


class _RacedError(ConflictError):
    """Another command saved the same aggregate first (internal: retried or resolved)."""

    def __init__(self) -> None:
        super().__init__("Modification concurrente.")


class PaymentLink(msgspec.Struct, frozen=True):
    id: UUID
    position: int
    url: str
    status: PaymentStatus
    #: False when an open link was returned again (a double click).
    created: bool


class NoticeResult(StrEnum):
    APPLIED = "applied"  # the payment request changed
    UNCHANGED = "unchanged"  # taken into account, nothing to change (e.g. expired after paid)
    DUPLICATE = "duplicate"  # this Stripe event already took effect
    UNKNOWN = "unknown"  # no payment request of ours matches


class NoticeOutcome(msgspec.Struct, frozen=True):
    result: NoticeResult
    payment_request_id: UUID | None = None
    position: int = 0


class StripeSettingsSummary(msgspec.Struct, frozen=True):
    """What a settings screen may show: masked hints, never a key."""

    mode: StripeMode
    secret_key_hints: dict[str, str]
    webhook_secret_hints: dict[str, str]
    from_environment: bool


def _utc_now() -> datetime:
    return datetime.now(UTC)


def notice_from_session(
    session: CheckoutSession, request: PaymentRequest, source: str
) -> PaymentNotice | None:
    """What a retrieved Checkout Session says about the payment (None: still open)."""
    kind: NoticeKind | None = None
    if session.status == "complete":
        paid = session.payment_status in ("paid", "no_payment_required")
        kind = NoticeKind.PAID if paid else NoticeKind.PENDING
    elif session.status == "expired":
        kind = NoticeKind.EXPIRED
    if kind is None:
        return None
    return PaymentNotice(
        kind=kind,
        source_event_id=source,
        workspace_id=request.workspace_id,
        payment_request_id=request.id,
        session_id=session.id,
        payment_intent_id=session.payment_intent_id,
        amount=session.amount_total,
        currency=session.currency.upper(),
    )


class BillingApplication(CrmApplication):
    def __init__(
        self,
        env: Any = None,
        *,
        gateways: PaymentGatewayFactory,
        secrets: SecretBox,
        override: StripeCredentials | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(env)
        self.gateways = gateways
        self.secrets = secrets
        #: Keys from the environment (STRIPE_SECRET_KEY...) win over stored ones.
        self.override = override
        self.clock = clock

    # --- settings -----------------------------------------------------------------
    def _stripe_settings(self, workspace_id: UUID) -> StripeSettings | None:
        settings_id = stripe_settings_id_for(workspace_id)
        if not self._exists(settings_id):
            return None
        return self._load(StripeSettings, settings_id, workspace_id, "Réglages Stripe")

    @staticmethod
    def _context(workspace_id: UUID, mode: StripeMode, field: str) -> str:
        return f"stripe:{workspace_id}:{mode.value}:{field}"

    @command
    def configure_stripe(
        self,
        workspace_id: UUID,
        *,
        mode: str,
        secret_key: str,
        webhook_secret: str = "",
    ) -> Receipt:
        """Save the keys of one mode, sealed. An empty webhook secret keeps the stored one."""
        secret_key, webhook_secret = secret_key.strip(), webhook_secret.strip()
        chosen = StripeSettings.check_keys(mode, secret_key, webhook_secret)
        settings = self._stripe_settings(workspace_id) or StripeSettings(
            workspace_id=workspace_id, mode=chosen
        )
        kept_sealed, kept_hint = settings.webhook_secret_of(chosen)
        settings.save_keys(
            chosen,
            secret_key_sealed=self.secrets.seal(
                secret_key, context=self._context(workspace_id, chosen, "secret_key")
            ),
            secret_key_hint=mask(secret_key),
            webhook_secret_sealed=(
                self.secrets.seal(
                    webhook_secret, context=self._context(workspace_id, chosen, "webhook_secret")
                )
                if webhook_secret
                else kept_sealed
            ),
            webhook_secret_hint=mask(webhook_secret) if webhook_secret else kept_hint,
        )
        return Receipt(settings.id, self._commit(settings))

    @command
    def choose_stripe_mode(self, workspace_id: UUID, mode: str) -> Receipt:
        settings = self._stripe_settings(workspace_id)
        if settings is None:
            raise StripeNotConfiguredError
        settings.choose_mode(mode)
        return Receipt(settings.id, self._commit(settings))

    def stripe_summary(self, workspace_id: UUID) -> StripeSettingsSummary:
        settings = self._stripe_settings(workspace_id)
        stored_mode = settings.mode if settings else StripeMode.TEST
        hints = settings.hints if settings else {}
        return StripeSettingsSummary(
            mode=self.override.mode if self.override else stored_mode,
            secret_key_hints={mode.value: hint[0] for mode, hint in hints.items()},
            webhook_secret_hints={mode.value: hint[1] for mode, hint in hints.items() if hint[1]},
            from_environment=self.override is not None,
        )

    def credentials(
        self, workspace_id: UUID, mode: StripeMode | None = None
    ) -> StripeCredentials | None:
        """The keys to use for the workspace (the active mode unless `mode`), opened."""
        if self.override is not None and mode in (None, self.override.mode):
            return self.override
        settings = self._stripe_settings(workspace_id)
        if settings is None:
            return None
        chosen = mode or settings.mode
        sealed = settings.sealed.get(chosen)
        if sealed is None:
            return None
        secret_key_sealed, webhook_sealed = sealed
        return StripeCredentials(
            mode=chosen,
            secret_key=self.secrets.open(
                secret_key_sealed, context=self._context(workspace_id, chosen, "secret_key")
            ),
            webhook_secret=(
                self.secrets.open(
                    webhook_sealed, context=self._context(workspace_id, chosen, "webhook_secret")
                )
                if webhook_sealed
                else ""
            ),
        )

    def open_webhook_secret(self, workspace_id: UUID, mode: StripeMode, sealed: str) -> str:
        """A stored webhook secret, opened (the read side keeps them sealed)."""
        return self.secrets.open(
            sealed, context=self._context(workspace_id, mode, "webhook_secret")
        )

    def _gateway(self, workspace_id: UUID, mode: StripeMode | None = None) -> PaymentGateway:
        credentials = self.credentials(workspace_id, mode)
        if credentials is None:
            raise StripeNotConfiguredError
        return self.gateways.connect(credentials.secret_key)

    def test_stripe_connection(self, workspace_id: UUID, mode: str | None = None) -> str:
        """Ask Stripe who the key belongs to; returns the account's name."""
        chosen = parse_mode(mode) if mode else None
        return self._gateway(workspace_id, chosen).account_name()

    # --- payment links ------------------------------------------------------------
    @command
    def request_payment(
        self,
        workspace_id: UUID,
        opportunity_id: UUID,
        *,
        kind: PaymentKind = PaymentKind.TOTAL,
    ) -> PaymentLink:
        """The Checkout link of a won opportunity: an open one again, or a new one.

        Nothing is recorded unless Stripe created the session; Stripe is called
        with an idempotency key derived from the request and the attempt, so a
        retry after a timeout, or two clicks at once, make one session.
        """
        opportunity = self._load(Opportunity, opportunity_id, workspace_id, "Opportunité")
        request_id = payment_request_id_for(workspace_id, opportunity_id, kind.value)
        fresh = PaymentRequest.request(opportunity=opportunity, kind=kind)  # checks the rules
        request = (
            self._load(PaymentRequest, request_id, workspace_id, "Demande de paiement")
            if self._exists(request_id)
            else fresh
        )
        amount: Decimal = fresh.amount
        currency = fresh.currency
        open_url = request.open_session_for(amount, currency, self.clock())
        if open_url is not None:
            return PaymentLink(request.id, self._commit(), open_url, request.status, created=False)
        gateway = self._gateway(workspace_id)
        minor = to_minor_units(amount, currency)
        self._retire(gateway, request)
        client = self._load(Client, opportunity.client_id, workspace_id, "Client")
        session = gateway.create_checkout_session(
            CheckoutRequest(
                workspace_id=workspace_id,
                payment_request_id=request.id,
                opportunity_id=opportunity.id,
                client_id=opportunity.client_id,
                description=opportunity.titre,
                amount=amount,
                currency=currency,
                customer_email=client.email,
                idempotency_key=request.idempotency_key(minor, currency),
            )
        )
        request.record_session(session, amount, currency)
        try:
            position = self._commit(request, conflict=_RacedError())
        except _RacedError:
            # The other click saved first, with the same Stripe session (same key).
            winner = self._load(PaymentRequest, request_id, workspace_id, "Demande de paiement")
            return PaymentLink(winner.id, self._commit(), winner.url, winner.status, created=False)
        return PaymentLink(request.id, position, session.url, request.status, created=True)

    @staticmethod
    def _retire(gateway: PaymentGateway, request: PaymentRequest) -> None:
        """Close the previous session at Stripe before a new link replaces it.

        Two payable links for one request could both be paid; so the old one is
        expired first, and if the client has just completed it, no new link is made.
        """
        old = request.replaced_session_id
        if not old:
            return
        session = gateway.retrieve_checkout_session(old)
        if session.status == "complete":
            raise PaymentError(
                "Le client vient de régler le lien précédent : son paiement est en cours "
                "de traitement, aucun nouveau lien n’est créé."
            )
        if session.status == "open":
            gateway.expire_checkout_session(old)

    # --- what Stripe tells us -----------------------------------------------------
    @command
    def record_notice(self, notice: PaymentNotice, *, event_type: str) -> NoticeOutcome:
        """Apply a Stripe event once: the change and the event's record in one save.

        A redelivery is looked for first (a read), although saving its record again
        would conflict anyway: a save takes the event table's lock and may share its
        transaction with other webhooks' (see `_commit_grouped`), a read does neither.
        """
        record_id = stripe_event_record_id(notice.source_event_id)
        for _ in range(_MAX_ATTEMPTS):
            if self._exists(record_id):
                return NoticeOutcome(NoticeResult.DUPLICATE, notice.payment_request_id)
            try:
                request = self._load(
                    PaymentRequest,
                    notice.payment_request_id,
                    notice.workspace_id,
                    "Demande de paiement",
                )
            except NotFoundError:
                return NoticeOutcome(NoticeResult.UNKNOWN)
            if notice.session_id and not request.knows_session(notice.session_id):
                return NoticeOutcome(NoticeResult.UNKNOWN, request.id)
            changed = request.apply(notice)
            record = ProcessedStripeEvent(
                workspace_id=notice.workspace_id,
                stripe_event_id=notice.source_event_id,
                event_type=event_type,
                payment_request_id=request.id,
            )
            try:
                position = self._commit_grouped(request, record, conflict=_RacedError())
            except _RacedError:
                continue  # a duplicate (found above next time) or another event: retry
            result = NoticeResult.APPLIED if changed else NoticeResult.UNCHANGED
            return NoticeOutcome(result, request.id, position)
        raise ConcurrentChangeError

    def payment_for_intent(
        self, workspace_id: UUID | None, mode: StripeMode, payment_intent_id: str
    ) -> PaymentRef | None:
        """Whose payment a PaymentIntent is, asked of Stripe (its metadata).

        For a refund that arrives before we recorded the payment's PaymentIntent and
        whose charge carries none of our ids. `workspace_id` is the workspace whose
        webhook secret signed the event (None: the environment's, whose key is used).
        Raises PaymentGatewayUnavailableError when Stripe cannot be reached.
        """
        if workspace_id is None:
            if self.override is None or self.override.mode is not mode:
                return None
            gateway = self.gateways.connect(self.override.secret_key)
        else:
            credentials = self.credentials(workspace_id, mode)
            if credentials is None:
                return None
            gateway = self.gateways.connect(credentials.secret_key)
        intent = gateway.retrieve_payment_intent(payment_intent_id)
        return payment_ref_from_metadata(intent.metadata) if intent else None

    @command
    def reconcile(self, workspace_id: UUID, payment_request_id: UUID) -> NoticeOutcome:
        """Ask Stripe how the current session ended, for when a webhook was lost."""
        request = self._load(PaymentRequest, payment_request_id, workspace_id, "Paiement")
        if request.status is not PaymentStatus.EN_ATTENTE or not request.sessions:
            return NoticeOutcome(NoticeResult.UNCHANGED, request.id)
        gateway = self._gateway(workspace_id, request.mode)
        session = gateway.retrieve_checkout_session(request.current_session_id)
        notice = notice_from_session(session, request, f"reconciliation:{session.id}")
        if notice is None or not request.apply(notice):
            return NoticeOutcome(NoticeResult.UNCHANGED, request.id)
        return NoticeOutcome(NoticeResult.APPLIED, request.id, self._commit(request))
