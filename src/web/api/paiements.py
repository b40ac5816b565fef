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

    Empty until the Stripe feature records payment requests: it wires its read
    model in here, one query for the whole page (`en_attente` / `paye` and the
    Checkout URL).
    """
    del container, opportunities
    return {}
