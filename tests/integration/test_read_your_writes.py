"""After a command, waiting on its position makes the change visible at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID

from crm_core.application import LOG_NAME
from web.container import Container


def test_a_new_client_is_listed_right_after_waiting_for_its_position(
    container: Container, workspace: UUID
) -> None:
    receipt = container.sales.register_client(workspace, nom="Boulangerie Martin")
    container.wait(receipt.position, "clients")

    detail = container.clients.get(workspace, receipt.id)
    assert detail is not None and detail.nom == "Boulangerie Martin"
    assert [row.id for row in container.clients.search(workspace).items] == [receipt.id]


def test_every_read_model_shows_the_writes_of_one_action(
    container: Container, workspace: UUID
) -> None:
    sales, support = container.sales, container.support
    client = sales.register_client(workspace, nom="Martin").id
    deal = sales.open_opportunity(workspace, client, titre="Site", montant_estime="10").id
    receipt = support.open_ticket(workspace, client, sujet="Panne", description="Aïe")
    container.wait(receipt.position, "clients", "pipeline", "tickets", "timeline")

    assert container.pipeline.get(workspace, deal) is not None
    ticket = container.tickets.get(workspace, receipt.id)
    assert ticket is not None and ticket.client_nom == "Martin"
    kinds = {e.type_evenement for e in container.timeline.for_client(workspace, client).items}
    assert kinds == {"client_cree", "opportunite_creee", "ticket_ouvert"}


def test_waiting_works_when_the_last_event_is_not_one_the_read_model_follows(
    container: Container, workspace: UUID
) -> None:
    sales = container.sales
    client = sales.register_client(workspace, nom="Martin")
    # An activity is not a clients event: the clients read model never tracks it.
    activity = sales.log_activity(
        workspace, client.id, kind="note", sujet="Premier contact", date_activite=datetime.now(UTC)
    )
    assert activity.position > client.position

    started = time.monotonic()
    container.wait(activity.position, "clients", timeout=5)
    assert time.monotonic() - started < 2, "the wait must not run into its timeout"
    assert container.clients.get(workspace, client.id) is not None


def test_waiting_on_a_read_model_that_follows_none_of_the_new_events_returns_at_once(
    container: Container, workspace: UUID
) -> None:
    receipt = container.sales.register_client(workspace, nom="Martin")
    started = time.monotonic()
    container.wait(receipt.position, "pipeline", "accounts", timeout=5)
    assert time.monotonic() - started < 2
    assert container.pipeline.position(LOG_NAME) < receipt.position


def test_a_command_that_changes_nothing_can_be_waited_for_too(
    container: Container, workspace: UUID
) -> None:
    client = container.sales.register_client(workspace, nom="Martin").id
    receipt = container.sales.update_client(
        workspace, client, nom="Martin", type_client="entreprise"
    )
    container.wait(receipt.position, "clients", "timeline")
    detail = container.clients.get(workspace, client)
    assert detail is not None and detail.nom == "Martin"


def test_a_name_typed_with_a_nul_byte_still_reaches_the_read_models(
    container: Container, workspace: UUID
) -> None:
    receipt = container.sales.register_client(workspace, nom="Acme\x00 Corp", tags=("v\x00ip",))
    container.wait(receipt.position, "clients", "timeline", timeout=5)
    detail = container.clients.get(workspace, receipt.id)
    assert detail is not None
    assert (detail.nom, detail.tags) == ("Acme Corp", ["vip"])
