"""What billing needs from outside: a payment gateway (Stripe), as small Protocols.

The Stripe adapter implements them; unit tests use a hand-written fake. The
structs below are the only shapes that cross the boundary: no Stripe object
reaches the domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol
from uuid import UUID

import msgspec


class StripeMode(StrEnum):
    TEST = "test"
    LIVE = "live"


@dataclass(frozen=True)
class StripeCredentials:
    """The keys of one Stripe account in one mode. Secrets never appear in a repr."""

    mode: StripeMode
    secret_key: str = field(repr=False)
    webhook_secret: str = field(repr=False, default="")


class CheckoutRequest(msgspec.Struct, frozen=True, kw_only=True):
    workspace_id: UUID
    payment_request_id: UUID
    opportunity_id: UUID
    client_id: UUID
    description: str
    amount: Decimal
    currency: str
    customer_email: str
    #: Same key for the same attempt: a retried or doubled call creates one session.
    idempotency_key: str


class CheckoutSession(msgspec.Struct, frozen=True, kw_only=True):
    """A Checkout Session as the domain sees it."""

    id: str
    url: str
    livemode: bool
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    payment_intent_id: str = ""
    amount_total: Decimal | None = None
    currency: str = ""
    expires_at: datetime | None = None


class PaymentIntentInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What Stripe knows of a PaymentIntent that tells us whose payment it is."""

    id: str
    #: The PaymentIntent's metadata, or its Checkout Session's when it has none of ours.
    metadata: dict[str, str]


class PaymentGateway(Protocol):
    """One Stripe account, reached with one secret key.

    Methods raise PaymentGatewayUnavailableError when Stripe cannot be reached
    in time, and PaymentGatewayError (French message) when Stripe refuses.
    """

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession: ...

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession: ...

    def expire_checkout_session(self, session_id: str) -> CheckoutSession: ...

    def account_name(self) -> str: ...

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentInfo | None:
        """None when Stripe has no such PaymentIntent on this account."""
        ...


class PaymentGatewayFactory(Protocol):
    def connect(self, secret_key: str) -> PaymentGateway: ...


class NoticeKind(StrEnum):
    """What an outside notification (a Stripe webhook, a reconciliation) says happened."""

    PAID = "paid"
    PENDING = "pending"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class PaymentNotice(msgspec.Struct, frozen=True, kw_only=True):
    """A Stripe event translated by the adapter: the input of `record_notice`."""

    kind: NoticeKind
    #: The Stripe event id (`evt_...`): the notice takes effect once per id.
    source_event_id: str
    workspace_id: UUID
    payment_request_id: UUID
    session_id: str = ""
    payment_intent_id: str = ""
    amount: Decimal | None = None
    currency: str = ""
    amount_refunded: Decimal = Decimal(0)
    fully_refunded: bool = False


class PaymentRef(msgspec.Struct, frozen=True):
    """Which payment request of which workspace (what a lookup on the read side returns)."""

    workspace_id: UUID
    payment_request_id: UUID


def payment_ref_from_metadata(metadata: dict[str, str]) -> PaymentRef | None:
    """The ids our Checkout Sessions put in Stripe metadata, or None if not ours."""
    try:
        return PaymentRef(
            workspace_id=UUID(metadata["workspace_id"]),
            payment_request_id=UUID(metadata["payment_request_id"]),
        )
    except (KeyError, ValueError):
        return None
