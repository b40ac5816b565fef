"""Integration level: commands, projections and adapters on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from crm_core.context import acting_as
from tests.conftest import settings_for
from web.container import Container, running_container


@pytest.fixture(scope="session")
def container(
    session_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """The CRM with in-process projection runners, shared by the session."""
    settings = settings_for(session_database, tmp_path_factory.mktemp("data"))
    with running_container(settings, projections=True) as built:
        yield built


@pytest.fixture
def workspace(container: Container) -> UUID:
    """A new tenant per test: tests sharing the database never see each other."""
    with acting_as("system"):
        return container.accounts.create_workspace(nom="Espace de test").id


def fresh_container(conninfo: str, data_dir: Path, *, projections: bool = True):  # type: ignore[no-untyped-def]
    return running_container(settings_for(conninfo, data_dir), projections=projections)
