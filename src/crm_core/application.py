"""The base of the area applications: one shared event log, named errors, receipts."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ClassVar, ParamSpec, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from crm_core.aggregate import CrmAggregate
from crm_core.context import within_action
from crm_core.errors import (
    ConcurrentChangeError,
    ConflictError,
    ErasureUnavailableError,
    NotFoundError,
)
from crm_core.group_commit import GroupCommit
from crm_core.ports import PersonalDataVault

# Every area application records into this one log, so a projection reads one
# ordered sequence of all the CRM's events (a timeline mixes every area).
LOG_NAME = "CRM"

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A", bound=CrmAggregate)


class Receipt(msgspec.Struct, frozen=True):
    """What a command returns: the record's id and the log position to wait for."""

    id: UUID
    position: int


def command(method: Callable[P, R]) -> Callable[P, R]:
    """Run the method inside one action, so its events share a correlation id."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with within_action():
            return method(*args, **kwargs)

    return wrapper


class CrmApplication(Application[UUID]):
    """Base of the area applications (accounts, sales, support, ...)."""

    name = LOG_NAME
    # The events carry msgspec Structs, Decimals and enums, which the library's
    # default JSON transcoder refuses: every store, the in-memory one of the unit
    # tests included, uses the msgspec transcoder and mapper (named by topic: the
    # storage plumbing is configuration, never an import). An env overrides them.
    env: ClassVar[dict[str, str]] = {
        # In memory, personal data is encrypted too, with keys kept in memory.
        "PERSISTENCE_MODULE": "event_store.factory:CrmPopoFactory",
        "TRANSCODER_TOPIC": "event_store.transcoder:MsgspecTranscoder",
        "MAPPER_TOPIC": "event_store.mapper:MsgspecMapper",
    }

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self._group_commit: GroupCommit[Any] = GroupCommit(self._save_events)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = LOG_NAME

    def _load(
        self,
        kind: type[A],
        aggregate_id: UUID,
        workspace_id: UUID | None,
        label: str,
    ) -> A:
        """Load an aggregate of this workspace; any other tenant's record is 'not found'.

        `workspace_id=None` is for the few commands that find their tenant from the
        record itself (a login by email).
        """
        try:
            aggregate: CrmAggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(f"{label} introuvable.") from None
        if not isinstance(aggregate, kind) or workspace_id not in (None, aggregate.workspace_id):
            raise NotFoundError(f"{label} introuvable.")
        return aggregate

    def workspace_of(self, aggregate_id: UUID) -> UUID:
        """The tenant of a record, for the admin tools that start from a bare id."""
        return self._load(CrmAggregate, aggregate_id, None, "Enregistrement").workspace_id

    def _erase_personal_data(self, subject_id: UUID) -> int:
        """Destroy the keys of a data subject's personal data (crypto-shredding).

        The storage is chosen by configuration; the CRM's PostgreSQL factory is the
        vault of the keys. Any other storage cannot erase, and says so.
        """
        vault = self.factory
        if not isinstance(vault, PersonalDataVault):
            raise ErasureUnavailableError
        return vault.erase_subject(subject_id)

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    def _commit(
        self,
        *aggregates: CrmAggregate,
        conflict: ConflictError | None = None,
    ) -> int:
        """Save the aggregates together; return the log position of the last event."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise (conflict or ConcurrentChangeError()) from None
        if not recordings:
            return self.recorder.max_notification_id() or 0
        return max(recording.notification.id for recording in recordings)

    def _commit_grouped(self, *aggregates: CrmAggregate, conflict: ConflictError) -> int:
        """`_commit` for commands that many callers run at once (Stripe webhooks):
        their saves share transactions (see crm_core.group_commit). The aggregates
        must have new events."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        try:
            ids = self._group_commit.insert(events)
        except IntegrityError:
            raise conflict from None
        return max(ids) if ids else self.recorder.max_notification_id() or 0

    def _save_events(self, events: list[Any]) -> list[int]:
        return [recording.notification.id for recording in self.save(*events)]


class EventLog(CrmApplication):
    """The CRM's event log without commands: what projections subscribe to."""
