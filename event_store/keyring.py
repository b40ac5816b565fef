"""Per-data-subject keys for crypto-shredding, kept in `crm_subject_keys`.

Each data subject (a client, a staff user, a ticket owned by a client) has its
own random 256-bit data key. The table stores it wrapped (AES-GCM) by the master
key from `CRM_ENCRYPTION_KEY`, so a dump of the database alone reveals nothing.
Erasing a subject sets its wrapped key (and the keys it owns) to NULL: the
ciphertexts left in the append-only event log can never be read again.
See RGPD.md.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from crm_core.errors import PersonalDataErasedError

TABLE = "crm_subject_keys"
_NONCE = 12

# Keys read from the table stay cached this long, per process. An erasure made in
# this process clears the entry at once; one made by another process is seen
# after at most this delay (the read models forget the person through the
# Client.Erased event anyway).
CACHE_SECONDS = float(os.environ.get("CRM_KEY_CACHE_SECONDS", "30"))
_CACHE_LIMIT = 100_000  # some 25 MB of raw keys
_OPEN_LIMIT = 512  # AESGCM objects kept ready (about 1.2 MB)
_READ_AHEAD = 2_000
_FIRST_UUID = UUID(int=0)
_MISSING = object()
# As the library's recorders: a connection that died (server restarted) fails its
# statement and is dropped by the pool; the next attempt takes another one.
_retry = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)


class KeyringError(Exception):
    """The keyring cannot serve: no master key configured, or a wrong one."""


class ErasedSubjectError(PersonalDataErasedError):
    """Personal data would be written for a data subject already erased."""


def parse_master_key(text: str) -> bytes:
    """A master key as configured: 32 bytes, url-safe base64 (as `crm` generates)."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError as error:
        msg = "CRM_ENCRYPTION_KEY doit être 32 octets encodés en base64 url-safe."
        raise KeyringError(msg) from error
    if len(key) != 32:
        msg = "CRM_ENCRYPTION_KEY doit être 32 octets encodés en base64 url-safe."
        raise KeyringError(msg)
    return key


class _Cache:
    """Data keys by subject, shared by every keyring of one database in the process.

    The raw 32-byte keys are kept, not AESGCM objects: each of those holds an
    OpenSSL context of some 2.4 kB, and a replay meets every subject of the log
    (100,000 clients would pin 240 MB). Only the last few hundred used stay open.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[UUID, tuple[bytes | None, float]] = {}
        self.opened: dict[UUID, AESGCM] = {}

    def get(self, subject: UUID) -> tuple[bool, AESGCM | None]:
        entry = self.entries.get(subject)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        raw = entry[0]
        if raw is None:
            return True, None
        key = self.opened.get(subject)
        if key is None:
            if len(self.opened) >= _OPEN_LIMIT:
                self.opened.clear()
            key = self.opened[subject] = AESGCM(raw)
        return True, key

    def raw(self, subject: UUID) -> object:
        """The subject's raw key (None if erased) while fresh, else `_MISSING`."""
        entry = self.entries.get(subject)
        if entry is None or entry[1] < time.monotonic():
            return _MISSING
        return entry[0]

    def put_many(self, keys: dict[UUID, bytes | None]) -> None:
        with self.lock:
            if len(self.entries) + len(keys) > _CACHE_LIMIT:
                self._prune()
            expires = time.monotonic() + CACHE_SECONDS
            for subject, raw in keys.items():
                self.entries[subject] = (raw, expires)

    def _prune(self) -> None:
        now = time.monotonic()
        self.entries = {s: e for s, e in self.entries.items() if e[1] >= now}
        if len(self.entries) >= _CACHE_LIMIT:
            self.entries.clear()

    def put(self, subject: UUID, raw: bytes | None) -> None:
        with self.lock:
            if len(self.entries) >= _CACHE_LIMIT:
                self._prune()
            self.entries[subject] = (raw, time.monotonic() + CACHE_SECONDS)

    def forget(self, subjects: list[UUID]) -> None:
        with self.lock:
            for subject in subjects:
                self.entries[subject] = (None, time.monotonic() + CACHE_SECONDS)
                self.opened.pop(subject, None)


