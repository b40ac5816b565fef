"""The stored events are append-only, in the database itself."""

from __future__ import annotations

import psycopg
import pytest

from web.container import Container


def _any_notification_id(container: Container) -> int:
    with psycopg.connect(container.conninfo) as conn:
        row = conn.execute("SELECT min(notification_id) FROM crm_events").fetchone()
    assert row is not None and row[0] is not None
    return int(row[0])


def test_an_update_of_a_stored_event_is_refused_by_the_database(
    container: Container, workspace: object
) -> None:
    notification_id = _any_notification_id(container)
    with (
        psycopg.connect(container.conninfo) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="ajout seul"),
    ):
        conn.execute(
            "UPDATE crm_events SET topic = 'x' WHERE notification_id = %s", (notification_id,)
        )


def test_a_delete_of_a_stored_event_is_refused_by_the_database(
    container: Container, workspace: object
) -> None:
    notification_id = _any_notification_id(container)
    with (
        psycopg.connect(container.conninfo) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="ajout seul"),
    ):
        conn.execute("DELETE FROM crm_events WHERE notification_id = %s", (notification_id,))


def test_truncating_the_events_table_is_refused(container: Container, workspace: object) -> None:
    with (
        psycopg.connect(container.conninfo) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("TRUNCATE crm_events")
