"""What the portal shows a client: built from read models, filtered to what they may see."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import msgspec

from projections.pipeline import OpportunityRow
from web.container import Container
from web.portal.access import PortalClient

RECENT_TICKETS = 10
PAID = "paye"
PENDING = "en_attente"


class PortalReply(msgspec.Struct, frozen=True, rename="camel"):
    texte: str
    auteur: str
    cree_le: datetime


class PortalTicket(msgspec.Struct, frozen=True, rename="camel"):
    id: UUID
    sujet: str
    statut_ticket: str
    cree_le: datetime
    reponses: list[PortalReply]


class PortalProject(msgspec.Struct, frozen=True, rename="camel"):
    id: UUID
    titre: str
    montant_estime: Decimal
    devise: str
    statut_paiement: str
    url_paiement: str | None = None


class PortalSpace(msgspec.Struct, frozen=True, rename="camel"):
    nom: str
    logo_url: str


class PortalCustomer(msgspec.Struct, frozen=True, rename="camel"):
    nom: str
    type: str


class PortalContent(msgspec.Struct, frozen=True, rename="camel"):
    espace: PortalSpace
    client: PortalCustomer
    opportunites: list[PortalProject]
    tickets: list[PortalTicket]


def _author(name: str) -> str:
    # Staff are named by their first name only, never by an email address.
    first = name.split(maxsplit=1)[0] if name.strip() else ""
    return "" if "@" in first else first


def payable_opportunities(container: Container, who: PortalClient) -> list[OpportunityRow]:
    """The client's won opportunities with an amount: the only ones the portal shows."""
    return [
        o
        for o in container.pipeline.for_client(who.workspace_id, who.client_id)
        if o.etape == "gagne" and o.montant_estime
    ]


def portal_content(container: Container, who: PortalClient) -> PortalContent | None:
    client = container.clients.get(who.workspace_id, who.client_id)
    workspace = container.accounts_view.workspace(who.workspace_id)
    if client is None or workspace is None or client.archived:
        return None
    won = payable_opportunities(container, who)
    badges = (
        container.payments.latest_for_opportunities(who.workspace_id, [o.id for o in won])
        if won
        else {}
    )
    projects = []
    for o in won:
        badge = badges.get(o.id)
        paid = badge is not None and badge.status == PAID
        url = badge.url if badge is not None and badge.status == PENDING and badge.url else None
        projects.append(
            PortalProject(
                o.id,
                o.titre,
                o.montant_estime or Decimal(0),
                o.devise,
                PAID if paid else PENDING,
                url,
            )
        )
    tickets = [
        PortalTicket(
            t.id,
            t.sujet,
            t.statut,
            t.created_at,
            [
                PortalReply(m.texte, _author(m.auteur) or workspace.nom, m.created_at)
                for m in container.tickets.messages(t.id, include_internal=False)
            ],
        )
        for t in container.tickets.search(
            who.workspace_id, client_id=who.client_id, limit=RECENT_TICKETS
        ).items
    ]
    return PortalContent(
        espace=PortalSpace(workspace.nom, workspace.logo_url),
        client=PortalCustomer(client.nom, client.type_client),
        opportunites=projects,
        tickets=tickets,
    )


__all__ = ["UUID", "PortalContent", "payable_opportunities", "portal_content"]
