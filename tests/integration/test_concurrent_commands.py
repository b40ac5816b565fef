"""Two commands racing on the same record: one wins, the other is told, nothing is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from crm_core.aggregate import CrmAggregate
from crm_core.application import Receipt
from crm_core.errors import ConcurrentChangeError, DomainError, DuplicateError
from crm_core.sales.application import SalesApplication
from crm_core.values import OPEN_STAGES, Stage
from web.container import Container


class RacingSales(SalesApplication):
    """A SalesApplication whose commands all reach the save at the same moment.

    Each command loads and decides on its own; the barrier only holds the save
    until the other command has decided too, so both decided on the same version.
    """

    def __init__(self, env: dict[str, str], barrier: threading.Barrier) -> None:
        super().__init__(env)
        self.barrier = barrier

    def _commit(self, *aggregates: CrmAggregate, **kwargs: Any) -> int:
        self.barrier.wait(timeout=10)
        return super()._commit(*aggregates, **kwargs)


def race(
    container: Container, *commands: Callable[[SalesApplication], Receipt]
) -> list[Receipt | DomainError]:
    barrier = threading.Barrier(len(commands))
    apps = [RacingSales(container.env, barrier) for _ in commands]

    def run(app: SalesApplication, command: Callable[[SalesApplication], Receipt]) -> Any:
        try:
            return command(app)
        except DomainError as error:
            return error

    try:
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(run, apps, commands))
    finally:
        for app in apps:
            app.close()


def versions(container: Container, aggregate_id: UUID) -> list[int]:
    return [
        stored.originator_version for stored in container.log.recorder.select_events(aggregate_id)
    ]


def test_two_stage_moves_from_the_same_version_give_one_success_and_one_conflict(
    container: Container, workspace: UUID
) -> None:
    sales = container.sales
    client = sales.register_client(workspace, nom="Martin SARL").id
    deal = sales.open_opportunity(workspace, client, titre="Site", montant_estime="900").id

    outcomes = race(
        container,
        lambda app: app.move_opportunity(workspace, deal, "proposition"),
        lambda app: app.move_opportunity(workspace, deal, "gagne"),
    )

    receipts = [outcome for outcome in outcomes if isinstance(outcome, Receipt)]
    errors = [outcome for outcome in outcomes if isinstance(outcome, DomainError)]
    assert len(receipts) == 1, outcomes
    assert len(errors) == 1 and isinstance(errors[0], ConcurrentChangeError), outcomes
    assert errors[0].message == (
        "Cette fiche vient d’être modifiée par quelqu’un d’autre. Rechargez la page puis réessayez."
    )
    assert versions(container, deal) == [1, 2]
    winner = Stage.PROPOSITION if isinstance(outcomes[0], Receipt) else Stage.GAGNE
    assert sales.repository.get(deal).etape is winner


def test_the_loser_of_a_race_succeeds_when_it_tries_again(
    container: Container, workspace: UUID
) -> None:
    sales = container.sales
    client = sales.register_client(workspace, nom="Martin SARL").id

    outcomes = race(
        container,
        lambda app: app.add_contact(workspace, client, nom="Julie"),
        lambda app: app.add_contact(workspace, client, nom="Paul"),
    )
    assert sum(isinstance(outcome, ConcurrentChangeError) for outcome in outcomes) == 1

    sales.add_contact(workspace, client, nom="Encore")
    assert versions(container, client) == [1, 2, 3]
    assert len(sales.repository.get(client).contacts) == 2


def test_two_clients_registered_at_once_with_one_email_give_one_client(
    container: Container, workspace: UUID
) -> None:
    outcomes = race(
        container,
        lambda app: app.register_client(workspace, nom="Martin", email="martin@exemple.fr"),
        lambda app: app.register_client(workspace, nom="Martin bis", email="MARTIN@exemple.fr"),
    )
    errors = [outcome for outcome in outcomes if isinstance(outcome, DomainError)]
    assert len(errors) == 1 and isinstance(errors[0], DuplicateError), outcomes
    assert errors[0].message == "Un client avec cette adresse email existe déjà."
    (receipt,) = [outcome for outcome in outcomes if isinstance(outcome, Receipt)]
    assert versions(container, receipt.id) == [1]


def test_racing_moves_round_after_round_never_lose_an_event(
    container: Container, workspace: UUID
) -> None:
    sales = container.sales
    client = sales.register_client(workspace, nom="Martin SARL").id
    deal = sales.open_opportunity(workspace, client, titre="Site", montant_estime="900").id
    for _ in range(5):
        current = sales.repository.get(deal).etape
        first, second = [stage.value for stage in OPEN_STAGES if stage is not current][:2]
        outcomes = race(
            container,
            lambda app, to=first: app.move_opportunity(workspace, deal, to),
            lambda app, to=second: app.move_opportunity(workspace, deal, to),
        )
        assert sum(isinstance(outcome, Receipt) for outcome in outcomes) == 1, outcomes
    assert versions(container, deal) == [1, 2, 3, 4, 5, 6]
