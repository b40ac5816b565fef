"""Incoming Stripe webhooks: verify, translate into a PaymentNotice, call the application.

The adapter decides nothing (the aggregate does): it checks the signature with
the SDK, reads the few fields it needs with msgspec, and maps each Stripe event
type to a notice. An event that is not ours, or of a type we do not handle, is
acknowledged (2xx) with a log line, so Stripe does not retry it for days.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol
from uuid import UUID

import msgspec
import stripe

from crm_core.billing.application import BillingApplication, NoticeOutcome, NoticeResult
from crm_core.billing.money import from_minor_units
from crm_core.billing.ports import (
    NoticeKind,
    PaymentNotice,
    PaymentRef,
    StripeMode,
    payment_ref_from_metadata,
)

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE_SECONDS = stripe.Webhook.DEFAULT_TOLERANCE

_SESSION_KINDS = {
    "checkout.session.async_payment_succeeded": NoticeKind.PAID,
    "checkout.session.async_payment_failed": NoticeKind.FAILED,
    "checkout.session.expired": NoticeKind.EXPIRED,
}
HANDLED_TYPES = frozenset({"checkout.session.completed", "charge.refunded", *_SESSION_KINDS})


class PaymentLookup(Protocol):
    """The read side's answer to 'whose payment is this PaymentIntent?'."""

    def by_payment_intent(self, payment_intent_id: str) -> PaymentRef | None: ...


@dataclass(frozen=True)
class WebhookSecret:
    """A secret to try; `workspace_id` None for the environment's (any workspace)."""

    secret: str = field(repr=False)
    workspace_id: UUID | None = None


class WebhookSecrets(Protocol):
    """Where the signing secrets come from (the composition root opens stored ones)."""

    def from_environment(self) -> list[WebhookSecret]:
        """STRIPE_WEBHOOK_SECRET, valid for any workspace (none when unset)."""
        ...

    def of_workspace(self, workspace_id: UUID) -> list[WebhookSecret]:
        """The workspace's stored secrets (test and live)."""
        ...

    def of_every_workspace(self) -> list[WebhookSecret]:
        """Every workspace's stored secrets: the slow path, when the event names none."""
        ...


class WebhookRejectedError(Exception):
    """Not a genuine Stripe delivery (signature, timestamp or body): answer 400."""


class _Data(msgspec.Struct):
    object: msgspec.Raw


class _Event(msgspec.Struct):
    id: str
    type: str
    data: _Data
    livemode: bool = False


class _Tagged(msgspec.Struct):
    """Any Stripe object, for the metadata alone."""

    metadata: dict[str, str] | None = None


class _Session(msgspec.Struct):
    id: str
    payment_status: str = ""
    payment_intent: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class _Charge(msgspec.Struct):
    id: str
    payment_intent: str | None = None
    amount_refunded: int = 0
    refunded: bool = False
    currency: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class WebhookResult(msgspec.Struct, frozen=True):
    """What the endpoint answers Stripe (always 2xx once the signature is good)."""

    event_id: str
    result: str  # applied | unchanged | duplicate | ignored
    detail: str = ""
    position: int = 0


def verify(
    payload: bytes,
    header: str | None,
    secrets: Iterator[WebhookSecret],
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> WebhookSecret:
    """The secret that signed the payload, checked by the SDK (HMAC and timestamp).

    `secrets` is consumed lazily: the candidates after the one that verifies are
    never fetched.
    """
    if not header:
        raise WebhookRejectedError("En-tête Stripe-Signature manquant.")
    tried = 0
    for candidate in secrets:
        tried += 1
        try:
            stripe.WebhookSignature.verify_header(payload, header, candidate.secret, tolerance)
        except stripe.SignatureVerificationError:
            continue
        except UnicodeDecodeError:
            raise WebhookRejectedError("Corps de requête illisible.") from None
        return candidate
    if not tried:
        raise WebhookRejectedError("Aucun secret de webhook Stripe n’est configuré.")
    raise WebhookRejectedError("Signature Stripe invalide ou trop ancienne.")


def _amount(value: int | None, currency: str | None) -> Decimal | None:
    return from_minor_units(value, currency) if value is not None and currency else None


def _decode(payload: bytes) -> _Event | None:
    try:
        return msgspec.json.decode(payload, type=_Event)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def claimed_workspace(event: _Event | None) -> UUID | None:
    """The workspace the (not yet verified) event names in its object's metadata.

    Used only to choose which secret to verify the signature with first: the
    event is trusted once a secret verifies it, and a workspace's secret verifies
    only what names that workspace (checked after translation).
    """
    if event is None:
        return None
    try:
        metadata = msgspec.json.decode(event.data.object, type=_Tagged).metadata or {}
        return UUID(metadata["workspace_id"])
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, ValueError):
        return None


