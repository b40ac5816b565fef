"""Tamper evidence: a superuser editing the stored history is caught by `crm events verify`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from projections.integrity import verify_chain
from tests.integration.conftest import fresh_container


@pytest.fixture
def history(fresh_database: str, tmp_path: Path) -> Iterator[str]:
    """A database with twelve chained events, its writers stopped."""
    with fresh_container(fresh_database, tmp_path, projections=False) as container:
        workspace = container.accounts.create_workspace(nom="Agence").id
        client_id = container.sales.register_client(workspace, nom="Client A").id
        for step in range(5):
            container.sales.update_client(
                workspace, client_id, nom=f"Client A{step}", type_client="entreprise"
            )
        container.sales.open_opportunity(workspace, client_id, titre="Mission")
        container.sales.archive_client(workspace, client_id)
    yield fresh_database


def _tamper(conninfo: str, *statements: str) -> None:
    """As a superuser: switch the append-only triggers off, change, switch them back."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("ALTER TABLE crm_events DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE crm_event_chain DISABLE TRIGGER USER")
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("ALTER TABLE crm_events ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE crm_event_chain ENABLE TRIGGER USER")


def _positions(conninfo: str) -> list[int]:
    return [problem.position for problem in verify_chain(conninfo).problems]


def test_an_untouched_history_verifies(history: str) -> None:
    report = verify_chain(history)
    assert report.ok, report.problems
    assert report.checked == report.head_position


def test_an_edited_event_is_named_and_the_command_fails(history: str, tmp_path: Path) -> None:
    _tamper(
        history,
        "UPDATE crm_events SET state = replace(convert_from(state, 'UTF8'), 'entreprise',"
        " 'particulier')::bytea WHERE notification_id = 4",
    )
    assert _positions(history) == [4]

    env = {**os.environ, "DATABASE_URL": history, "CRM_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "events", "verify"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "#4:" in result.stdout.decode()
    assert "ALTÉRÉ" in result.stderr.decode()


def test_a_deleted_event_is_named(history: str) -> None:
    _tamper(history, "DELETE FROM crm_events WHERE notification_id = 5")
    assert _positions(history) == [5]


def test_a_deleted_event_and_its_link_are_caught_at_the_next_event(history: str) -> None:
    _tamper(
        history,
        "DELETE FROM crm_events WHERE notification_id = 5",
        "DELETE FROM crm_event_chain WHERE notification_id = 5",
    )
    assert _positions(history) == [6]


def test_two_swapped_events_are_both_named(history: str) -> None:
    _tamper(
        history,
        "UPDATE crm_events SET notification_id = -3 WHERE notification_id = 3",
        "UPDATE crm_events SET notification_id = 3 WHERE notification_id = 6",
        "UPDATE crm_events SET notification_id = 6 WHERE notification_id = -3",
    )
    assert _positions(history) == [3, 6]


def test_a_deleted_chain_link_is_named(history: str) -> None:
    _tamper(history, "DELETE FROM crm_event_chain WHERE notification_id = 7")
    assert _positions(history) == [7]


def test_a_truncated_tail_is_caught(history: str) -> None:
    last = verify_chain(history).head_position
    _tamper(
        history,
        f"DELETE FROM crm_events WHERE notification_id >= {last - 1}",
        f"DELETE FROM crm_event_chain WHERE notification_id >= {last - 1}",
    )
    report = verify_chain(history)
    assert [p.position for p in report.problems] == [last - 1]
    assert "tronquée" in report.problems[0].message


def test_a_rewritten_chain_is_caught_by_an_anchor_kept_outside(history: str) -> None:
    anchor = verify_chain(history)
    _tamper(
        history,
        "UPDATE crm_events SET state = replace(convert_from(state, 'UTF8'), 'Mission',"
        " 'Autre')::bytea WHERE topic LIKE '%Opportunity.Opened'",
        # The thorough superuser recomputes every link and the head.
        "DELETE FROM crm_event_chain",
        "DELETE FROM crm_event_chain_head",
    )
    with psycopg.connect(history) as conn:
        conn.execute("ALTER TABLE crm_event_chain DISABLE TRIGGER USER")
        conn.execute(
            "DO $$ DECLARE prev bytea; r record; BEGIN"
            " FOR r IN SELECT * FROM crm_events ORDER BY notification_id LOOP"
            " prev := crm_event_hash(prev, r.notification_id, r.originator_id,"
            " r.originator_version, r.topic, r.state);"
            " INSERT INTO crm_event_chain VALUES (r.notification_id, prev); END LOOP;"
            " INSERT INTO crm_event_chain_head VALUES (true,"
            " (SELECT max(notification_id) FROM crm_events), prev); END $$"
        )
        conn.execute("ALTER TABLE crm_event_chain ENABLE TRIGGER USER")
    assert verify_chain(history).ok  # the chain alone is consistent again...
    report = verify_chain(history, anchors={anchor.head_position: anchor.head_hash})
    assert [p.position for p in report.problems] == [anchor.head_position]  # ...not the anchor
