"""The payment side of opportunities, as the API shows it (`statutPaiement`, `urlPaiement`)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec

from projections.pipeline import OpportunityRow
from web.container import Container


class PaymentInfo(msgspec.Struct, frozen=True):
    statut_paiement: str | None = None
    url_paiement: str | None = None


NO_PAYMENT = PaymentInfo()


def payments_of(
    container: Container, opportunities: Sequence[OpportunityRow]
) -> dict[UUID, PaymentInfo]:
    """The payment status and link of each opportunity (missing: no payment yet).

    One query for the whole page, from the payments read model (`en_attente`,
    `paye`, `echoue`, `expire`, `rembourse` and the Checkout URL).
    """
    if not opportunities:
        return {}
    badges = container.payments.latest_for_opportunities(
        opportunities[0].workspace_id, [o.id for o in opportunities]
    )
    return {
        opportunity_id: PaymentInfo(badge.status, badge.url or None)
        for opportunity_id, badge in badges.items()
    }
