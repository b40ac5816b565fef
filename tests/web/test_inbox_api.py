"""The inbox JSON API through the real app: manual entries, « À trier », attaching."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_core.context import acting_as
from tests.support.mail import corpus
from tests.web.conftest import Tenant
from web.mail import build_ingestor


def _client(tenant: Tenant, email: str = "alice@client.example") -> str:
    with acting_as("system"):
        receipt = tenant.container.sales.register_client(
            tenant.workspace_id, nom="Alice", email=email
        )
    tenant.container.wait(receipt.position, "clients")
    return str(receipt.id)


def test_a_commercial_logs_an_email_on_the_client_page(
    tenant: Tenant, client_as: Callable[[str | None], Any]
) -> None:
    client_id = _client(tenant)
    http = client_as("commercial")
    response = http.post(
        f"/api/clients/{client_id}/emails",
        json={
            "expediteur": "alice@client.example",
            "sujet": "Relance",
            "texte": "Où en est-on ?",
            "sens": "entrant",
            "date": "2026-03-02T09:30:00+01:00",
        },
    )
    assert response.status_code == 201, response.text
    listed = http.get(f"/api/clients/{client_id}/emails").json()
    assert [e["sujet"] for e in listed["emails"]["items"]] == ["Relance"]
    assert listed["emails"]["items"][0]["sens"] == "entrant"
    assert listed["adresseInbox"] == ""  # this workspace has no mail domain yet
    invalid = http.post(f"/api/clients/{client_id}/emails", json={"expediteur": "x", "sujet": ""})
    assert invalid.status_code == 422  # the map of domain errors: field errors are 422


def test_bad_input_gets_a_clear_4xx_and_a_read_only_role_cannot_write(
    tenant: Tenant, client_as: Callable[[str | None], Any]
) -> None:
    # One test client per test: more hang on main's session-store pool (see the report).
    client_id = _client(tenant)
    automatisme = client_as("developpeur_automatisme")
    denied = automatisme.post(
        f"/api/clients/{client_id}/emails", json={"expediteur": "a@b.fr", "sujet": "x"}
    )
    assert denied.status_code == 403
    bad = automatisme.post(
        "/api/emails/00000000-0000-0000-0000-000000000000/rattacher",
        json={"clientId": "pas-un-uuid"},
    )
    assert 400 <= bad.status_code < 500


def test_an_unsorted_email_is_attached_from_the_a_trier_list(
    tenant: Tenant, client_as: Callable[[str | None], Any]
) -> None:
    client_id = _client(tenant)
    ingestor = build_ingestor(tenant.container)
    result = ingestor.ingest(
        tenant.workspace_id, corpus("latin1.eml", FROM="inconnu@x.example", TO="moi@agence.test")
    )
    tenant.container.wait(result.position, "inbox")
    http = client_as("commercial")
    (item,) = http.get("/api/emails/a-trier").json()["items"]
    response = http.post(f"/api/emails/{item['id']}/rattacher", json={"clientId": client_id})
    assert response.status_code == 201, response.text
    assert http.get("/api/emails/a-trier").json()["items"] == []
    detail = http.get(f"/api/emails/{item['id']}").json()
    assert detail["client_id"] == client_id
