"""The audit journal in a real browser: a change, found by its client, its author and labels."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from crm_core.context import acting_as, user_actor
from tests.e2e.conftest import Server, Session

pytestmark = pytest.mark.e2e
Login = Callable[[str], Session]


def settle_audit(server: Server) -> None:
    last = server.container.log.recorder.max_notification_id() or 0
    server.container.wait(last, "accounts", "clients", "timeline", "audit")


def test_an_admin_finds_a_change_in_the_journal_and_follows_its_action(
    login: Login, server: Server
) -> None:
    with acting_as(user_actor(server.users["commercial"])):
        server.container.sales.register_client(server.workspace_id, nom="Autre client")
        client_id = server.container.sales.register_client(
            server.workspace_id, nom="Fromagerie Dubois", email="bonjour@dubois.fr"
        ).id
    settle_audit(server)
    admin = login("admin")
    page = admin.page

    # The administrator changes the client through its form.
    admin.goto(f"/clients/{client_id}/modifier")
    page.locator("#nom").fill("Fromagerie Dubois & Fils")
    page.locator("#telephone").fill("04 72 00 00 00")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(rf"/clients/{client_id}$"))
    expect(page.locator("#audit-rgpd")).to_contain_text("Historique")
    settle_audit(server)

    # The journal, reached from the settings, filtered by the client (htmx, URL kept).
    admin.goto("/parametres")
    page.get_by_role("link", name="Journal d’audit").click()
    page.wait_for_url(re.compile(r"/audit$"))
    expect(page.get_by_role("heading", name="Journal d’audit")).to_be_visible()
    page.locator("#f-client").select_option(str(client_id))
    page.wait_for_url(re.compile(rf"/audit\?client={client_id}"))
    results = page.locator("#results")
    entries = results.locator(".audit-entry")
    expect(entries).to_have_count(2)
    expect(results).not_to_contain_text("Autre client")
    change = entries.first
    expect(change.locator(".audit-label")).to_have_text("Client modifié")
    expect(change.locator(".audit-actor")).to_have_text("Admin")
    expect(change.locator("dt", has_text="Nom")).to_be_visible()
    expect(change.locator("dt", has_text="Téléphone")).to_be_visible()
    expect(change).to_contain_text("Fromagerie Dubois & Fils")
    expect(change).to_contain_text("04 72 00 00 00")
    expect(entries.nth(1).locator(".audit-label")).to_have_text("Client créé")
    expect(entries.nth(1).locator(".audit-actor")).to_have_text("Commercial")
    admin.shoot("audit-journal")

    # The correlation link shows the events of that one action only.
    change.locator(".audit-correlation").click()
    page.wait_for_url(re.compile(r"/audit\?correlation=[0-9a-f-]{36}$"))
    expect(page.locator("#results")).to_contain_text("Événements d’une même action")
    expect(page.locator("#results .audit-entry")).to_have_count(1)
    expect(page.locator("#results .audit-label")).to_have_text("Client modifié")
    admin.shoot("audit-correlation")

    # The history of the record, and the record as it was at version 1.
    page.locator("#results").get_by_role("link", name=re.compile("historique")).click()
    page.wait_for_url(re.compile(rf"/audit/historique/{client_id}"))
    page.get_by_label("ou version").select_option("1")
    page.get_by_role("button", name="Afficher").click()
    snapshot = page.locator("#snapshot")
    expect(snapshot).to_contain_text("État à la version 1")
    expect(snapshot).to_contain_text("Fromagerie Dubois")
    expect(snapshot).not_to_contain_text("& Fils")
    admin.shoot("audit-historique")


def test_rebuild_progress_and_rgpd_section_fit_a_phone(login: Login, server: Server) -> None:
    with acting_as(user_actor(server.users["admin"])):
        client_id = server.container.sales.register_client(
            server.workspace_id, nom="Café Lumière", email="cafe@lumiere.fr"
        ).id
    settle_audit(server)
    admin = login("admin")
    page = admin.page
    admin.goto("/audit/projections")
    card = page.locator("#projection-timeline")
    card.get_by_role("button", name="Vérifier").click()  # htmx: the card polls its progress
    expect(card.locator(".differences")).to_contain_text(
        "Identique à un rejeu complet.", timeout=60000
    )
    expect(card.locator("progress")).to_have_attribute("value", "100")
    expect(card).to_contain_text("événements (100 %)")
    admin.shoot("audit-modeles-de-lecture")

    admin.goto(f"/clients/{client_id}")
    section = page.locator("#audit-rgpd")
    section.get_by_text("Effacer les données personnelles (RGPD)").click()
    section.get_by_label(re.compile("tapez le nom du client")).fill("Café")
    section.get_by_role("button", name="Effacer définitivement").click()
    expect(page.locator("#e-rgpd-confirmation")).to_contain_text("ne correspond pas")
    admin.shoot("audit-effacement-refuse")
    page.get_by_label(re.compile("tapez le nom du client")).fill("Café Lumière")
    page.get_by_role("button", name="Effacer définitivement").click()
    page.wait_for_url(re.compile(r"/clients$"))
    expect(page.locator("#toasts")).to_contain_text("Données personnelles du client effacées")
    expect(page.locator("main")).not_to_contain_text("Café Lumière")
