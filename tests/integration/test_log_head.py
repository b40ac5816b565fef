"""Runners sharing one follower of the log's head: still every event, once."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import psycopg

from crm_core.application import LOG_NAME, EventLog
from crm_core.sales.application import SalesApplication
from crm_core.sales.domainmodel import Client
from crm_core.support.domainmodel import Ticket
from projections.clients import ClientsProjection, ClientsView
from projections.log_head import LogHead
from projections.readmodel import topics_of
from projections.runner import BatchingProjectionRunner
from projections.timeline import TimelineProjection, TimelineView
from tests.support.runners import count_rows, register_clients


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
    before = register_clients(sales, 3)
    with ExitStack() as stack:
        head = stack.enter_context(LogHead(application_class=EventLog, env=env))
        runners = _runners(stack, env, head)
        for runner in runners:
            runner.wait(before, timeout=10)
        last = register_clients(sales, 4)
        for runner in runners:
            runner.wait(last, timeout=10)
            assert runner.view.position(LOG_NAME) == last
    assert count_rows(fresh_database, "rm_clients") == 7
    assert count_rows(fresh_database, "rm_timeline") == 7
    sales.close()


def test_the_head_tells_which_topics_arrived_since_a_position(env: dict[str, str]) -> None:
    sales = SalesApplication(env)
    register_clients(sales, 1)  # before the head is followed
    with LogHead(application_class=EventLog, env=env) as head:
        start = register_clients(sales, 1)
        assert head.wait_beyond(start - 1, timeout=10) >= start
        last = register_clients(sales, 2)
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
    first = register_clients(sales, 2)
    with ExitStack() as stack:
        head = stack.enter_context(LogHead(application_class=EventLog, env=env))
        runners = _runners(stack, env, head)
        runners[0].wait(first, timeout=10)
        with psycopg.connect(fresh_database, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        last = register_clients(sales, 3)
        for runner in runners:
            runner.wait(last, timeout=15)
    assert count_rows(fresh_database, "rm_clients") == 5
    sales.close()
