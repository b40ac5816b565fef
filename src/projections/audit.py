"""The audit journal: every event of a workspace, newest first, with filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.sales.domainmodel import Client
from projections.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from projections.readmodel import ReadModel, Statement


class JournalRow(msgspec.Struct, frozen=True):
    notification_id: int
    workspace_id: UUID
    record_id: UUID
    record_version: int
    record_kind: str
    client_id: UUID | None
    event_type: str
    actor: str
    correlation_id: UUID | None
    occurred_at: datetime


class JournalFilters(msgspec.Struct, frozen=True, kw_only=True):
    record_id: UUID | None = None
    client_id: UUID | None = None
    actor: str = ""
    event_type: str = ""  # "Client.Updated", or "Client" for every event of clients
    since: datetime | None = None
    until: datetime | None = None
    correlation_id: UUID | None = None


_COLUMNS = (
    "notification_id, workspace_id, record_id, record_version, record_kind, client_id,"
    " event_type, actor, correlation_id, occurred_at"
)


class AuditView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_audit", "rm_audit_records")

    #: During a replay from zero (empty shadow tables), `rm_audit_records` is also
    #: kept here, so each event is two plain inserts (sent by COPY), not a lookup.
    #: Keyed by the record id's integer, the clients shared: a million events name
    #: some 400,000 records, and UUID objects of their own cost twice the memory.
    _replayed_records: dict[int, UUID] | None = None
    _replayed_clients: dict[UUID, UUID] | None = None

    def add(self, event: Any, client_id: UUID | None, tracking: Tracking) -> None:
        kind, _, name = type(event).__qualname__.rpartition(".")
        if self._replay is not None:
            self._replay_add(event, client_id, kind, name, tracking)
            return
        # One statement per event (a replay sends runs of it in one batch): a record
        # created about a client is remembered, later events find their client there.
        self.write(
            tracking,
            (
                "WITH remembered AS (INSERT INTO rm_audit_records (id, kind, client_id)"
                " SELECT %(record)s, %(kind)s, %(client)s"
                " WHERE %(client)s::uuid IS NOT NULL AND %(version)s = 1"
                " ON CONFLICT (id) DO NOTHING)"
                " INSERT INTO rm_audit (notification_id, workspace_id, record_id, record_version,"
                " record_kind, client_id, event_type, actor, correlation_id, occurred_at)"
                " VALUES (%(position)s, %(workspace)s, %(record)s, %(version)s, %(kind)s,"
                " coalesce(%(client)s, (SELECT client_id FROM rm_audit_records"
                "  WHERE id = %(record)s)),"
                " %(type)s, %(actor)s, %(correlation)s, %(at)s)",
                {
                    "position": tracking.notification_id,
                    "workspace": event.workspace_id,
                    "record": event.originator_id,
                    "version": event.originator_version,
                    "kind": kind,
                    "client": client_id,
                    "type": f"{kind}.{name}",
                    "actor": event.actor,
                    "correlation": getattr(event, "correlation_id", None),
                    "at": event.timestamp,
                },
            ),
        )

    def forget_replay(self) -> None:
        super().forget_replay()
        self._replayed_records = None
        self._replayed_clients = None

    def _replay_add(
        self, event: Any, client_id: UUID | None, kind: str, name: str, tracking: Tracking
    ) -> None:
        """`add`'s statement, with the records remembered in memory: same rows."""
        if self._replayed_records is None or self._replayed_clients is None:
            self._replayed_records, self._replayed_clients = {}, {}
        records, clients = self._replayed_records, self._replayed_clients
        record_id: UUID = event.originator_id
        record = record_id.int
        statements: list[Statement] = []
        if client_id is not None and event.originator_version == 1 and record not in records:
            records[record] = clients.setdefault(client_id, client_id)
            statements.append(
                (
                    "INSERT INTO rm_audit_records (id, kind, client_id) VALUES (%s, %s, %s)",
                    (record_id, kind, client_id),
                )
            )
        statements.append(
            (
                "INSERT INTO rm_audit (notification_id, workspace_id, record_id, record_version,"
                " record_kind, client_id, event_type, actor, correlation_id, occurred_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    tracking.notification_id,
                    event.workspace_id,
                    record_id,
                    event.originator_version,
                    kind,
                    client_id if client_id is not None else records.get(record),
                    f"{kind}.{name}",
                    event.actor,
                    getattr(event, "correlation_id", None),
                    event.timestamp,
                ),
            )
        )
        self.write(tracking, *statements)

    # --- queries ----------------------------------------------------------------
    def journal(
        self,
        workspace_ids: list[UUID],
        filters: JournalFilters | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[JournalRow]:
        """Newest first; `cursor` continues after the last row of the previous page."""
        filters = filters or JournalFilters()
        limit = clamp_limit(limit, maximum=1000)
        where = ["workspace_id = ANY(%(ws)s)"]
        params: dict[str, Any] = {"ws": workspace_ids, "limit": limit + 1}
        for column, value in (
            ("record_id", filters.record_id),
            ("client_id", filters.client_id),
            ("correlation_id", filters.correlation_id),
        ):
            if value is not None:
                where.append(f"{column} = %({column})s")
                params[column] = value
        if filters.actor:
            where.append("actor = %(actor)s")
            params["actor"] = filters.actor
        if filters.event_type:
            column = "event_type" if "." in filters.event_type else "record_kind"
            where.append(f"{column} = %(event_type)s")
            params["event_type"] = filters.event_type
        if filters.since is not None:
            where.append("occurred_at >= %(since)s")
            params["since"] = filters.since
        if filters.until is not None:
            where.append("occurred_at <= %(until)s")
            params["until"] = filters.until
        total_row = self.fetch_one(
            f"SELECT count(*) AS n FROM rm_audit WHERE {' AND '.join(where)}",  # type: ignore[arg-type]
            params,
        )
        after = decode_cursor(cursor, 1)
        if after is not None:
            where.append("notification_id < %(after)s")
            params["after"] = int(after[0])
        rows = self.fetch_all(
            f"SELECT {_COLUMNS} FROM rm_audit WHERE {' AND '.join(where)}"  # type: ignore[arg-type]
            " ORDER BY notification_id DESC LIMIT %(limit)s",
            params,
        )
        items = [msgspec.convert(row, JournalRow) for row in rows[:limit]]
        next_cursor = encode_cursor(items[-1].notification_id) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor, total=total_row["n"] if total_row else 0)

    def records_of_client(self, client_id: UUID) -> list[tuple[UUID, str]]:
        """The client and every record that references it (opportunities, tickets, ...)."""
        rows = self.fetch_all(
            "SELECT id, kind FROM rm_audit_records WHERE client_id = %s OR id = %s ORDER BY kind",
            (client_id, client_id),
        )
        return [(row["id"], row["kind"]) for row in rows]


class AuditProjection(Projection[AuditView]):
    name = "audit"
    topics = ()  # every event
    # The journal keeps who, when and what kind of change, never the values: no
    # decryption of personal fields for its million events.
    reads_personal_data = False

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        # Every CRM event carries workspace_id and actor: one generic journal row.
        if not hasattr(event, "workspace_id"):
            self.view.track(tracking)
            return
        self.view.add(event, getattr(event, "client_id", None), tracking)

    # A client is its own client: later client events find it in rm_audit_records.
    @process_event.register
    def _(self, event: Client.Registered, tracking: Tracking) -> None:
        self.view.add(event, event.originator_id, tracking)


def records_referencing(conninfo: str, client_id: UUID) -> list[UUID]:
    """Every record created about a client (opportunities, tickets, activities, ...).

    Read from the event log itself, not from a read model, so an export is complete
    even when a projection lags: creation events name their client in clear.
    """
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT originator_id FROM crm_events WHERE originator_version = 1"
            " AND convert_from(state, 'UTF8')::jsonb ->> 'client_id' = %s"
            " ORDER BY notification_id",
            (str(client_id),),
        ).fetchall()
    return [row[0] for row in rows]