class KeyBatch:
    """The keys created and handed over while one save's events are encoded.

    The recorder writes them in the save's own transaction (see
    event_store.factory): a new client costs no round trip and no commit of its
    own, and a key exists exactly when the events it encrypts do.
    """

    def __init__(self) -> None:
        #: subject -> (owner, wrapped key, key, raw key)
        self.keys: dict[UUID, tuple[UUID | None, bytes, AESGCM, bytes]] = {}
        #: subject -> owner, for `adopt`
        self.adoptions: dict[UUID, UUID] = {}

    def __bool__(self) -> bool:
        return bool(self.keys or self.adoptions)


class SubjectKeyConflictError(Exception):
    """A key created for a save already exists in the table (another process, an
    expired cache, an erased subject): the save is rolled back and encoded again."""


_caches: dict[tuple[Any, ...], _Cache] = {}
_caches_lock = threading.Lock()


class Keyring(Protocol):
    """What the mapper needs: a subject's key to write with, to read with, erasure."""

    def for_reading(self, subject: UUID) -> AESGCM | None: ...

    def for_writing(self, subject: UUID, owner: UUID | None = None) -> AESGCM: ...

    def erase(self, subject: UUID) -> int: ...


class MemoryKeyring:
    """Keys kept in memory, for the in-memory event store of the unit tests.

    They live exactly as long as the events they protect (the process), so the
    domain's tests see encryption and erasure behave as in production.
    """

    def __init__(self) -> None:
        self._keys: dict[UUID, AESGCM | None] = {}
        self._owners: dict[UUID, UUID | None] = {}

    def for_reading(self, subject: UUID) -> AESGCM | None:
        return self._keys.get(subject)

    def for_writing(self, subject: UUID, owner: UUID | None = None) -> AESGCM:
        if subject not in self._keys:
            self._keys[subject] = AESGCM(AESGCM.generate_key(bit_length=256))
            self._owners[subject] = owner
        key = self._keys[subject]
        if key is None:
            raise ErasedSubjectError
        return key

    def adopt(self, subject: UUID, owner: UUID) -> None:
        """Give an ownerless key an owner (erasing the owner then erases it)."""
        if subject in self._keys and self._owners.get(subject) is None:
            self._owners[subject] = owner

    def erase(self, subject: UUID) -> int:
        erased = [subject] + [s for s, owner in self._owners.items() if owner == subject]
        for each in erased:
            self._keys[each] = None
        return len(erased)


