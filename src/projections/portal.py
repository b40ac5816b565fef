"""The portal's read side: which link is valid (by hash), and visits per client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, LiteralString
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.sql import SQL

from crm_core.portal.domainmodel import PortalAccess, PortalVisit
from projections.readmodel import ReadModel, positions_text, topics_of


class PortalLink(msgspec.Struct, frozen=True):
    client_id: UUID
    workspace_id: UUID
    issued_at: datetime


class PageWorkspace(msgspec.Struct, frozen=True):
    nom: str
    logo_url: str


class PageClient(msgspec.Struct, frozen=True):
    nom: str
    type_client: str


class PagePayment(msgspec.Struct, frozen=True):
    status: str
    url: str


class PageOpportunity(msgspec.Struct, frozen=True):
    id: UUID
    titre: str
    montant_estime: Decimal
    devise: str
    paiement: PagePayment | None  # the latest payment request, if any


class PageMessage(msgspec.Struct, frozen=True):
    texte: str
    auteur: str
    created_at: datetime


class PageTicket(msgspec.Struct, frozen=True):
    id: UUID
    sujet: str
    statut: str
    created_at: datetime
    messages: list[PageMessage]  # public replies only


class PortalPage(msgspec.Struct, frozen=True):
    """Everything the portal shows a client, read in one statement (`PAGE_BY_*`).

    `workspace` and `client` are None when the link is valid but the client is no
    longer shown (archived, erased): the caller answers the same 404 as for a bad link.
    """

    client_id: UUID
    workspace_id: UUID
    workspace: PageWorkspace | None
    client: PageClient | None
    opportunities: list[PageOpportunity]
    tickets: list[PageTicket]


# The portal page reads the tables of five read models (and the link's). One statement
# instead of one query per table and per ticket: one round trip, one consistent
# snapshot, and the whole document comes back as one JSON text. Only what the client
# may see is selected: won opportunities with an amount, public replies, their rows.
_DOCUMENT: LiteralString = """json_build_object(
  'client_id', a.client_id,
  'workspace_id', a.workspace_id,
  'workspace', (SELECT json_build_object('nom', w.nom, 'logo_url', w.logo_url)
                FROM rm_workspaces w WHERE w.id = a.workspace_id),
  'client', (SELECT json_build_object('nom', c.nom, 'type_client', c.type_client)
             FROM rm_clients c
             WHERE c.id = a.client_id AND c.workspace_id = a.workspace_id AND NOT c.archived),
  'opportunities', COALESCE((
    SELECT json_agg(json_build_object(
      'id', o.id, 'titre', o.titre, 'montant_estime', o.montant_estime::text,
      'devise', o.devise,
      'paiement', (SELECT json_build_object('status', p.status, 'url', p.url)
                   FROM rm_payment_requests p
                   WHERE p.workspace_id = o.workspace_id AND p.opportunity_id = o.id
                   ORDER BY p.created_at DESC LIMIT 1)
    ) ORDER BY o.updated_at DESC, o.id)
    FROM rm_opportunities o
    WHERE o.client_id = a.client_id AND o.workspace_id = a.workspace_id
      AND o.etape = 'gagne' AND o.montant_estime <> 0), '[]'),
  'tickets', COALESCE((
    SELECT json_agg(json_build_object(
      'id', t.id, 'sujet', t.sujet, 'statut', t.statut, 'created_at', t.created_at,
      'messages', COALESCE((
        SELECT json_agg(json_build_object(
          'texte', m.texte, 'auteur', m.auteur, 'created_at', m.created_at
        ) ORDER BY m.created_at, m.id)
        FROM rm_ticket_messages m WHERE m.ticket_id = t.id AND NOT m.interne), '[]')
    ) ORDER BY t.updated_at DESC, t.id DESC)
    FROM (SELECT id, sujet, statut, created_at, updated_at FROM rm_tickets
          WHERE client_id = a.client_id AND workspace_id = a.workspace_id
          ORDER BY updated_at DESC, id DESC LIMIT 10) t), '[]')
)::text"""  # the 10 most recent tickets

#: The read models whose tables `_DOCUMENT` reads (the link is checked on each read).
PAGE_READ_MODELS = ("accounts", "clients", "pipeline", "payments", "tickets")

_BY_SESSION: LiteralString = (
    " WHERE a.client_id = %s AND a.workspace_id = %s AND left(a.token_hash, 16) = %s"
)

#: By the session cookie: the client, its workspace and the prefix of the current
#: link's hash (a regenerated or revoked link no longer matches).
PAGE_BY_SESSION: LiteralString = (
    "SELECT " + _DOCUMENT + " AS page FROM rm_portal_access a" + _BY_SESSION
)


@dataclass(frozen=True)
class PageQueries:
    """The page's statements for a reader that keeps what it rendered, each for a batch
    of pages (the requests waiting at once: one round trip and one execution for all).

    Parameters are parallel arrays, one element per page: its index in the batch, the
    positions the reader knows it at (or NULL), then its keys. Each answered row is
    (index, positions of `PAGE_READ_MODELS` as one text, document), the document only
    if the positions differ from the known ones: a read model changes its rows and its
    position in one transaction, so the same positions mean the same document, and the
    usual reload costs PostgreSQL the link's row instead of building the page. The link
    itself is checked every time: a revoked link answers no row at once. Composed once,
    sent as bytes (composing them again on every request showed in the profile).
    """

    #: Keys: client ids, workspace ids, prefixes of the link's hash (the session's).
    by_sessions: bytes
    #: Key: the token's hash (the JSON API's link).
    by_token_hashes: bytes


def page_queries(tracking_tables: Sequence[str]) -> PageQueries:
    """`PageQueries` over the given tracking tables (those of `PAGE_READ_MODELS`)."""
    positions = positions_text(tracking_tables)
    # The positions once per statement (MATERIALIZED), whatever the number of pages.
    head = SQL(
        "WITH v AS MATERIALIZED (SELECT {0} AS positions)"
        " SELECT k.n, v.positions, CASE WHEN v.positions = k.known THEN NULL ELSE "
        + _DOCUMENT
        + " END AS page FROM v CROSS JOIN "
    ).format(positions)
    # The link of each page by its unique key, through the index (LIMIT keeps the
    # planner from hashing the whole table for a batch of a few pages).
    link = "CROSS JOIN LATERAL (SELECT client_id, workspace_id FROM rm_portal_access"
    by_sessions = SQL(
        "unnest(%s::int[], %s::text[], %s::uuid[], %s::uuid[], %s::text[])"
        " AS k(n, known, client_id, workspace_id, hash_prefix) " + link + " WHERE"
        " client_id = k.client_id AND workspace_id = k.workspace_id"
        " AND left(token_hash, 16) = k.hash_prefix LIMIT 1) a"
    )
    by_token_hashes = SQL(
        "unnest(%s::int[], %s::text[], %s::text[]) AS k(n, known, token_hash) "
        + link
        + " WHERE token_hash = k.token_hash LIMIT 1) a"
    )
    return PageQueries(
        by_sessions=(head + by_sessions).as_bytes(None),
        by_token_hashes=(head + by_token_hashes).as_bytes(None),
    )


_PAGE_DECODER = msgspec.json.Decoder(PortalPage)


def decode_page(document: str) -> PortalPage:
    return _PAGE_DECODER.decode(document)


class PortalView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_portal_access", "rm_portal_visits")

    def issue(self, event: PortalAccess.Issued, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_portal_access (id, client_id, workspace_id, token_hash, issued_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.client_id,
                    event.workspace_id,
                    event.token_hash,
                    event.timestamp,
                ),
            ),
        )

    def set_hash(
        self, access_id: UUID, token_hash: str | None, at: datetime, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (
                "UPDATE rm_portal_access SET token_hash = %s, issued_at = %s WHERE id = %s",
                (token_hash, at, access_id),
            ),
        )

    def visit(self, event: PortalVisit.Recorded, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_portal_visits (client_id, workspace_id, visits, first_visit,"
                " last_visit) VALUES (%s, %s, 1, %s, %s) ON CONFLICT (client_id) DO UPDATE SET"
                " visits = rm_portal_visits.visits + 1, last_visit = EXCLUDED.last_visit",
                (event.client_id, event.workspace_id, event.timestamp, event.timestamp),
            ),
        )

    # --- queries ----------------------------------------------------------------
    def by_token_hash(self, token_hash: str) -> PortalLink | None:
        row = self.fetch_one(
            "SELECT client_id, workspace_id, issued_at FROM rm_portal_access WHERE token_hash = %s",
            (token_hash,),
        )
        return msgspec.convert(row, PortalLink) if row else None

    def page_by_session(self, client_id: UUID, workspace_id: UUID, hash_prefix: str) -> str | None:
        """The portal page's document (`PortalPage` as JSON) for a session, or None."""
        row = self.fetch_one(PAGE_BY_SESSION, (client_id, workspace_id, hash_prefix))
        return str(row["page"]) if row else None

    def link_issued_at(self, workspace_id: UUID, client_id: UUID) -> datetime | None:
        row = self.fetch_one(
            "SELECT issued_at FROM rm_portal_access WHERE workspace_id = %s AND client_id = %s"
            " AND token_hash IS NOT NULL",
            (workspace_id, client_id),
        )
        return row["issued_at"] if row else None

    def visits(self, workspace_id: UUID, client_id: UUID) -> int:
        row = self.fetch_one(
            "SELECT visits FROM rm_portal_visits WHERE workspace_id = %s AND client_id = %s",
            (workspace_id, client_id),
        )
        return int(row["visits"]) if row else 0


class PortalProjection(Projection[PortalView]):
    name = "portal"
    topics = topics_of(
        PortalAccess.Issued, PortalAccess.Reissued, PortalAccess.Revoked, PortalVisit.Recorded
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: PortalAccess.Issued, tracking: Tracking) -> None:
        self.view.issue(event, tracking)

    @process_event.register
    def _(self, event: PortalAccess.Reissued, tracking: Tracking) -> None:
        self.view.set_hash(event.originator_id, event.token_hash, event.timestamp, tracking)

    @process_event.register
    def _(self, event: PortalAccess.Revoked, tracking: Tracking) -> None:
        self.view.set_hash(event.originator_id, None, event.timestamp, tracking)

    @process_event.register
    def _(self, event: PortalVisit.Recorded, tracking: Tracking) -> None:
        self.view.visit(event, tracking)
