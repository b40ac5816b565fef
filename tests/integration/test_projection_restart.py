"""Projections apply each event exactly once: across restarts, and on a rebuild."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from crm_core.application import LOG_NAME
from crm_core.context import acting_as
from projections.registry import PROJECTIONS
from tests.integration.conftest import fresh_container
from tests.support.readmodels import dump_tables
from tests.support.story import tell_story


def positions(container: object) -> dict[str, int]:
    views = container.views  # type: ignore[attr-defined]
    return {name: view.position(LOG_NAME) for name, view in views.items()}


def test_a_restarted_projection_resumes_without_applying_any_event_twice(
    fresh_database: str, tmp_path: Path
) -> None:
    with fresh_container(fresh_database, tmp_path) as live:
        first = tell_story(live, "avant", replies=3)
        live.wait(first.last_position, *PROJECTIONS)
        before = positions(live)
    # Runners stopped; the log keeps growing.
    with fresh_container(fresh_database, tmp_path, projections=False) as offline:
        second = tell_story(offline, "pendant", replies=2)
        with acting_as("system"):
            offline.support.reply(first.workspace_id, first.ticket_id, texte="Encore", auteur="x")
        assert positions(offline) == before
        last = offline.log.recorder.max_notification_id()
    with fresh_container(fresh_database, tmp_path) as restarted:
        assert last is not None
        restarted.wait(last, *PROJECTIONS)
        after = positions(restarted)
        tickets = restarted.tickets
        first_ticket = tickets.get(first.workspace_id, first.ticket_id)
        second_ticket = tickets.get(second.workspace_id, second.ticket_id)
        timeline = restarted.timeline.for_client(first.workspace_id, first.client_id, limit=200)
        assert restarted.clients.get(second.workspace_id, second.client_id) is not None

    # Every read model the story touches moved on; none went back.
    story_models = ("accounts", "clients", "pipeline", "tickets", "timeline")
    assert all(after[name] > before[name] for name in story_models), (before, after)
    assert all(after[name] >= before[name] for name in PROJECTIONS), (before, after)
    assert after["tickets"] == last  # the last event was a reply, a tickets event
    # Counters and appended rows show any event applied twice.
    assert first_ticket is not None and second_ticket is not None
    assert first_ticket.message_count == 3 + 1 + 1  # replies, the note, the reply offline
    assert second_ticket.message_count == 2 + 1
    ids = [entry.id for entry in timeline.items]
    assert len(ids) == len(set(ids))
    assert sum(entry.type_evenement == "ticket_reponse" for entry in timeline.items) == 4
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute("SELECT count(*) FROM rm_ticket_messages").fetchone()
    assert row == (5 + 3,)


def test_a_tracking_position_is_applied_once_and_never_again(
    fresh_database: str, tmp_path: Path
) -> None:
    with fresh_container(fresh_database, tmp_path, projections=False) as container:
        story = tell_story(container, "once")
        view = container.tickets
        bump = (
            "UPDATE rm_tickets SET message_count = message_count + 1 WHERE id = %s",
            (story.ticket_id,),
        )
        # The ticket row, as a runner would have written it at position 1.
        view.write(
            Tracking(application_name=LOG_NAME, notification_id=1),
            (
                "INSERT INTO rm_tickets (id, workspace_id, client_id, sujet, description,"
                " type_ticket, priorite, source, statut, created_at, updated_at)"
                " VALUES (%s, %s, %s, 's', 'd', 'bug', 'normale', 'staff', 'nouveau',"
                " now(), now())",
                (story.ticket_id, story.workspace_id, story.client_id),
            ),
        )

        view.write(Tracking(application_name=LOG_NAME, notification_id=7), bump)
        with pytest.raises(IntegrityError):
            view.write(Tracking(application_name=LOG_NAME, notification_id=7), bump)
        with pytest.raises(IntegrityError):
            view.write(Tracking(application_name=LOG_NAME, notification_id=5), bump)
        with pytest.raises(IntegrityError):
            view.track(Tracking(application_name=LOG_NAME, notification_id=7))

        ticket = view.get(story.workspace_id, story.ticket_id)
        assert ticket is not None
        assert ticket.message_count == 1, "a refused position must roll its statements back"
        assert view.position(LOG_NAME) == 7


def test_a_rebuild_from_zero_gives_identical_tables(fresh_database: str, tmp_path: Path) -> None:
    with fresh_container(fresh_database, tmp_path) as live:
        stories = [tell_story(live, name) for name in ("un", "deux")]
        live.wait(max(story.last_position for story in stories), *PROJECTIONS)
        before = dump_tables(fresh_database)
        positions_before = positions(live)
    with fresh_container(fresh_database, tmp_path, projections=False) as offline:
        for view in offline.views.values():
            view.reset(LOG_NAME)
        assert all(not rows for rows in dump_tables(fresh_database).values())
        assert set(positions(offline).values()) == {0}
    with fresh_container(fresh_database, tmp_path) as rebuilt:
        rebuilt.wait(max(positions_before.values()), *PROJECTIONS)
        assert positions(rebuilt) == positions_before
        after = dump_tables(fresh_database)

    story_models = ("accounts", "clients", "pipeline", "tickets", "timeline")
    assert all(
        any(before[table] for table in PROJECTIONS[name][1].tables) for name in story_models
    ), "every read model has rows to compare"
    assert after == before
