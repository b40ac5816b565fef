"""The CRM's recorder: a save in one statement, connections checked without a ping
when used moments ago, a dead connection retried."""

from __future__ import annotations

import threading
from uuid import UUID

import psycopg
import pytest

from crm_core.context import acting_as
from crm_core.errors import DuplicateError
from crm_core.sales.application import SalesApplication
from crm_core.values import Address
from event_store.factory import RecentlyUsedCheck
from web.container import Container


def _register(sales: SalesApplication, workspace: UUID, email: str) -> UUID:
    with acting_as("user:test"):
        return sales.register_client(
            workspace,
            nom="Armelle Toussaint",
            email=email,
            adresse=Address(rue="8 quai des Tanneurs", code_postal="67000", ville="Strasbourg"),
        ).id


def test_a_save_notifies_and_its_events_follow_in_log_order(
    container: Container, workspace: UUID
) -> None:
    with psycopg.connect(container.conninfo, autocommit=True) as listener:
        listener.execute("LISTEN crm_events")
        client_id = _register(container.sales, workspace, "armelle@exemple.fr")
        notified = list(listener.notifies(timeout=5, stop_after=1))
        with psycopg.connect(container.conninfo) as conn:
            versions = conn.execute(
                "SELECT originator_version FROM crm_events WHERE originator_id = %s"
                " ORDER BY notification_id",
                (client_id,),
            ).fetchall()
    assert [n.channel for n in notified] == ["crm_events"]
    assert versions == [(1,)]


def test_a_second_save_of_the_same_version_is_a_conflict_and_writes_nothing(
    container: Container, workspace: UUID
) -> None:
    _register(container.sales, workspace, "armelle.bis@exemple.fr")
    with psycopg.connect(container.conninfo) as conn:
        before = conn.execute("SELECT count(*) FROM crm_events").fetchone()
    with pytest.raises(DuplicateError):
        _register(container.sales, workspace, "armelle.bis@exemple.fr")
    with psycopg.connect(container.conninfo) as conn:
        after = conn.execute("SELECT count(*) FROM crm_events").fetchone()
    assert before == after


def test_a_connection_used_moments_ago_is_not_pinged(container: Container) -> None:
    with psycopg.connect(container.conninfo, autocommit=True) as conn:
        within, always = RecentlyUsedCheck(window=60.0), RecentlyUsedCheck(window=0.0)
        within(conn)
        always(conn)
        with psycopg.connect(container.conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        within(conn)  # checked out moments ago: trusted without a round trip
        with pytest.raises(psycopg.OperationalError):
            always(conn)


def test_a_command_on_a_dead_connection_is_retried_on_a_new_one(
    container: Container, workspace: UUID
) -> None:
    # One connection in the pool, killed as a server restart would: the next
    # command finds it dead inside the ping window and still succeeds.
    env = {**container.env, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"}
    sales = SalesApplication(env)
    try:
        _register(sales, workspace, "armelle.ter@exemple.fr")
        with sales.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            pid = conn.info.backend_pid
        with psycopg.connect(container.conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        client_id = _register(sales, workspace, "armelle.quater@exemple.fr")
        assert client_id in container.sales.repository
    finally:
        sales.close()


def test_workers_starting_together_create_the_recorder_without_error(
    container: Container,
) -> None:
    # Every application replaces its recorder's functions at start; web workers
    # start together. Unserialized, PostgreSQL fails some with "tuple concurrently
    # updated".
    errors: list[Exception] = []

    def start() -> None:
        try:
            SalesApplication(container.env).close()
        except Exception as error:  # noqa: BLE001  (collected for the assertion)
            errors.append(error)

    for _ in range(3):
        threads = [threading.Thread(target=start) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
