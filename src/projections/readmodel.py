"""The base of every read model: rows and tracking written in one transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from threading import Event
from typing import Any, ClassVar, LiteralString

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from crm_core.application import LOG_NAME

Statement = tuple[LiteralString | Composed, Sequence[Any] | dict[str, Any]]


class ReadModel(PostgresTrackingRecorder):
    """A PostgreSQL read model (a materialised view of the CRM's event log).

    Write methods take the event's `tracking` and apply their statements and
    the tracking row in one transaction: an event is applied exactly once, and a
    restarted runner resumes after the last tracked position.
    """

    #: The tables this read model owns; a rebuild empties exactly these.
    tables: ClassVar[tuple[str, ...]] = ()

    def write(self, tracking: Tracking, *statements: Statement) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for query, params in statements:
                curs.execute(SQL(query) if isinstance(query, str) else query, params, prepare=True)
            self._insert_tracking(curs, tracking)

    def track(self, tracking: Tracking) -> None:
        """Record that an event without effect on this read model was seen."""
        self.insert_tracking(tracking)

    def fetch_all(
        self, query: LiteralString | Composed, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[DictRow]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL(query) if isinstance(query, str) else query, params, prepare=True)
            return curs.fetchall()

    def fetch_one(
        self, query: LiteralString | Composed, params: Sequence[Any] | dict[str, Any] = ()
    ) -> DictRow | None:
        rows = self.fetch_all(query, params)
        return rows[0] if rows else None

    def position(self, application_name: str) -> int:
        return self.max_tracking_id(application_name) or 0

    def wait(
        self,
        application_name: str,
        notification_id: int | None,
        timeout: float = 1.0,
        interrupt: Event | None = None,
    ) -> None:
        """Block until the given position is applied; polls fast first.

        The library polls from 100 ms up; a page that waits for its own write
        wants the few milliseconds the projection really takes.
        """
        deadline = time.monotonic() + timeout
        pause = 0.002
        while not self.has_tracking_id(application_name, notification_id):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"Position {notification_id} de {application_name} non atteinte à temps"
                raise TimeoutError(msg)
            if interrupt is not None and interrupt.wait(min(pause, remaining)):
                return
            if interrupt is None:
                time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.05)

    def catch_up(self, target: int, topics: Sequence[str], timeout: float = 5.0) -> None:
        """Read-your-writes: wait until every event up to `target` this read model
        subscribes to is applied. Events of other topics never move its position, so
        the wait is for the last relevant event at or before `target`.
        """
        position = self.position(LOG_NAME)
        if position >= target:
            return
        row = self.fetch_one(
            SQL(
                "SELECT max(notification_id) AS last FROM {0} WHERE notification_id > %s"
                " AND notification_id <= %s AND topic = ANY(%s)"
            ).format(Identifier(f"{LOG_NAME.lower()}_events")),
            (position, target, list(topics)),
        )
        if row is None or row["last"] is None:
            return
        self.wait(LOG_NAME, row["last"], timeout=timeout)

    def reset(self, application_name: str) -> None:
        """Empty the owned tables and forget the position, in one transaction."""
        with self.datastore.transaction(commit=True) as curs:
            for table in self.tables:
                curs.execute(SQL("TRUNCATE {0}").format(Identifier(table)))
            curs.execute(
                SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                    Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )


def topics_of(*event_classes: type[Any]) -> tuple[str, ...]:
    """The stored topics of the given event classes, for a projection's `topics`."""
    return tuple(get_topic(cls) for cls in event_classes)
