"""History, time travel and the record of administrative actions."""

from __future__ import annotations

import copy
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import msgspec

from crm_core.aggregate import CrmAggregate
from crm_core.application import CrmApplication, Receipt, command
from crm_core.audit.domainmodel import AdminAction, AdminActionKind
from crm_core.errors import NotFoundError
from crm_core.labels import HIDDEN_FIELDS, event_label, field_label


class Change(msgspec.Struct, frozen=True):
    field: str
    label: str
    before: str
    after: str


class HistoryEntry(msgspec.Struct, frozen=True):
    version: int
    at: datetime
    actor: str
    correlation_id: UUID | None
    event_type: str
    label: str
    changes: list[Change]


class EventRecord(msgspec.Struct, frozen=True):
    """One event as an export shows it: its own fields, labelled, as text."""

    version: int
    at: datetime
    actor: str
    event_type: str
    label: str
    fields: dict[str, str]


_ENVELOPE = HIDDEN_FIELDS | {"workspace_id", "actor", "correlation_id"}


class RecordSnapshot(msgspec.Struct, frozen=True):
    """A record as it was at one version: its public attributes, by name."""

    id: UUID
    kind: str
    version: int
    modified_at: datetime
    fields: dict[str, Any]


def display(value: Any) -> str:
    """A value as an administrator reads it in a history or a CSV."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dict):
        value = list(value.values())
    builtins = msgspec.to_builtins(value, str_keys=True, enc_hook=str)
    return builtins if isinstance(builtins, str) else msgspec.json.encode(builtins).decode()


def _state(aggregate: Any) -> dict[str, Any]:
    if aggregate is None:
        return {}
    return {
        name: copy.deepcopy(value)
        for name, value in vars(aggregate).items()
        if not name.startswith("_") and name not in HIDDEN_FIELDS
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    return [
        Change(name, field_label(name), display(before.get(name)), display(value))
        for name, value in after.items()
        if name not in before or before[name] != value
    ]


class AuditApplication(CrmApplication):
    @command
    def record(self, workspace_id: UUID, *, kind: str, cible: str, details: str = "") -> Receipt:
        """Record an administrative action (an export, a rebuild, a verification)."""
        action = AdminAction(
            workspace_id=workspace_id, kind=AdminActionKind(kind), cible=cible, details=details
        )
        return Receipt(action.id, self._commit(action))

    def _events(self, workspace_id: UUID | None, record_id: UUID) -> list[Any]:
        events: list[Any] = list(self.repository.event_store.get(record_id))
        if not events or workspace_id not in (None, events[0].workspace_id):
            raise NotFoundError("Enregistrement introuvable.")
        return events

    def history(self, workspace_id: UUID | None, record_id: UUID) -> list[HistoryEntry]:
        """Every event of a record, oldest first, with what each one changed.

        `workspace_id=None` is for installation-wide tools (the CLI).
        """
        entries: list[HistoryEntry] = []
        aggregate: CrmAggregate | None = None
        for domain_event in self._events(workspace_id, record_id):
            before = _state(aggregate)
            aggregate = domain_event.mutate(aggregate)
            name = type(domain_event).__qualname__
            entries.append(
                HistoryEntry(
                    version=domain_event.originator_version,
                    at=domain_event.timestamp,
                    actor=domain_event.actor,
                    correlation_id=getattr(domain_event, "correlation_id", None),
                    event_type=name,
                    label=event_label(name),
                    changes=diff(before, _state(aggregate)),
                )
            )
        return entries

    def events_of(self, workspace_id: UUID | None, record_id: UUID) -> list[EventRecord]:
        """Every event of a record with its own fields (decrypted, or "[effacé]")."""
        return [
            EventRecord(
                version=e.originator_version,
                at=e.timestamp,
                actor=e.actor,
                event_type=type(e).__qualname__,
                label=event_label(type(e).__qualname__),
                fields={
                    field_label(name): display(value)
                    for name, value in vars(e).items()
                    if name not in _ENVELOPE
                },
            )
            for e in self._events(workspace_id, record_id)
        ]

    def changes(self, record_id: UUID, versions: set[int]) -> dict[int, list[Change]]:
        """What each of the given versions of a record changed (one replay for all)."""
        found: dict[int, list[Change]] = {}
        aggregate: CrmAggregate | None = None
        events: list[Any] = list(self.repository.event_store.get(record_id, lte=max(versions)))
        for domain_event in events:
            wanted = domain_event.originator_version in versions
            before = _state(aggregate) if wanted else {}
            aggregate = domain_event.mutate(aggregate)
            if wanted:
                found[domain_event.originator_version] = diff(before, _state(aggregate))
        return found

    def version_at(self, workspace_id: UUID | None, record_id: UUID, at: datetime) -> int:
        """The record's last version at or before `at`."""
        versions: list[int] = [
            e.originator_version for e in self._events(workspace_id, record_id) if e.timestamp <= at
        ]
        if not versions:
            raise NotFoundError("Cet enregistrement n’existait pas encore à cette date.")
        return versions[-1]

    def snapshot(
        self,
        workspace_id: UUID | None,
        record_id: UUID,
        *,
        version: int | None = None,
        at: datetime | None = None,
    ) -> RecordSnapshot:
        """The record as it was at a version, or at a date (its last version by then)."""
        if at is not None:
            version = self.version_at(workspace_id, record_id, at)
        else:
            self._events(workspace_id, record_id)  # the tenant check
        aggregate: CrmAggregate = self.repository.get(record_id, version=version)
        return RecordSnapshot(
            id=record_id,
            kind=type(aggregate).__name__,
            version=aggregate.version,
            modified_at=aggregate.modified_on,
            fields=_state(aggregate),
        )
