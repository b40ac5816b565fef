"""The head of the event log, followed once for all the projection runners of a process.

A runner on its own listens on the log's channel and, at every wake-up, asks for
the log's head and then for a page of its topics. A dozen runners in one process
(`crm projections run`, or the web app running them) so woke a dozen times per
save and ran two dozen queries, most of them finding nothing of their topics: at
a hundred mails a second that was most of the process's CPU (and its GIL).

Here one thread listens, reads the head and the topics of the events up to it,
and wakes the runners. A runner none of whose topics arrived moves its position
to the head without a query, as it did after an empty page; the others select
their page as before, so each event is still applied exactly once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection, Mapping
from threading import Condition, Event, Thread
from types import TracebackType
from typing import Any, Self

from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)
IDLE_WAIT_SECONDS = 0.5  # a missed NOTIFY (a reconnection) is caught this late at most
RECONNECT_WAIT_SECONDS = 2.0
# The topics of the last stretches of the log are kept: a runner further behind than
# that (busy on a long page) selects its page without asking them.
RECENT_STRETCHES = 512
# A longer stretch (a start, a catch-up) is not scanned for its topics: runners select.
MAX_SCANNED_EVENTS = 5_000


class LogHeadStoppedError(Exception):
    """The follower of the log's head failed or was stopped: its runners stop with it."""


class LogHead:
    """Follows the log's head in a thread of its own, for the block (a context manager)."""

    def __init__(
        self, *, application_class: type[Application[Any]], env: Mapping[str, str] | None = None
    ) -> None:
        self.app: Application[Any] = application_class(dict(env or {}))
        recorder = self.app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            msg = "LogHead suit un journal PostgreSQL."
            raise TypeError(msg)
        self._recorder = recorder
        self._topics_statement = SQL(
            "SELECT DISTINCT topic FROM {schema}.{table}"
            " WHERE notification_id > %s AND notification_id <= %s"
        ).format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name),
        )
        self._changed = Condition()
        self._head: int | None = None
        # (after, up_to, topics of the events in (after, up_to]), contiguous, oldest first.
        self._stretches: deque[tuple[int, int, frozenset[str]]] = deque(maxlen=RECENT_STRETCHES)
        self._stopping = Event()
        self._error: BaseException | None = None
        self._thread = Thread(target=self._run, name="log-head", daemon=True)
        self._thread.start()

    def wait_beyond(self, position: int, timeout: float) -> int:
        """The head once it is past `position`, or `position` after `timeout`."""
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    self._error is not None
                    or self._stopping.is_set()
                    or (self._head is not None and self._head > position)
                ),
                timeout,
            )
            if self._error is not None or self._stopping.is_set():
                raise LogHeadStoppedError from self._error
            return max(position, self._head or 0)

    def may_hold(self, after: int, up_to: int, topics: Collection[str]) -> bool:
        """False only when the events in (after, up_to] are known to be none of `topics`
        (no topics: every event)."""
        if not topics:
            return True
        with self._changed:
            stretches = list(self._stretches)
        if not stretches or stretches[0][0] > after or stretches[-1][1] < up_to:
            return True
        return any(
            not found.isdisjoint(topics)
            for start, end, found in stretches
            if start < up_to and end > after
        )

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._follow()
                except (InterfaceError, OperationalError) as error:
                    log.warning(
                        "Tête du journal : base injoignable (%s), nouvel essai dans %s s",
                        error,
                        RECONNECT_WAIT_SECONDS,
                    )
                    self._stopping.wait(RECONNECT_WAIT_SECONDS)
        except BaseException as error:
            log.exception("Tête du journal arrêtée sur une erreur")
            with self._changed:
                self._error = error
                self._changed.notify_all()

    def _follow(self) -> None:
        recorder = self._recorder
        with recorder.datastore.get_connection() as listener:
            # Listen before reading the head: a save committed meanwhile is noticed.
            listener.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))
            while not self._stopping.is_set():
                self._read_head()
                for _ in listener.notifies(timeout=IDLE_WAIT_SECONDS, stop_after=1):
                    pass

    def _read_head(self) -> None:
        """Publish the head and the topics that arrived since the last one.

        Every event up to the head is committed (the library inserts under a table
        lock held to the commit), so the topics read up to it are all there will be.
        """
        head = self._recorder.max_notification_id() or 0
        previous = self._head
        if previous is not None and head <= previous:
            return
        topics: frozenset[str] | None = None
        if previous is not None and head - previous <= MAX_SCANNED_EVENTS:
            with self._recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._topics_statement, (previous, head), prepare=True)
                topics = frozenset(row["topic"] for row in curs.fetchall())
        with self._changed:
            if topics is None:
                self._stretches.clear()  # stretches stay contiguous: no gap to mistake
            else:
                self._stretches.append((previous or 0, head, topics))
            self._head = head
            self._changed.notify_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join()
        self.app.close()
