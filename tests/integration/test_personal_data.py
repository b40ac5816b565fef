"""Personal data in events is encrypted per data subject; destroying the key erases it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import psycopg
import pytest

from crm_core.errors import DuplicateError
from crm_core.ids import client_id_for
from crm_core.personal import ERASED
from crm_core.sales.domainmodel import Client
from crm_core.support.domainmodel import Ticket
from crm_core.values import Address
from event_store.keyring import ErasedSubjectError, SubjectKeyring, parse_master_key
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


def _another_process(container: Container) -> SubjectKeyring:
    """The keys table seen through a cache of its own, as another process sees it."""
    return SubjectKeyring(
        container.sales.factory.datastore,  # type: ignore[attr-defined]
        parse_master_key(container.env["CRM_ENCRYPTION_KEY"]),
        "another process",
    )


def test_a_new_subject_key_is_written_in_the_transaction_of_its_events(
    container: Container, workspace: UUID
) -> None:
    client_id = _client(container, workspace, "b1")

    with psycopg.connect(container.conninfo) as conn:
        key_xmin = conn.execute(
            "SELECT xmin::text FROM crm_subject_keys WHERE subject_id = %s", (client_id,)
        ).fetchone()
        event_xmins = conn.execute(
            "SELECT DISTINCT xmin::text FROM crm_events WHERE originator_id = %s", (client_id,)
        ).fetchall()
    assert key_xmin is not None
    assert event_xmins == [key_xmin]


def test_a_key_created_elsewhere_is_used_not_replaced(
    container: Container, workspace: UUID
) -> None:
    email = "lucienne.b2@exemple.fr"
    client_id = client_id_for(workspace, email)
    # Another process created this subject's key, unknown to this process's cache:
    # the save's own new key conflicts, the save is encoded again with that one.
    elsewhere = _another_process(container).for_writing(client_id)

    assert _client(container, workspace, "b2") == client_id

    with psycopg.connect(container.conninfo) as conn:
        row = conn.execute(
            "SELECT state FROM crm_events WHERE originator_id = %s", (client_id,)
        ).fetchone()
    assert row is not None
    sealed = msgspec.json.decode(bytes(row[0]))["nom"]
    raw = base64.urlsafe_b64decode(sealed.removeprefix("enc:v1:"))
    assert elsewhere.decrypt(raw[:12], raw[12:], client_id.bytes + b"nom") == (
        b"Lucienne Brossard-b2"
    )
    assert container.sales.repository.get(client_id).nom == "Lucienne Brossard-b2"
    with pytest.raises(DuplicateError):
        _client(container, workspace, "b2")


def test_a_subject_erased_elsewhere_gets_no_new_key(container: Container, workspace: UUID) -> None:
    client_id = client_id_for(workspace, "lucienne.b3@exemple.fr")
    _another_process(container).erase(client_id)

    with pytest.raises(ErasedSubjectError):
        _client(container, workspace, "b3")
    assert client_id not in container.sales.repository


def test_keys_created_by_one_save_are_read_together_and_each_one_found(
    container: Container, workspace: UUID
) -> None:
    """A save creates its keys in one transaction (one `created_at`): a read of one of
    them reads ahead from the first key of that save, and a key beyond the read-ahead
    is still found (its own row comes first)."""
    clients = [
        Client.register(workspace_id=workspace, nom=f"Client {n}", email=f"c{n}@exemple.fr")
        for n in range(2_100)  # more than one read-ahead (2,000 keys)
    ]
    container.sales.save(*clients)
    reader = _another_process(container)
    ordered = sorted(client.id for client in clients)

    assert reader.for_reading(ordered[-1]) is not None  # the last key of the save
    assert len(reader._cache.entries) >= 2_000  # its save's keys, from the first one on
    keys = {client.id: reader.for_reading(client.id) for client in reversed(clients)}
    assert None not in keys.values()
    # The keys read back are the ones the save encrypted with.
    with psycopg.connect(container.conninfo) as conn:
        row = conn.execute(
            "SELECT state FROM crm_events WHERE originator_id = %s", (ordered[1_500],)
        ).fetchone()
    assert row is not None
    raw = base64.urlsafe_b64decode(msgspec.json.decode(bytes(row[0]))["nom"][len("enc:v1:") :])
    key = keys[ordered[1_500]]
    assert key is not None
    assert key.decrypt(raw[:12], raw[12:], ordered[1_500].bytes + b"nom").startswith(b"Client ")
