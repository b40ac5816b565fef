"""The `crm` command against a fresh database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from click.testing import CliRunner, Result

from projections.registry import PROJECTIONS
from web.cli import main
from web.settings import settings

PASSWORD = "un mot de passe solide"


@pytest.fixture
def crm(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """A CliRunner whose commands use the fresh database (settings read anew)."""
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    settings.cache_clear()
    yield CliRunner()
    settings.cache_clear()


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args), catch_exceptions=False)


def create_user(runner: CliRunner, email: str, role: str = "admin") -> UUID:
    result = run(
        runner, "users", "create", "--email", email, "--password", PASSWORD, "--role", role
    )
    assert result.exit_code == 0, result.output
    match = re.search(r"id ([0-9a-f-]{36})", result.output)
    assert match, result.output
    return UUID(match.group(1))


def test_users_create_makes_a_workspace_and_an_account_that_can_log_in(
    crm: CliRunner, fresh_database: str
) -> None:
    result = run(
        crm,
        "users",
        "create",
        "--email",
        "Lea@Atelier.fr",
        "--password",
        PASSWORD,
        "--role",
        "admin",
        "--name",
        "Léa",
    )
    assert result.exit_code == 0, result.output
    assert "Compte créé : Lea@Atelier.fr (admin)" in result.output

    with psycopg.connect(fresh_database) as conn:
        topics = [
            row[0] for row in conn.execute("SELECT topic FROM crm_events ORDER BY notification_id")
        ]
    assert [topic.split(":")[-1] for topic in topics] == [
        "Workspace.Created",
        "StaffUser.Registered",
    ]


def test_two_users_created_in_a_row_share_the_first_workspace(
    crm: CliRunner, fresh_database: str
) -> None:
    create_user(crm, "lea@atelier.fr")
    create_user(crm, "paul@atelier.fr", role="commercial")
    with psycopg.connect(fresh_database) as conn:
        workspaces = conn.execute(
            "SELECT count(*) FROM crm_events WHERE topic LIKE %s", ("%Workspace.Created",)
        ).fetchone()
    assert workspaces == (1,)


def test_users_create_reports_a_refused_password_in_french(crm: CliRunner) -> None:
    result = crm.invoke(
        main,
        ["users", "create", "--email", "lea@atelier.fr", "--password", "court", "--role", "admin"],
    )
    assert result.exit_code == 1
    assert "Le mot de passe doit faire au moins 10 caractères." in result.output


def test_projections_status_lists_every_read_model_with_its_lag(crm: CliRunner) -> None:
    create_user(crm, "lea@atelier.fr")
    result = run(crm, "projections", "status")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(lines) == set(PROJECTIONS)
    assert re.search(r"position\s+\d+\s+retard\s+\d+", lines["accounts"])
    assert re.search(r"retard\s+0$", lines["clients"])


def test_events_show_tells_a_records_history_without_the_password_hash(crm: CliRunner) -> None:
    user_id = create_user(crm, "lea@atelier.fr")
    result = run(crm, "events", "show", str(user_id))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("v1  StaffUser.Registered")
    assert "email: lea@atelier.fr" in result.output
    assert "actor: system" in result.output
    assert "password_hash" not in result.output
    assert "argon2" not in result.output


def test_events_show_of_an_unknown_id_is_an_error(crm: CliRunner) -> None:
    run(crm, "projections", "status")  # creates the schema
    unknown = "00000000-0000-4000-8000-000000000000"
    result = crm.invoke(main, ["events", "show", unknown])
    assert result.exit_code == 1
    assert f"Aucun événement pour {unknown}." in result.output


def test_events_tail_prints_the_last_events(crm: CliRunner) -> None:
    create_user(crm, "lea@atelier.fr")
    create_user(crm, "paul@atelier.fr")
    result = run(crm, "events", "tail", "-n", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("#2 ")
    assert "StaffUser.Registered" in lines[0] and "StaffUser.Registered" in lines[1]
    result = run(crm, "events", "tail", "-n", "3")
    assert [line.split()[0] for line in result.output.splitlines()] == ["#1", "#2", "#3"]


def test_projections_rebuild_every_read_model_or_says_what_is_missing(
    crm: CliRunner, fresh_database: str
) -> None:
    create_user(crm, "lea@atelier.fr")
    result = run(crm, "projections", "rebuild", "--toutes")
    assert result.exit_code == 0, result.output
    for name in PROJECTIONS:
        assert f"{name} reconstruite jusqu’à la position" in result.output
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT email FROM rm_users").fetchall() == [("lea@atelier.fr",)]
    in_processes = run(crm, "projections", "rebuild", "--toutes", "--processus", "2")
    assert in_processes.exit_code == 0, in_processes.output
    for name in PROJECTIONS:
        assert f"{name} reconstruite jusqu’à la position" in in_processes.output
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT email FROM rm_users").fetchall() == [("lea@atelier.fr",)]
    neither = run(crm, "projections", "rebuild")
    assert neither.exit_code == 2
    assert "Indiquez une projection, ou --toutes" in neither.output
    one_in_processes = run(crm, "projections", "rebuild", "clients", "--processus", "2")
    assert one_in_processes.exit_code == 2
    assert "--processus ne s’emploie qu’avec --toutes" in one_in_processes.output


def test_projections_rebuild_replays_a_read_model_from_the_first_event(
    crm: CliRunner, fresh_database: str
) -> None:
    user_id = create_user(crm, "lea@atelier.fr")
    result = run(crm, "projections", "rebuild", "accounts")
    assert result.exit_code == 0, result.output
    assert "accounts reconstruite jusqu’à la position 2" in result.output
    with psycopg.connect(fresh_database) as conn:
        users = conn.execute("SELECT id, email, role FROM rm_users").fetchall()
    assert users == [(user_id, "lea@atelier.fr", "admin")]
    again = run(crm, "projections", "rebuild", "accounts")
    assert "position 2" in again.output
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT count(*) FROM rm_users").fetchone() == (1,)
