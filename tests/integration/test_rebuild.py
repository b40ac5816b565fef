"""Rebuilding a read model without downtime gives the same read model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from projections.readmodel import reads_personal_data
from projections.rebuild import Difference, RebuildProgress, ShadowReplay
from projections.registry import PROJECTIONS
from tests.integration.conftest import fresh_container
from web.container import Container
from web.replay import (
    ReplayFailedError,
    progress,
    rebuild_all,
    rebuild_projection,
    replay_in_processes,
    verify_projection,
)
from web.views import build_view


@pytest.fixture
def busy(fresh_database: str, tmp_path: Path) -> Iterator[tuple[Container, UUID]]:
    """A CRM with running projections and a little of everything in its log."""
    with fresh_container(fresh_database, tmp_path) as container:
        workspace = container.accounts.create_workspace(nom="Agence").id
        for number in range(8):
            client_id = container.sales.register_client(
                workspace, nom=f"Client {number}", email=f"c{number}@exemple.fr"
            ).id
            container.sales.add_contact(workspace, client_id, nom=f"Contact {number}")
            opportunity = container.sales.open_opportunity(
                workspace, client_id, titre=f"Affaire {number}", montant_estime="1000"
            ).id
            container.sales.move_opportunity(workspace, opportunity, "gagne")
            ticket = container.support.open_ticket(
                workspace, client_id, sujet=f"Question {number}", description="Bonjour"
            ).id
            container.support.reply(workspace, ticket, texte="Réponse", auteur="staff")
            container.sales.log_activity(
                workspace, client_id, kind="note", sujet="Note", date_activite=datetime.now(UTC)
            )
        container.sales.erase_client(workspace, client_id)
        _settle(container)
        yield container, workspace


def _settle(container: Container) -> None:
    container.wait(container.log.recorder.max_notification_id() or 0, *PROJECTIONS, timeout=20)


def _tables(container: Container, name: str) -> dict[str, list[str]]:
    """Every row of the read model, as text; the rebuild's own journal lines left out,
    and the rows of kept sums that count nothing (a replay computes sums without them)."""
    view_class = PROJECTIONS[name][1]
    kept = {sums.table: sums for sums in view_class.kept_sums}
    with psycopg.connect(container.conninfo) as conn:
        return {
            table: sorted(
                row[0]
                for row in conn.execute(
                    sql.SQL("SELECT t::text FROM {0} t WHERE {1}").format(
                        sql.Identifier(table),
                        kept[table].nonzero if table in kept else sql.SQL("true"),
                    )
                )
                if "AdminAction" not in row[0]
            )
            for table in view_class.tables
        }


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_a_rebuild_gives_an_identical_read_model(busy: tuple[Container, UUID], name: str) -> None:
    container, _ = busy
    before = _tables(container, name)
    seen: list[RebuildProgress] = []

    rebuild_projection(container, name, on_progress=seen.append)

    _settle(container)
    assert _tables(container, name) == before
    assert seen[-1].state == "terminee"
    last = progress(container, name)
    assert last is not None and last.done == last.total
    assert verify_projection(container, name) == []


def _replayed_differences(container: Container, name: str, *, personal: bool) -> list[Difference]:
    """Replay `name` with its events' personal fields opened or not, and compare the
    copy with the live read model (kept by its runner, as the projection declares)."""
    replay = ShadowReplay(
        conninfo=container.conninfo,
        log=container.log,
        name=name,
        projection_class=PROJECTIONS[name][0],
        view=build_view(container.env, name),
    )
    replay.reads_personal_data = personal
    try:
        replay.prepare()
        replay.catch_up(to_head=False)
        return replay.compare()
    finally:
        replay.drop()
        replay.close()
        replay.view.datastore.close()


def test_sealed_read_models_need_no_personal_data(busy: tuple[Container, UUID]) -> None:
    """A projection that declares `reads_personal_data = False` is decoded without
    decryption, live and in replays: opening the fields must change none of its rows."""
    container, _ = busy
    sealed = [name for name, (cls, _) in PROJECTIONS.items() if not reads_personal_data(cls)]
    assert sorted(sealed) == ["analytics", "audit"]
    for name in sealed:
        assert _replayed_differences(container, name, personal=True) == [], name
    # The check can fail: the clients' list, replayed sealed, holds ciphertexts.
    differences = _replayed_differences(container, "clients", personal=False)
    assert any("enc:v1:" in sample for d in differences for sample in d.samples)


def test_rebuilding_every_read_model_at_once_gives_identical_read_models(
    busy: tuple[Container, UUID],
) -> None:
    container, workspace = busy
    before = {name: _tables(container, name) for name in PROJECTIONS}
    seen: list[RebuildProgress] = []

    positions = rebuild_all(container, on_progress=seen.append)

    _settle(container)
    assert {name: _tables(container, name) for name in PROJECTIONS} == before
    assert set(positions) == set(PROJECTIONS)
    assert {report.name for report in seen if report.state == "terminee"} == set(PROJECTIONS)
    # The live runners go on from the swapped tables.
    receipt = container.sales.register_client(workspace, nom="Arrivé après la bascule")
    container.wait(receipt.position, "clients", "audit")
    assert container.clients.get(workspace, receipt.id) is not None


def test_groups_of_read_models_rebuilt_by_worker_processes_are_identical(
    busy: tuple[Container, UUID],
) -> None:
    container, workspace = busy
    before = {name: _tables(container, name) for name in PROJECTIONS}
    seen: list[RebuildProgress] = []

    positions = rebuild_all(container, on_progress=seen.append, processes=2)

    _settle(container)
    assert {name: _tables(container, name) for name in PROJECTIONS} == before
    assert set(positions) == set(PROJECTIONS)
    # The workers' progress, read from crm_rebuilds, reached this process.
    assert {report.name for report in seen if report.state == "terminee"} == set(PROJECTIONS)
    receipt = container.sales.register_client(workspace, nom="Arrivé après la bascule")
    container.wait(receipt.position, "clients", "audit")
    assert container.clients.get(workspace, receipt.id) is not None


def test_a_failed_worker_is_reported_and_the_other_groups_are_rebuilt(
    busy: tuple[Container, UUID],
) -> None:
    container, _ = busy
    before = _tables(container, "tickets")

    with pytest.raises(ReplayFailedError, match="inconnue : KeyError"):
        replay_in_processes(container, [["tickets"], ["inconnue"]], swap=True)

    _settle(container)
    assert _tables(container, "tickets") == before
    last = progress(container, "tickets")
    assert last is not None and last.state == "terminee"


def test_the_live_runner_keeps_applying_events_after_the_swap(
    busy: tuple[Container, UUID],
) -> None:
    container, workspace = busy
    rebuild_projection(container, "clients")

    receipt = container.sales.register_client(workspace, nom="Arrivé après la bascule")
    container.wait(receipt.position, "clients")

    assert container.clients.get(workspace, receipt.id) is not None


def test_verify_lists_a_row_changed_behind_the_projection(
    busy: tuple[Container, UUID],
) -> None:
    container, _ = busy
    with psycopg.connect(container.conninfo) as conn:
        conn.execute("UPDATE rm_opportunities SET titre = 'Falsifié' WHERE titre = 'Affaire 3'")

    differences = verify_projection(container, "pipeline")

    assert [(d.table, d.only_live, d.only_replayed) for d in differences] == [
        ("rm_opportunities", 1, 1)
    ]
    assert any("Falsifié" in sample for sample in differences[0].samples)
