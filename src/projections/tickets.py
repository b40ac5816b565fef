"""Tickets: the filtered list, and each ticket with its conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.personal import ERASED
from crm_core.sales.domainmodel import Client
from crm_core.support.domainmodel import Ticket
from crm_core.values import TicketStatus
from projections.pagination import Page, clamp_limit, decode_cursor, encode_cursor, like_pattern
from projections.readmodel import ReadModel, topics_of


class TicketRow(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    client_id: UUID
    client_nom: str
    sujet: str
    description: str
    type_ticket: str
    priorite: str
    source: str
    statut: str
    assignee_id: UUID | None
    ouvert_par: str
    message_count: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class MessageRow(msgspec.Struct, frozen=True):
    id: UUID
    ticket_id: UUID
    texte: str
    interne: bool
    auteur: str
    created_at: datetime


_COLUMNS = (
    "t.id, t.workspace_id, t.client_id, COALESCE(c.nom, '') AS client_nom, t.sujet,"
    " t.description, t.type_ticket, t.priorite, t.source, t.statut, t.assignee_id,"
    " t.ouvert_par, t.message_count, t.created_at, t.updated_at, t.resolved_at"
)
_FROM = "rm_tickets t LEFT JOIN rm_clients c ON c.id = t.client_id"
OPEN_STATUSES = [status.value for status in TicketStatus if status.is_open]


_MESSAGE_ADDED = (
    "UPDATE rm_tickets SET message_count = message_count + 1, updated_at = %s WHERE id = %s"
)
_ASSIGNED = "UPDATE rm_tickets SET assignee_id = %s, updated_at = %s WHERE id = %s"
_STATUS_CHANGED = (
    "UPDATE rm_tickets SET statut = %s, updated_at = %s,"
    " resolved_at = CASE WHEN %s THEN COALESCE(resolved_at, %s) ELSE NULL END WHERE id = %s"
)
_PRIORITY_CHANGED = "UPDATE rm_tickets SET priorite = %s, updated_at = %s WHERE id = %s"


def _message_added(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    row.update(message_count=row["message_count"] + 1, updated_at=p[0])


def _assigned(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    row.update(assignee_id=p[0], updated_at=p[1])


def _status_changed(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    resolved_at = row.get("resolved_at")
    row.update(
        statut=p[0],
        updated_at=p[1],
        resolved_at=(resolved_at if resolved_at is not None else p[3]) if p[2] else None,
    )


def _priority_changed(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    row.update(priorite=p[0], updated_at=p[1])


class TicketsView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_tickets", "rm_ticket_messages")
    # A replay applies these to the rows it holds (see `ReadModel.flush_replay`).
    replay_updates: ClassVar[dict[str, Any]] = {
        _MESSAGE_ADDED: _message_added,
        _ASSIGNED: _assigned,
        _STATUS_CHANGED: _status_changed,
        _PRIORITY_CHANGED: _priority_changed,
    }
    replay_defaults: ClassVar[dict[str, dict[str, Any]]] = {"rm_tickets": {"message_count": 0}}

    def open(self, event: Ticket.Opened, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_tickets (id, workspace_id, client_id, sujet, description,"
                " type_ticket, priorite, source, statut, ouvert_par, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'nouveau', %s, %s, %s)",
                (
                    event.originator_id,
                    event.workspace_id,
                    event.client_id,
                    event.sujet,
                    event.description,
                    event.type_ticket.value,
                    event.priorite.value,
                    event.source.value,
                    event.ouvert_par,
                    event.timestamp,
                    event.timestamp,
                ),
            ),
        )

    def add_message(
        self, event: Ticket.Replied | Ticket.NoteAdded, interne: bool, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_ticket_messages (id, ticket_id, workspace_id, texte, interne,"
                " auteur, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    event.message_id,
                    event.originator_id,
                    event.workspace_id,
                    event.texte,
                    interne,
                    event.auteur,
                    event.timestamp,
                ),
            ),
            (
                _MESSAGE_ADDED,
                (event.timestamp, event.originator_id),
            ),
        )

    def assign(self, event: Ticket.Assigned, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                _ASSIGNED,
                (event.assignee_id, event.timestamp, event.originator_id),
            ),
        )

    def change_status(self, event: Ticket.StatusChanged, tracking: Tracking) -> None:
        resolved = event.vers in (TicketStatus.RESOLU, TicketStatus.FERME)
        self.write(
            tracking,
            (
                _STATUS_CHANGED,
                (event.vers.value, event.timestamp, resolved, event.timestamp, event.originator_id),
            ),
        )

    def change_priority(self, event: Ticket.PriorityChanged, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                _PRIORITY_CHANGED,
                (event.vers.value, event.timestamp, event.originator_id),
            ),
        )

    # --- queries ----------------------------------------------------------------
    def search(
        self,
        workspace_id: UUID,
        *,
        statut: str = "",
        client_id: UUID | None = None,
        assignee_id: UUID | None = None,
        unassigned: bool = False,
        open_only: bool = False,
        q: str = "",
        limit: int = 25,
        cursor: str | None = None,
    ) -> Page[TicketRow]:
        """Tickets, most recently active first, filtered."""
        limit = clamp_limit(limit)
        where = ["t.workspace_id = %(ws)s"]
        params: dict[str, Any] = {"ws": workspace_id, "limit": limit + 1}
        if statut:
            where.append("t.statut = %(statut)s")
            params["statut"] = statut
        elif open_only:
            where.append("t.statut = ANY(%(open)s)")
            params["open"] = OPEN_STATUSES
        if client_id is not None:
            where.append("t.client_id = %(client)s")
            params["client"] = client_id
        if assignee_id is not None:
            where.append("t.assignee_id = %(assignee)s")
            params["assignee"] = assignee_id
        elif unassigned:
            where.append("t.assignee_id IS NULL")
        if q.strip():
            where.append("lower(t.sujet) LIKE %(q)s")
            params["q"] = like_pattern(q)
        total_row = self.fetch_one(
            f"SELECT count(*) AS n FROM rm_tickets t WHERE {' AND '.join(where)}",
            params,  # type: ignore[arg-type]
        )
        after = decode_cursor(cursor, 2)
        if after is not None:
            where.append("(t.updated_at, t.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid)")
            params["after_at"], params["after_id"] = after
        rows = self.fetch_all(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE {' AND '.join(where)}"  # type: ignore[arg-type]
            " ORDER BY t.updated_at DESC, t.id DESC LIMIT %(limit)s",
            params,
        )
        items = [msgspec.convert(row, TicketRow) for row in rows[:limit]]
        next_cursor = (
            encode_cursor(items[-1].updated_at.isoformat(), items[-1].id)
            if len(rows) > limit
            else None
        )
        return Page(items=items, next_cursor=next_cursor, total=total_row["n"] if total_row else 0)

    def recent_open(self, workspace_id: UUID, limit: int = 10) -> list[TicketRow]:
        """The open tickets most recently active first (the tableau de bord's list).

        Without the total `search` counts, and through the partial index of the open
        tickets (`rm_tickets_open_recent`, whose predicate this one repeats): it reads
        `limit` index entries instead of sorting every open ticket.
        """
        rows = self.fetch_all(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE t.workspace_id = %s"  # type: ignore[arg-type]
            " AND t.statut NOT IN ('resolu', 'ferme')"
            " ORDER BY t.updated_at DESC, t.id DESC LIMIT %s",
            (workspace_id, clamp_limit(limit)),
        )
        return [msgspec.convert(row, TicketRow) for row in rows]

    def get(self, workspace_id: UUID, ticket_id: UUID) -> TicketRow | None:
        row = self.fetch_one(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE t.id = %s AND t.workspace_id = %s",  # type: ignore[arg-type]
            (ticket_id, workspace_id),
        )
        return msgspec.convert(row, TicketRow) if row else None

    def messages(self, ticket_id: UUID, *, include_internal: bool) -> list[MessageRow]:
        rows = self.fetch_all(
            "SELECT id, ticket_id, texte, interne, auteur, created_at FROM rm_ticket_messages"
            " WHERE ticket_id = %s AND (%s OR NOT interne) ORDER BY created_at, id",
            (ticket_id, include_internal),
        )
        return [msgspec.convert(row, MessageRow) for row in rows]

    def count_open(self, workspace_id: UUID) -> int:
        row = self.fetch_one(
            "SELECT count(*) AS n FROM rm_tickets WHERE workspace_id = %s AND statut = ANY(%s)",
            (workspace_id, OPEN_STATUSES),
        )
        return int(row["n"]) if row else 0


def _forget_client(view: TicketsView, client_id: UUID, tracking: Tracking) -> None:
    """RGPD erasure: the client's tickets stay (counts, statuses), their text goes.

    The placeholder is what a replay reads from the erased events, so a rebuilt
    read model equals the live one.
    """
    view.write(
        tracking,
        (
            "UPDATE rm_ticket_messages SET texte = %s WHERE ticket_id IN"
            " (SELECT id FROM rm_tickets WHERE client_id = %s)",
            (ERASED, client_id),
        ),
        (
            "UPDATE rm_tickets SET sujet = %s, description = %s,"
            " ouvert_par = CASE WHEN ouvert_par = '' THEN '' ELSE %s END WHERE client_id = %s",
            (ERASED, ERASED, ERASED, client_id),
        ),
    )


class TicketsProjection(Projection[TicketsView]):
    name = "tickets"
    topics = topics_of(
        Ticket.Opened,
        Ticket.Replied,
        Ticket.NoteAdded,
        Ticket.Assigned,
        Ticket.StatusChanged,
        Ticket.PriorityChanged,
        Client.Erased,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Ticket.Opened, tracking: Tracking) -> None:
        self.view.open(event, tracking)

    @process_event.register
    def _(self, event: Ticket.Replied, tracking: Tracking) -> None:
        self.view.add_message(event, False, tracking)

    @process_event.register
    def _(self, event: Ticket.NoteAdded, tracking: Tracking) -> None:
        self.view.add_message(event, True, tracking)

    @process_event.register
    def _(self, event: Ticket.Assigned, tracking: Tracking) -> None:
        self.view.assign(event, tracking)

    @process_event.register
    def _(self, event: Ticket.StatusChanged, tracking: Tracking) -> None:
        self.view.change_status(event, tracking)

    @process_event.register
    def _(self, event: Ticket.PriorityChanged, tracking: Tracking) -> None:
        self.view.change_priority(event, tracking)

    @process_event.register
    def _(self, event: Client.Erased, tracking: Tracking) -> None:
        _forget_client(self.view, event.originator_id, tracking)
