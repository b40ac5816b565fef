"""The staff screens in a real browser: a deal from a new client to "Gagné", and roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import expect

from crm_core.context import acting_as, user_actor
from tests.e2e.conftest import Server, Session

pytestmark = pytest.mark.e2e
Login = Callable[[str], Session]
UUID_PATH = r"[0-9a-f-]{36}$"


def drag(page: Any, source: Any, target: Any) -> None:
    """A real mouse drag: press on the card, move in steps over the column, release."""
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    end = target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] - 12)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] - 5, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 30, steps=25)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 40, steps=5)
    page.mouse.up()


def test_a_deal_goes_from_a_new_client_to_won_and_onto_its_timeline(login: Login) -> None:
    admin = login("admin")
    page = admin.page
    toasts = page.locator("#toasts")
    admin.shoot("tableau-de-bord")

    # A client, after a first attempt refused next to the field.
    admin.goto("/clients/nouveau")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#e-nom")).to_have_text("Le nom est obligatoire.")
    expect(page.locator("#nom")).to_have_attribute("aria-invalid", "true")
    admin.shoot("client-formulaire-erreurs")
    page.locator("#nom").fill("Boulangerie Martin")
    page.locator("#email").fill("contact@boulangerie-martin.fr")
    page.locator("#ville").fill("Lyon")
    page.locator("#tags").fill("artisan, vip")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/clients/" + UUID_PATH))
    expect(toasts).to_contain_text("Client « Boulangerie Martin » créé.")
    client_url = page.url

    # A call and a contact, through htmx.
    page.locator("#act-sujet").fill("Premier appel")
    page.get_by_label("Appel", exact=True).check()
    page.locator("#act-duree_minutes").fill("20")
    page.locator("#activite").get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#chronologie")).to_contain_text("Appel : Premier appel (20 min)")
    expect(toasts).to_contain_text("Appel enregistré.")
    page.get_by_text("+ Ajouter un contact").click()
    page.locator("#contact-nom").fill("Claire Martin")
    page.locator("#contact-fonction").fill("Gérante")
    page.get_by_role("button", name="Ajouter le contact").click()
    expect(page.locator("#contacts")).to_contain_text("Claire Martin")
    expect(toasts).to_contain_text("Contact ajouté.")

    # Two opportunities from the client page.
    for titre, montant in (("Site vitrine", "2 400"), ("Maintenance annuelle", "600")):
        page.goto(client_url)
        page.locator("#opportunites").get_by_role("link", name="+ Nouvelle").click()
        page.locator("#titre").fill(titre)
        page.locator("#montant_estime").fill(montant)
        page.get_by_role("button", name="Ouvrir l’opportunité").click()
        page.wait_for_url(re.compile(r"/opportunites/" + UUID_PATH))
        expect(toasts).to_contain_text(f"Opportunité « {titre} » ouverte.")
    admin.shoot("opportunite-fiche")
    page.goto(client_url)
    admin.shoot("client-fiche")

    # Drag "Site vitrine" to "Gagné" with the mouse (a wide window shows every column).
    page.set_viewport_size({"width": 1700, "height": 900})
    admin.goto("/opportunites")
    card = page.locator(".kanban-card", has_text="Site vitrine")
    won = page.locator('.kanban-cards[data-etape="gagne"]')
    drag(page, card.locator(".card-meta strong"), won)
    expect(won).to_contain_text("Site vitrine")
    expect(toasts).to_contain_text("« Site vitrine » : Gagné.")
    expect(page.locator(".col-gagne .kanban-totals")).to_contain_text("1 opportunité")
    expect(page.locator(".col-gagne .kanban-totals")).to_contain_text("2\u202f400,00\u00a0€")

    # The keyboard way: « Déplacer… » on the card (Enter) brings the board's one move
    # menu into the card, its choice focused; then "Perdu" asks why.
    other = page.locator(".kanban-card", has_text="Maintenance annuelle")
    other.get_by_role("link", name="Déplacer « Maintenance annuelle »…").press("Enter")
    menu = other.get_by_label("Déplacer « Maintenance annuelle » vers…")
    expect(menu).to_be_focused()
    expect(page.locator("#move-menu")).to_have_count(1)
    menu.select_option("proposition")
    other.get_by_role("button", name="Déplacer").click()
    expect(page.locator('.kanban-cards[data-etape="proposition"]')).to_contain_text(
        "Maintenance annuelle"
    )
    expect(page.locator("#move-menu")).to_be_hidden()  # the board came back re-rendered
    moved = page.locator(".kanban-card", has_text="Maintenance annuelle")
    moved.get_by_role("link", name="Déplacer « Maintenance annuelle »…").press("Enter")
    # Escape closes the menu and gives the focus back; the menu opens again.
    page.keyboard.press("Escape")
    expect(page.locator("#move-menu")).to_be_hidden()
    expect(moved.get_by_role("link", name="Déplacer « Maintenance annuelle »…")).to_be_focused()
    page.keyboard.press("Enter")
    moved.get_by_label("Déplacer « Maintenance annuelle » vers…").select_option("perdu")
    moved.get_by_role("button", name="Déplacer").click()
    reason = page.locator("#move-panel textarea[name=raison]")
    expect(reason).to_be_visible()
    expect(page.locator("#e-lost-raison")).to_have_text("Indiquez la raison de la perte.")
    reason.fill("Budget reporté à l’an prochain")
    page.get_by_role("button", name="Marquer perdue").click()
    expect(page.locator('.kanban-cards[data-etape="perdu"]')).to_contain_text("Budget reporté")
    page.set_viewport_size({"width": 1280, "height": 800})
    admin.shoot("opportunites-kanban")
    admin.goto("/opportunites/tableau?tri=montant&ordre=desc")
    admin.shoot("opportunites-liste")

    # The client's timeline tells the story; the filter keeps the opportunities only.
    page.goto(client_url)
    timeline = page.locator("#chronologie")
    expect(timeline).to_contain_text("Opportunité « Site vitrine » gagnée (2\u202f400,00\u00a0€)")
    expect(timeline.locator('[aria-label="Opportunité gagnée"]')).to_have_count(1)
    timeline.get_by_role("link", name="Opportunités").click()
    expect(timeline).not_to_contain_text("Premier appel")
    expect(page.locator("#chronologie")).to_contain_text("perdue : Budget reporté")


def test_winning_without_amount_is_refused_and_the_card_goes_back(
    login: Login, server: Server
) -> None:
    with acting_as(user_actor(server.users["admin"])):
        client_id = server.container.sales.register_client(
            server.workspace_id, nom="Garage Moreau"
        ).id
        server.container.sales.open_opportunity(server.workspace_id, client_id, titre="Devis flou")
    server.settle()
    admin = login("admin")
    page = admin.page
    page.set_viewport_size({"width": 1700, "height": 900})
    admin.goto("/opportunites")
    card = page.locator(".kanban-card", has_text="Devis flou")
    drag(page, card.locator(".card-meta strong"), page.locator('.kanban-cards[data-etape="gagne"]'))
    expect(page.locator("#toasts")).to_contain_text(
        "Une opportunité gagnée doit avoir un montant estimé supérieur à zéro."
    )
    expect(page.locator('.kanban-cards[data-etape="prospect"]')).to_contain_text("Devis flou")
    expect(page.locator('.kanban-cards[data-etape="gagne"]')).not_to_contain_text("Devis flou")


def test_each_role_sees_what_it_may_do(login: Login, server: Server) -> None:
    with acting_as(user_actor(server.users["admin"])):
        client_id = server.container.sales.register_client(
            server.workspace_id, nom="Studio Lumière", email="hello@lumiere.test"
        ).id
        server.container.sales.open_opportunity(
            server.workspace_id, client_id, titre="Photos produits", montant_estime=Decimal(800)
        )
        ticket_id = server.container.support.open_ticket(
            server.workspace_id, client_id, sujet="Le site est lent", description="Depuis lundi."
        ).id
        server.container.support.add_internal_note(
            server.workspace_id, ticket_id, texte="Regarder le CDN.", auteur="Admin"
        )
    server.settle()

    commercial = login("commercial")
    nav = commercial.page.get_by_role("navigation", name="Navigation principale")
    expect(nav).not_to_contain_text("Paramètres")
    response = commercial.goto("/parametres")
    assert response.status == 403
    expect(commercial.page.get_by_role("heading", name="Accès refusé")).to_be_visible()
    commercial.goto("/opportunites")
    expect(commercial.page.locator(".card-move-open").first).to_be_visible()

    automation = login("developpeur_automatisme")
    automation.goto(f"/clients/{client_id}")
    expect(automation.page.get_by_role("heading", name="Studio Lumière")).to_be_visible()
    expect(automation.page.get_by_role("link", name="Modifier")).to_have_count(0)
    expect(automation.page.locator("#activite")).to_have_count(0)
    automation.goto("/opportunites")
    expect(automation.page.locator(".kanban-card", has_text="Photos produits")).to_be_visible()
    expect(automation.page.locator(".card-move-open")).to_have_count(0)
    expect(automation.page.locator("#move-menu")).to_have_count(0)
    expect(automation.page.get_by_role("link", name="+ Nouvelle opportunité")).to_have_count(0)
    # Tickets are everyone's work: the developer answers the client.
    automation.goto(f"/tickets/{ticket_id}")
    automation.page.locator("#reply-texte").fill("Nous regardons cela aujourd’hui.")
    automation.page.get_by_role("button", name="Envoyer la réponse").click()
    expect(automation.page.locator("#toasts")).to_contain_text("Réponse envoyée au client.")
    internal = automation.page.locator(".message-internal")
    expect(internal).to_contain_text("Note interne — invisible pour le client")
    automation.shoot("ticket-fiche")
    automation.goto("/tickets")
    automation.shoot("tickets-liste")
    automation.goto("/clients")
    automation.shoot("clients-liste")

    admin = login("admin")
    admin.goto("/parametres")
    expect(admin.page.get_by_role("heading", name="Paramètres")).to_be_visible()
    admin.shoot("parametres-espace")
    admin.goto("/parametres/utilisateurs")
    admin.shoot("parametres-utilisateurs")