def _session_notice(event: _Event) -> PaymentNotice | str:
    session = msgspec.json.decode(event.data.object, type=_Session)
    ref = payment_ref_from_metadata(session.metadata)
    if ref is None:
        return f"session inconnue ({session.id})"
    kind = _SESSION_KINDS.get(event.type)
    if kind is None:  # checkout.session.completed
        paid = session.payment_status in ("paid", "no_payment_required")
        kind = NoticeKind.PAID if paid else NoticeKind.PENDING
    return PaymentNotice(
        kind=kind,
        source_event_id=event.id,
        workspace_id=ref.workspace_id,
        payment_request_id=ref.payment_request_id,
        session_id=session.id,
        payment_intent_id=session.payment_intent or "",
        amount=_amount(session.amount_total, session.currency),
        currency=(session.currency or "").upper(),
    )


class StripeWebhooks:
    """Verify a delivery, translate it, apply it once."""

    def __init__(
        self,
        billing: BillingApplication,
        lookup: PaymentLookup,
        secrets: WebhookSecrets,
        *,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        self.billing = billing
        self.lookup = lookup
        self.secrets = secrets
        self.tolerance = tolerance

    def _candidates(self, claimed: UUID | None) -> Iterator[WebhookSecret]:
        """The environment's secret, then the claimed workspace's, then the others'.

        A delivery of ours names its workspace, so the usual case reads one row;
        the full list is read only for an event naming none (or signed by another
        workspace than it names, which is then ignored) and for a bad signature.
        """
        yield from self.secrets.from_environment()
        if claimed is not None:
            yield from self.secrets.of_workspace(claimed)
        for secret in self.secrets.of_every_workspace():
            if secret.workspace_id != claimed:
                yield secret

    def handle(self, payload: bytes, header: str | None) -> WebhookResult:
        """Raises WebhookRejectedError (answer 400) unless a known secret signed it;
        PaymentGatewayUnavailableError when Stripe must be asked and cannot be (answer
        5xx: Stripe delivers the event again later)."""
        if not header:
            raise WebhookRejectedError("En-tête Stripe-Signature manquant.")
        event = _decode(payload)
        signer = verify(payload, header, self._candidates(claimed_workspace(event)), self.tolerance)
        if event is None:
            raise WebhookRejectedError("Événement Stripe illisible.")
        try:
            notice = self._translate(event, signer)
        except (msgspec.DecodeError, msgspec.ValidationError):
            notice = f"objet illisible dans {event.type}"
        if isinstance(notice, PaymentNotice) and signer.workspace_id not in (
            None,
            notice.workspace_id,
        ):
            # Signed by one workspace's Stripe account but naming another workspace.
            notice = f"signé par un autre espace de travail ({signer.workspace_id})"
        if isinstance(notice, str):
            log.info("Webhook Stripe %s ignoré : %s", event.id, notice)
            return WebhookResult(event.id, "ignored", notice)
        outcome: NoticeOutcome = self.billing.record_notice(notice, event_type=event.type)
        if outcome.result is NoticeResult.UNKNOWN:
            log.info("Webhook Stripe %s ignoré : demande de paiement inconnue", event.id)
            return WebhookResult(event.id, "ignored", "demande de paiement inconnue")
        return WebhookResult(event.id, outcome.result.value, position=outcome.position)

    def _translate(self, event: _Event, signer: WebhookSecret) -> PaymentNotice | str:
        """The notice an event means, or why it means nothing to us."""
        if event.type not in HANDLED_TYPES:
            return f"type d’événement non traité ({event.type})"
        if event.type != "charge.refunded":
            return _session_notice(event)
        charge = msgspec.json.decode(event.data.object, type=_Charge)
        ref = self._payment_of_charge(charge, signer, event.livemode)
        if ref is None:
            return f"remboursement d’un paiement inconnu ({charge.id})"
        return PaymentNotice(
            kind=NoticeKind.REFUNDED,
            source_event_id=event.id,
            workspace_id=ref.workspace_id,
            payment_request_id=ref.payment_request_id,
            payment_intent_id=charge.payment_intent or "",
            currency=charge.currency.upper(),
            amount_refunded=from_minor_units(charge.amount_refunded, charge.currency),
            fully_refunded=charge.refunded,
        )

    def _payment_of_charge(
        self, charge: _Charge, signer: WebhookSecret, livemode: bool
    ) -> PaymentRef | None:
        """Whose payment a refunded charge is.

        Stripe copies the PaymentIntent's metadata (our ids) to its charge; failing
        that, the read side knows the PaymentIntent once the payment is projected;
        failing that (a refund arriving before the payment's own event, on a charge
        without our ids), Stripe is asked for the PaymentIntent. A refund is never
        dropped for arriving early: if Stripe cannot be reached, the error makes the
        endpoint answer 5xx and Stripe delivers the event again later.
        """
        ref = payment_ref_from_metadata(charge.metadata)
        if ref is not None or not charge.payment_intent:
            return ref
        ref = self.lookup.by_payment_intent(charge.payment_intent)
        if ref is not None:
            return ref
        mode = StripeMode.LIVE if livemode else StripeMode.TEST
        return self.billing.payment_for_intent(signer.workspace_id, mode, charge.payment_intent)
