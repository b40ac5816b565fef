"""JSON API: tickets, their status, assignee, priority and conversation."""

from __future__ import annotations

import base64
from collections.abc import Callable
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.web.api_helpers import new_client, new_ticket, problem, walk
from tests.web.conftest import Tenant
from web.container import Container

ClientAs = Callable[[str | None], TestClient[Litestar]]


@pytest.fixture
def other_tenant(web_container: Container, app: Litestar) -> Tenant:
    return Tenant(web_container, app)


def test_every_role_opens_and_reads_tickets(client_as: ClientAs) -> None:
    client_id = new_client(client_as("admin"), "Client Support")["id"]
    for role in ("admin", "commercial", "developpeur_nocode", "developpeur_automatisme"):
        api = client_as(role)
        body = new_ticket(api, client_id, f"Question de {role}", typeTicket="bug", priorite="haute")
        assert body["clientNom"] == "Client Support"
        assert (body["typeTicket"], body["priorite"], body["source"]) == ("bug", "haute", "staff")
        assert (body["statutTicket"], body["assigneeId"], body["messages"]) == ("nouveau", None, [])
        assert body["ouvertPar"] == role.replace("_", " ").title()
        assert api.get(f"/api/tickets/{body['id']}").json() == body
    assert client_as("admin").get("/api/tickets").json()["total"] == 4


def test_a_ticket_is_assigned_prioritised_and_moved_through_its_statuses(
    tenant: Tenant, client_as: ClientAs
) -> None:
    api = client_as("developpeur_automatisme")
    ticket = new_ticket(api, new_client(client_as("admin"))["id"])
    url = f"/api/tickets/{ticket['id']}"
    developer = str(tenant.users["developpeur_nocode"])

    body = api.patch(
        url, json={"statutTicket": "en_cours", "assigneeId": developer, "priorite": "urgente"}
    ).json()
    assert (body["statutTicket"], body["assigneeId"], body["priorite"]) == (
        "en_cours",
        developer,
        "urgente",
    )
    assert api.patch(url, json={"assigneeId": None}).json()["assigneeId"] is None
    # Closing comes after the other changes of the same request...
    closed = api.patch(url, json={"assigneeId": developer, "statutTicket": "ferme"}).json()
    assert (closed["statutTicket"], closed["assigneeId"]) == ("ferme", developer)
    assert closed["resoluLe"]
    # ...and a closed ticket takes no new assignee until it is reopened.
    refused = problem(api.patch(url, json={"assigneeId": None}), 422)
    assert refused["detail"] == "Ce ticket est fermé : rouvrez-le pour y répondre."
    reopened = api.patch(url, json={"statutTicket": "en_cours", "assigneeId": None}).json()
    assert (reopened["statutTicket"], reopened["assigneeId"], reopened["resoluLe"]) == (
        "en_cours",
        None,
        None,
    )
    back = problem(api.patch(url, json={"statutTicket": "nouveau"}), 422)
    assert back["detail"] == "Un ticket ne peut pas revenir à l’état « nouveau »."


def test_bad_ticket_input_is_refused_in_french(
    tenant: Tenant, client_as: ClientAs, other_tenant: Tenant
) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    empty = problem(
        api.post("/api/tickets", json={"clientId": client_id, "sujet": " ", "description": ""}),
        422,
    )
    assert empty["errors"] == {
        "sujet": "Le sujet est obligatoire.",
        "description": "La description est obligatoire.",
    }
    kind = problem(
        api.post(
            "/api/tickets",
            json={"clientId": client_id, "sujet": "x", "description": "y", "typeTicket": "panne"},
        ),
        400,
    )
    assert kind["errors"] == {
        "typeTicket": "Valeur non reconnue (valeurs possibles : question, bug, demande)."
    }
    missing = problem(api.post("/api/tickets", json={"sujet": "x", "description": "y"}), 400)
    assert missing["errors"] == {"clientId": "Ce champ est obligatoire."}
    unknown = problem(
        api.post("/api/tickets", json={"clientId": str(uuid4()), "sujet": "x", "description": "y"}),
        422,
    )
    assert unknown["errors"] == {"clientId": "Client introuvable."}
    ticket = new_ticket(api, client_id)
    url = f"/api/tickets/{ticket['id']}"
    status = problem(api.patch(url, json={"statutTicket": "termine"}), 400)
    assert set(status["errors"]) == {"statutTicket"}
    priority = problem(api.patch(url, json={"priorite": "max"}), 400)
    assert priority["errors"]["priorite"].startswith("Valeur non reconnue (valeurs possibles")
    outsider = str(other_tenant.users["admin"])
    assignee = problem(api.patch(url, json={"assigneeId": outsider}), 422)
    assert assignee["errors"] == {"assigneeId": "Cette personne n’existe pas."}
    typed = problem(api.patch(url, json={"assigneeId": 7}), 400)
    assert typed["errors"] == {"assigneeId": "Valeur attendue : un identifiant (UUID)."}
    assert api.get(url).json()["assigneeId"] is None


