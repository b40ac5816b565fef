"""Audit screens: journal, CSV, history and time travel, rebuilds, RGPD (admins only)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from uuid import UUID, uuid4

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from crm_core.context import acting_as, user_actor
from crm_core.ids import SYSTEM_WORKSPACE
from tests.web.conftest import Tenant
from tests.web.screens import (
    HTMX,
    field_error,
    is_fragment,
    make_client,
    make_opportunity,
    make_ticket,
)
from web.staff import audit as audit_screens

ClientAs = Callable[..., TestClient[Litestar]]


def settle_all(tenant: Tenant) -> None:
    last = tenant.container.log.recorder.max_notification_id() or 0
    tenant.container.wait(last, "accounts", "clients", "pipeline", "tickets", "timeline", "audit")


def admin_actions(tenant: Tenant, kind: str, workspace_id: UUID | None = None) -> list[str]:
    """The `cible` of the AdminAction events of `kind` recorded by the tenant's admin."""
    settle_all(tenant)
    page = tenant.container.audit_view.journal(
        [workspace_id or tenant.workspace_id],
        audit_screens.JournalFilters(
            event_type="AdminAction", actor=user_actor(tenant.users["admin"])
        ),
        limit=500,
    )
    found = []
    for row in page.items:
        action = tenant.container.audit.repository.get(row.record_id)
        if action.kind == kind:
            found.append(action.cible)
    return found


def rename_client(tenant: Tenant, client_id: UUID, nom: str, email: str = "") -> None:
    with acting_as(user_actor(tenant.users["admin"])):
        tenant.container.sales.update_client(
            tenant.workspace_id, client_id, nom=nom, type_client="entreprise", email=email
        )
    settle_all(tenant)


# --- roles ------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["commercial", "developpeur_nocode", "developpeur_automatisme"])
def test_only_administrators_reach_the_audit_screens(
    tenant: Tenant, client_as: ClientAs, role: str
) -> None:
    client_id = make_client(tenant)
    browser = client_as(role)
    for path in (
        "/audit",
        "/audit/export.csv",
        f"/audit/historique/{client_id}",
        "/audit/projections",
        "/audit/projections/clients/progression",
        f"/audit/clients/{client_id}/export.json",
        f"/audit/clients/{client_id}/export.html",
        f"/audit/clients/{client_id}/effacer",
    ):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "Votre rôle ne permet pas cette action." in response.text
    for path in ("/audit/projections/clients/reconstruire", "/audit/projections/clients/verifier"):
        assert browser.post(path).status_code == 403
    refused = browser.post(
        f"/audit/clients/{client_id}/effacer", data={"confirmation": "Boulangerie Martin"}
    )
    assert refused.status_code == 403
    assert tenant.container.clients.get(tenant.workspace_id, client_id) is not None
    page = browser.get(f"/clients/{client_id}")
    assert "Audit et RGPD" not in page.text and "/audit/historique" not in page.text


