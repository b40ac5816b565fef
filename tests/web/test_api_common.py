"""JSON API as a whole: sessions, CSRF, the OpenAPI schema, users, and no 500 on bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.web.api_helpers import new_client, new_opportunity, new_ticket, problem, walk
from tests.web.conftest import Tenant
from web.container import Container

ClientAs = Callable[[str | None], TestClient[Litestar]]
ANY = "00000000-0000-4000-8000-000000000000"

READS = [
    "/api/clients",
    f"/api/clients/{ANY}",
    f"/api/clients/{ANY}/contacts",
    f"/api/clients/{ANY}/activites",
    f"/api/clients/{ANY}/timeline",
    "/api/opportunites",
    f"/api/opportunites/{ANY}",
    "/api/pipeline",
    "/api/tickets",
    f"/api/tickets/{ANY}",
    f"/api/tickets/{ANY}/reponses",
    "/api/utilisateurs",
]
WRITES = [
    ("POST", "/api/clients"),
    ("PATCH", f"/api/clients/{ANY}"),
    ("PUT", f"/api/clients/{ANY}"),
    ("POST", f"/api/clients/{ANY}/archive"),
    ("POST", f"/api/clients/{ANY}/restauration"),
    ("POST", f"/api/clients/{ANY}/contacts"),
    ("PUT", f"/api/clients/{ANY}/contacts/{ANY}"),
    ("DELETE", f"/api/clients/{ANY}/contacts/{ANY}"),
    ("POST", f"/api/clients/{ANY}/activites"),
    ("POST", "/api/opportunites"),
    ("PATCH", f"/api/opportunites/{ANY}"),
    ("POST", "/api/tickets"),
    ("PATCH", f"/api/tickets/{ANY}"),
    ("POST", f"/api/tickets/{ANY}/reponses"),
]


@pytest.mark.parametrize("url", READS)
def test_every_read_needs_a_session(client_as: ClientAs, url: str) -> None:
    body = problem(client_as(None).get(url), 401)
    assert body["detail"] == "Connectez-vous pour continuer."


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_every_write_needs_a_session(tenant: Tenant, method: str, url: str) -> None:
    client = tenant.client(None)
    client.get("/api/ping")  # a CSRF cookie, so only the missing session refuses
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken", "")
    body = problem(client.request(method, url, json={}), 401)
    assert body["detail"] == "Connectez-vous pour continuer."
    client.__exit__(None, None, None)


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_every_write_without_the_csrf_header_is_refused(
    client_as: ClientAs, method: str, url: str
) -> None:
    client = client_as("admin")
    del client.headers["x-csrftoken"]
    body = problem(client.request(method, url, json={"nom": "x"}), 403)
    assert "Jeton de sécurité" in body["detail"]


def test_a_write_with_a_forged_csrf_header_is_refused(client_as: ClientAs) -> None:
    client = client_as("admin")
    client.headers["x-csrftoken"] = "forge"
    problem(client.post("/api/clients", json={"nom": "x"}), 403)
    assert client.get("/api/clients").json()["total"] == 0


def test_ping_answers_without_a_session(client_as: ClientAs) -> None:
    response = client_as(None).get("/api/ping")
    assert response.status_code == 200
    assert response.json() == {"pong": True}


def test_the_openapi_schema_describes_every_route_in_french(client_as: ClientAs) -> None:
    schema = client_as(None).get("/schema/openapi.json").json()
    paths = schema["paths"]
    expected = {
        "/api/clients": {"get", "post"},
        "/api/clients/{client_id}": {"get", "patch", "put"},
        "/api/clients/{client_id}/archive": {"post"},
        "/api/clients/{client_id}/restauration": {"post"},
        "/api/clients/{client_id}/contacts": {"get", "post"},
        "/api/clients/{client_id}/contacts/{contact_id}": {"put", "delete"},
        "/api/clients/{client_id}/activites": {"get", "post"},
        "/api/clients/{client_id}/timeline": {"get"},
        "/api/opportunites": {"get", "post"},
        "/api/opportunites/{opportunity_id}": {"get", "patch"},
        "/api/pipeline": {"get"},
        "/api/tickets": {"get", "post"},
        "/api/tickets/{ticket_id}": {"get", "patch"},
        "/api/tickets/{ticket_id}/reponses": {"get", "post"},
        "/api/utilisateurs": {"get"},
        "/api/ping": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert set(paths[path]) >= methods, path
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"], (path, method)
            assert operation["tags"], (path, method)
    clients = paths["/api/clients"]["get"]
    assert clients["summary"] == "Liste des clients (recherche, filtres, pages)"
    assert {p["name"] for p in clients["parameters"]} >= {"q", "tag", "ownerId", "cursor", "limite"}
    assert "403" in paths["/api/opportunites"]["post"]["responses"]
    fields = schema["components"]["schemas"]["Opportunite"]["properties"]
    assert {"montantEstime", "etapePipeline", "statutPaiement", "urlPaiement"} <= set(fields)


def test_the_team_is_listed_for_pickers_page_by_page(
    tenant: Tenant, client_as: ClientAs, web_container: Container, app: Litestar
) -> None:
    Tenant(web_container, app)  # another workspace's people never show
    api = client_as("developpeur_automatisme")
    users = walk(api, "/api/utilisateurs", 3)
    assert [u["nom"] for u in users] == [
        "Admin",
        "Commercial",
        "Developpeur Automatisme",
        "Developpeur Nocode",
    ]
    assert users[0] == {
        "id": str(tenant.users["admin"]),
        "nom": "Admin",
        "email": tenant.email("admin"),
        "role": "admin",
        "roleLibelle": "Administrateur",
        "actif": True,
        "creeLe": users[0]["creeLe"],
    }
    receipt = web_container.accounts.disable_user(
        tenant.workspace_id, tenant.users["commercial"], acting_user_id=tenant.users["admin"]
    )
    web_container.wait(receipt.position, "accounts")
    assert api.get("/api/utilisateurs").json()["total"] == 3
    everyone = api.get("/api/utilisateurs", params={"inclureDesactives": "true"}).json()
    assert [u["actif"] for u in everyone["items"]] == [True, False, True, True]


BAD_VALUES: list[Any] = [
    None,
    -1,
    1e308,
    "",
    "\x00",
    "x" * 20_000,
    [],
    {},
    True,
    "2025-13-45",
    "\ud800",
    str(uuid4()),
]


def test_no_bad_input_gives_a_500(client_as: ClientAs) -> None:
    """Each field of each body, and each query parameter, replaced by hostile values."""
    api = client_as("admin")
    client_id = new_client(api, "Cible")["id"]
    contact_id = api.post(f"/api/clients/{client_id}/contacts", json={"nom": "C"}).json()["id"]
    opportunity_id = new_opportunity(api, client_id, montantEstime="10")["id"]
    ticket_id = new_ticket(api, client_id)["id"]
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        (
            "POST",
            "/api/clients",
            {
                "nom": "A",
                "type": "entreprise",
                "email": "a@b.fr",
                "telephone": "0102030405",
                "adresse": {"rue": "r"},
                "tags": ["t"],
                "ownerId": None,
                "notes": "n",
            },
        ),
        (
            "PATCH",
            f"/api/clients/{client_id}",
            {"nom": "A", "adresse": {"ville": "v"}, "tags": ["t"], "notes": "n"},
        ),
        (
            "POST",
            f"/api/clients/{client_id}/contacts",
            {"nom": "A", "email": "a@b.fr", "telephone": "", "fonction": ""},
        ),
        ("PUT", f"/api/clients/{client_id}/contacts/{contact_id}", {"nom": "A"}),
        (
            "POST",
            f"/api/clients/{client_id}/activites",
            {
                "type": "note",
                "sujet": "s",
                "contenu": "c",
                "dureeMinutes": 5,
                "dateActivite": "2025-01-01T10:00:00Z",
            },
        ),
        (
            "POST",
            "/api/opportunites",
            {
                "clientId": client_id,
                "titre": "t",
                "montantEstime": "1",
                "devise": "EUR",
                "dateCloturePrevue": "2025-01-01",
                "probabilite": 5,
                "etapePipeline": "prospect",
            },
        ),
        (
            "PATCH",
            f"/api/opportunites/{opportunity_id}",
            {
                "titre": "t",
                "montantEstime": "2",
                "probabilite": 5,
                "ownerId": None,
                "etapePipeline": "qualification",
                "raisonPerte": "",
            },
        ),
        (
            "POST",
            "/api/tickets",
            {
                "clientId": client_id,
                "sujet": "s",
                "description": "d",
                "typeTicket": "bug",
                "priorite": "basse",
                "source": "email",
            },
        ),
        (
            "PATCH",
            f"/api/tickets/{ticket_id}",
            {"statutTicket": "en_cours", "assigneeId": None, "priorite": "haute"},
        ),
        ("POST", f"/api/tickets/{ticket_id}/reponses", {"texte": "t", "interne": False}),
    ]
    statuses: set[int] = set()
    for method, url, valid in bodies:
        for field in valid:
            for value in BAD_VALUES:
                if isinstance(value, str) and "\ud800" in value:
                    content = b'{"' + field.encode() + b'": "\\ud800"}'
                    response = api.request(
                        method, url, content=content, headers={"content-type": "application/json"}
                    )
                else:
                    response = api.request(method, url, json={**valid, field: value})
                assert response.status_code < 500, (method, url, field, value, response.text)
                statuses.add(response.status_code)
    queries = {
        "/api/clients": ["q", "tag", "ownerId", "archive", "cursor", "limite"],
        "/api/opportunites": [
            "etapePipeline",
            "clientId",
            "ownerId",
            "q",
            "tri",
            "ordre",
            "cursor",
        ],
        "/api/tickets": [
            "statutTicket",
            "clientId",
            "assigneeId",
            "nonAssigne",
            "ouverts",
            "q",
            "cursor",
        ],
        f"/api/clients/{client_id}/timeline": ["types", "cursor", "limite"],
        "/api/pipeline": ["ownerId", "parEtape"],
        "/api/utilisateurs": ["inclureDesactives", "cursor"],
    }
    for url, names in queries.items():
        for name in names:
            for value in (
                "",
                "%00",
                "x" * 2000,
                "-1",
                "'; DROP TABLE rm_clients; --",
                "WyIiLCIiXQ==",
            ):
                response = api.get(f"{url}?{name}={value}")
                assert response.status_code < 500, (url, name, value, response.text)
    assert statuses <= {200, 201, 400, 404, 409, 422}
