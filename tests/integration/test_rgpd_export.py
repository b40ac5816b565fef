"""RGPD export: everything known about a client, as JSON and as a readable page."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import msgspec

from projections.audit import JournalFilters
from web.audit import journal
from web.container import Container
from web.rgpd import export_client, export_html, export_json


def test_an_export_gathers_the_client_and_every_record_about_it(
    container: Container, workspace: UUID
) -> None:
    sales, support = container.sales, container.support
    client_id = sales.register_client(workspace, nom="Noémie Carrel", email="noemie@carrel.fr").id
    sales.update_client(
        workspace,
        client_id,
        nom="Noémie Carrel",
        type_client="particulier",
        email="noemie@carrel.fr",
        notes="<script>alert(1)</script>",
    )
    other = sales.register_client(workspace, nom="Quelqu’un d’autre").id
    sales.open_opportunity(workspace, client_id, titre="Site de Noémie")
    sales.open_opportunity(workspace, other, titre="Pas elle")
    ticket_id = support.open_ticket(
        workspace, client_id, sujet="Mot de passe", description="Perdu"
    ).id
    support.reply(workspace, ticket_id, texte="Voici un lien", auteur="staff")
    sales.log_activity(
        workspace,
        client_id,
        kind="appel",
        sujet="Appel",
        contenu="Rappeler lundi",
        date_activite=datetime.now(UTC),
    )

    export = export_client(container, workspace, client_id)

    data = msgspec.json.decode(export_json(export))
    assert data["client"]["current"]["Nom"] == "Noémie Carrel"
    assert [e["label"] for e in data["client"]["events"]] == ["Client créé", "Client modifié"]
    assert sorted(r["kind"] for r in data["related"]) == ["Activity", "Opportunity", "Ticket"]
    ticket = next(r for r in data["related"] if r["kind"] == "Ticket")
    assert ticket["events"][-1]["fields"]["Message"] == "Voici un lien"
    assert "Pas elle" not in export_json(export).decode()
    page = export_html(export)
    assert "Noémie Carrel" in page and "Rappeler lundi" in page
    assert "<script>alert" not in page  # escaped
    container.wait(container.log.recorder.max_notification_id() or 0, "audit")
    actions = journal(container, workspace, JournalFilters(event_type="AdminAction.Performed"))
    assert {c.field: c.after for c in actions.items[0].changes}["cible"] == str(client_id)
