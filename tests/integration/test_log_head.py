"""Runners sharing one follower of the log's head: still every event, once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from adapters.secrets import new_key_text
from crm_core.application import LOG_NAME, EventLog
from crm_core.context import acting_as
from crm_core.sales.application import SalesApplication
from crm_core.sales.domainmodel import Client
from crm_core.support.domainmodel import Ticket
from projections.clients import ClientsProjection, ClientsView
from projections.log_head import LogHead
from projections.readmodel import topics_of
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


def _runners(
    stack: ExitStack, env: dict[str, str], head: LogHead
) -> list[BatchingProjectionRunner[Any]]:
    return [
        stack.enter_context(
            BatchingProjectionRunner(
                application_class=EventLog,
                projection_class=projection,
                view_class=view,
                env=env,
                head=head,
            )
        )
        for projection, view in (
            (ClientsProjection, ClientsView),
            (TimelineProjection, TimelineView),
        )
    ]


def test_runners_sharing_a_head_apply_old_and_new_events_once(
    env: dict[str, str], fresh_database: str
) -> None:
    sales = SalesApplication(env)
    before = _register(sales, 3)
    with ExitStack() as stack:
        head = stack.enter_context(LogHead(application_class=EventLog, env=env))
        runners = _runners(stack, env, head)
        for runner in runners:
            runner.wait(before, timeout=10)
        last = _register(sales, 4)
        for runner in runners:
            runner.wait(last, timeout=10)
            assert runner.view.position(LOG_NAME) == last
    assert _count(fresh_database, "rm_clients") == 7
    assert _count(fresh_database, "rm_timeline") == 7
    sales.close()


def test_the_head_tells_which_topics_arrived_since_a_position(env: dict[str, str]) -> None:
    sales = SalesApplication(env)
    _register(sales, 1)  # before the head is followed
    with LogHead(application_class=EventLog, env=env) as head:
        start = _register(sales, 1)
        assert head.wait_beyond(start - 1, timeout=10) >= start
        last = _register(sales, 2)
        up_to = head.wait_beyond(start, timeout=10)
        while up_to < last:
            up_to = head.wait_beyond(up_to, timeout=10)
        assert head.may_hold(start, up_to, topics_of(Client.Registered))
        assert not head.may_hold(start, up_to, topics_of(Ticket.Opened))
        # Before anything it followed, the head cannot tell: a runner must look.
        assert head.may_hold(0, up_to, topics_of(Ticket.Opened))
    sales.close()


def test_runners_sharing_a_head_resume_after_the_connections_are_cut(
    env: dict[str, str], fresh_database: str
) -> None:
    sales = SalesApplication(env)
    first = _register(sales, 2)
    with ExitStack() as stack:
        head = stack.enter_context(LogHead(application_class=EventLog, env=env))
        runners = _runners(stack, env, head)
        runners[0].wait(first, timeout=10)
        with psycopg.connect(fresh_database, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        last = _register(sales, 3)
        for runner in runners:
            runner.wait(last, timeout=15)
    assert _count(fresh_database, "rm_clients") == 5
    sales.close()
