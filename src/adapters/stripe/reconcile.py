"""Reconciliation: ask Stripe about sessions still pending, so a lost webhook loses nothing.

Run as a dramatiq job (declared in the composition root). The pending sessions
come from the read side through the PendingPayments Protocol: adapters never
import projections.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

import msgspec

from crm_core.billing.application import BillingApplication, NoticeResult
from crm_core.billing.ports import PaymentRef
from crm_core.context import acting_as
from crm_core.errors import DomainError, PaymentGatewayUnavailableError

log = logging.getLogger(__name__)
STRIPE_ACTOR = "stripe"


class PendingPayments(Protocol):
    def pending_sessions(self, created_before: datetime, limit: int) -> list[PaymentRef]:
        """Payment requests awaiting payment whose current session is older than the date."""
        ...


class ReconcileReport(msgspec.Struct):
    checked: int = 0
    applied: int = 0
    unreachable: int = 0
    refused: int = 0


class ReconcileIncompleteError(Exception):
    """Stripe could not be reached for some sessions: the job fails so dramatiq retries."""


def reconcile_pending(
    billing: BillingApplication,
    pending: PendingPayments,
    *,
    older_than: timedelta,
    now: datetime,
    limit: int = 200,
) -> ReconcileReport:
    """Apply what Stripe says about each pending session; idempotent, safe to re-run."""
    report = ReconcileReport()
    with acting_as(STRIPE_ACTOR):
        for ref in pending.pending_sessions(now - older_than, limit):
            report.checked += 1
            try:
                outcome = billing.reconcile(ref.workspace_id, ref.payment_request_id)
            except PaymentGatewayUnavailableError:
                report.unreachable += 1
                continue
            except DomainError as error:  # no key any more, key refused...: not retryable
                report.refused += 1
                log.warning("Rapprochement de %s impossible : %s", ref.payment_request_id, error)
                continue
            if outcome.result is NoticeResult.APPLIED:
                report.applied += 1
                log.info("Rapprochement : %s mis à jour depuis Stripe", ref.payment_request_id)
    if report.unreachable:
        msg = f"Stripe injoignable pour {report.unreachable} session(s) ; nouvel essai prévu."
        raise ReconcileIncompleteError(msg)
    return report
