"""Group commit: saves made at the same moment by several threads share one transaction.

Every save into the event log takes the log's table lock until its commit (the
library keeps notification ids in commit order that way), so concurrent saves
queue behind each other one round trip and one disk flush at a time. When the
mail receiver records messages from several SMTP sessions at once, the saves
that arrive while a transaction is running wait for it and then go together in
the next one: one lock, one flush for many messages.

Each caller still gets its own answer. The events are mapped (transcoded,
encrypted) in the caller's thread, in parallel; only the insert is shared. If a
shared insert conflicts (two deliveries of one message, two replies to one
ticket), each save of the group is retried alone, so only the one at fault sees
the conflict. A lone save pays nothing: with no transaction running it inserts
at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    Notification,
    Recording,
    StoredEvent,
)

TID = TypeVar("TID", bound=UUID | str)
T = TypeVar("T")  # what one caller saves: stored events (inbox) or domain events (webhooks)
# Bounds one transaction (a few MB of events at most): the rest waits for the next.
MAX_GROUP_EVENTS = 200


class _Pending(Generic[T]):
    __slots__ = ("done", "error", "events", "ids", "lead")

    def __init__(self, events: list[T]) -> None:
        self.events = events
        self.ids: Sequence[int] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.lead = False  # woken to run the next group rather than with its answer


class GroupCommit(Generic[T]):
    """Leader/followers: the first caller inserts, the ones arriving meanwhile wait.

    `insert` saves a list of items in one transaction and returns one notification
    id per item, in order (the ids of a group are handed back to each caller).

    No thread of its own: when a leader's group is committed it hands the lead to
    the oldest waiting caller, so every caller returns as soon as its own events
    are committed (a leader never serves an endless queue).
    """

    def __init__(
        self,
        insert: Callable[[list[T]], Sequence[int] | None],
        *,
        max_events: int = MAX_GROUP_EVENTS,
    ) -> None:
        self._insert = insert
        self._max_events = max_events
        self._lock = threading.Lock()
        self._queue: list[_Pending[T]] = []
        self._busy = False

    def insert(self, events: list[T]) -> Sequence[int] | None:
        mine = _Pending(events)
        with self._lock:
            self._queue.append(mine)
            leading = not self._busy
            self._busy = True
        if not leading:
            mine.done.wait()
            if mine.lead:
                mine.done.clear()
                leading = True
        if leading:
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        return mine.ids

    def _lead(self, mine: _Pending[T]) -> None:
        """Commit one group (which holds `mine`), then pass the lead on."""
        try:
            with self._lock:
                group: list[_Pending[T]] = []
                size = 0
                for pending in self._queue:
                    if group and size + len(pending.events) > self._max_events:
                        break
                    group.append(pending)
                    size += len(pending.events)
                # The lead always goes to the oldest caller: `mine` heads the group.
                for pending in group:
                    self._queue.remove(pending)
            self._commit(group)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._busy = False

    def _commit(self, group: list[_Pending[T]]) -> None:
        try:
            if len(group) == 1:
                self._run(group[0])
                return
            ids = self._insert([event for pending in group for event in pending.events])
        except IntegrityError:
            for pending in group:  # find the culprit: each save alone
                self._run(pending)
            return
        except BaseException as error:  # noqa: BLE001  (the database is down: every caller hears it)
            for pending in group:
                pending.error = error
                pending.done.set()
            return
        offset = 0
        for pending in group:
            count = len(pending.events)
            pending.ids = ids[offset : offset + count] if ids else ids
            offset += count
            pending.done.set()

    def _run(self, pending: _Pending[T]) -> None:
        try:
            pending.ids = self._insert(pending.events)
        except BaseException as error:  # noqa: BLE001  (handed to its caller, who raises it)
            pending.error = error
        pending.done.set()


class GroupCommitEventStore(EventStore[TID], Generic[TID]):
    """The library's event store, with plain saves (no tracking) grouped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group: GroupCommit[StoredEvent] = GroupCommit(self.recorder.insert_events)

    def put(
        self, domain_events: Sequence[DomainEventProtocol[TID]], **kwargs: Any
    ) -> list[Recording[TID]]:
        tracked = kwargs.get("tracking") is not None or set(kwargs) - {"tracking"}
        if tracked or not domain_events:  # a tracked (projection) save stays as it is
            return super().put(domain_events, **kwargs)
        stored_events = [self.mapper.to_stored_event(event) for event in domain_events]
        notification_ids = self.group.insert(stored_events)
        if not notification_ids:
            return []
        return [
            Recording(
                domain_event,
                Notification(
                    originator_id=stored.originator_id,
                    originator_version=stored.originator_version,
                    topic=stored.topic,
                    state=stored.state,
                    id=notification_id,
                ),
            )
            for domain_event, stored, notification_id in zip(
                domain_events, stored_events, notification_ids, strict=True
            )
        ]
