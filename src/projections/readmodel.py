"""The base of every read model: rows and tracking written in one transaction."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from threading import Event
from typing import Any, ClassVar, LiteralString, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.persistence import InterfaceError, OperationalError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.utils import get_topic
from psycopg import Connection, Cursor
from psycopg.errors import UniqueViolation
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg.types.json import Jsonb

from crm_core.application import LOG_NAME
from projections.copy_rows import write_rows
from projections.replay_writer import ReplayWriter

Statement = tuple[LiteralString | Composed, Sequence[Any] | dict[str, Any]]
_READ_ATTEMPTS = 3
_JSON = msgspec.json.Encoder(decimal_format="string", uuid_format="canonical")


def jsonb(value: Any) -> Jsonb:
    """A jsonb parameter encoded by msgspec: Structs, UUIDs and decimals natively, in C
    (psycopg's default, `json.dumps`, needs `to_builtins` first and is several times
    slower: it showed in the clients projection's catch-up)."""
    return Jsonb(value, dumps=_JSON.encode)


class KeptSums(NamedTuple):
    """A table of sums a read model keeps in step with its rows: the counts and totals
    a screen reads instead of aggregating the rows at each request.

    Its rows only ever move by deltas (`t.x = t.x + EXCLUDED.x`), and deltas commute:
    a batch adds up its deltas in memory and writes them once when it ends, and a
    replay writes none and computes the table once from the replayed rows. A row
    whose sums are all zero means the same as no row (a replay leaves none).
    """

    table: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    #: Computes the whole table from the read model's rows, into the emptied table.
    recompute: tuple[LiteralString, ...]

    @property
    def upsert(self) -> Composed:
        return _sums_upsert(self)

    @property
    def nonzero(self) -> Composed:
        """The condition of a row that counts something."""
        return SQL("NOT ({0})").format(
            SQL(" AND ").join(SQL("{0} = 0").format(Identifier(column)) for column in self.sums)
        )


@functools.cache
def _sums_upsert(kept: KeptSums) -> Composed:
    columns = (*kept.keys, *kept.sums)
    return SQL(
        "INSERT INTO {0} AS t ({1}) VALUES ({2}) ON CONFLICT ({3}) DO UPDATE SET {4}"
    ).format(
        Identifier(kept.table),
        SQL(", ").join(map(Identifier, columns)),
        SQL(", ").join(SQL("%s") for _ in columns),
        SQL(", ").join(map(Identifier, kept.keys)),
        SQL(", ").join(
            SQL("{0} = t.{0} + EXCLUDED.{0}").format(Identifier(column)) for column in kept.sums
        ),
    )


class _Pending:
    """Writes held back to go to the database together (see `ReadModel.flush_replay`):
    a replay's, or a batch's."""

    def __init__(self, conn: Connection[DictRow], *, from_empty: bool) -> None:
        self.conn = conn
        self.buffer: list[Statement] = []
        #: Rows inserted and held in memory, by table and key.
        self.held: dict[str, dict[Any, dict[str, Any]]] = {}
        #: Keys inserted into each held table since the tables were empty (a replay from
        #: zero) or since the batch began; None once another statement inserted into it
        #: (its keys are then unknown).
        self.inserted: dict[str, set[Any] | None] | None = None
        #: A replay from zero knows its tables were empty: an insert guarded by `ON
        #: CONFLICT DO NOTHING` of a new key may be held too. A batch may meet a row
        #: written before it, which must win: only plain inserts are held.
        self.from_empty = from_empty
        #: The thread that sends a replay's writes, if it has one (see ReplayWriter).
        self.writer: ReplayWriter | None = None

    def send(self, work: Callable[[Connection[DictRow]], None]) -> None:
        """Run `work` on the connection: now, or in the writer's turn."""
        if self.writer is None:
            work(self.conn)
        else:
            self.writer.submit(functools.partial(work, self.conn))

    def connection(self) -> Connection[DictRow]:
        """The connection, for a statement run now: after the writes sent before it."""
        if self.writer is not None:
            self.writer.drain()
        return self.conn


class _Batch:
    """The open transaction of a batch, its held-back writes and its last position."""

    def __init__(self, conn: Connection[DictRow]) -> None:
        self.pending = _Pending(conn, from_empty=False)
        self.tracking: Tracking | None = None
        self.memo: dict[Any, Any] = {}
        #: The deltas of the batch's kept sums, by table and key, added up.
        self.sums: dict[KeptSums, dict[tuple[Any, ...], list[Any]]] = {}


class ReadModel(PostgresTrackingRecorder):
    """A PostgreSQL read model (a materialised view of the CRM's event log).

    Write methods take the event's `tracking` and apply their statements and
    the tracking row in one transaction: an event is applied exactly once, and a
    restarted runner resumes after the last tracked position. Inside `batch()`
    (the runner's catch-up), the statements of many events share one transaction
    with the last event's tracking, which keeps the same guarantee.
    """

    #: The tables this read model owns; a rebuild empties exactly these.
    tables: ClassVar[tuple[str, ...]] = ()

    #: The tables of sums this read model keeps (see `KeptSums` and `add_to_sums`).
    kept_sums: ClassVar[tuple[KeptSums, ...]] = ()
    #: Statements that also move kept sums (with SQL, from a row's state), and what a
    #: replay runs instead: the same without the sums, or None for nothing at all.
    #: The replay computes the sums once at its end (`KeptSums.recompute`).
    replay_forms: ClassVar[dict[str, LiteralString | None]] = {}

    #: Set while replaying into shadow tables (see `replaying_into`).
    _replay: Connection[DictRow] | None = None
    #: The replay's held-back writes (its inserted keys last from one call to the next).
    _replay_pending: _Pending | None = None
    #: Rows replayed since the kept sums were last computed.
    _sums_stale: bool = False
    #: The last position applied while replaying (kept by the rebuild, not tracked).
    replayed_position: int = 0

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        # A read model is re-derivable from the durable event log, and its rows commit
        # in the same transaction as its tracking position: if the server crashes
        # before an asynchronous commit reaches the disk, rows and position are lost
        # *together* and the runner replays those events. So the read model's own
        # connections need not wait for the WAL flush at each commit (the event log's
        # connections keep the server's synchronous commit). Set before the pool opens.
        connect_kwargs = datastore.pool.kwargs
        if isinstance(connect_kwargs, dict):
            options = str(connect_kwargs.get("options", ""))
            connect_kwargs["options"] = f"{options} -c synchronous_commit=off".strip()
        # The runner's thread batches while web threads query the same object.
        self._local = threading.local()

    def _open_batch(self) -> _Batch | None:
        batch: _Batch | None = getattr(self._local, "batch", None)
        return batch

    def batch_memo(self) -> dict[Any, Any] | None:
        """Scratch space of the open batch (None outside one).

        Lets a read model recall what it wrote earlier in the batch without a round
        trip to the database; it goes with the batch, committed or rolled back.
        """
        batch = self._open_batch()
        return batch.memo if batch is not None else None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Apply the events processed in the block in one transaction.

        Their statements are held back and sent together when the block ends (or
        before a read in the block, which sees the block's own writes), as a replay
        sends them (`flush_replay`): inserts by COPY, an aggregate's row held in
        memory with its updates, the rest pipelined. The tracking row of the last
        event commits with the rows, or nothing does.
        """
        if self._open_batch() is not None:
            msg = "Un lot est déjà ouvert pour ce read model."
            raise RuntimeError(msg)
        with self.datastore.get_connection() as conn, conn.transaction():
            batch = _Batch(conn)
            self._local.batch = batch
            try:
                yield
                self._write_all(batch.pending)
                self._write_sums(batch)
                if batch.tracking is not None:
                    with conn.cursor() as tracking_cursor:
                        self._insert_tracking(tracking_cursor, batch.tracking)
            finally:
                self._local.batch = None

    def add_to_sums(
        self, kept: KeptSums, key: tuple[Any, ...], deltas: tuple[Any, ...]
    ) -> tuple[Statement, ...]:
        """The statements that add `deltas` to the row `key` of `kept`, for `write`.

        None in a batch (added up, written when it ends) nor in a replay (the sums are
        computed at its end): a hot row (a workspace's count) changed by every event
        of a page costs more than the rows themselves.
        """
        if self._replay is not None:
            return ()
        batch = self._open_batch()
        if batch is None:
            return ((kept.upsert, (*key, *deltas)),)
        sums = batch.sums.setdefault(kept, {})
        total = sums.get(key)
        if total is None:
            sums[key] = list(deltas)
        else:
            for index, delta in enumerate(deltas):
                total[index] += delta
        return ()

    @staticmethod
    def _write_sums(batch: _Batch) -> None:
        with batch.pending.conn.cursor() as curs:
            for kept, rows in batch.sums.items():
                changes = [(*key, *deltas) for key, deltas in rows.items() if any(deltas)]
                if changes:
                    curs.executemany(kept.upsert, changes)
        batch.sums.clear()

    def write(self, tracking: Tracking, *statements: Statement) -> None:
        pending = self._replay_pending
        if self._replay is not None and pending is not None:
            forms = self.replay_forms
            if forms:
                for query, params in statements:
                    form = forms.get(query, query) if type(query) is str else query
                    if form is not None:
                        pending.buffer.append((form, params))
            else:
                pending.buffer.extend(statements)
            self.replayed_position = tracking.notification_id
            self._sums_stale = True
            return
        batch = self._open_batch()
        if batch is not None:
            batch.pending.buffer.extend(statements)
            batch.tracking = tracking
            return
        with self.datastore.transaction(commit=True) as cursor:
            for query, params in statements:
                cursor.execute(query, params, prepare=True)
            self._insert_tracking(cursor, tracking)

    def track(self, tracking: Tracking) -> None:
        """Record that an event without effect on this read model was seen."""
        self.write(tracking)

    @contextmanager
    def replaying_into(
        self, conn: Connection[DictRow], schema: str, writer: ReplayWriter | None = None
    ) -> Iterator[None]:
        """Apply events to the same-named tables of `schema`, on `conn`, untracked.

        For a rebuild without downtime: the projection's unqualified SQL finds the
        shadow tables first on the search path; the caller commits in batches,
        pipelines the writes, and owns the connection (its prepared statements name
        the shadow tables, so it must never go back to a pool). With a `writer`, the
        writes go through its thread, and so must the caller's commits.
        """
        conn.execute(SQL("SET search_path TO {0}, public").format(Identifier(schema)))
        pending = _Pending(conn, from_empty=True)
        pending.writer = writer
        if self._replay_pending is not None:
            pending.inserted = self._replay_pending.inserted  # the same shadow tables
        self._replay, self._replay_pending, self.replayed_position = conn, pending, 0
        self._sums_stale = False
        try:
            yield
            self.finish_replay()
        finally:
            self._replay = None
            pending.buffer, pending.held = [], {}

    def finish_replay(self) -> None:
        """Write what the replay still holds, and compute the kept sums of its rows (it
        skipped their deltas). Before the caller commits; a second call does nothing."""
        pending = self._replay_pending
        if self._replay is None or pending is None:
            return
        self._write_all(pending)
        if self._sums_stale:
            pending.send(functools.partial(_recompute_sums, self.kept_sums))
            self._sums_stale = False

    #: Single-row updates a replay may apply in memory, by statement: for each, a
    #: function that does to a row (a dict of its columns) what the statement does.
    #: The statement must end with `WHERE id = %s` (or `%(name)s`), the row's key.
    #: See `flush_replay`; `replay_defaults` gives the table's defaults of the
    #: columns these functions read and the inserts leave out.
    replay_updates: ClassVar[dict[str, Callable[[dict[str, Any], Any], None]]] = {}
    replay_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Rows inserted during the replay and held in memory, by table and key.
    _held: dict[str, dict[Any, dict[str, Any]]]
    #: Keys inserted into each held table since the replay began (from empty tables),
    #: None once another statement inserted into it (its keys are then unknown).
    _inserted: dict[str, set[Any] | None] | None = None

    def flush_replay(self) -> None:
        """Send the buffered replay writes: row inserts by COPY, the rest pipelined.

        A replay writes millions of rows; one statement each costs a client round of
        Python and protocol work, and a server parse, plan and execution. So, within
        the buffer (a page of events):

        - a plain `INSERT ... VALUES` (optionally `ON CONFLICT DO NOTHING`) into a
          table that no other statement of the buffer names is sent by COPY, one per
          run of the same statement, after the others. It commutes with them: they
          neither read nor write that table (the shadow copies have no triggers nor
          foreign keys). Several inserts into one table keep their relative order.
          A COPY guarded by `DO NOTHING` runs under a savepoint and, on a conflict,
          is replayed as the statement itself, so the first row still wins;
        - a plain insert into a table with `replay_updates` (an aggregate's row,
          updated by most of its later events) is held in memory, and those updates
          of a held row are applied to it there: the row is written once, by COPY,
          when the replay ends, when too many are held, or before any other statement
          that names its table (which then sees it where the live runner would);
        - every other statement keeps its place and is pipelined (no wait for each
          result); runs of one statement go as one executemany.

        A batch of the live runner sends its writes the same way (`batch`).
        """
        if self._replay is not None and self._replay_pending is not None:
            self._flush(self._replay_pending)

    def _flush(self, pending: _Pending) -> None:
        if not pending.buffer:
            return
        buffer, pending.buffer = pending.buffer, []
        view_class = type(self)
        routes = [
            _route(view_class, query) if type(query) is str else _other(view_class)
            for query, _ in buffer
        ]
        touched: set[str] = set()
        for (_, params), route in zip(buffer, routes, strict=True):
            if route.plan is None or type(params) is not tuple:
                touched |= route.words
        anything = "*" in touched  # a composed statement: no insert can be moved past it
        copies: _Copies = {}
        steps: list[Statement | _HeldRows] = []
        for (query, params), route in zip(buffer, routes, strict=True):
            plan = route.plan
            if route.update is not None:
                self._update_held(pending, query, params, route, steps)
            elif plan is not None and type(params) is tuple and route.held:
                self._hold(pending, query, params, plan, steps)
            elif (
                plan is not None
                and type(params) is tuple
                and not anything
                and plan.table not in touched
            ):
                segments = copies.setdefault(plan.table, [])
                if not segments or segments[-1][0] != query:
                    segments.append((str(query), plan, []))
                segments[-1][2].append(params)
            else:
                for table in route.names_held:
                    self._release(pending, table, steps)  # the statement sees them in place
                    if route.inserts:
                        self._inserted_keys(pending)[table] = None
                steps.append((query, params))
        self._send(pending, steps, copies)

    @staticmethod
    def _send(pending: _Pending, steps: list[Statement | _HeldRows], copies: _Copies) -> None:
        overflow = [
            _HeldRows(table, pending.held.pop(table))
            for table, rows in list(pending.held.items())
            if len(rows) > _HELD_ROWS
        ]
        pending.send(functools.partial(_send_now, steps, copies, overflow))

    @staticmethod
    def _release(pending: _Pending, table: str, steps: list[Statement | _HeldRows]) -> None:
        """Stop holding the rows of `table`: they are written at this point of `steps`."""
        rows = pending.held.pop(table, None)
        if rows:
            steps.append(_HeldRows(table, rows))

    @staticmethod
    def _update_held(
        pending: _Pending,
        query: Any,
        params: Any,
        route: _Route,
        steps: list[Statement | _HeldRows],
    ) -> None:
        """A single-row update: done in memory if the row is held, else sent."""
        key = params[route.key] if type(params) is dict else params[-1]
        row = pending.held.get(route.table, _NOTHING).get(key)
        if row is None:
            steps.append((query, params))  # a row already written: updated there
        elif route.update is not None:
            route.update(row, params)

    def _hold(
        self,
        pending: _Pending,
        query: Any,
        params: tuple[Any, ...],
        plan: _CopyPlan,
        steps: list[Statement | _HeldRows],
    ) -> None:
        """Hold an insert into a held table; an insert whose key was met before, or
        whose `DO NOTHING` may meet a row a batch did not write, goes to the database
        after the held rows of its table, as the statement itself (in its place: the
        updates of its row that follow it are sent after it)."""
        keys = self._inserted_keys(pending).get(plan.table)
        row = dict(zip(plan.names, plan.row(params), strict=True))
        key = row.get("id")
        known = key.int if type(key) is UUID else key  # an int: half the memory of a UUID
        if (
            keys is not None
            and key is not None
            and known not in keys
            and (pending.from_empty or not plan.guarded)
        ):
            keys.add(known)
            for column, value in self.replay_defaults.get(plan.table, {}).items():
                row.setdefault(column, value)
            pending.held.setdefault(plan.table, {})[key] = row
            return
        self._release(pending, plan.table, steps)
        steps.append((query, params))

    def forget_replay(self) -> None:
        """A replay starts again from empty tables: forget what the last one remembered."""
        self._replay_pending = None

    def _inserted_keys(self, pending: _Pending) -> dict[str, set[Any] | None]:
        if pending.inserted is None:
            # The first flush (of a replay from zero, or of a batch).
            pending.inserted = {table: set() for table in _held_tables(type(self))}
        return pending.inserted

    def _write_all(self, pending: _Pending) -> None:
        """Send every write held back: the buffered statements, then the held rows."""
        self._flush(pending)
        self._write_held_rows(pending)

    @staticmethod
    def _write_held_rows(pending: _Pending) -> None:
        """Write every row held in memory (the end of a replay or batch, or before a read)."""
        if pending.held:
            held = [_HeldRows(table, pending.held.pop(table)) for table in list(pending.held)]
            pending.send(functools.partial(_send_now, [], {}, held))

    def fetch_all(
        self, query: LiteralString | Composed, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[DictRow]:
        if self._replay is not None and self._replay_pending is not None:
            self._write_all(self._replay_pending)  # a query sees the writes replayed before it
            with self._replay_pending.connection().cursor() as curs:
                curs.execute(SQL(query) if isinstance(query, str) else query, params)
                return curs.fetchall()
        batch = self._open_batch()
        if batch is not None:
            # Within the batch's transaction, after its writes: an earlier event is seen.
            self._write_all(batch.pending)
            with batch.pending.conn.cursor() as cursor:
                cursor.execute(query, params, prepare=True)
                return cursor.fetchall()
        for attempt in range(_READ_ATTEMPTS):
            try:
                with self.datastore.get_connection() as conn, conn.cursor() as curs:
                    curs.execute(query, params, prepare=True)
                    return curs.fetchall()
            except (InterfaceError, OperationalError):
                # A pooled connection broken by a server restart is discarded on
                # failure (connections are not pinged first): try a fresh one.
                if attempt == _READ_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError  # pragma: no cover  (the loop returns or raises)

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
        if not topics:  # a read model of every event (the audit journal)
            self.wait(LOG_NAME, target, timeout=timeout)
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


class _CopyPlan(NamedTuple):
    """How the rows of a plain `INSERT ... VALUES` statement go by COPY."""

    table: str
    columns: str
    #: Where each column's value comes from: the index of a parameter, or a literal.
    slots: tuple[int | _Literal, ...]
    #: `ON CONFLICT ... DO NOTHING`: a conflicting row must be skipped, not fail.
    guarded: bool

    #: Every column takes the parameter of its rank: the parameters are the row.
    direct: bool

    @property
    def names(self) -> tuple[str, ...]:
        return _column_names(self.columns)

    def row(self, params: Sequence[Any]) -> Sequence[Any]:
        if self.direct:
            return params
        return [params[slot] if isinstance(slot, int) else slot.value for slot in self.slots]


@functools.cache
def _column_names(columns: str) -> tuple[str, ...]:
    return tuple(columns.split(", "))  # once per statement, not once per held row


class _Literal(NamedTuple):
    value: str | None


_INSERT = re.compile(
    r"INSERT INTO (?P<table>\w+) \((?P<columns>[\w, ]+)\) VALUES \((?P<values>[^()]*)\)"
    r"(?P<guard> ON CONFLICT(?: \([\w, ]+\))? DO NOTHING)?",
    re.IGNORECASE,
)
_STRING = re.compile(r"'([^']*)'")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@functools.cache
def _copy_plan(query: str) -> _CopyPlan | None:
    """The COPY plan of `query`, or None if it is not a plain insert of one row."""
    match = _INSERT.fullmatch(query.strip())
    if match is None:
        return None
    columns = [column.strip() for column in match["columns"].split(",")]
    slots: list[int | _Literal] = []
    index = 0
    for value in (value.strip() for value in match["values"].split(",")):
        if value == "%s":
            slots.append(index)
            index += 1
        elif (string := _STRING.fullmatch(value)) is not None:
            slots.append(_Literal(string[1]))
        elif _NUMBER.fullmatch(value) or value.lower() in ("true", "false"):
            slots.append(_Literal(value))
        elif value.lower() == "null":
            slots.append(_Literal(None))
        else:
            return None  # a cast, a function, a named parameter: left to the server
    if len(slots) != len(columns):
        return None
    direct = slots == list(range(len(slots)))
    return _CopyPlan(
        match["table"], ", ".join(columns), tuple(slots), match["guard"] is not None, direct
    )


@functools.cache
def _words(query: str) -> frozenset[str]:
    """Every identifier-like word of `query` (the tables it may name, and more)."""
    return frozenset(re.findall(r"\w+", query))


class _Route(NamedTuple):
    """What `ReadModel.flush_replay` does with a statement, worked out once per text."""

    plan: _CopyPlan | None = None  # a plain insert
    held: bool = False  # ...into a table whose rows are held
    update: Callable[[dict[str, Any], Any], None] | None = None  # a row update done in memory
    table: str = ""  # ...of this table
    key: str = ""  # ...the row's key parameter (a name, or "" for the last)
    words: frozenset[str] = frozenset()  # identifiers the statement names
    names_held: frozenset[str] = frozenset()  # held tables it names
    inserts: bool = True  # it may insert rows


_NOTHING: dict[Any, Any] = {}


@functools.cache
def _other(view_class: type[ReadModel]) -> _Route:
    """A composed statement: it may read or write any table."""
    return _Route(words=frozenset({"*"}), names_held=_held_tables(view_class))


@functools.cache
def _route(view_class: type[ReadModel], query: str) -> _Route:
    held = _held_tables(view_class)
    plan = _copy_plan(query)
    if plan is not None:
        # (words and names_held: for the rare run with named parameters, sent as is)
        return _Route(
            plan=plan,
            held=plan.table in held,
            words=_words(query),
            names_held=held & {plan.table},
        )
    update = view_class.replay_updates.get(query)
    if update is not None:
        table, key = _update_target(query)
        return _Route(update=update, table=table, key=key)
    words = _words(query)
    return _Route(words=words, names_held=held & words, inserts="INSERT" in query.upper())


#: Per table, runs of one insert statement: (statement, plan, parameters of each row).
_Copies = dict[str, list[tuple[str, "_CopyPlan", list[Any]]]]
# Rows held in memory per table before they are written: an aggregate's updates
# usually follow its creation closely; a row written too early only means that its
# later updates are sent as statements.
_HELD_ROWS = 2_000


@functools.cache
def _held_tables(view_class: type[ReadModel]) -> frozenset[str]:
    return frozenset(_update_target(query)[0] for query in view_class.replay_updates)


_UPDATE = re.compile(
    r"UPDATE (?P<table>\w+) SET .* WHERE id ?= ?%(?:\((?P<name>\w+)\))?s", re.IGNORECASE | re.S
)


@functools.cache
def _update_target(query: str) -> tuple[str, str]:
    """The table of a single-row update by `id`, and its key parameter's name."""
    match = _UPDATE.fullmatch(query.strip())
    if match is None:
        msg = f"Pas une mise à jour d'une ligne par id : {query}"
        raise ValueError(msg)
    return match["table"], match["name"] or ""


class _HeldRows(NamedTuple):
    """Rows held in memory during a replay, to be written at their place in the steps."""

    table: str
    rows: dict[Any, dict[str, Any]]


def _write_held(curs: Cursor[Any], held: _HeldRows) -> None:
    by_columns: dict[tuple[str, ...], list[Any]] = {}
    for row in held.rows.values():
        by_columns.setdefault(tuple(row), []).append(tuple(row.values()))
    for columns, values in by_columns.items():
        plan = _CopyPlan(held.table, ", ".join(columns), (), guarded=False, direct=True)
        _write_rows(curs, _copy_sql(plan), plan, values)


def _recompute_sums(kept_sums: tuple[KeptSums, ...], conn: Connection[DictRow]) -> None:
    with conn.cursor() as curs:
        for kept in kept_sums:
            curs.execute(SQL("DELETE FROM {0}").format(Identifier(kept.table)))
            for statement in kept.recompute:
                curs.execute(statement)


def _send_now(
    steps: list[Statement | _HeldRows],
    copies: _Copies,
    held: list[_HeldRows],
    conn: Connection[DictRow],
) -> None:
    """Send what a flush worked out: the steps in order, the COPY runs, then the held
    rows taken out of memory."""
    # Tuple rows: a dict row maker per result (every pipelined statement) costs.
    with conn.cursor(row_factory=tuple_row) as curs:
        _execute_steps(curs, steps)
        for segments in copies.values():
            for query, plan, rows in segments:
                _copy(curs, query, plan, rows)
        for held_rows in held:
            _write_held(curs, held_rows)


def _execute_steps(curs: Cursor[Any], steps: list[Statement | _HeldRows]) -> None:
    """Statements pipelined, in order; held rows written by COPY at their place."""
    start = 0
    while start < len(steps):
        end = start
        while end < len(steps) and not isinstance(steps[end], _HeldRows):
            end += 1
        if end > start:
            with curs.connection.pipeline():
                _execute_runs(curs, steps[start:end])  # type: ignore[arg-type]
        if end < len(steps):
            _write_held(curs, steps[end])  # type: ignore[arg-type]
        start = end + 1


def _execute_runs(curs: Cursor[Any], statements: list[Statement]) -> None:
    """Execute in order; a run of the same statement goes as one executemany."""
    start = 0
    while start < len(statements):
        query = statements[start][0]
        end = start + 1
        while end < len(statements) and statements[end][0] == query:
            end += 1
        statement = SQL(query) if isinstance(query, str) else query
        if end - start == 1:
            curs.execute(statement, statements[start][1], prepare=True)
        else:
            curs.executemany(statement, [params for _, params in statements[start:end]])
        start = end


def _copy_sql(plan: _CopyPlan) -> Composed:
    return SQL("COPY {0} ({1}) FROM STDIN").format(
        Identifier(plan.table),
        SQL(", ").join(Identifier(column) for column in plan.columns.split(", ")),
    )


def _write_rows(curs: Cursor[Any], copy_sql: Composed, plan: _CopyPlan, rows: list[Any]) -> None:
    with curs.copy(copy_sql) as copy:
        write_rows(copy, rows if plan.direct else map(plan.row, rows))


def _copy(curs: Cursor[Any], query: str, plan: _CopyPlan, rows: list[Any]) -> None:
    """COPY the rows of one insert statement (see `ReadModel.flush_replay`)."""
    copy_sql = _copy_sql(plan)
    if not plan.guarded:
        _write_rows(curs, copy_sql, plan, rows)
        return
    try:
        with curs.connection.transaction():
            _write_rows(curs, copy_sql, plan, rows)
    except UniqueViolation:
        # A row already there (or twice in the run): the statement's own semantics.
        curs.executemany(SQL(query), rows)  # type: ignore[arg-type]


def positions_text(tracking_tables: Sequence[str]) -> Composed:
    """One SQL expression: the positions of the read models of these tracking tables,
    as text (`'12,40,7'`). A read model changes its rows and its position in one
    transaction, so equal positions mean equal rows: a reader keeps what it rendered
    while they hold."""
    return SQL("concat_ws(',', {0})").format(
        SQL(", ").join(
            SQL(
                "(SELECT COALESCE(max(notification_id), 0) FROM {0} WHERE application_name = {1})"
            ).format(Identifier(table), Literal(LOG_NAME))
            for table in tracking_tables
        )
    )


def reads_personal_data(projection_class: type[Any]) -> bool:
    """False for a projection that declares `reads_personal_data = False`: it never
    looks at the personal fields of its events (`event_decoder`)."""
    return bool(getattr(projection_class, "reads_personal_data", True))


def event_decoder(mapper: Any, *, personal: bool) -> Callable[[Any], Any]:
    """How events are decoded: personal fields opened, or left sealed for readers that
    never look at them (their decryption is most of the cost of decoding an event).
    A wrong declaration would show: its read model would hold ciphertexts, and differ
    from a replay that opened them (`test_sealed_read_models_need_no_personal_data`)."""
    sealed = getattr(mapper, "to_domain_event_sealed", None)
    if personal or sealed is None:
        return mapper.to_domain_event  # type: ignore[no-any-return]
    return sealed  # type: ignore[no-any-return]


def topics_of(*event_classes: type[Any]) -> tuple[str, ...]:
    """The stored topics of the given event classes, for a projection's `topics`."""
    return tuple(get_topic(cls) for cls in event_classes)
