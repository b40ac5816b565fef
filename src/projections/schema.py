"""Applies the read-model schema migrations (SQL files) in order, once each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

_LOCK_ID = 7_318_005  # advisory lock: two processes starting together migrate once


@contextmanager
def schema_lock(conninfo: str) -> Iterator[psycopg.Connection]:
    """Hold the schema lock while the caller creates tables.

    Several web workers start at once (`crm serve --workers N`); PostgreSQL's
    `CREATE TABLE IF NOT EXISTS` run concurrently fails with "tuple concurrently
    updated", so every process creates its tables under one advisory lock.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def apply_migrations(conninfo: str, folder: Path) -> list[str]:
    """Run every `NNNN_*.sql` of `folder` not yet applied; return the names applied."""
    with schema_lock(conninfo) as conn:
        return apply_migrations_locked(conn, folder)


def apply_migrations_locked(conn: psycopg.Connection, folder: Path) -> list[str]:
    """`apply_migrations` on a connection that already holds `schema_lock`."""
    applied_now: list[str] = []
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        if path.name in done:
            continue
        with conn.transaction():
            conn.execute(sql.SQL(path.read_text(encoding="utf-8")))  # type: ignore[arg-type]
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
        applied_now.append(path.name)
    return applied_now
