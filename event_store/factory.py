"""The CRM's infrastructure factory: the library's PostgreSQL one, plus the keyring.

Named by PERSISTENCE_MODULE (`event_store.factory:CrmPostgresFactory`), so every
application, runner and read model of the CRM gets it through configuration. It
hands the msgspec mapper a keyring that shares the factory's connection pool and
the master key from CRM_ENCRYPTION_KEY (see RGPD.md).

A subject's key is created when its first personal data is encoded, so it is
written by the recorder in the transaction of the save that carries those
events: no transaction, round trip or commit (fsync) of its own per new client,
and no key without its events nor events without their key.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    AggregateRecorder,
    EventStore,
    IntegrityError,
    InterfaceError,
    Mapper,
    OperationalError,
    Recording,
    StoredEvent,
    Transcoder,
)
from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import (
    ConnectionPool,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from event_store.keyring import (
    TABLE,
    KeyBatch,
    MemoryKeyring,
    SubjectKeyConflictError,
    SubjectKeyring,
    parse_master_key,
)
from event_store.mapper import MsgspecMapper

ENCRYPTION_KEY = "CRM_ENCRYPTION_KEY"
PING_WINDOW = "CRM_PING_WINDOW_SECONDS"
_PING_WINDOW_SECONDS = 0.5
# A key conflict is settled by reading the existing key: a second one would need
# another process to create the same subject's key in between.
_KEY_ATTEMPTS = 3
_CREATE_LOCK_ID = 7_318_006  # advisory lock around the recorder's CREATE statements


def _key_conflict(error: IntegrityError) -> bool:
    """The save's new subject key already exists in the table."""
    cause = error.__cause__
    return isinstance(cause, psycopg.errors.UniqueViolation) and cause.diag.table_name == TABLE