def test_anonymous_visitors_go_to_the_login(client_as: ClientAs) -> None:
    response = client_as(None).get("/audit", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/connexion")


# --- the journal --------------------------------------------------------------------
def test_the_journal_shows_who_changed_what_with_french_labels(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, email="contact@martin.fr")
    rename_client(tenant, client_id, "Boulangerie Martin & Fils", "contact@martin.fr")
    browser = client_as("admin")
    page = browser.get("/audit", params={"client": str(client_id)})
    assert page.status_code == 200
    assert "Journal d’audit" in page.text
    assert "Client modifié" in page.text and "Client créé" in page.text
    assert "Admin" in page.text  # the user's name, not "user:<id>"
    assert "user:" not in re.sub(r'href="[^"]*"', "", page.text.split('id="results"')[1])
    assert "<dt>Nom</dt>" in page.text
    assert "Boulangerie Martin &amp; Fils" in page.text
    # newest first
    results = page.text.split('id="results"')[1]
    assert results.index("Client modifié") < results.index("Client créé")
    # the correlation link filters the events of that one action
    correlation = re.search(r'href="/audit\?correlation=([0-9a-f-]{36})"', page.text)
    assert correlation
    linked = browser.get(f"/audit?correlation={correlation.group(1)}")
    assert linked.status_code == 200
    assert "Événements d’une même action" in linked.text
    assert linked.text.count('class="audit-entry"') == 1


def test_the_journal_filters_by_type_actor_record_and_date(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant)
    opportunity_id = make_opportunity(tenant, client_id)
    with acting_as("system"):
        tenant.container.sales.update_client(
            tenant.workspace_id, client_id, nom="Martin SAS", type_client="entreprise"
        )
    settle_all(tenant)
    browser = client_as("admin")

    def entries(**params: str) -> str:
        response = browser.get("/audit", params={"client": str(client_id), **params})
        assert response.status_code == 200, response.text
        return response.text.split('id="results"')[1]

    by_type = entries(type="Opportunity")
    assert "Opportunité ouverte" in by_type and "Client créé" not in by_type
    assert "Client modifié" in entries(type="Client.Updated")
    assert "Client créé" not in entries(type="Client.Updated")
    by_system = entries(acteur="system")
    assert "Client modifié" in by_system and "Client créé" not in by_system
    admin = entries(acteur=f"user:{tenant.users['admin']}")
    assert "Client créé" in admin and "Client modifié" not in admin
    record = entries(enregistrement=str(opportunity_id))
    assert record.count('class="audit-entry"') == 1
    assert 'class="audit-entry"' in entries(du="2000-01-01", au="2999-12-31")
    assert "Aucun événement pour ces filtres" in entries(au="2000-01-01")
    fragment = browser.get("/audit", params={"client": str(client_id)}, headers=HTMX)
    assert fragment.status_code == 200 and is_fragment(fragment.text)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"client": "pas-un-id"}, "client", "Client invalide."),
        ({"enregistrement": "42"}, "enregistrement", "Identifiant d’enregistrement invalide."),
        ({"du": "31/12/2026"}, "du", "Date invalide"),
        ({"du": "2026-05-02", "au": "2026-05-01"}, "au", "La date de fin doit suivre"),
        ({"acteur": "n'importe qui"}, "acteur", "Acteur inconnu."),
        ({"type": "Client;DROP"}, "type", "Type d’événement inconnu."),
        ({"correlation": "x"}, "correlation", "Identifiant de corrélation invalide."),
    ],
)
def test_bad_filters_are_refused_in_french(
    client_as: ClientAs, params: dict[str, str], field: str, message: str
) -> None:
    browser = client_as("admin")
    response = browser.get("/audit", params=params)
    assert response.status_code == 422
    assert message in response.text
    csv_response = browser.get("/audit/export.csv", params=params)
    assert csv_response.status_code == 422
    assert message in csv_response.text


def test_a_bad_cursor_is_a_400(client_as: ClientAs) -> None:
    response = client_as("admin").get("/audit", params={"curseur": "n'importe quoi"})
    assert response.status_code == 400


def test_the_csv_export_lists_the_changes_and_is_recorded(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant)
    rename_client(tenant, client_id, "Martin Boulangerie")
    response = client_as("admin").get("/audit/export.csv", params={"client": str(client_id)})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["position", "date", "acteur", "type"]
    names = [row for row in rows[1:] if row[9] == "Nom"]
    assert ["Boulangerie Martin", "Martin Boulangerie"] in [row[10:12] for row in names]
    assert {row[4] for row in rows[1:]} >= {"Client créé", "Client modifié"}
    assert {row[2] for row in rows[1:]} == {"Admin"}  # the user's name, not "user:<id>"
    assert "journal" in admin_actions(tenant, "export_journal")


# --- history and time travel -----------------------------------------------------------
def test_history_and_time_travel_show_the_record_as_it_was(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant)
    rename_client(tenant, client_id, "Martin & Cie")
    browser = client_as("admin")
    history = browser.get(f"/audit/historique/{client_id}")
    assert history.status_code == 200
    assert "Historique — Client" in history.text
    assert "Client créé" in history.text and "Client modifié" in history.text
    assert "Voir à une date" in history.text

    at_v1 = browser.get(f"/audit/historique/{client_id}", params={"version": "1"})
    assert at_v1.status_code == 200
    snapshot = at_v1.text.split('id="snapshot"')[1].split("</dl>")[0]
    assert "État à la version 1" in snapshot
    assert "<dt>Nom</dt><dd>Boulangerie Martin</dd>" in snapshot
    expected = tenant.container.audit.snapshot(tenant.workspace_id, client_id, version=1)
    assert expected.fields["nom"] == "Boulangerie Martin"

    at_v2 = browser.get(f"/audit/historique/{client_id}", params={"version": "2"})
    assert "<dt>Nom</dt><dd>Martin &amp; Cie</dd>" in at_v2.text.split('id="snapshot"')[1]

    # by date: now is the latest version; long ago the record did not exist yet
    now = browser.get(f"/audit/historique/{client_id}", params={"date": "2999-01-01T00:00"})
    assert "État à la version 2" in now.text
    before = browser.get(f"/audit/historique/{client_id}", params={"date": "2000-01-01T00:00"})
    assert before.status_code == 422
    assert "n’existait pas encore à cette date" in before.text

    bad = browser.get(f"/audit/historique/{client_id}", params={"version": "9"})
    assert bad.status_code == 422
    assert "La version doit être comprise entre 1 et 2." in bad.text
    assert browser.get(f"/audit/historique/{client_id}", params={"version": "x"}).status_code == 422
    assert browser.get(f"/audit/historique/{client_id}", params={"date": "hier"}).status_code == 422


