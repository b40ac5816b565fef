"""The base of the area applications: one shared event log, named errors, receipts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
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


class _Ticket:
    """One caller's events waiting for a grouped save, and what became of them."""

    def __init__(self, events: Sequence[Any]) -> None:
        self.events = events
        self.done = False
        self.position = 0
        self.conflict = False
        self.error: Exception | None = None


class GroupCommit:
    """Saves the events of concurrent commands together, in one transaction.

    Every save into the event store takes the events table's lock until its commit
    has reached the disk, so saves are one at a time whatever the number of threads
    and processes: the disk's flush time bounds the commands per second. Commands
    that arrive while a save is under way queue here; the first of them then saves
    all the queued events in one transaction (one lock, one flush) for everybody.
    When that save conflicts (one of the commands raced another), each command's
    events are saved alone, so only the one that raced gets its conflict.
    """

    def __init__(self, app: Application[UUID], max_batch: int = 64) -> None:
        self._app = app
        self._max_batch = max_batch
        self._queue: list[_Ticket] = []
        self._busy = False
        self._turn = threading.Condition()

    def save(self, events: Sequence[Any]) -> _Ticket:
        ticket = _Ticket(events)
        with self._turn:
            self._queue.append(ticket)
            while self._busy and not ticket.done:
                self._turn.wait()
            if ticket.done:  # saved by another caller's turn
                return ticket
            self._busy = True
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            self._save(batch)
        finally:
            with self._turn:
                self._busy = False
                self._turn.notify_all()
        return ticket

    def _save(self, batch: list[_Ticket]) -> None:
        try:
            try:
                recordings = self._app.save(*(event for t in batch for event in t.events))
            except IntegrityError:
                if len(batch) == 1:
                    batch[0].conflict = True
                    return
                for ticket in batch:  # alone, so that only the racer fails
                    self._save([ticket])
                return
            last: dict[UUID, int] = {}
            for recording in recordings:
                originator = recording.domain_event.originator_id
                last[originator] = max(last.get(originator, 0), recording.notification.id)
            for ticket in batch:
                ticket.position = max(last[event.originator_id] for event in ticket.events)
        except Exception as error:  # noqa: BLE001  (handed to every caller, raised there)
            for ticket in batch:
                ticket.error = ticket.error or error
        finally:
            for ticket in batch:
                ticket.done = True


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
        self._group_commit = GroupCommit(self)

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
        their saves share transactions (see GroupCommit). The aggregates must have
        new events."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        ticket = self._group_commit.save(events)
        if ticket.error is not None:
            raise ticket.error
        if ticket.conflict:
            raise conflict
        return ticket.position


class EventLog(CrmApplication):
    """The CRM's event log without commands: what projections subscribe to."""
