"""Small helpers for the JSON API tests: create through the API, walk pages, read problems."""

from __future__ import annotations

from typing import Any

from httpx import URL, Response
from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


def created(response: Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def new_client(client: Client, nom: str = "Atelier Dupont", **fields: Any) -> dict[str, Any]:
    return created(client.post("/api/clients", json={"nom": nom, **fields}))


def new_opportunity(
    client: Client, client_id: str, titre: str = "Refonte du site", **fields: Any
) -> dict[str, Any]:
    body = {"clientId": client_id, "titre": titre, **fields}
    return created(client.post("/api/opportunites", json=body))


def new_ticket(
    client: Client, client_id: str, sujet: str = "Le formulaire plante", **fields: Any
) -> dict[str, Any]:
    body = {"clientId": client_id, "sujet": sujet, "description": "Erreur 500 au clic", **fields}
    return created(client.post("/api/tickets", json=body))


def walk(client: Client, url: str, limite: int) -> list[dict[str, Any]]:
    """Every item of a list, page by page through `curseurSuivant`."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limite": limite}
        if cursor:
            params["cursor"] = cursor
        # httpx would replace the URL's own query with `params`: merge them instead.
        response = client.get(str(URL(url).copy_merge_params(params)))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limite
        items.extend(page["items"])
        cursor = page["curseurSuivant"]
        if cursor is None:
            return items
    raise AssertionError("never-ending pages")


def problem(response: Response, status: int) -> dict[str, Any]:
    """The problem JSON of a refusal, checked for its status and a French detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body