def test_history_of_another_workspace_is_not_found(
    tenant: Tenant, client_as: ClientAs, web_container: object, app: Litestar
) -> None:
    other = Tenant(tenant.container, app)
    foreign = make_client(other)
    browser = client_as("admin")
    assert browser.get(f"/audit/historique/{foreign}").status_code == 404
    assert browser.get(f"/audit/historique/{uuid4()}").status_code == 404
    assert browser.get(f"/audit/clients/{foreign}/export.json").status_code == 404


def test_record_pages_link_to_their_history(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant)
    opportunity_id = make_opportunity(tenant, client_id)
    ticket_id = make_ticket(tenant, client_id)
    browser = client_as("admin")
    assert f"/audit/historique/{client_id}" in browser.get(f"/clients/{client_id}").text
    assert (
        f"/audit/historique/{opportunity_id}" in browser.get(f"/opportunites/{opportunity_id}").text
    )
    assert f"/audit/historique/{ticket_id}" in browser.get(f"/tickets/{ticket_id}").text
    for record_id, label in ((opportunity_id, "Opportunité ouverte"), (ticket_id, "Ticket ouvert")):
        history = browser.get(f"/audit/historique/{record_id}")
        assert history.status_code == 200 and label in history.text


def test_settings_link_to_the_audit_screens(client_as: ClientAs) -> None:
    page = client_as("admin").get("/parametres")
    assert 'href="/audit"' in page.text and 'href="/audit/projections"' in page.text


# --- read models -------------------------------------------------------------------------
def _wait_job(name: str) -> audit_screens.Job:
    job = audit_screens.job_of(name)
    assert job is not None
    assert job.thread is not None
    job.thread.join(timeout=120)
    assert not job.running
    return job


def test_rebuild_and_verify_from_the_screen_with_progress(
    tenant: Tenant, client_as: ClientAs
) -> None:
    make_client(tenant)
    browser = client_as("admin")
    listing = browser.get("/audit/projections")
    assert listing.status_code == 200
    assert "Reconstruire" in listing.text and "Vérifier" in listing.text
    assert browser.get("/audit/projections/inconnue/progression").status_code == 404
    assert browser.post("/audit/projections/inconnue/reconstruire").status_code == 404

    started = browser.post("/audit/projections/accounts/reconstruire", headers=HTMX)
    assert started.status_code == 200
    assert is_fragment(started.text) and 'id="projection-accounts"' in started.text
    toast = json.loads(started.headers["hx-trigger"])["toast"]["text"]
    assert toast == "Reconstruction de « Comptes et espaces » lancée."
    job = _wait_job("accounts")
    assert job.error == "" and job.position is not None
    progress = browser.get("/audit/projections/accounts/progression", headers=HTMX)
    assert progress.status_code == 200
    assert "<progress" in progress.text and "Terminée" in progress.text
    assert re.search(r"(\d+) / \1 événements \(100 %\)", progress.text)
    assert "évt/s" in progress.text
    assert 'hx-trigger="every 1s"' not in progress.text  # done: polling stops
    assert "Reconstruit jusqu’à la position" in progress.text
    # the app kept serving and the rebuilt model answers
    assert browser.get("/parametres/utilisateurs").status_code == 200

    verified = browser.post("/audit/projections/accounts/verifier", follow_redirects=False)
    assert verified.status_code == 303  # without JavaScript: back to the list
    _wait_job("accounts")
    shown = browser.get("/audit/projections")
    assert "Identique à un rejeu complet." in shown.text
    # both recorded, by this administrator, in the installation's workspace
    assert admin_actions(tenant, "reconstruction_projection", SYSTEM_WORKSPACE) == ["accounts"]
    assert admin_actions(tenant, "verification_projection", SYSTEM_WORKSPACE) == ["accounts"]


