"""A projection runner that applies the log a page at a time, one transaction per page.

Same contract as the library's `ProjectionRunner` (constructed the same way, with
`view`, `projection`, `app`, `run_forever`, `wait`, `stop`, a context manager) and
the same `Projection`/`TrackingRecorder` parts. What differs is the processing
loop: the library commits one transaction per event, so a rebuild of 100,000
events waits on 100,000 commits (about 1,000 events/s here). This runner selects
a page of notifications of the projection's topics and applies it inside
`ReadModel.batch()`: the rows of the whole page and the tracking position of its
last event commit together, so each event is still applied exactly once, and a
crash replays the page. Once caught up, pages are as small as the traffic, so a
single command's event is applied (and visible to `wait`) as soon as it arrives.

New events are noticed through the event table's LISTEN/NOTIFY channel, which the
library's recorder notifies on every insert: by the runner itself, or, when it is
given a `LogHead`, by that follower shared by all the runners of the process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from threading import Event, Thread
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import (
    InfrastructureFactory,
    InterfaceError,
    OperationalError,
    Tracking,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.projection import Projection
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Identifier

from projections.log_head import LogHead
from projections.readmodel import ReadModel, event_decoder, reads_personal_data

log = logging.getLogger(__name__)
V = TypeVar("V", bound=ReadModel)

PAGE_SIZE = 500
# How long the loop waits for a notification before looking again: bounds how long
# `stop()` takes, and catches an event whose NOTIFY was missed (e.g. a reconnection).
IDLE_WAIT_SECONDS = 0.5
RECONNECT_WAIT_SECONDS = 2.0


class BatchingProjectionRunner(Generic[V]):
    def __init__(
        self,
        *,
        application_class: type[Application[Any]],
        projection_class: type[Projection[V]],
        view_class: type[V],
        env: Mapping[str, str] | None = None,
        page_size: int = PAGE_SIZE,
        head: LogHead | None = None,
    ) -> None:
        # As the library does: the view is configured by the projection's name.
        view_env = Environment(projection_class.name, {**os.environ, **(env or {})})
        self.view: V = (
            InfrastructureFactory[Any].construct(env=view_env).tracking_recorder(view_class)
        )
        self.projection: Projection[V] = projection_class(view=self.view)
        self.app: Application[Any] = application_class(dict(env or {}))
        self.app_name = self.app.name
        recorder = self.app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            msg = "BatchingProjectionRunner lit un journal PostgreSQL."
            raise TypeError(msg)
        self._recorder = recorder
        self._page_size = page_size
        self._log_head = head
        self._stopping = Event()
        self._error: BaseException | None = None
        self._thread = Thread(
            target=self._run, name=f"projection-{projection_class.name}", daemon=True
        )
        self._thread.start()

    @property
    def is_interrupted(self) -> Event:
        return self._stopping

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._follow()
                except (InterfaceError, OperationalError) as error:
                    # The database went away (a restart, a failover). Each page commits
                    # atomically with its position, so resuming from the tracked
                    # position loses and doubles nothing.
                    log.warning(
                        "Projection %s : base injoignable (%s), nouvel essai dans %s s",
                        self.projection.name,
                        error,
                        RECONNECT_WAIT_SECONDS,
                    )
                    self._stopping.wait(RECONNECT_WAIT_SECONDS)
        except BaseException as error:
            self._error = error
            log.exception("Projection %s arrêtée sur une erreur", self.projection.name)
        finally:
            self._stopping.set()

    def _follow(self) -> None:
        if self._log_head is not None:
            self._follow_shared(self._log_head)
            return
        recorder = self._recorder
        with recorder.datastore.get_connection() as listener:
            # Listen before the first read: a NOTIFY sent while a page is being
            # applied waits on this connection, so no new event goes unnoticed.
            listener.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))
            position = self.view.max_tracking_id(self.app_name) or 0
            while not self._stopping.is_set():
                head = self._recorder.max_notification_id() or 0
                position, full = self._apply_page(position, head)
                if not full:
                    for _ in listener.notifies(timeout=IDLE_WAIT_SECONDS, stop_after=1):
                        pass

    def _follow_shared(self, log_head: LogHead) -> None:
        position = self.view.max_tracking_id(self.app_name) or 0
        while not self._stopping.is_set():
            head = log_head.wait_beyond(position, IDLE_WAIT_SECONDS)
            if head <= position:
                continue
            if log_head.may_hold(position, head, self.projection.topics):
                position, _ = self._apply_page(position, head)
            else:  # none of this projection's events arrived: nothing to select
                position = head

    def _apply_page(self, position: int, head: int) -> tuple[int, bool]:
        """Apply the next page in (`position`, `head`]; return the new position and if
        it was full.

        The position returned may pass events of other topics: the log's head was read
        first, and every event up to it is committed (the library inserts under a
        table lock held to the commit), so a page that is not full has seen all this
        projection's events up to the head. Without that, a projection whose topics
        are quiet (the pipeline while mail pours in) would scan every newer event of
        the log again at each wake-up, a scan that grows with the log.
        """
        if head <= position:
            return position, False
        page = self._recorder.select_notifications(
            start=position,
            limit=self._page_size,
            stop=head,
            topics=self.projection.topics,
            inclusive_of_start=False,
        )
        if not page:
            return head, False
        decode = event_decoder(self.app.mapper, personal=reads_personal_data(type(self.projection)))
        with self.view.batch():
            for notification in page:
                if self._stopping.is_set():
                    # Stopping mid-page: the events applied so far commit with their
                    # position; the rest are applied by the next start.
                    break
                self.projection.process_event(
                    decode(notification), Tracking(self.app_name, notification.id)
                )
                position = notification.id
        full = len(page) == self._page_size
        if not full and not self._stopping.is_set():
            position = head
        return position, full

    def stop(self) -> None:
        self._stopping.set()

    def run_forever(self, timeout: float | None = None) -> None:
        """Block until `timeout`, or until stopped; re-raise the loop's error if any."""
        if self._stopping.wait(timeout=timeout) and self._error is not None:
            error, self._error = self._error, None
            raise error

    def wait(self, notification_id: int | None, timeout: float = 1.0) -> None:
        """Block until the view has applied `notification_id` (or the runner stopped)."""
        self.view.wait(self.app_name, notification_id, timeout=timeout, interrupt=self._stopping)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._thread.join()
        self.app.close()
        self.view.datastore.close()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
