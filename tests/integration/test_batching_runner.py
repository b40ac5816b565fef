"""The batching runner: a page of events per transaction, still exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from adapters.secrets import new_key_text
from crm_core.application import LOG_NAME, EventLog
from crm_core.context import acting_as
from crm_core.sales.application import SalesApplication
from crm_core.sales.domainmodel import Client
from projections.clients import ClientsProjection, ClientsView
from projections.runner import BatchingProjectionRunner
from projections.schema import apply_migrations
from projections.timeline import TimelineProjection, TimelineView
from web.database import eventsourcing_env
from web.settings import load_settings


@pytest.fixture
def env(fresh_database: str) -> Iterator[dict[str, str]]:
    environment = eventsourcing_env(fresh_database, encryption_key=new_key_text(), pool_size=1)
    log = EventLog(environment)
    apply_migrations(fresh_database, load_settings().migrations_dir)
    log.close()
    yield environment


def _register(sales: SalesApplication, count: int) -> int:
    workspace_id = uuid4()
    position = 0
    with acting_as("system"):
        for n in range(count):
            position = sales.register_client(workspace_id, nom=f"Client {n}").position
    return position


def _count(conninfo: str, table: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


class FailingOnTheThirdClient(ClientsProjection):
    """Fails in the middle of a page, after two clients of the page were written."""

    name = "failing"
    seen = 0

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Client.Registered, tracking: Tracking) -> None:
        type(self).seen += 1
        if type(self).seen == 3:
            msg = "panne simulée"
            raise RuntimeError(msg)
        self.view.register(event, tracking)


def test_a_failure_in_a_page_leaves_neither_rows_nor_position(
    env: dict[str, str], fresh_database: str
) -> None:
    sales = SalesApplication(env)
    _register(sales, 5)
    runner = BatchingProjectionRunner(
        application_class=EventLog,
        projection_class=FailingOnTheThirdClient,
        view_class=ClientsView,
        env=env,
    )
    with pytest.raises(RuntimeError, match="panne simulée"), runner:
        runner.run_forever(timeout=10)
    assert _count(fresh_database, "rm_clients") == 0
    with psycopg.connect(fresh_database) as conn:
        tracked = conn.execute(
            "SELECT notification_id FROM failing_tracking WHERE application_name = %s",
            (LOG_NAME,),
        ).fetchone()
    assert tracked is None
    sales.close()


def test_a_restarted_runner_applies_each_event_once(
    env: dict[str, str], fresh_database: str
) -> None:
    sales = SalesApplication(env)
    first = _register(sales, 3)
    kwargs: dict[str, Any] = {
        "application_class": EventLog,
        "projection_class": ClientsProjection,
        "view_class": ClientsView,
        "env": env,
    }
    with BatchingProjectionRunner(**kwargs) as runner:
        runner.wait(first, timeout=10)
    last = _register(sales, 4)
    with BatchingProjectionRunner(**kwargs) as runner:
        runner.wait(last, timeout=10)
        assert runner.view.position(LOG_NAME) == last
    assert _count(fresh_database, "rm_clients") == 7
    sales.close()


def test_events_of_one_page_see_what_the_page_wrote_before_them(
    env: dict[str, str], fresh_database: str
) -> None:
    sales = SalesApplication(env)
    workspace_id = uuid4()
    with acting_as("system"):
        client_id = sales.register_client(workspace_id, nom="Atelier Nord").id
        opportunity_id = sales.open_opportunity(
            workspace_id, client_id, titre="Site vitrine", montant_estime=Decimal(1200)
        ).id
        last = sales.move_opportunity(workspace_id, opportunity_id, "qualification").position
    # Started after the commands: the three events arrive in one page.
    with BatchingProjectionRunner(
        application_class=EventLog,
        projection_class=TimelineProjection,
        view_class=TimelineView,
        env=env,
    ) as runner:
        runner.wait(last, timeout=10)
        page = runner.view.for_client(workspace_id, client_id)
    kinds = [entry.type_evenement for entry in page.items]
    assert sorted(kinds) == ["client_cree", "opportunite_creee", "opportunite_etape"]
    assert any("Site vitrine" in entry.description_texte for entry in page.items)
    sales.close()


def test_a_runner_resumes_after_its_connections_are_cut(
    env: dict[str, str], fresh_database: str
) -> None:
    sales = SalesApplication(env)
    first = _register(sales, 2)
    with BatchingProjectionRunner(
        application_class=EventLog,
        projection_class=ClientsProjection,
        view_class=ClientsView,
        env=env,
    ) as runner:
        runner.wait(first, timeout=10)
        with psycopg.connect(fresh_database, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        last = _register(sales, 3)
        runner.wait(last, timeout=15)
    assert _count(fresh_database, "rm_clients") == 5
    sales.close()
