"""Unit level: the domain on the in-memory store, with hand-written fakes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import pytest

from crm_core.accounts.application import AccountsApplication
from crm_core.application import CrmApplication
from crm_core.audit.application import AuditApplication
from crm_core.context import acting_as
from crm_core.errors import DomainError
from crm_core.sales.application import SalesApplication
from crm_core.support.application import SupportApplication
from tests.unit.fakes import FakePasswordHasher

PASSWORD = "correct horse battery"


class WholeCrm(AccountsApplication, SalesApplication, SupportApplication, AuditApplication):
    """Every area's commands on one in-memory store.

    In production the areas record into one shared event store; here one
    application with all their commands plays that part, so a ticket can be
    assigned to a staff user and an opportunity owned by one.
    """


@pytest.fixture
def sales() -> SalesApplication:
    """The sales area alone, on its own in-memory store."""
    return SalesApplication()


@pytest.fixture
def ws() -> UUID:
    """A tenant id for the sales-only tests (no Workspace record needed there)."""
    return uuid4()


@pytest.fixture
def hasher() -> FakePasswordHasher:
    return FakePasswordHasher()


@pytest.fixture
def crm(hasher: FakePasswordHasher) -> WholeCrm:
    return WholeCrm(password_hasher=hasher)


@pytest.fixture
def workspace(crm: WholeCrm) -> UUID:
    with acting_as("system"):
        return crm.create_workspace(nom="Atelier Dupont").id


@pytest.fixture
def other_workspace(crm: WholeCrm) -> UUID:
    with acting_as("system"):
        return crm.create_workspace(nom="Agence Martin").id


def position(app: CrmApplication) -> int:
    """The last notification id of the application's log (0 when empty)."""
    return app.recorder.max_notification_id() or 0


def stored_events(app: CrmApplication, aggregate_id: UUID) -> list[Any]:
    """The aggregate's events, decoded from the store."""
    return [
        app.mapper.to_domain_event(stored) for stored in app.recorder.select_events(aggregate_id)
    ]


def all_events(app: CrmApplication) -> list[Any]:
    """Every event of the log, in order, decoded from the store."""
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    return [app.mapper.to_domain_event(notification) for notification in notifications]


@contextmanager
def refused(kind: type[DomainError], message: str) -> Iterator[None]:
    """The block must raise `kind` with exactly this (French) message."""
    with pytest.raises(kind) as error:
        yield
    assert error.value.message == message
