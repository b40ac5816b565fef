"""Incoming Stripe webhooks: verify, translate into a PaymentNotice, call the application.

The adapter decides nothing (the aggregate does): it checks the signature with
the SDK, reads the few fields it needs with msgspec, and maps each Stripe event
type to a notice. An event that is not ours, or of a type we do not handle, is
acknowledged (2xx) with a log line, so Stripe does not retry it for days.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol
from uuid import UUID

import msgspec
import stripe

from crm_core.billing.application import BillingApplication, NoticeOutcome, NoticeResult
from crm_core.billing.money import from_minor_units
from crm_core.billing.ports import NoticeKind, PaymentNotice, PaymentRef

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


class WebhookRejectedError(Exception):
    """Not a genuine Stripe delivery (signature, timestamp or body): answer 400."""


class _Data(msgspec.Struct):
    object: msgspec.Raw


class _Event(msgspec.Struct):
    id: str
    type: str
    data: _Data
    livemode: bool = False


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
    secrets: Sequence[WebhookSecret],
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> WebhookSecret:
    """The secret that signed the payload, checked by the SDK (HMAC and timestamp)."""
    if not header:
        raise WebhookRejectedError("En-tête Stripe-Signature manquant.")
    if not secrets:
        raise WebhookRejectedError("Aucun secret de webhook Stripe n’est configuré.")
    for candidate in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, candidate.secret, tolerance)
        except stripe.SignatureVerificationError:
            continue
        except UnicodeDecodeError:
            raise WebhookRejectedError("Corps de requête illisible.") from None
        return candidate
    raise WebhookRejectedError("Signature Stripe invalide ou trop ancienne.")


def _ref_from_metadata(metadata: dict[str, str]) -> PaymentRef | None:
    try:
        return PaymentRef(
            workspace_id=UUID(metadata["workspace_id"]),
            payment_request_id=UUID(metadata["payment_request_id"]),
        )
    except (KeyError, ValueError):
        return None


def _amount(value: int | None, currency: str | None) -> Decimal | None:
    return from_minor_units(value, currency) if value is not None and currency else None


def translate(event: _Event, lookup: PaymentLookup) -> PaymentNotice | str:
    """The notice an event means, or why it means nothing to us."""
    if event.type not in HANDLED_TYPES:
        return f"type d’événement non traité ({event.type})"
    if event.type == "charge.refunded":
        charge = msgspec.json.decode(event.data.object, type=_Charge)
        ref = (
            lookup.by_payment_intent(charge.payment_intent) if charge.payment_intent else None
        ) or _ref_from_metadata(charge.metadata)
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
    session = msgspec.json.decode(event.data.object, type=_Session)
    ref = _ref_from_metadata(session.metadata)
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
        *,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        self.billing = billing
        self.lookup = lookup
        self.tolerance = tolerance

    def handle(
        self, payload: bytes, header: str | None, secrets: Sequence[WebhookSecret]
    ) -> WebhookResult:
        signer = verify(payload, header, secrets, self.tolerance)
        try:
            event = msgspec.json.decode(payload, type=_Event)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise WebhookRejectedError("Événement Stripe illisible.") from None
        try:
            notice = translate(event, self.lookup)
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
