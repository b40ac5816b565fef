"""Every event says which workspace, who acted, and which action it belongs to."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import UUID, uuid4

from crm_core.context import SYSTEM, acting_as, current_action, user_actor, within_action
from crm_core.sales.domainmodel import Client
from event_store.catalogue import _aggregates, _events
from tests.unit.conftest import PASSWORD, WholeCrm, all_events, position

EVERY_EVENT_CLASS = {event for aggregate in _aggregates() for event in _events(aggregate)}
# The areas `WholeCrm` drives; billing, inbox and portal events are recorded by their
# own tests, and every class carries the fields by construction (checked below).
RECORDED_HERE = {
    event
    for event in EVERY_EVENT_CLASS
    if event.__module__.split(".")[1] in {"accounts", "sales", "support", "audit"}
}


def test_every_event_class_declares_its_workspace_its_actor_and_its_correlation_id() -> None:
    for event_class in EVERY_EVENT_CLASS:
        names = {field.name for field in dataclasses.fields(event_class)}
        assert {"workspace_id", "actor", "correlation_id"} <= names, event_class.__qualname__


def record_one_of_everything(crm: WholeCrm) -> UUID:
    workspace = crm.create_workspace(nom="Atelier Dupont").id
    admin = crm.register_user(
        workspace, email="admin@atelier.fr", nom="Admin", role="admin", password=PASSWORD
    ).id
    lea = crm.register_user(
        workspace, email="lea@atelier.fr", nom="Léa", role="commercial", password=PASSWORD
    ).id
    crm.update_workspace(workspace, nom="Atelier Dupont SAS")
    crm.rename_user(workspace, lea, "Léa Dupont")
    crm.change_role(workspace, lea, "developpeur_nocode", acting_user_id=admin)
    crm.change_password(workspace, lea, "un autre mot de passe")
    crm.disable_user(workspace, lea, acting_user_id=admin)
    crm.enable_user(workspace, lea)
    client = crm.register_client(workspace, nom="Martin", email="martin@exemple.fr").id
    crm.update_client(workspace, client, nom="Martin SARL", type_client="entreprise")
    contact = crm.add_contact(workspace, client, nom="Julie").id
    crm.update_contact(workspace, client, contact, nom="Julie Martin")
    crm.remove_contact(workspace, client, contact)
    crm.archive_client(workspace, client)
    crm.restore_client(workspace, client)
    deal = crm.open_opportunity(workspace, client, titre="Site", montant_estime="10").id
    crm.update_opportunity(workspace, deal, titre="Site web", montant_estime="20")
    crm.move_opportunity(workspace, deal, "proposition")
    crm.move_opportunity(workspace, deal, "perdu", raison="Prix")
    crm.reopen_opportunity(workspace, deal)
    crm.move_opportunity(workspace, deal, "gagne")
    crm.log_activity(workspace, client, kind="note", sujet="RAS", date_activite=datetime.now(UTC))
    ticket = crm.open_ticket(workspace, client, sujet="Panne", description="Rien ne marche").id
    crm.reply(workspace, ticket, texte="On regarde", auteur=user_actor(admin))
    crm.add_internal_note(workspace, ticket, texte="Serveur", auteur=user_actor(admin))
    crm.assign(workspace, ticket, lea)
    crm.change_priority(workspace, ticket, "haute")
    crm.change_status(workspace, ticket, "resolu")
    crm.record(workspace, kind="export_rgpd", cible=str(client), details="1 enregistrement")
    crm.erase_client(workspace, crm.register_client(workspace, nom="À effacer").id)
    return workspace


def test_every_kind_of_event_carries_its_workspace_its_actor_and_a_correlation_id(
    crm: WholeCrm,
) -> None:
    actor = user_actor(uuid4())
    with acting_as(actor):
        workspace = record_one_of_everything(crm)

    events = all_events(crm)
    assert {type(event) for event in events} == RECORDED_HERE, "record every kind here"
    for event in events:
        assert event.workspace_id == workspace, type(event).__qualname__
        assert event.actor == actor, type(event).__qualname__
        assert isinstance(event.correlation_id, UUID), type(event).__qualname__


def test_the_events_of_one_action_share_its_correlation_id(crm: WholeCrm, workspace: UUID) -> None:
    correlation_id = uuid4()
    start = position(crm)
    with acting_as("portal:abc", correlation_id):
        client = crm.register_client(workspace, nom="Martin").id
        crm.open_ticket(workspace, client, sujet="Question", description="Bonjour")
    events = all_events(crm)[start:]
    assert len(events) == 2
    assert {event.correlation_id for event in events} == {correlation_id}
    assert {event.actor for event in events} == {"portal:abc"}


def test_the_events_saved_by_one_command_share_one_correlation_id(
    crm: WholeCrm, workspace: UUID
) -> None:
    start = position(crm)
    with within_action() as action:
        client = Client.register(workspace_id=workspace, nom="Martin")
        client.add_contact(nom="Julie")
        client.add_contact(nom="Paul")
        client.archive()
        crm.save(client)
    events = all_events(crm)[start:]
    assert len(events) == 4
    assert {event.correlation_id for event in events} == {action.correlation_id}
    assert {event.actor for event in events} == {SYSTEM}


def test_commands_outside_any_action_are_the_systems_each_with_its_own_correlation_id(
    crm: WholeCrm, workspace: UUID
) -> None:
    start = position(crm)
    client = crm.register_client(workspace, nom="Martin").id
    crm.add_contact(workspace, client, nom="Julie")
    first, second = all_events(crm)[start:]
    assert first.actor == second.actor == SYSTEM
    assert first.correlation_id != second.correlation_id


def test_within_action_keeps_the_open_action_and_acting_as_restores_the_previous_one() -> None:
    with acting_as("user:a") as outer:
        with within_action() as inner:
            assert inner == outer
        with acting_as("stripe") as nested:
            assert current_action() == nested
        assert current_action() == outer
    assert current_action().actor == SYSTEM
    assert current_action().correlation_id != current_action().correlation_id
