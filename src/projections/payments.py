"""Payments: each payment request's status and link, and the workspace's Stripe settings.

The pipeline board, the opportunity table and the client page call
`latest_for_opportunities` for their « Payé » / « En attente » badges; the
reconciliation job calls `pending_sessions`; the webhook endpoint calls
`webhook_secrets_of` / `webhook_secrets` (still sealed) and `by_payment_intent`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.billing.domainmodel import PaymentRequest, StripeSettings
from crm_core.billing.ports import PaymentRef, StripeMode
from projections.readmodel import ReadModel, topics_of

STATUS_LABELS = {
    "en_attente": "En attente",
    "paye": "Payé",
    "echoue": "Échoué",
    "expire": "Expiré",
    "rembourse": "Remboursé",
}


class PaymentBadge(msgspec.Struct, frozen=True):
    """The latest payment of an opportunity, as a badge and a link."""

    opportunity_id: UUID
    payment_request_id: UUID
    status: str
    libelle: str
    processing: bool
    url: str
    amount: Decimal
    currency: str
    updated_at: datetime
    paid_at: datetime | None


class PaymentRow(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    opportunity_id: UUID
    client_id: UUID
    kind: str
    amount: Decimal
    currency: str
    status: str
    processing: bool
    url: str
    session_id: str
    mode: str
    payment_intent_id: str
    amount_paid: Decimal | None
    amount_refunded: Decimal
    created_at: datetime
    updated_at: datetime
    session_created_at: datetime | None
    paid_at: datetime | None


class StoredWebhookSecret(msgspec.Struct, frozen=True):
    workspace_id: UUID
    mode: StripeMode
    sealed: str


class StripeSettingsRow(msgspec.Struct, frozen=True):
    workspace_id: UUID
    mode: str
    test_secret_key_hint: str
    test_webhook_hint: str
    live_secret_key_hint: str
    live_webhook_hint: str
    updated_at: datetime


_BADGE = (
    "SELECT DISTINCT ON (opportunity_id) opportunity_id, id AS payment_request_id, status,"
    " processing, url, amount, currency, updated_at, paid_at FROM rm_payment_requests"
)
_ROW = (
    "SELECT id, workspace_id, opportunity_id, client_id, kind, amount, currency, status,"
    " processing, url, session_id, mode, payment_intent_id, amount_paid, amount_refunded,"
    " created_at, updated_at, session_created_at, paid_at FROM rm_payment_requests"
)


def _badge(row: dict[str, Any]) -> PaymentBadge:
    return msgspec.convert({**row, "libelle": STATUS_LABELS[row["status"]]}, PaymentBadge)


class PaymentsView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_payment_requests", "rm_stripe_settings")

    def set_columns(self, event: Any, tracking: Tracking, assignments: str, *values: Any) -> None:
        """Set columns of the request's row; `updated_at` follows the event."""
        self.write(
            tracking,
            (
                f"UPDATE rm_payment_requests SET {assignments}, updated_at = %s WHERE id = %s",  # type: ignore[arg-type]
                (*values, event.timestamp, event.originator_id),
            ),
        )

    def requested(self, event: PaymentRequest.Requested, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_payment_requests (id, workspace_id, opportunity_id, client_id,"
                " kind, amount, currency, status, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 'en_attente', %s, %s)",
                (
                    event.originator_id,
                    event.workspace_id,
                    event.opportunity_id,
                    event.client_id,
                    event.kind.value,
                    event.amount,
                    event.currency,
                    event.timestamp,
                    event.timestamp,
                ),
            ),
        )

    def save_settings(
        self,
        event: Any,
        tracking: Tracking,
        *,
        set_mode: bool = False,
        keys: StripeSettings.KeysSaved | None = None,
    ) -> None:
        """Upsert the workspace's row; `set_mode` makes the event's mode the active one."""
        columns = ", mode = EXCLUDED.mode" if set_mode else ""
        values: tuple[Any, ...] = ()
        if keys is not None:
            mode = keys.mode.value  # from the closed StripeMode enum, never from input
            columns += (
                f", {mode}_secret_key_hint = %s, {mode}_webhook_hint = %s,"
                f" {mode}_webhook_sealed = %s"
            )
            values = (keys.secret_key_hint, keys.webhook_secret_hint, keys.webhook_secret_sealed)
        self.write(
            tracking,
            (
                "INSERT INTO rm_stripe_settings (workspace_id, mode, updated_at)"  # type: ignore[arg-type]
                " VALUES (%s, %s, %s) ON CONFLICT (workspace_id) DO UPDATE SET"
                f" updated_at = EXCLUDED.updated_at{columns}",
                (event.workspace_id, event.mode.value, event.timestamp, *values),
            ),
        )

    # --- queries ----------------------------------------------------------------
    def latest_for_opportunities(
        self, workspace_id: UUID, opportunity_ids: list[UUID] | None = None
    ) -> dict[UUID, PaymentBadge]:
        """Per opportunity, its latest payment request (all of the workspace's if no ids)."""
        where = "WHERE workspace_id = %(ws)s"
        if opportunity_ids is not None:
            where += " AND opportunity_id = ANY(%(ids)s)"
        rows = self.fetch_all(
            f"{_BADGE} {where} ORDER BY opportunity_id, created_at DESC",  # type: ignore[arg-type]
            {"ws": workspace_id, "ids": opportunity_ids},
        )
        return {row["opportunity_id"]: _badge(row) for row in rows}

    def for_opportunity(self, workspace_id: UUID, opportunity_id: UUID) -> PaymentBadge | None:
        return self.latest_for_opportunities(workspace_id, [opportunity_id]).get(opportunity_id)

    def get(self, workspace_id: UUID, payment_request_id: UUID) -> PaymentRow | None:
        row = self.fetch_one(
            f"{_ROW} WHERE workspace_id = %s AND id = %s",  # type: ignore[arg-type]
            (workspace_id, payment_request_id),
        )
        return msgspec.convert(row, PaymentRow) if row else None

    def for_client(self, workspace_id: UUID, client_id: UUID) -> list[PaymentRow]:
        rows = self.fetch_all(
            f"{_ROW} WHERE workspace_id = %s AND client_id = %s ORDER BY created_at DESC",  # type: ignore[arg-type]
            (workspace_id, client_id),
        )
        return [msgspec.convert(row, PaymentRow) for row in rows]

    def by_payment_intent(self, payment_intent_id: str) -> PaymentRef | None:
        row = self.fetch_one(
            "SELECT workspace_id, id AS payment_request_id FROM rm_payment_requests"
            " WHERE payment_intent_id = %s AND payment_intent_id <> ''",
            (payment_intent_id,),
        )
        return msgspec.convert(row, PaymentRef) if row else None

    def pending_sessions(self, created_before: datetime, limit: int) -> list[PaymentRef]:
        """Requests awaiting an open session created before the date, oldest first."""
        rows = self.fetch_all(
            "SELECT workspace_id, id AS payment_request_id FROM rm_payment_requests"
            " WHERE status = 'en_attente' AND NOT processing AND session_created_at < %s"
            " ORDER BY session_created_at LIMIT %s",
            (created_before, limit),
        )
        return [msgspec.convert(row, PaymentRef) for row in rows]

    def webhook_secrets(self) -> list[StoredWebhookSecret]:
        """Every stored webhook secret, still sealed (the caller opens them)."""
        rows = self.fetch_all(
            "SELECT workspace_id, 'test' AS mode, test_webhook_sealed AS sealed"
            " FROM rm_stripe_settings WHERE test_webhook_sealed <> ''"
            " UNION ALL SELECT workspace_id, 'live', live_webhook_sealed"
            " FROM rm_stripe_settings WHERE live_webhook_sealed <> ''"
        )
        return [msgspec.convert(row, StoredWebhookSecret) for row in rows]

    def webhook_secrets_of(self, workspace_id: UUID) -> list[StoredWebhookSecret]:
        """The workspace's stored webhook secrets, still sealed (one row by its key)."""
        row = self.fetch_one(
            "SELECT test_webhook_sealed, live_webhook_sealed FROM rm_stripe_settings"
            " WHERE workspace_id = %s",
            (workspace_id,),
        )
        if not row:
            return []
        return [
            StoredWebhookSecret(workspace_id, mode, row[f"{mode.value}_webhook_sealed"])
            for mode in StripeMode
            if row[f"{mode.value}_webhook_sealed"]
        ]

    def stripe_settings(self, workspace_id: UUID) -> StripeSettingsRow | None:
        row = self.fetch_one(
            "SELECT workspace_id, mode, test_secret_key_hint, test_webhook_hint,"
            " live_secret_key_hint, live_webhook_hint, updated_at FROM rm_stripe_settings"
            " WHERE workspace_id = %s",
            (workspace_id,),
        )
        return msgspec.convert(row, StripeSettingsRow) if row else None