def test_replies_and_internal_notes_make_the_conversation(
    tenant: Tenant, client_as: ClientAs
) -> None:
    api = client_as("developpeur_nocode")
    ticket = new_ticket(api, new_client(client_as("admin"))["id"])
    url = f"/api/tickets/{ticket['id']}/reponses"
    reply = api.post(url, json={"texte": "Nous regardons."})
    assert reply.status_code == 201, reply.text
    assert (reply.json()["texte"], reply.json()["interne"]) == ("Nous regardons.", False)
    assert reply.json()["auteur"] == "Developpeur Nocode"
    note = api.post(url, json={"texte": "Vérifier les logs", "interne": True})
    assert note.json()["interne"] is True
    for i in range(3):
        api.post(url, json={"texte": f"Relance {i}"})

    messages = walk(api, url, 2)
    assert [m["texte"] for m in messages] == [
        "Nous regardons.",
        "Vérifier les logs",
        "Relance 0",
        "Relance 1",
        "Relance 2",
    ]
    detail = api.get(f"/api/tickets/{ticket['id']}").json()
    assert detail["messages"] == messages
    assert detail["nombreMessages"] == 5
    problem(api.post(url, json={"texte": "  "}), 422)
    problem(api.post(url, json={"texte": "x", "interne": "oui"}), 400)
    problem(api.get(url, params={"cursor": "%%%"}), 400)

    api.patch(f"/api/tickets/{ticket['id']}", json={"statutTicket": "ferme"})
    closed = problem(api.post(url, json={"texte": "Encore ?"}), 422)
    assert closed["detail"] == "Ce ticket est fermé : rouvrez-le pour y répondre."


def test_the_ticket_list_filters_and_pages(tenant: Tenant, client_as: ClientAs) -> None:
    api = client_as("commercial")
    first = new_client(api, "Premier")["id"]
    second = new_client(api, "Second")["id"]
    tickets = [new_ticket(api, first if i % 2 else second, f"Sujet {i}") for i in range(7)]
    developer = str(tenant.users["developpeur_automatisme"])
    api.patch(f"/api/tickets/{tickets[0]['id']}", json={"assigneeId": developer})
    api.patch(f"/api/tickets/{tickets[1]['id']}", json={"statutTicket": "resolu"})

    for size in (1, 3, 200):
        seen = walk(api, "/api/tickets", size)
        assert len(seen) == 7
        assert {t["id"] for t in seen} == {t["id"] for t in tickets}
    assert [t["id"] for t in walk(api, "/api/tickets", 2)][:2] == [
        tickets[1]["id"],
        tickets[0]["id"],
    ]  # the most recently active first
    assert len(walk(api, f"/api/tickets?clientId={first}", 2)) == 3
    assert [t["id"] for t in walk(api, f"/api/tickets?assigneeId={developer}", 2)] == [
        tickets[0]["id"]
    ]
    assert len(walk(api, "/api/tickets?nonAssigne=true", 2)) == 6
    assert len(walk(api, "/api/tickets?ouverts=true", 2)) == 6
    assert len(walk(api, "/api/tickets?statutTicket=resolu", 2)) == 1
    assert [t["sujet"] for t in walk(api, "/api/tickets?q=sujet 5", 2)] == ["Sujet 5"]
    forged = base64.urlsafe_b64encode(b'["hier", "nimporte"]').decode()
    body = problem(api.get("/api/tickets", params={"cursor": forged}), 400)
    assert body["errors"] == {"cursor": "Curseur de pagination invalide."}


def test_another_workspace_s_ticket_is_not_found(client_as: ClientAs, other_tenant: Tenant) -> None:
    theirs = other_tenant.client("admin")
    secret = new_ticket(theirs, new_client(theirs)["id"], "Fuite de données")["id"]
    api = client_as("admin")
    for response in (
        api.get(f"/api/tickets/{secret}"),
        api.patch(f"/api/tickets/{secret}", json={"statutTicket": "ferme"}),
        api.get(f"/api/tickets/{secret}/reponses"),
        api.post(f"/api/tickets/{secret}/reponses", json={"texte": "x"}),
    ):
        assert problem(response, 404)["detail"] == "Ticket introuvable."
        assert "Fuite" not in response.text
    assert api.get("/api/tickets").json()["total"] == 0
    assert theirs.get(f"/api/tickets/{secret}").json()["statutTicket"] == "nouveau"
