"""Rebuild a read model without downtime, and compare a live one with a fresh replay.

The rebuild replays the log into copies of the read model's tables in a shadow
schema (`crm_next_<name>`) while the application keeps serving and updating the
live tables. Writes are batched and committed every few thousand events on a
connection of its own. When the copy has caught up with the log, one short
transaction locks the live tables and their tracking row, applies the last few
events to the copy, swaps the tables (drop the live ones, move the copies into
`public`, give their indexes the live names) and sets the live tracking to the
copy's position. A live runner, blocked meanwhile, resumes on the new tables.
One race remains: events stored in the last instants before the lock, that the
live runner had not applied yet, are applied by the copy; that runner then meets
the exactly-once guard of the tracking (IntegrityError) and stops, and must be
restarted (it then resumes from the new position).

A verification replays only up to the live position, then compares both under
a SHARE lock (readers go on, the live runner waits).
"""

from __future__ import annotations

import functools
import gc
import inspect
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import resolve_topic
from psycopg import Connection
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.sql import SQL, Composed, Identifier

from crm_core.application import LOG_NAME
from projections.readmodel import KeptSums, ReadModel, event_decoder, reads_personal_data
from projections.replay_writer import ReplayWriter

_PAGE = 2_000  # notifications read at once
_COMMIT_EVERY = 10_000  # events per shadow transaction
_REPORT_EVERY = 1.0  # seconds between progress reports
# A replay allocates millions of short-lived objects (events, rows), freed by their
# reference counts, while it keeps large dictionaries (held rows, remembered records)
# that every pass of the cyclic collector walks again: at the default threshold (700
# allocations) those passes took 17 % of a rebuild's CPU and found almost nothing.
_REPLAY_GC_THRESHOLD = 100_000


class RebuildProgress(msgspec.Struct, frozen=True):
    """What the admin screen polls: `crm_rebuilds` row of a read model."""

    name: str
    state: str  # "reconstruction", "bascule", "terminee", "verification", "echec"
    done: int
    total: int
    started_at: datetime
    updated_at: datetime
    message: str = ""

    @property
    def rate(self) -> float:
        """Events per second so far."""
        elapsed = (self.updated_at - self.started_at).total_seconds()
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        rate = self.rate
        return max(self.total - self.done, 0) / rate if rate > 0 else None

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0


def rebuild_progress(conninfo: str, name: str) -> RebuildProgress | None:
    """The last known progress of a rebuild (or verification) of `name`."""
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT name, state, done, total, started_at, updated_at, message"
            " FROM crm_rebuilds WHERE name = %s",
            (name,),
        ).fetchone()
    return msgspec.convert(row, RebuildProgress) if row else None


def rebuild_progresses(conninfo: str, names: Sequence[str]) -> dict[str, RebuildProgress]:
    """The last known progress of each of these read models' rebuilds, in one query."""
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT name, state, done, total, started_at, updated_at, message"
            " FROM crm_rebuilds WHERE name = ANY(%s)",
            (list(names),),
        ).fetchall()
    return {row["name"]: msgspec.convert(row, RebuildProgress) for row in rows}


def plan_groups(
    projections: Mapping[str, type[Projection[Any]]],
    processes: int,
    events_by_topic: Mapping[str, int],
) -> list[list[str]]:
    """The read models split into at most `processes` groups, each replayed by a
    process of its own (one Python process decodes and applies on one core).

    A group reads and decodes each of its events once, whatever the number of its
    read models, so the groups are chosen to share few events' decryption: the read
    models that never read personal data (decoded without decryption) go together,
    the others spread over the remaining processes, the busiest (by number of
    events) first, each to the least loaded group.
    """
    names = sorted(projections)
    if processes <= 1 or len(names) <= 1:
        return [names]
    sealed = [name for name in names if not reads_personal_data(projections[name])]
    opened = [name for name in names if name not in sealed]
    groups: list[list[str]] = [sealed] if sealed and opened else []
    spread = opened if groups else names
    loads = [0] * (processes - len(groups))
    members: list[list[str]] = [[] for _ in loads]
    total = sum(events_by_topic.values())

    def weight(name: str) -> int:
        topics = projections[name].topics
        return sum(events_by_topic.get(t, 0) for t in topics) if topics else total

    for name in sorted(spread, key=weight, reverse=True):
        least = loads.index(min(loads))
        loads[least] += weight(name)
        members[least].append(name)
    return groups + [sorted(group) for group in members if group]