class PaymentsProjection(Projection[PaymentsView]):
    name = "payments"
    topics = topics_of(
        PaymentRequest.Requested,
        PaymentRequest.CheckoutSessionCreated,
        PaymentRequest.PaymentPending,
        PaymentRequest.Paid,
        PaymentRequest.Failed,
        PaymentRequest.Expired,
        PaymentRequest.Refunded,
        StripeSettings.Created,
        StripeSettings.KeysSaved,
        StripeSettings.ModeChosen,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: PaymentRequest.Requested, tracking: Tracking) -> None:
        self.view.requested(event, tracking)

    @process_event.register
    def _(self, event: PaymentRequest.CheckoutSessionCreated, tracking: Tracking) -> None:
        self.view.set_columns(
            event,
            tracking,
            "status = 'en_attente', processing = false, url = %s, session_id = %s, mode = %s,"
            " amount = %s, currency = %s, session_created_at = %s, session_expires_at = %s",
            event.url,
            event.session_id,
            event.mode.value,
            event.amount,
            event.currency,
            event.timestamp,
            event.expires_at,
        )

    @process_event.register
    def _(self, event: PaymentRequest.PaymentPending, tracking: Tracking) -> None:
        self.view.set_columns(
            event,
            tracking,
            "status = 'en_attente', processing = true, payment_intent_id = %s",
            event.payment_intent_id,
        )

    @process_event.register
    def _(self, event: PaymentRequest.Paid, tracking: Tracking) -> None:
        self.view.set_columns(
            event,
            tracking,
            "status = 'paye', processing = false, payment_intent_id = %s, amount_paid = %s,"
            " paid_at = %s",
            event.payment_intent_id,
            event.amount,
            event.timestamp,
        )

    @process_event.register
    def _(self, event: PaymentRequest.Failed, tracking: Tracking) -> None:
        failed = "status = 'echoue', processing = false, failed_at = %s"
        self.view.set_columns(event, tracking, failed, event.timestamp)

    @process_event.register
    def _(self, event: PaymentRequest.Expired, tracking: Tracking) -> None:
        expired = "status = 'expire', expired_at = %s"
        self.view.set_columns(event, tracking, expired, event.timestamp)

    @process_event.register
    def _(self, event: PaymentRequest.Refunded, tracking: Tracking) -> None:
        self.view.set_columns(
            event,
            tracking,
            "amount_refunded = %s, refunded_at = %s,"
            " status = CASE WHEN %s THEN 'rembourse' ELSE status END",
            event.amount_refunded,
            event.timestamp,
            event.fully,
        )

    @process_event.register
    def _(self, event: StripeSettings.Created, tracking: Tracking) -> None:
        self.view.save_settings(event, tracking, set_mode=True)

    @process_event.register
    def _(self, event: StripeSettings.KeysSaved, tracking: Tracking) -> None:
        self.view.save_settings(event, tracking, keys=event)

    @process_event.register
    def _(self, event: StripeSettings.ModeChosen, tracking: Tracking) -> None:
        self.view.save_settings(event, tracking, set_mode=True)
