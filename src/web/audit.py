"""The audit journal as the admin screen shows it: rows, what changed, CSV export.

Composes the journal read model (who, when, which record) with the event history
(what changed, decrypted, or "[effacé]" after an erasure).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import msgspec

from crm_core.audit.application import Change
from crm_core.ids import SYSTEM_WORKSPACE
from crm_core.labels import event_label
from projections.audit import JournalFilters, JournalRow
from projections.pagination import Page
from web.container import Container

CSV_LIMIT = 100_000


class JournalEntry(msgspec.Struct, frozen=True):
    position: int
    occurred_at: datetime
    actor: str
    event_type: str
    label: str
    record_kind: str
    record_id: UUID
    record_version: int
    client_id: UUID | None
    correlation_id: UUID | None
    changes: list[Change]


def _entries(container: Container, rows: list[JournalRow]) -> list[JournalEntry]:
    wanted: dict[UUID, set[int]] = {}
    for row in rows:
        wanted.setdefault(row.record_id, set()).add(row.record_version)
    changes = {
        record_id: container.audit.changes(record_id, versions)
        for record_id, versions in wanted.items()
    }
    return [
        JournalEntry(
            position=row.notification_id,
            occurred_at=row.occurred_at,
            actor=row.actor,
            event_type=row.event_type,
            label=event_label(row.event_type),
            record_kind=row.record_kind,
            record_id=row.record_id,
            record_version=row.record_version,
            client_id=row.client_id,
            correlation_id=row.correlation_id,
            changes=changes[row.record_id].get(row.record_version, []),
        )
        for row in rows
    ]


def journal(
    container: Container,
    workspace_id: UUID,
    filters: JournalFilters | None = None,
    *,
    include_system: bool = True,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[JournalEntry]:
    """A page of the workspace's journal, newest first (installation-wide actions too)."""
    workspaces = [workspace_id, SYSTEM_WORKSPACE] if include_system else [workspace_id]
    page = container.audit_view.journal(workspaces, filters, limit=limit, cursor=cursor)
    return Page(
        items=_entries(container, page.items), next_cursor=page.next_cursor, total=page.total
    )


def journal_csv(
    container: Container,
    workspace_id: UUID,
    filters: JournalFilters | None = None,
    *,
    include_system: bool = True,
    actor_label: Callable[[str], str] | None = None,
) -> str:
    """The filtered journal as CSV (one line per changed field); recorded as an action.

    `actor_label` turns an actor ("user:<id>", "stripe", ...) into what a reader
    understands (the admin screen passes the user's name); the raw actor otherwise.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "position",
            "date",
            "acteur",
            "type",
            "evenement",
            "enregistrement",
            "version",
            "client",
            "correlation",
            "champ",
            "avant",
            "apres",
        ]
    )
    cursor: str | None = None
    written = 0
    while written < CSV_LIMIT:
        page = journal(
            container,
            workspace_id,
            filters,
            include_system=include_system,
            limit=500,
            cursor=cursor,
        )
        for entry in page.items:
            base = [
                entry.position,
                entry.occurred_at.isoformat(timespec="seconds"),
                actor_label(entry.actor) if actor_label else entry.actor,
                entry.event_type,
                entry.label,
                f"{entry.record_kind} {entry.record_id}",
                entry.record_version,
                entry.client_id or "",
                entry.correlation_id or "",
            ]
            for change in entry.changes or [Change("", "", "", "")]:
                writer.writerow([*base, change.label, change.before, change.after])
            written += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    container.audit.record(
        workspace_id, kind="export_journal", cible="journal", details=f"{written} événements"
    )
    return out.getvalue()