def test_a_running_job_is_polled_and_not_started_twice(
    tenant: Tenant, client_as: ClientAs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    release = threading.Event()

    def slow(container: object, name: str) -> int:
        release.wait(10)
        return 7

    monkeypatch.setattr(audit_screens, "rebuild_projection", slow)
    browser = client_as("admin")
    try:
        first = browser.post("/audit/projections/notifications/reconstruire", headers=HTMX)
        assert first.status_code == 200
        assert 'hx-trigger="every 1s"' in first.text
        polled = browser.get("/audit/projections/notifications/progression", headers=HTMX)
        assert 'hx-trigger="every 1s"' in polled.text
        again = browser.post("/audit/projections/notifications/reconstruire", headers=HTMX)
        assert again.status_code == 422
        assert "en cours" in again.json()["detail"]
    finally:
        release.set()
    assert _wait_job("notifications").position == 7


# --- RGPD --------------------------------------------------------------------------------
def test_rgpd_exports_json_and_html_and_records_them(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, email="contact@martin.fr")
    make_ticket(tenant, client_id)
    browser = client_as("admin")
    page = browser.get(f"/clients/{client_id}")
    assert "Audit et RGPD" in page.text
    assert f"/audit/clients/{client_id}/export.json" in page.text
    exported = browser.get(f"/audit/clients/{client_id}/export.json")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/json")
    data = json.loads(exported.content)
    assert data["client_id"] == str(client_id)
    assert "contact@martin.fr" in exported.text
    assert len(data["related"]) == 1
    readable = browser.get(f"/audit/clients/{client_id}/export.html")
    assert readable.status_code == 200
    assert readable.headers["content-type"].startswith("text/html")
    assert "Boulangerie Martin" in readable.text
    assert admin_actions(tenant, "export_rgpd").count(str(client_id)) == 2


def test_erasure_needs_the_clients_name(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, email="contact@martin.fr")
    browser = client_as("admin")
    confirm = browser.get(f"/audit/clients/{client_id}/effacer")
    assert confirm.status_code == 200
    assert "tapez le nom du client" in confirm.text
    refused = browser.post(
        f"/audit/clients/{client_id}/effacer", data={"confirmation": "Boulangerie"}
    )
    assert refused.status_code == 422
    assert field_error(refused.text, "rgpd-confirmation").startswith("Le nom saisi ne correspond")
    settle_all(tenant)
    assert tenant.container.clients.get(tenant.workspace_id, client_id) is not None
    assert admin_actions(tenant, "effacement_rgpd") == []
    assert "contact@martin.fr" in browser.get(f"/audit/clients/{client_id}/export.json").text


def test_erasure_removes_the_client_and_the_journal_keeps_the_trace(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, email="contact@martin.fr")
    browser = client_as("admin")
    erased = browser.post(
        f"/audit/clients/{client_id}/effacer",
        data={"confirmation": " Boulangerie Martin "},
        follow_redirects=False,
    )
    assert erased.status_code == 303 and erased.headers["location"] == "/clients"
    listing = browser.get("/clients")
    assert "Données personnelles du client effacées" in listing.text
    assert "Boulangerie Martin" not in listing.text
    assert browser.get(f"/clients/{client_id}").status_code == 404
    assert admin_actions(tenant, "effacement_rgpd") == [str(client_id)]
    history = browser.get(f"/audit/historique/{client_id}")
    assert history.status_code == 200
    assert "Données personnelles effacées (RGPD)" in history.text
    assert "contact@martin.fr" not in history.text
    journal = browser.get("/audit", params={"client": str(client_id)})
    assert "Données personnelles effacées (RGPD)" in journal.text
    assert "contact@martin.fr" not in journal.text
    # the erasure and its AdminAction are one action: one correlation id
    correlation = re.search(r'href="/audit\?correlation=([0-9a-f-]{36})"', journal.text)
    assert correlation
    together = browser.get("/audit", params={"correlation": correlation.group(1)})
    assert "Action d’administration" in together.text
    assert "<ins>Effacement RGPD</ins>" in together.text
    assert "Données personnelles effacées (RGPD)" in together.text


def test_a_rebuild_whose_process_died_is_shown_interrupted_not_polled(
    tenant: Tenant, client_as: ClientAs
) -> None:
    with psycopg.connect(tenant.container.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM crm_rebuilds WHERE name = 'portal'")
        conn.execute(
            "INSERT INTO crm_rebuilds (name, state, done, total, started_at, updated_at, message)"
            " VALUES ('portal', 'reconstruction', 10, 40, now() - interval '2 hours',"
            " now() - interval '1 hour', '')"
        )
        try:
            shown = client_as("admin").get("/audit/projections/portal/progression", headers=HTMX)
        finally:
            conn.execute("DELETE FROM crm_rebuilds WHERE name = 'portal'")
    assert shown.status_code == 200
    assert "Interrompue" in shown.text
    assert "10 / 40 événements (25 %)" in shown.text
    assert 'hx-trigger="every 1s"' not in shown.text
    assert "Reconstruire" in shown.text
