"""Fixtures shared by every level: the real PostgreSQL server and fresh databases."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import create_database, drop_database, postgres_server
from web.settings import Settings, load_settings


@pytest.fixture(scope="session")
def pg_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Connection string of a PostgreSQL server where tests create databases."""
    with postgres_server(tmp_path_factory.mktemp("pg")) as conninfo:
        yield conninfo


@pytest.fixture
def fresh_database(pg_admin: str) -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    conninfo = create_database(pg_admin)
    yield conninfo
    drop_database(pg_admin, conninfo)


@pytest.fixture(scope="session")
def session_database(pg_admin: str) -> Iterator[str]:
    """One database shared by a test session; tests isolate by workspace."""
    conninfo = create_database(pg_admin)
    yield conninfo
    drop_database(pg_admin, conninfo)


def settings_for(conninfo: str, data_dir: Path, **overrides: object) -> Settings:
    base = load_settings()
    return dataclasses.replace(
        base,
        database_url=conninfo,
        data_dir=data_dir,
        secret_key="test-secret-key-" + "x" * 32,
        **overrides,
    )  # type: ignore[arg-type]
