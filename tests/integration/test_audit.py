"""History, time travel and the audit journal."""

from __future__ import annotations

import csv
import io
import time
from uuid import UUID

from crm_core.context import acting_as
from crm_core.personal import ERASED
from projections.audit import JournalFilters
from web.audit import journal, journal_csv
from web.container import Container


def _client_with_history(container: Container, workspace: UUID) -> UUID:
    with acting_as("user:alice"):
        client_id = container.sales.register_client(
            workspace, nom="Atelier Verne", email="contact@verne.fr"
        ).id
    time.sleep(0.01)
    with acting_as("user:bob"):
        container.sales.update_client(
            workspace,
            client_id,
            nom="Atelier Verne",
            type_client="entreprise",
            email="bonjour@verne.fr",
            telephone="0102030405",
        )
        receipt = container.sales.open_opportunity(workspace, client_id, titre="Catalogue")
    container.wait(receipt.position, "audit")
    return client_id


def test_a_history_lists_each_event_with_french_labels_and_what_changed(
    container: Container, workspace: UUID
) -> None:
    client_id = _client_with_history(container, workspace)

    history = container.audit.history(workspace, client_id)

    assert [entry.label for entry in history] == ["Client créé", "Client modifié"]
    assert [entry.actor for entry in history] == ["user:alice", "user:bob"]
    changed = {change.label: (change.before, change.after) for change in history[1].changes}
    assert changed == {
        "Email": ("contact@verne.fr", "bonjour@verne.fr"),
        "Téléphone": ("", "0102030405"),
    }


def test_a_record_seen_at_a_date_equals_its_state_at_that_version(
    container: Container, workspace: UUID
) -> None:
    client_id = _client_with_history(container, workspace)
    first = container.audit.history(workspace, client_id)[0]

    at_date = container.audit.snapshot(workspace, client_id, at=first.at)
    at_version = container.audit.snapshot(workspace, client_id, version=1)

    assert at_date == at_version
    assert at_date.fields["email"] == "contact@verne.fr"
    assert container.audit.snapshot(workspace, client_id).fields["email"] == "bonjour@verne.fr"


def test_the_journal_filters_by_client_actor_and_type_newest_first(
    container: Container, workspace: UUID
) -> None:
    client_id = _client_with_history(container, workspace)

    by_client = journal(container, workspace, JournalFilters(client_id=client_id))
    assert [e.event_type for e in by_client.items] == [
        "Opportunity.Opened",
        "Client.Updated",
        "Client.Registered",
    ]
    by_bob = journal(container, workspace, JournalFilters(actor="user:bob"))
    assert {e.actor for e in by_bob.items} == {"user:bob"}
    updates = journal(container, workspace, JournalFilters(event_type="Client.Updated"))
    assert [e.label for e in updates.items] == ["Client modifié"]
    assert updates.items[0].correlation_id == by_client.items[0].correlation_id
    assert "Email" in {change.label for change in updates.items[0].changes}


def test_the_journal_exports_to_csv_and_the_export_is_itself_journaled(
    container: Container, workspace: UUID
) -> None:
    client_id = _client_with_history(container, workspace)

    text = journal_csv(container, workspace, JournalFilters(client_id=client_id))

    lines = list(csv.DictReader(io.StringIO(text)))
    assert {"Client créé", "Client modifié", "Opportunité ouverte"} <= {
        line["evenement"] for line in lines
    }
    assert any(line["champ"] == "Email" and line["apres"] == "bonjour@verne.fr" for line in lines)
    container.wait(container.log.recorder.max_notification_id() or 0, "audit")
    actions = journal(container, workspace, JournalFilters(event_type="AdminAction"))
    assert {c.field: c.after for c in actions.items[0].changes}["kind"] == "export_journal"


def test_after_an_erasure_the_journal_still_shows_what_happened_without_the_data(
    container: Container, workspace: UUID
) -> None:
    client_id = _client_with_history(container, workspace)
    receipt = container.sales.erase_client(workspace, client_id)
    container.wait(receipt.position, "audit")

    entries = journal(container, workspace, JournalFilters(client_id=client_id)).items

    assert entries[0].label == "Données personnelles effacées (RGPD)"
    registered = entries[-1]
    assert {change.after for change in registered.changes} >= {ERASED}
    assert "contact@verne.fr" not in str(entries)
