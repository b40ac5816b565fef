"""The batching runner: a page of events per transaction, still exactly once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from crm_core.application import LOG_NAME, EventLog
from crm_core.context import acting_as
from crm_core.sales.application import SalesApplication
from crm_core.sales.domainmodel import Client
from projections.clients import ClientsProjection, ClientsView
from projections.runner import BatchingProjectionRunner
from projections.timeline import TimelineProjection, TimelineView
from tests.support.runners import count_rows, register_clients


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
    register_clients(sales, 5)
    runner = BatchingProjectionRunner(
        application_class=EventLog,
        projection_class=FailingOnTheThirdClient,
        view_class=ClientsView,
        env=env,
    )
    with pytest.raises(RuntimeError, match="panne simulée"), runner:
        runner.run_forever(timeout=10)
    assert count_rows(fresh_database, "rm_clients") == 0
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
    first = register_clients(sales, 3)
    kwargs: dict[str, Any] = {
        "application_class": EventLog,
        "projection_class": ClientsProjection,
        "view_class": ClientsView,
        "env": env,
    }
    with BatchingProjectionRunner(**kwargs) as runner:
        runner.wait(first, timeout=10)
    last = register_clients(sales, 4)
    with BatchingProjectionRunner(**kwargs) as runner:
        runner.wait(last, timeout=10)
        assert runner.view.position(LOG_NAME) == last
    assert count_rows(fresh_database, "rm_clients") == 7
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
    first = register_clients(sales, 2)
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
        last = register_clients(sales, 3)
        runner.wait(last, timeout=15)
    assert count_rows(fresh_database, "rm_clients") == 5
    sales.close()