class Difference(msgspec.Struct, frozen=True):
    table: str
    only_live: int
    only_replayed: int
    samples: list[str]


class ShadowReplay:
    """A read model replayed from zero into shadow tables, on its own connection."""

    def __init__(
        self,
        *,
        conninfo: str,
        log: Application[Any],
        name: str,
        projection_class: type[Projection[Any]],
        view: ReadModel,
        on_progress: Callable[[RebuildProgress], None] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.log = log
        self.name = name
        self.view = view
        self.projection = projection_class(view=view)
        self.topics = list(projection_class.topics)
        self.topic_set = frozenset(self.topics) or None  # None: every event
        #: False for a read model that never reads personal fields (`event_decoder`).
        self.reads_personal_data = reads_personal_data(projection_class)
        self.schema = f"crm_next_{name}"
        self.on_progress = on_progress
        self.position = 0  # every relevant event up to here is in the copy
        self.last_applied = 0  # the last event the copy applied (of its topics)
        self.done = 0
        self.total = 0
        self.state = "reconstruction"
        self.started_at = datetime.now(UTC)
        self._reported = 0.0
        self._indexes_built = True
        self._report_conn: Connection[Any] | None = None
        self._handlers: dict[type[Any], Callable[[Any, Tracking], None]] = {}
        self._conn: Connection[DictRow] = psycopg.connect(conninfo, row_factory=dict_row)
        # A rebuild can always be restarted from zero: no need to wait for the disk.
        self._conn.execute("SET synchronous_commit TO off")
        self._conn.execute("SET lock_timeout TO '30s'")
        # The secondary indexes are built once, at the end, over every row: sorting a
        # million rows in the default 64 MB spills to disk.
        self._conn.execute("SET maintenance_work_mem TO '256MB'")
        self._conn.commit()

    def handler(self, event_class: type[Any]) -> Callable[[Any, Tracking], None]:
        """The projection's `process_event` for this class of event, resolved once.

        `process_event` is a singledispatchmethod: each attribute access builds a new
        bound function (`functools.update_wrapper` included) and each call looks the
        class up again; over millions of events that cost as much as decoding them.
        """
        found = self._handlers.get(event_class)
        if found is None:
            method = inspect.getattr_static(type(self.projection), "process_event")
            self.projection.process_event  # noqa: B018  (registers the deferred handlers)
            if isinstance(method, functools.singledispatchmethod):
                function = method.dispatcher.dispatch(event_class)
                found = types.MethodType(function, self.projection)
            else:
                found = self.projection.process_event
            self._handlers[event_class] = found
        return found

    # --- shadow tables ------------------------------------------------------------
    def prepare(self) -> None:
        """Empty copies of the live tables (columns, defaults, indexes) in the shadow schema."""
        shadow = Identifier(self.schema)
        self._conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(shadow))
        self._conn.execute(SQL("CREATE SCHEMA {0}").format(shadow))
        for table in self.view.tables:
            self._conn.execute(
                SQL("CREATE TABLE {0}.{1} (LIKE public.{1} INCLUDING ALL)").format(
                    shadow, Identifier(table)
                )
            )
        # Secondary indexes slow a bulk load down and no replay query needs them
        # (lookups go by primary key): dropped here, rebuilt once at the end.
        rows = self._conn.execute(
            "SELECT i.indexrelid::regclass::text FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND NOT i.indisunique AND NOT i.indisprimary",
            (self.schema,),
        ).fetchall()
        for row in rows:
            self._conn.execute(SQL("DROP INDEX {0}").format(SQL(row["indexrelid"])))
        self._conn.commit()
        self._indexes_built = False
        self.view.forget_replay()

    def build_indexes(self) -> None:
        """Give the copies the live tables' secondary indexes (before a swap or a compare)."""
        if self._indexes_built:
            return
        for table in self.view.tables:
            rows = self._conn.execute(
                "SELECT pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i"
                " WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary",
                (f"public.{table}",),
            ).fetchall()
            for row in rows:
                definition = row["definition"]
                name = definition.split(" ON ", 1)[0].rsplit(" ", 1)[-1]
                shadow_definition = definition.replace(
                    f"INDEX {name} ON public.{table}",
                    f"INDEX {name} ON {self.schema}.{table}",
                    1,
                )
                self._conn.execute(SQL(shadow_definition))  # type: ignore[arg-type]
        self._conn.commit()
        self._indexes_built = True

    def drop(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(self.schema)))

    def close(self) -> None:
        self._conn.close()
        if self._report_conn is not None:
            self._report_conn.close()

    # --- replay -------------------------------------------------------------------
    def live_position(self, conn: Connection[Any] | None = None) -> int:
        query = SQL("SELECT max(notification_id) FROM public.{0} WHERE application_name = %s")
        statement = query.format(Identifier(self.view.tracking_table_name))
        if conn is None:
            with psycopg.connect(self.conninfo) as own:
                row = own.execute(statement, (LOG_NAME,)).fetchone()
        else:
            row = conn.execute(statement, (LOG_NAME,)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def count_until(self, target: int) -> int:
        with psycopg.connect(self.conninfo) as conn:
            row = conn.execute(
                "SELECT count(*) FROM crm_events WHERE notification_id <= %s"
                " AND (topic = ANY(%s) OR cardinality(%s::text[]) = 0)",
                (target, self.topics, self.topics),
            ).fetchone()
        return int(row[0]) if row else 0

    def replay_until(self, target: int) -> None:
        """Apply every relevant event up to `target` (inclusive) to the shadow tables."""
        replay_together([self], target)

    def _report(self, *, force: bool = False, message: str = "") -> None:
        if force or time.monotonic() - self._reported >= _REPORT_EVERY:
            _report_all([self], message)

    def _progress(self, message: str) -> RebuildProgress:
        self._reported = time.monotonic()
        return RebuildProgress(
            name=self.name,
            state=self.state,
            done=self.done,
            total=max(self.total, self.done),
            started_at=self.started_at,
            updated_at=datetime.now(UTC),
            message=message,
        )

    def _reporting_connection(self) -> Connection[Any]:
        if self._report_conn is None or self._report_conn.closed:
            # One connection for the whole rebuild: a connection per report (each
            # second, per read model) cost more than the reports themselves.
            self._report_conn = psycopg.connect(self.conninfo, autocommit=True)
            # A progress report is worth no wait for the disk.
            self._report_conn.execute("SET synchronous_commit TO off")
        return self._report_conn

    def head(self) -> int:
        with psycopg.connect(self.conninfo) as conn:
            row = conn.execute("SELECT max(notification_id) FROM crm_events").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def catch_up(self, *, to_head: bool) -> None:
        """Replay until the copy (nearly) reaches the log's head, or the live position."""
        while True:
            target = self.head() if to_head else self.live_position()
            self.total = self.count_until(target)
            self.replay_until(target)
            latest = self.head() if to_head else self.live_position()
            if latest - self.position < _PAGE:
                return

    # --- swap and compare -----------------------------------------------------------
    def _lock_live(self, conn: Connection[Any], mode: str, *, to_head: bool) -> int:
        """Lock the live tables, then bring the copy to the head or to the live position."""
        conn.execute("SET LOCAL lock_timeout TO '30s'")
        lock = SQL("LOCK TABLE public.{0} IN " + mode + " MODE")  # type: ignore[operator]
        for table in self.view.tables:
            conn.execute(lock.format(Identifier(table)))
        # Tables first, then tracking: the live runner writes rows then its tracking.
        conn.execute(lock.format(Identifier(self.view.tracking_table_name)))
        if to_head:
            row = conn.execute("SELECT max(notification_id) FROM crm_events").fetchone()
            target = int(row[0]) if row and row[0] is not None else 0
        else:
            target = self.live_position(conn)
        self.total = max(self.total, self.count_until(target))
        self.replay_until(target)
        return target

    def swap(self) -> int:
        """Replace the live tables by the caught-up copies, in one transaction."""
        self.build_indexes()
        self.state = "bascule"
        self._report(force=True)
        with psycopg.connect(self.conninfo) as conn, conn.transaction():
            position = self._lock_live(conn, "ACCESS EXCLUSIVE", to_head=True)
            # The copy is at the head; so is the live tracking from now on.
            tracking = SQL("public.{0}").format(Identifier(self.view.tracking_table_name))
            if self.view.datastore.single_row_tracking:
                conn.execute(
                    SQL(
                        "INSERT INTO {0} VALUES (%s, %s) ON CONFLICT (application_name)"
                        " DO UPDATE SET notification_id = EXCLUDED.notification_id"
                    ).format(tracking),
                    (LOG_NAME, position),
                )
            else:
                conn.execute(
                    SQL("INSERT INTO {0} VALUES (%s, %s) ON CONFLICT DO NOTHING").format(tracking),
                    (LOG_NAME, position),
                )
            # Views over the swapped tables (reporting views) would block the DROP:
            # set them aside and recreate them, same definition, over the new tables.
            views = _dependent_views(conn, self.view.tables)
            for name, _ in views:
                conn.execute(SQL("DROP VIEW public.{0}").format(Identifier(name)))
            for table in self.view.tables:
                live_indexes = _index_names(conn, "public", table)
                shadow_indexes = _index_names(conn, self.schema, table)
                conn.execute(SQL("DROP TABLE public.{0}").format(Identifier(table)))
                conn.execute(
                    SQL("ALTER TABLE {0}.{1} SET SCHEMA public").format(
                        Identifier(self.schema), Identifier(table)
                    )
                )
                for definition, new_name in shadow_indexes.items():
                    old_name = live_indexes.get(definition)
                    if old_name and old_name != new_name:
                        conn.execute(
                            SQL("ALTER INDEX public.{0} RENAME TO {1}").format(
                                Identifier(new_name), Identifier(old_name)
                            )
                        )
            for name, definition in views:
                conn.execute(
                    SQL("CREATE VIEW public.{0} AS {1}").format(
                        Identifier(name),
                        SQL(definition),  # type: ignore[arg-type]
                    )
                )
            conn.execute(SQL("DROP SCHEMA {0} CASCADE").format(Identifier(self.schema)))
        self.state = "terminee"
        self._report(force=True, message=f"bascule à la position {position}")
        return position

    def compare(self) -> list[Difference]:
        """Rows that differ between the live tables and the copy, both at the same position."""
        self.build_indexes()
        self.state = "verification"
        differences: list[Difference] = []
        with psycopg.connect(self.conninfo) as conn, conn.transaction():
            self._lock_live(conn, "SHARE", to_head=False)
            kept = {sums.table: sums for sums in self.view.kept_sums}
            for table in self.view.tables:
                live = _rows_of(SQL("public.{0}").format(Identifier(table)), kept.get(table))
                copy = _rows_of(
                    SQL("{0}.{1}").format(Identifier(self.schema), Identifier(table)),
                    kept.get(table),
                )
                only_live = conn.execute(
                    SQL("SELECT t::text FROM ({0} EXCEPT ALL {1}) t").format(live, copy)
                ).fetchall()
                only_copy = conn.execute(
                    SQL("SELECT t::text FROM ({0} EXCEPT ALL {1}) t").format(copy, live)
                ).fetchall()
                if only_live or only_copy:
                    samples = [f"en direct : {row[0]}" for row in only_live[:5]]
                    samples += [f"rejoué : {row[0]}" for row in only_copy[:5]]
                    differences.append(Difference(table, len(only_live), len(only_copy), samples))
        self.state = "terminee"
        self._report(force=True, message=f"{len(differences)} table(s) différente(s)")
        return differences


def _rows_of(table: Composed, kept: KeptSums | None) -> Composed:
    """The rows of `table` that mean something: a kept sum of zeros is no row."""
    if kept is None:
        return SQL("TABLE {0}").format(table)
    return SQL("SELECT * FROM {0} WHERE {1}").format(table, kept.nonzero)


def replay_together(replays: list[ShadowReplay], target: int) -> None:
    """Replay several read models in one pass over the log, up to `target` (inclusive).

    Each event is read and decoded once (decoding, with its decryption, costs
    about as much as applying it), then handed to every read model it concerns.
    Three kinds of threads share the work: this one decodes and applies; a reader
    fetches the next page of the log meanwhile; a writer per read model sends its
    writes on its own connection (so the server takes several at once).
    """
    if not replays:
        return
    log = replays[0].log
    position = min(replay.position for replay in replays)
    topics: list[str] = []
    if all(replay.topic_set is not None for replay in replays):
        topics = sorted({topic for replay in replays for topic in replay.topics})
    with ExitStack() as replaying:
        replaying.enter_context(_rare_collections.during_replay())
        writers = [ReplayWriter() for _ in replays]
        for replay, writer in zip(replays, writers, strict=True):
            replaying.callback(writer.close)
            replaying.enter_context(replay.view.replaying_into(replay._conn, replay.schema, writer))
        pages = log_pages(log, position, target, topics)
        replaying.callback(pages.close)
        _apply(pages, replays, writers, log.mapper)
        for replay, writer in zip(replays, writers, strict=True):
            replay.view.finish_replay()  # held rows, kept sums
            writer.submit(replay._conn.commit)
        for writer in writers:
            writer.drain()
    # Every relevant event up to the target is applied, even when the last events of
    # the log are of other topics.
    for replay in replays:
        replay.position = max(replay.position, target)
        replay.last_applied = max(replay.last_applied, replay.view.replayed_position)


def _apply(
    pages: Iterator[Sequence[Any]],
    replays: list[ShadowReplay],
    writers: list[ReplayWriter],
    mapper: Any,
) -> None:
    """Apply each page of events, then hand its writes to the writers; commit every
    `_COMMIT_EVERY` events."""
    uncommitted = 0
    # Where each writer's writes of the last two pages end: it may be a page behind.
    written = [deque([0, 0], maxlen=2) for _ in replays]
    by_topic: dict[str, _TopicRoute] = {}
    for notifications in pages:
        _apply_page(notifications, replays, by_topic, mapper)
        for replay, writer, marks in zip(replays, writers, written, strict=True):
            writer.wait_for(marks[0])
            replay.view.flush_replay()
        uncommitted += len(notifications)
        if uncommitted >= _COMMIT_EVERY:
            for replay, writer in zip(replays, writers, strict=True):
                writer.submit(replay._conn.commit)
            uncommitted = 0
        for writer, marks in zip(writers, written, strict=True):
            marks.append(writer.given)
        if time.monotonic() - replays[0]._reported >= _REPORT_EVERY:
            _report_all(replays)


def _apply_page(
    notifications: Sequence[Any],
    replays: list[ShadowReplay],
    by_topic: dict[str, _TopicRoute],
    mapper: Any,
) -> None:
    """Decode each event once and hand it to the read models of its topic."""
    # A read model already past the start of the page (the last events before a
    # swap, replayed again for the others) skips what it has: checked per event
    # only then.
    behind = all(replay.position < notifications[0].id for replay in replays)
    for notification in notifications:
        route = by_topic.get(notification.topic)
        if route is None:
            route = by_topic[notification.topic] = _TopicRoute(replays, notification.topic, mapper)
        if not route.handlers:
            continue  # (an event of no interest is not even decoded)
        event = route.decode(notification)
        tracking = Tracking(notification_id=notification.id, application_name=LOG_NAME)
        if behind:
            for handler in route.handlers:
                handler(event, tracking)
            route.applied += 1
        else:
            route.apply_after_positions(notification.id, event, tracking)
    for route in by_topic.values():
        route.count_applied()


def catch_up_together(replays: list[ShadowReplay]) -> None:
    """`catch_up(to_head=True)` of several replays in one pass over the log."""
    conninfo = replays[0].conninfo
    while True:
        with psycopg.connect(conninfo) as conn:
            head_row = conn.execute("SELECT max(notification_id) FROM crm_events").fetchone()
            target = int(head_row[0]) if head_row and head_row[0] is not None else 0
            rows = conn.execute(
                "SELECT topic, count(*) FROM crm_events WHERE notification_id <= %s GROUP BY topic",
                (target,),
            ).fetchall()
        counts: dict[str, int] = {str(topic): int(count) for topic, count in rows}
        for replay in replays:
            topics = replay.topic_set or counts.keys()
            replay.total = sum(counts.get(topic, 0) for topic in topics)
        replay_together(replays, target)
        if replays[0].head() - min(replay.position for replay in replays) < _PAGE:
            return


def build_indexes_together(replays: list[ShadowReplay]) -> None:
    """`build_indexes` of several replays at once, each on its own connection."""
    with ThreadPoolExecutor(max_workers=len(replays) or 1) as builders:
        for built in [builders.submit(replay.build_indexes) for replay in replays]:
            built.result()


def log_pages(
    log: Application[Any], position: int, target: int, topics: list[str]
) -> Generator[Sequence[Any], None, None]:
    """The notifications after `position` up to `target`, a page at a time (of these
    topics, or all). The next page is read while the caller applies this one: the
    wait for the server overlaps with decoding."""

    def read(start: int) -> Sequence[Any]:
        return log.recorder.select_notifications(  # type: ignore[attr-defined,no-any-return]
            start=start, limit=_PAGE, stop=target, topics=topics
        )

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-reader") as reader:
        page = read(position + 1) if position < target else []
        while page:
            last = page[-1].id
            following = reader.submit(read, last + 1) if last < target else None
            yield page
            page = following.result() if following is not None else []


def _report_all(replays: list[ShadowReplay], message: str = "") -> None:
    """Write the progress of these replays (one statement), then tell their listeners."""
    reports = [replay._progress(message) for replay in replays]
    columns = ("name", "state", "done", "total", "started_at", "updated_at", "message")
    replays[0]._reporting_connection().execute(
        "INSERT INTO crm_rebuilds (name, state, done, total, started_at, updated_at, message)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[],"
        " %s::timestamptz[], %s::timestamptz[], %s::text[]) ON CONFLICT (name) DO UPDATE SET"
        " state = EXCLUDED.state, done = EXCLUDED.done, total = EXCLUDED.total,"
        " started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,"
        " message = EXCLUDED.message",
        [[getattr(report, column) for report in reports] for column in columns],
    )
    for replay, report in zip(replays, reports, strict=True):
        if replay.on_progress is not None:
            replay.on_progress(report)


class _RareCollections:
    """Runs the cyclic garbage collector rarely while at least one replay runs (the
    thresholds are the process's: replays in two threads share the change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replays = 0
        self._saved = gc.get_threshold()

    @contextmanager
    def during_replay(self) -> Iterator[None]:
        with self._lock:
            if self._replays == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(max(self._saved[0], _REPLAY_GC_THRESHOLD), *self._saved[1:])
            self._replays += 1
        try:
            yield
        finally:
            with self._lock:
                self._replays -= 1
                if self._replays == 0:
                    gc.set_threshold(*self._saved)


_rare_collections = _RareCollections()


class _TopicRoute:
    """The read models an event of one topic concerns, each with its handler, and how
    to decode it: personal fields opened only if one of them reads them."""

    __slots__ = ("applied", "decode", "handlers", "replays")

    def __init__(self, replays: list[ShadowReplay], topic: str, mapper: Any) -> None:
        self.replays = [r for r in replays if r.topic_set is None or topic in r.topic_set]
        self.handlers = (
            [replay.handler(resolve_topic(topic)) for replay in self.replays]
            if self.replays
            else []
        )
        # Personal fields opened only if one of the read models reads them.
        opened = any(replay.reads_personal_data for replay in self.replays)
        self.decode = event_decoder(mapper, personal=opened)
        #: Events applied since `count_applied` (to every read model of the topic).
        self.applied = 0

    def apply_after_positions(self, position: int, event: Any, tracking: Tracking) -> None:
        """Hand the event to the read models that have not applied it yet."""
        for replay, handler in zip(self.replays, self.handlers, strict=True):
            if position > replay.position:
                handler(event, tracking)
                replay.done += 1

    def count_applied(self) -> None:
        if self.applied:
            for replay in self.replays:
                replay.done += self.applied
            self.applied = 0


def _index_names(conn: Connection[Any], schema: str, table: str) -> dict[str, str]:
    """Index definition (name and schema blanked) -> index name."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
        (schema, table),
    ).fetchall()
    found: dict[str, str] = {}
    for name, definition in rows:
        normal = definition.replace(f"INDEX {name} ON", "INDEX ON", 1)
        normal = normal.replace(f"ON {schema}.{table}", "ON ?", 1)
        normal = normal.replace(f'ON "{schema}".{table}', "ON ?", 1)
        found[normal] = name
    return found


def _dependent_views(conn: Connection[Any], tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """The public views built on `tables`, with their definitions, in creation order."""
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT DISTINCT v.oid, v.relname, pg_get_viewdef(v.oid) FROM pg_depend d"
            " JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class"
            " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace"
            " WHERE n.nspname = 'public' AND t.relname = ANY(%s) AND v.relkind = 'v'"
            " AND v.oid <> t.oid ORDER BY v.oid",
            (list(tables),),
        )
        .fetchall()
    )
    return [(str(row[1]), str(row[2]).rstrip().rstrip(";")) for row in rows]
