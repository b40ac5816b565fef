"""Personal data in events is encrypted per data subject; destroying the key erases it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest

from crm_core.personal import ERASED
from crm_core.sales.domainmodel import Client
from crm_core.support.domainmodel import Ticket
from crm_core.values import Address
from event_store.keyring import ErasedSubjectError
from web.container import Container


def _raw_states(container: Container, *ids: UUID) -> bytes:
    with psycopg.connect(container.conninfo) as conn:
        rows = conn.execute(
            "SELECT state FROM crm_events WHERE originator_id = ANY(%s)", (list(ids),)
        ).fetchall()
    return b" ".join(bytes(row[0]) for row in rows)


def _keyring(container: Container) -> Any:
    return container.sales.factory.keyring()  # type: ignore[attr-defined]


def _client(container: Container, workspace: UUID, suffix: str) -> UUID:
    return container.sales.register_client(
        workspace,
        nom=f"Lucienne Brossard-{suffix}",
        email=f"lucienne.{suffix}@exemple.fr",
        telephone="06 12 34 56 78",
        adresse=Address(rue="3 rue des Lilas", code_postal="69003", ville="Lyon"),
        notes="Préfère être appelée le matin",
    ).id


def test_personal_fields_are_stored_encrypted_and_read_back_in_clear(
    container: Container, workspace: UUID
) -> None:
    client_id = _client(container, workspace, "a1")
    container.sales.add_contact(
        workspace, client_id, nom="Gaspard Ménard", email="gaspard@exemple.fr"
    )

    raw = _raw_states(container, client_id)
    for secret in (b"Brossard", b"lucienne.a1", b"Lilas", b"69003", b"Gaspard", b"matin"):
        assert secret not in raw
    assert b"enc:v1:" in raw
    client = container.sales.repository.get(client_id)
    assert client.nom == "Lucienne Brossard-a1"
    assert client.adresse.rue == "3 rue des Lilas"
    assert client.adresse.pays == "France"
    assert [c.nom for c in client.contacts.values()] == ["Gaspard Ménard"]


def test_events_without_personal_data_are_stored_in_clear(
    container: Container, workspace: UUID
) -> None:
    client_id = _client(container, workspace, "a2")
    opportunity_id = container.sales.open_opportunity(
        workspace, client_id, titre="Refonte du site vitrine"
    ).id
    assert b"Refonte du site vitrine" in _raw_states(container, opportunity_id)


def test_a_destroyed_key_reads_as_erased_and_history_still_replays(
    container: Container, workspace: UUID
) -> None:
    client_id = _client(container, workspace, "a3")
    ticket_id = container.support.open_ticket(
        workspace, client_id, sujet="Accès perdu", description="Je n’arrive plus à me connecter"
    ).id
    container.support.reply(workspace, ticket_id, texte="Voici un nouveau lien", auteur="staff")
    container.sales.log_activity(
        workspace,
        client_id,
        kind="appel",
        sujet="Rappel",
        contenu="Parlé de son déménagement",
        date_activite=datetime.now(UTC),
    )

    assert _keyring(container).erase(client_id) == 2  # the client's key and its ticket's

    client = container.sales.repository.get(client_id)
    assert isinstance(client, Client)
    assert (client.nom, client.email, client.adresse.rue) == (ERASED, ERASED, ERASED)
    assert client.adresse.pays == "France"
    ticket = container.support.repository.get(ticket_id)
    assert isinstance(ticket, Ticket)
    assert (ticket.sujet, ticket.description) == (ERASED, ERASED)
    events = list(container.log.repository.event_store.get(ticket_id))
    assert events[-1].texte == ERASED  # type: ignore[attr-defined]


def test_no_personal_data_is_written_for_an_erased_subject(
    container: Container, workspace: UUID
) -> None:
    client_id = _client(container, workspace, "a4")
    _keyring(container).erase(client_id)
    with pytest.raises(ErasedSubjectError):
        container.sales.add_contact(workspace, client_id, nom="Nouveau contact")