class SubjectKeyring:
    """Creates, unwraps and destroys the data keys of data subjects."""

    def __init__(
        self, datastore: PostgresDatastore, master_key: bytes | None, database: str
    ) -> None:
        """`database` names the database (host, port, name) for the shared cache."""
        self.datastore = datastore
        self._master = AESGCM(master_key) if master_key else None
        with _caches_lock:
            # One cache per database and schema: an erasure by one application of the
            # process is seen at once by the others (the projection runners).
            self._cache = _caches.setdefault((database, datastore.schema), _Cache())
        self._table = SQL("{0}.{1}").format(Identifier(datastore.schema), Identifier(TABLE))
        # The batch of the save being encoded by this thread, if any: the mapper is
        # called with an event only, so the batch travels beside it.
        self._local = threading.local()
        self._insert_keys = SQL(
            "INSERT INTO {0} (subject_id, owner_id, wrapped_key)"
            " SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::bytea[])"
        ).format(self._table)
        # The subject's own row first (whatever its save's size), then the read-ahead
        # from the first key of its save on.
        self._read_ahead_query = SQL(
            "SELECT subject_id, wrapped_key FROM {0} WHERE subject_id = %s"
            " UNION ALL (SELECT subject_id, wrapped_key FROM {0}"
            " WHERE (created_at, subject_id) >= (SELECT created_at, %s::uuid FROM {0}"
            "  WHERE subject_id = %s) AND subject_id <> %s"
            " ORDER BY created_at, subject_id LIMIT %s)"
        ).format(self._table)
        self._adopt_keys = SQL(
            "UPDATE {0} AS k SET owner_id = a.owner_id"
            " FROM unnest(%s::uuid[], %s::uuid[]) AS a(subject_id, owner_id)"
            " WHERE k.subject_id = a.subject_id AND k.owner_id IS NULL"
        ).format(self._table)

    # --- schema -------------------------------------------------------------------
    @_retry
    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0} ("
                    " subject_id uuid PRIMARY KEY,"
                    " owner_id uuid,"
                    " wrapped_key bytea,"  # NULL once erased
                    " created_at timestamptz NOT NULL DEFAULT now(),"
                    " erased_at timestamptz)"
                ).format(self._table)
            )
            curs.execute(
                SQL("CREATE INDEX IF NOT EXISTS crm_subject_keys_owner ON {0} (owner_id)").format(
                    self._table
                )
            )
            curs.execute(
                SQL(
                    "CREATE INDEX IF NOT EXISTS crm_subject_keys_created"
                    " ON {0} (created_at, subject_id)"
                ).format(self._table)
            )

    # --- keys -----------------------------------------------------------------------
    def _master_key(self) -> AESGCM:
        if self._master is None:
            msg = "CRM_ENCRYPTION_KEY manquante : impossible de chiffrer les données personnelles."
            raise KeyringError(msg)
        return self._master

    def _unwrap(self, subject: UUID, wrapped: bytes) -> bytes:
        try:
            return self._master_key().decrypt(wrapped[:_NONCE], wrapped[_NONCE:], subject.bytes)
        except Exception as error:  # cryptography raises InvalidTag, without a message
            msg = "Clé maîtresse CRM_ENCRYPTION_KEY incorrecte pour ces données."
            raise KeyringError(msg) from error

    def for_reading(self, subject: UUID) -> AESGCM | None:
        """The subject's key, or None when it was erased (or never existed)."""
        hit, key = self._cache.get(subject)
        if hit:
            return key
        found = self._read_ahead(subject)
        return AESGCM(found) if found is not None else None

    @_retry
    def _read_ahead(self, subject: UUID) -> bytes | None:
        """Fetch the subject's key, and the keys created with it and just after it.

        A replay reads events in log order and keys were created in that order too,
        so the keys that come next are the following ones. One save creates its keys
        in one transaction (one `created_at`, the subjects in random order): reading
        from the start of that save's keys, not from this subject, fetches each key
        once (from this subject on, a save of 600 new clients was read seven times).
        """
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                self._read_ahead_query,
                (subject, _FIRST_UUID, subject, subject, _READ_AHEAD),
                prepare=True,
            )
            rows = curs.fetchall()
        found: bytes | None = None
        fresh: dict[UUID, bytes | None] = {}
        for row in rows:
            subject_id = row["subject_id"]
            cached = self._cache.raw(subject_id)
            if cached is not _MISSING and subject_id != subject:
                continue  # cached and fresh: no need to unwrap it again
            wrapped = row["wrapped_key"]
            raw = self._unwrap(subject_id, bytes(wrapped)) if wrapped is not None else None
            fresh[subject_id] = raw
            if subject_id == subject:
                found = raw
        if subject not in fresh:
            fresh[subject] = None  # no key: never had personal data, or unknown
        self._cache.put_many(fresh)
        return found

    def _wrap(self, subject: UUID, raw: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._master_key().encrypt(nonce, raw, subject.bytes)

    @_retry
    def for_writing(self, subject: UUID, owner: UUID | None = None) -> AESGCM:
        """The subject's key, created on its first personal data; refused once erased.

        Inside `writing()` (a save), a new key joins the save's batch and is written
        in the save's transaction. Outside, it is written at once, in a transaction
        of its own.
        """
        hit, key = self._cache.get(subject)
        if hit and key is not None:
            return key
        batch: KeyBatch | None = getattr(self._local, "batch", None)
        if batch is not None:
            pending = batch.keys.get(subject)
            if pending is not None:
                return pending[2]
            raw = AESGCM.generate_key(bit_length=256)
            key = AESGCM(raw)
            batch.keys[subject] = (owner, self._wrap(subject, raw), key, raw)
            return key
        wrapped = self._wrap(subject, AESGCM.generate_key(bit_length=256))
        with self.datastore.transaction(commit=True) as curs:
            # Two processes creating the same subject's key: the first one wins and
            # both read it back.
            curs.execute(
                SQL(
                    "INSERT INTO {0} (subject_id, owner_id, wrapped_key) VALUES (%s, %s, %s)"
                    " ON CONFLICT (subject_id) DO NOTHING RETURNING wrapped_key"
                ).format(self._table),
                (subject, owner, wrapped),
                prepare=True,
            )
            row = curs.fetchone()
            if row is None:  # the subject had a key already, or was erased
                curs.execute(
                    SQL("SELECT wrapped_key FROM {0} WHERE subject_id = %s").format(self._table),
                    (subject,),
                )
                row = curs.fetchone()
        if row is None or row["wrapped_key"] is None:
            raise ErasedSubjectError
        raw = self._unwrap(subject, bytes(row["wrapped_key"]))
        self._cache.put(subject, raw)
        return AESGCM(raw)

    @_retry
    def adopt(self, subject: UUID, owner: UUID) -> None:
        """Give an ownerless key an owner (erasing the owner then erases it).

        An email « À trier » is written with a key of its own and no owner; once
        attached to a client, the client owns it. A key that has an owner keeps it.
        Inside `writing()`, done in the save's transaction, with the event.
        """
        batch: KeyBatch | None = getattr(self._local, "batch", None)
        if batch is not None:
            batch.adoptions[subject] = owner
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "UPDATE {0} SET owner_id = %s WHERE subject_id = %s AND owner_id IS NULL"
                ).format(self._table),
                (owner, subject),
            )

    # --- keys written with a save's events -------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[KeyBatch]:
        """Collect the keys the mapper creates in this block, for the recorder."""
        batch = KeyBatch()
        previous = getattr(self._local, "batch", None)
        self._local.batch = batch
        try:
            yield batch
        finally:
            self._local.batch = previous

    def write_batch(self, curs: Cursor[DictRow], batch: KeyBatch) -> None:
        """In the save's transaction, before its events: no round trip of its own.

        A plain INSERT, no ON CONFLICT: a key that already exists must not be
        silently kept while the events carry data encrypted with another one, so
        the conflict aborts the save (SubjectKeyConflictError, see `settle`).
        """
        if batch.keys:
            subjects = list(batch.keys)
            curs.execute(
                self._insert_keys,
                (
                    subjects,
                    [batch.keys[s][0] for s in subjects],
                    [batch.keys[s][1] for s in subjects],
                ),
                prepare=True,
            )
        if batch.adoptions:
            subjects = list(batch.adoptions)
            curs.execute(
                self._adopt_keys,
                (subjects, [batch.adoptions[s] for s in subjects]),
                prepare=True,
            )

    def remember(self, batch: KeyBatch) -> None:
        """The save committed: its new keys are this process's keys from now on."""
        for subject, (_, _, _, raw) in batch.keys.items():
            self._cache.put(subject, raw)

    @_retry
    def settle(self, batch: KeyBatch) -> None:
        """After a key conflict: cache the keys the table already holds.

        The save is then encoded again with them. An erased subject refuses the
        write, as it would have without the batch.
        """
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT subject_id, wrapped_key FROM {0} WHERE subject_id = ANY(%s)").format(
                    self._table
                ),
                (list(batch.keys),),
            )
            rows = curs.fetchall()
        for row in rows:
            if row["wrapped_key"] is None:
                self._cache.put(row["subject_id"], None)
                raise ErasedSubjectError
            subject = row["subject_id"]
            self._cache.put(subject, self._unwrap(subject, bytes(row["wrapped_key"])))

    @_retry
    def erase(self, subject: UUID) -> int:
        """Destroy the subject's key and the keys it owns; returns how many were destroyed.

        An erased subject keeps its row (wrapped_key NULL), so no new key is ever
        created for it and its ciphertexts stay unreadable for good.
        """
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {0} (subject_id, wrapped_key, erased_at) VALUES (%s, NULL, now())"
                    " ON CONFLICT (subject_id) DO NOTHING"
                ).format(self._table),
                (subject,),
            )
            curs.execute(
                SQL(
                    "UPDATE {0} SET wrapped_key = NULL, erased_at = coalesce(erased_at, now())"
                    " WHERE subject_id = %s OR owner_id = %s RETURNING subject_id"
                ).format(self._table),
                (subject, subject),
            )
            erased = [row["subject_id"] for row in curs.fetchall()]
        self._cache.forget(erased)
        return len(erased)

    @_retry
    def is_erased(self, subject: UUID) -> bool:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT erased_at FROM {0} WHERE subject_id = %s").format(self._table),
                (subject,),
            )
            row = curs.fetchone()
        return row is not None and row["erased_at"] is not None
