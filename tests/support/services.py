"""Real PostgreSQL and Redis for the tests.

PostgreSQL: TEST_DATABASE_URL points at a server on which the tests create
their own databases; without it, the embedded server of the CRM is started in
a temporary folder. Redis: TEST_REDIS_URL (default redis://127.0.0.1:6379/0).
When CI=true a missing service fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where every service must run."""
    if IN_CI:
        pytest.fail(f"Service requis indisponible en CI : {reason}")
    pytest.skip(reason)


@contextmanager
def postgres_server(tmp_root: Path) -> Iterator[str]:
    """A server URL on which databases may be created (admin connection string)."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        try:
            with psycopg.connect(url, connect_timeout=5):
                pass
        except psycopg.OperationalError as error:
            unavailable(f"PostgreSQL injoignable ({error})")
        yield make_conninfo(url)
        return
    from web.database import embedded_postgres

    with embedded_postgres(tmp_root) as uri:
        yield make_conninfo(uri)


def create_database(admin_conninfo: str, prefix: str = "crm_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_conninfo)
    params["dbname"] = name
    return make_conninfo(**params)  # type: ignore[arg-type]


def drop_database(admin_conninfo: str, conninfo: str) -> None:
    name = conninfo_to_dict(conninfo)["dbname"]
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis injoignable ({error})")
    return url