class CrmApplicationRecorder(PostgresApplicationRecorder):
    """The library's recorder, saving in one statement: one round trip per save.

    The library's save is a pipeline (BEGIN; SET LOCAL lock_timeout; LOCK TABLE;
    NOTIFY; INSERT ... RETURNING; sync; COMMIT; sync): two round trips and a
    good deal of Python per save. A PL/pgSQL function created beside the table
    does the same in the implicit transaction of one autocommit call, after
    writing the save's new subject keys and key adoptions (event_store.keyring):
    same lock (notification ids commit in order), same channel, same errors
    (a duplicate event or key is a UniqueViolation, so an IntegrityError).
    """

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        function = f"{events_table_name}_insert"
        self.check_identifier_length(function)
        names = {
            "schema": Identifier(datastore.schema),
            "table": Identifier(events_table_name),
            "function": Identifier(function),
            "event": Identifier(self.stored_event_type_name),
            "keys": Identifier(TABLE),
            "channel": Identifier(self.channel_name),
        }
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                " events {schema}.{event}[], key_subjects uuid[], key_owners uuid[],"
                " key_wrapped bytea[], adopt_subjects uuid[], adopt_owners uuid[])"
                " RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ BEGIN"
                "  IF cardinality(key_subjects) > 0 THEN"
                # No ON CONFLICT: an existing key must abort the save (see keyring.settle).
                "    INSERT INTO {schema}.{keys} (subject_id, owner_id, wrapped_key)"
                "    SELECT * FROM unnest(key_subjects, key_owners, key_wrapped);"
                "  END IF;"
                "  IF cardinality(adopt_subjects) > 0 THEN"
                "    UPDATE {schema}.{keys} AS k SET owner_id = a.owner_id"
                "    FROM unnest(adopt_subjects, adopt_owners) AS a(subject_id, owner_id)"
                "    WHERE k.subject_id = a.subject_id AND k.owner_id IS NULL;"
                "  END IF;"
                "  SET LOCAL lock_timeout = '{lock_timeout}s';"
                "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
                "  NOTIFY {channel};"
                "  RETURN QUERY INSERT INTO {schema}.{table}"
                "    (originator_id, originator_version, topic, state)"
                "    SELECT originator_id, originator_version, topic, state FROM unnest(events)"
                "    RETURNING notification_id;"
                " END $BODY$"
            ).format(lock_timeout=datastore.lock_timeout, **names)
        )
        # Rendered once: psycopg would render a composed query on every call.
        self._call_insert = (
            SQL(
                "SELECT * FROM {schema}.{function}(%s::{schema}.{event}[], %s::uuid[],"
                " %s::uuid[], %s::bytea[], %s::uuid[], %s::uuid[]) AS notification_id"
            )
            .format(**names)
            .as_bytes()
        )

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        # Workers starting together would replace the functions concurrently ("tuple
        # concurrently updated"): one at a time. Not the migrations' lock, which a
        # process may hold on another connection while its event log is created.
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK_ID,))
        super()._create_table(curs)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _call(self, stored_events: Sequence[StoredEvent], batch: KeyBatch) -> list[int]:
        events = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        keys = list(batch.keys)
        adoptions = list(batch.adoptions)
        params = (
            events,
            keys,
            [batch.keys[s][0] for s in keys],
            [batch.keys[s][1] for s in keys],
            adoptions,
            [batch.adoptions[s] for s in adoptions],
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._call_insert, params, prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        try:
            return self._call(stored_events, kwargs.get("subject_keys") or KeyBatch())
        except IntegrityError as error:
            if _key_conflict(error):
                raise SubjectKeyConflictError from error
            raise


class CrmProcessRecorder(PostgresProcessRecorder):
    """The library's process recorder (tracking), with the save's new subject keys."""

    keyring: SubjectKeyring | None = None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        batch: KeyBatch | None = kwargs.get("subject_keys")
        if batch and self.datastore.enable_db_functions and self.keyring is not None:
            # The library's database function path has no hook inside its transaction.
            with self.datastore.transaction(commit=True) as curs:
                self.keyring.write_batch(curs, batch)
            kwargs = {**kwargs, "subject_keys": None}
        try:
            return super().insert_events(stored_events, **kwargs)
        except IntegrityError as error:
            if _key_conflict(error):
                raise SubjectKeyConflictError from error
            raise

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        batch: KeyBatch | None = kwargs.get("subject_keys")
        if batch and self.keyring is not None:
            # Pipelined with the tracking and the events' INSERT: no round trip.
            self.keyring.write_batch(curs, batch)
        super()._insert_events(curs, stored_events, **kwargs)


class CrmEventStore(EventStore[UUID]):
    """The library's event store, with the keys of new subjects in the same save."""

    def __init__(
        self, mapper: Mapper[UUID], recorder: AggregateRecorder, keyring: SubjectKeyring
    ) -> None:
        super().__init__(mapper, recorder)
        self.keyring = keyring

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        for attempt in range(1, _KEY_ATTEMPTS + 1):
            with self.keyring.writing() as batch:
                try:
                    recordings = super().put(domain_events, subject_keys=batch, **kwargs)
                except SubjectKeyConflictError:
                    if attempt == _KEY_ATTEMPTS:
                        raise
                    # Nothing was written: read the existing keys, encode again.
                    self.keyring.settle(batch)
                    continue
            self.keyring.remember(batch)
            return recordings
        raise AssertionError  # unreachable: the last attempt returns or raises


class RecentlyUsedCheck:
    """POSTGRES_PRE_PING, without a ping for a connection checked out moments ago.

    The library's pre-ping costs a round trip on every checkout: a command that
    loads two aggregates and saves pays three. A connection checked out less than
    `window` seconds ago was alive then; pinging it again proves little (HikariCP
    skips its check the same way, 500 ms by default). A connection that died in
    that window fails its statement, and the library's recorders and the keyring
    retry on another connection, as after a failed ping.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._last: weakref.WeakKeyDictionary[Connection[Any], float] = weakref.WeakKeyDictionary()

    def __call__(self, conn: Connection[Any]) -> None:
        now = time.monotonic()
        last = self._last.get(conn)
        self._last[conn] = now
        if last is None or now - last > self.window or not conn.autocommit:
            ConnectionPool.check_connection(conn)


class CrmPostgresFactory(PostgresFactory):
    application_recorder_class = CrmApplicationRecorder
    process_recorder_class = CrmProcessRecorder
    _keyring: SubjectKeyring | None = None

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        # The pool takes its check at construction only (a private attribute since).
        if self.datastore.pre_ping and getattr(pool, "_check", None) is not None:
            window = float(self.env.get(PING_WINDOW, "") or _PING_WINDOW_SECONDS)
            pool._check = RecentlyUsedCheck(window)

    def keyring(self) -> SubjectKeyring:
        if self._keyring is None:
            text = self.env.get(ENCRYPTION_KEY, "")
            database = ":".join(
                self.env.get(name, "")
                for name in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME")
            )
            self._keyring = SubjectKeyring(
                self.datastore, parse_master_key(text) if text else None, database
            )
            if self.env_create_table():
                self._keyring.create_table()
        return self._keyring

    def erase_subject(self, subject_id: UUID) -> int:
        """The vault of crm_core.ports.PersonalDataVault: destroy a subject's keys."""
        return self.keyring().erase(subject_id)

    def mapper(
        self,
        transcoder: Transcoder | None = None,
        mapper_class: type[Mapper[Any]] | None = None,
    ) -> Mapper[Any]:
        mapper = super().mapper(transcoder, mapper_class)
        if isinstance(mapper, MsgspecMapper):
            mapper.keyring = self.keyring()
        return mapper

    def process_recorder(self) -> Any:
        recorder = super().process_recorder()
        if isinstance(recorder, CrmProcessRecorder):
            recorder.keyring = self.keyring()
        return recorder

    def event_store(
        self,
        mapper: Mapper[Any] | None = None,
        recorder: AggregateRecorder | None = None,
    ) -> EventStore[Any]:
        mapper = mapper or self.mapper()
        recorder = recorder or self.application_recorder()
        keyed = isinstance(recorder, CrmApplicationRecorder | CrmProcessRecorder)
        if keyed and isinstance(mapper, MsgspecMapper):
            return CrmEventStore(mapper, recorder, self.keyring())
        # Snapshots, or another mapper: keys are written by the keyring itself.
        return EventStore(mapper=mapper, recorder=recorder)


class CrmPopoFactory(POPOFactory):
    """The library's in-memory store (unit tests) with an in-memory keyring."""

    _keyring: MemoryKeyring | None = None

    def keyring(self) -> MemoryKeyring:
        if self._keyring is None:
            self._keyring = MemoryKeyring()
        return self._keyring

    def erase_subject(self, subject_id: UUID) -> int:
        return self.keyring().erase(subject_id)

    def mapper(
        self,
        transcoder: Transcoder | None = None,
        mapper_class: type[Mapper[Any]] | None = None,
    ) -> Mapper[Any]:
        mapper = super().mapper(transcoder, mapper_class)
        if isinstance(mapper, MsgspecMapper):
            mapper.keyring = self.keyring()
        return mapper
