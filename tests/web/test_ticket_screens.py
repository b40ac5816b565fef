"""The ticket screens: list and filters, form, conversation, assignment and status."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.web.conftest import Tenant
from tests.web.screens import HTMX, field_error, is_fragment, make_client, make_ticket

ClientAs = Callable[..., TestClient[Litestar]]


@pytest.mark.parametrize(
    "role", ["admin", "commercial", "developpeur_nocode", "developpeur_automatisme"]
)
def test_every_role_handles_tickets(tenant: Tenant, client_as: ClientAs, role: str) -> None:
    client_id = make_client(tenant, "Pharmacie Centrale")
    ticket_id = make_ticket(tenant, client_id, "Le paiement échoue")
    browser = client_as(role)
    listing = browser.get("/tickets")
    assert listing.status_code == 200
    assert "Le paiement échoue" in listing.text
    page = browser.get(f"/tickets/{ticket_id}")
    assert page.status_code == 200
    assert "Répondre au client" in page.text
    assert "Note interne" in page.text
    reply = browser.post(f"/tickets/{ticket_id}/reponse", data={"texte": f"Réponse de {role}"})
    assert reply.status_code == 200
    assert "Réponse envoyée au client." in reply.text


def test_the_list_filters_by_status_client_assignee_and_open(
    tenant: Tenant, client_as: ClientAs
) -> None:
    first = make_client(tenant, "Garage Moreau")
    second = make_client(tenant, "Studio Lumière")
    make_ticket(tenant, first, "Formulaire cassé")
    solved = make_ticket(tenant, second, "Question facture")
    container = tenant.container
    container.support.assign(tenant.workspace_id, solved, tenant.users["commercial"])
    receipt = container.support.change_status(tenant.workspace_id, solved, "resolu")
    container.wait(receipt.position, "tickets")
    browser = client_as("admin")
    by_client = browser.get("/tickets", params={"client": str(first)})
    assert "Formulaire cassé" in by_client.text
    assert "Question facture" not in by_client.text
    open_only = browser.get("/tickets", params={"ouverts": "1"}, headers=HTMX)
    assert is_fragment(open_only.text)
    assert "Formulaire cassé" in open_only.text
    assert "Question facture" not in open_only.text
    by_status = browser.get("/tickets", params={"statut": "resolu"})
    assert "Question facture" in by_status.text.split('id="results"')[1]
    assert "Formulaire cassé" not in by_status.text.split('id="results"')[1]
    assigned = browser.get("/tickets", params={"assigne": str(tenant.users["commercial"])})
    assert "Question facture" in assigned.text.split('id="results"')[1]
    unassigned = browser.get("/tickets", params={"assigne": "aucun"})
    assert "Formulaire cassé" in unassigned.text.split('id="results"')[1]
    assert "Question facture" not in unassigned.text.split('id="results"')[1]


def test_a_ticket_is_created_from_the_client_page_link(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, "Cave Saint-Vincent")
    browser = client_as("developpeur_nocode")
    client_page = browser.get(f"/clients/{client_id}")
    assert f"/tickets/nouveau?client={client_id}" in client_page.text
    form = browser.get("/tickets/nouveau", params={"client": str(client_id)})
    assert f'<option value="{client_id}" selected>' in form.text
    invalid = browser.post(
        "/tickets/nouveau", data={"client_id": str(client_id), "sujet": "", "description": ""}
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "sujet") == "Le sujet est obligatoire."
    assert field_error(invalid.text, "description") == "La description est obligatoire."
    no_client = browser.post("/tickets/nouveau", data={"sujet": "x", "description": "y"})
    assert field_error(no_client.text, "client_id") == "Choisissez un client."
    created = browser.post(
        "/tickets/nouveau",
        data={
            "client_id": str(client_id),
            "sujet": "Export CSV",
            "description": "Besoin d’un export.",
            "typeTicket": "demande",
            "priorite": "haute",
        },
    )
    assert created.status_code == 200
    assert "Ticket créé." in created.text
    assert "Export CSV" in created.text
    assert "Export CSV" in browser.get(f"/clients/{client_id}").text


def test_public_replies_and_internal_notes_are_told_apart(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Hôtel Les Tilleuls")
    ticket_id = make_ticket(tenant, client_id)
    browser = client_as("developpeur_automatisme")
    note = browser.post(
        f"/tickets/{ticket_id}/note", data={"texte": "Vérifier le cache."}, headers=HTMX
    )
    assert note.status_code == 200
    assert is_fragment(note.text)
    assert json.loads(note.headers["hx-trigger"])["toast"]["text"] == "Note interne ajoutée."
    reply = browser.post(
        f"/tickets/{ticket_id}/reponse", data={"texte": "Nous regardons."}, headers=HTMX
    )
    assert reply.status_code == 200
    internal = reply.text.split('class="message message-internal"')[1].split("</li>")[0]
    assert "Note interne — invisible pour le client" in internal
    assert "Vérifier le cache." in internal
    public = reply.text.split('class="message message-public"')[1].split("</li>")[0]
    assert "Réponse publique" in public
    assert "Nous regardons." in public
    empty = browser.post(f"/tickets/{ticket_id}/reponse", data={"texte": " "}, headers=HTMX)
    assert empty.status_code == 422
    assert field_error(empty.text, "reply-texte") == "Le message est obligatoire."
    messages = tenant.container.tickets.messages(ticket_id, include_internal=True)
    assert [m.interne for m in messages] == [True, False]


def test_assignment_and_status_changes(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, "Garage Moreau")
    ticket_id = make_ticket(tenant, client_id)
    browser = client_as("commercial")
    assigned = browser.post(
        f"/tickets/{ticket_id}/assigner",
        data={"assigneeId": str(tenant.users["developpeur_nocode"])},
    )
    assert "Ticket assigné à Developpeur Nocode." in assigned.text
    closed = browser.post(f"/tickets/{ticket_id}/statut", data={"statutTicket": "ferme"})
    assert "Statut : Fermé." in closed.text
    assert "Ce ticket est fermé" in closed.text
    refused = browser.post(
        f"/tickets/{ticket_id}/reponse", data={"texte": "Encore ?"}, headers=HTMX
    )
    assert refused.status_code == 422
    assert "rouvrez-le" in refused.text
    back = browser.post(f"/tickets/{ticket_id}/statut", data={"statutTicket": "nouveau"})
    assert "ne peut pas revenir" in back.text
    row = tenant.container.tickets.get(tenant.workspace_id, ticket_id)
    assert row.statut == "ferme"
    assert row.assignee_id == tenant.users["developpeur_nocode"]
