"""The msgspec transcoder and mapper bring every field type back from PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg

from crm_core.accounts.domainmodel import StaffUser
from crm_core.context import acting_as
from crm_core.sales.domainmodel import Activity, Client, Contact, Opportunity
from crm_core.support.domainmodel import Ticket
from crm_core.values import ActivityKind, Address, ClientType, Stage, TicketStatus
from tests.integration.conftest import fresh_container
from web.container import Container

PARIS_SUMMER = timezone(timedelta(hours=2))


def record_every_field_type(container: Container, workspace: UUID) -> list[Any]:
    """Save aggregates whose events hold every field type; return the events as saved."""
    user = StaffUser.register(
        workspace_id=workspace,
        email=f"{uuid4().hex}@exemple.fr",
        nom="Léa",
        role="commercial",
        password_hash="hash",
    )
    client = Client.register(
        workspace_id=workspace,
        nom="L’Atelier « Zoé » & Cie",
        type_client="particulier",
        email="",
        telephone="+33 6 12 34 56 78",
        adresse=Address(rue="12, rue de l’Été", code_postal="75011", ville="Paris"),
        tags=("vip", "été"),
        owner_id=user.id,
        notes="Ligne 1\nLigne 2 — 100 %",
    )
    client.add_contact(nom="Zoé", email="zoe@exemple.fr", fonction="Gérante")
    with_amount = Opportunity.open(
        workspace_id=workspace,
        client=client,
        titre="Refonte",
        montant_estime="12345678.9",
        devise="CHF",
        date_cloture_prevue=date(2031, 2, 28),
        probabilite=0,
        owner_id=user.id,
        etape="qualification",
    )
    with_amount.move_to("gagne", client=client)
    without_amount = Opportunity.open(workspace_id=workspace, client=client, titre="Idée")
    activity = Activity.log(
        workspace_id=workspace,
        client=client,
        kind="reunion",
        sujet="Atelier",
        date_activite=datetime(2025, 7, 1, 14, 30, 15, 123456, tzinfo=PARIS_SUMMER),
        duree_minutes=90,
        auteur_id=None,
    )
    ticket = Ticket.open(workspace_id=workspace, client=client, sujet="Panne", description="…")
    ticket.change_status("resolu")
    recordings = container.sales.save(user, client, with_amount, without_amount, activity, ticket)
    return [recording.domain_event for recording in recordings]


def test_every_event_comes_back_equal_with_its_types(fresh_database: str, tmp_path: Path) -> None:
    with (
        fresh_container(fresh_database, tmp_path, projections=False) as container,
        acting_as("user:test"),
    ):
        workspace = container.accounts.create_workspace(nom="Espace").id
        saved = record_every_field_type(container, workspace)
    # A new process: nothing cached, every event decoded from the stored JSON.
    with fresh_container(fresh_database, tmp_path, projections=False) as reader:
        loaded = [
            reader.log.mapper.to_domain_event(stored)
            for event_id in dict.fromkeys(event.originator_id for event in saved)
            for stored in reader.log.recorder.select_events(event_id)
        ]
        client = reader.sales.repository.get(saved[1].originator_id)
        opportunity = reader.sales.repository.get(saved[3].originator_id)

    assert loaded == saved
    registered, contact_added = loaded[1], loaded[2]
    assert isinstance(registered, Client.Registered)
    assert registered.type_client is ClientType.PARTICULIER
    assert registered.adresse == Address(rue="12, rue de l’Été", code_postal="75011", ville="Paris")
    assert registered.tags == ("vip", "été")
    assert isinstance(registered.owner_id, UUID)
    assert isinstance(registered.correlation_id, UUID)
    assert registered.timestamp.tzinfo is not None
    assert isinstance(contact_added.contact, Contact)
    assert isinstance(contact_added.contact.id, UUID)

    opened, won, bare = loaded[3], loaded[4], loaded[5]
    assert opened.montant_estime == Decimal("12345678.90")
    assert type(opened.montant_estime) is Decimal
    assert opened.date_cloture_prevue == date(2031, 2, 28)
    assert opened.etape is Stage.QUALIFICATION
    assert (won.montant, won.de) == (Decimal("12345678.90"), Stage.QUALIFICATION)
    assert (bare.montant_estime, bare.date_cloture_prevue, bare.probabilite, bare.owner_id) == (
        None,
        None,
        None,
        None,
    )

    logged = loaded[6]
    assert logged.kind is ActivityKind.REUNION
    assert logged.date_activite == datetime(2025, 7, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert logged.date_activite.utcoffset() == timedelta(hours=2)
    assert logged.auteur_id is None
    assert loaded[-1].vers is TicketStatus.RESOLU

    assert client.contacts[contact_added.contact.id].nom == "Zoé"
    assert client.adresse.ville == "Paris"
    assert opportunity.etape is Stage.GAGNE


def test_the_stored_json_is_plain_and_readable_by_sql(fresh_database: str, tmp_path: Path) -> None:
    with fresh_container(fresh_database, tmp_path, projections=False) as container:
        with acting_as("user:test"):
            workspace = container.accounts.create_workspace(nom="Espace").id
            saved = record_every_field_type(container, workspace)
        with psycopg.connect(container.conninfo) as conn:
            row = conn.execute(
                "SELECT convert_from(state, 'UTF8')::jsonb FROM crm_events"
                " WHERE originator_id = %s AND originator_version = 1",
                (saved[3].originator_id,),
            ).fetchone()
    assert row is not None
    state = row[0]
    assert state["montant_estime"] == "12345678.90"
    assert state["etape"] == "qualification"
    assert state["date_cloture_prevue"] == "2031-02-28"
    assert state["workspace_id"] == str(workspace)
    assert state["actor"] == "user:test"
