"""Integration level: commands, projections and adapters on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from adapters.secrets import new_key_text
from crm_core.application import EventLog
from crm_core.context import acting_as
from projections.schema import apply_migrations
from tests.conftest import settings_for
from web.container import Container, running_container
from web.database import eventsourcing_env
from web.settings import load_settings


@pytest.fixture(scope="session")
def container(
    session_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """The CRM with in-process projection runners, shared by the session."""
    settings = settings_for(session_database, tmp_path_factory.mktemp("data"))
    with running_container(settings, projections=True) as built:
        yield built


@pytest.fixture
def env(fresh_database: str) -> Iterator[dict[str, str]]:
    """The eventsourcing environment of a fresh database with its tables (for runners
    built by hand: one pooled connection each, as `crm projections run` gives them)."""
    environment = eventsourcing_env(fresh_database, encryption_key=new_key_text(), pool_size=1)
    log = EventLog(environment)
    apply_migrations(fresh_database, load_settings().migrations_dir)
    log.close()
    yield environment


@pytest.fixture
def workspace(container: Container) -> UUID:
    """A new tenant per test: tests sharing the database never see each other."""
    with acting_as("system"):
        return container.accounts.create_workspace(nom="Espace de test").id


def fresh_container(conninfo: str, data_dir: Path, *, projections: bool = True):  # type: ignore[no-untyped-def]
    return running_container(settings_for(conninfo, data_dir), projections=projections)
