"""What the portal shows a client: built from read models, filtered to what they may see."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import msgspec

from projections.portal import PortalPage, decode_page
from web.container import Container
from web.portal.access import PortalSession

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


def content_of(page: PortalPage) -> PortalContent | None:
    """What the client sees of their page's document; None if the client is not shown."""
    if page.client is None or page.workspace is None:
        return None
    workspace = page.workspace
    projects = []
    for o in page.opportunities:
        badge = o.paiement
        paid = badge is not None and badge.status == PAID
        url = badge.url if badge is not None and badge.status == PENDING and badge.url else None
        projects.append(
            PortalProject(o.id, o.titre, o.montant_estime, o.devise, PAID if paid else PENDING, url)
        )
    tickets = [
        PortalTicket(
            t.id,
            t.sujet,
            t.statut,
            t.created_at,
            [
                PortalReply(m.texte, _author(m.auteur) or workspace.nom, m.created_at)
                for m in t.messages
            ],
        )
        for t in page.tickets
    ]
    return PortalContent(
        espace=PortalSpace(workspace.nom, workspace.logo_url),
        client=PortalCustomer(page.client.nom, page.client.type_client),
        opportunites=projects,
        tickets=tickets,
    )


def portal_content(container: Container, session: PortalSession) -> PortalContent | None:
    """The page's content for a session (synchronous: the form handlers' path); None if
    the link was regenerated or revoked, or the client is no longer shown."""
    document = container.portal_view.page_by_session(
        session.client_id, session.workspace_id, session.hash_prefix
    )
    return content_of(decode_page(document)) if document is not None else None


__all__ = ["UUID", "PortalContent", "content_of", "portal_content"]
