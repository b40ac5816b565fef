"""Stripe in a real browser: keys in Paramètres › Paiements, a won deal's payment link,
Stripe's signed webhook, and the « Payé » badge on the board and the client page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import expect

from crm_core.context import acting_as, user_actor
from tests.e2e.conftest import PASSWORD, Server, Session
from tests.support.fake_stripe import ACCOUNT_NAME, event_payload, sign

pytestmark = pytest.mark.e2e


class Studio:
    """A workspace of its own on the shared server: its won deal stays off the other
    tests' board."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.base_url = server.base_url
        with acting_as("system"):
            self.workspace_id = server.container.accounts.create_workspace(nom="Studio Stripe").id
            self.users: dict[str, UUID] = {
                "admin": server.container.accounts.register_user(
                    self.workspace_id,
                    email=self.email("admin"),
                    nom="Admin Stripe",
                    role="admin",
                    password=PASSWORD,
                ).id
            }
        server.settle()

    def email(self, role: str) -> str:
        return f"{role}.{self.workspace_id.hex[:8]}@stripe-e2e.test"


@pytest.fixture
def admin(browser: Any, server: Server) -> Iterator[tuple[Studio, Session]]:
    studio = Studio(server)
    session = Session(browser, studio, "admin")  # type: ignore[arg-type]  (same shape)
    yield studio, session
    session.close()


def test_a_won_deal_is_paid_through_its_stripe_link_and_shows_paye(
    admin: tuple[Studio, Session], server: Server
) -> None:
    studio, session = admin
    key = f"sk_test_{studio.workspace_id.hex}E2E4242"
    webhook_secret = f"whsec_{studio.workspace_id.hex}E2E"
    stripe = server.stripe
    assert stripe is not None  # the session's server talks to a local Stripe-like API
    stripe.valid_keys.add(key)
    admin = session
    page = admin.page
    toasts = page.locator("#toasts")

    # Paramètres › Paiements: the test keys, shown masked afterwards, and the connection test.
    admin.goto("/parametres")
    page.locator("nav.tabs").get_by_role("link", name="Paiements").click()
    page.wait_for_url(re.compile(r"/parametres/paiements/?$"))
    expect(page.locator("#webhook-url")).to_have_value(f"{server.base_url}/api/webhooks/stripe")
    page.locator("#test-cle_secrete").fill(key)
    page.locator("#test-secret_webhook").fill(webhook_secret)
    page.get_by_role("button", name="Enregistrer les clés test").click()
    expect(toasts).to_contain_text("Clés Stripe du mode test enregistrées.")
    expect(page.locator("#contenu")).to_contain_text("sk_test_…4242")
    expect(page.locator("#test-cle_secrete")).to_have_value("")
    assert key not in page.content() and webhook_secret not in page.content()
    page.get_by_role("button", name="Tester la connexion").click()
    expect(toasts).to_contain_text(f"Connexion à Stripe réussie : compte « {ACCOUNT_NAME} ».")
    admin.shoot("parametres-paiements")

    # A deal in negotiation, won from its page, then its payment link.
    with acting_as(user_actor(studio.users["admin"])):
        client_id = server.container.sales.register_client(
            studio.workspace_id, nom="Fleuriste Lambert", email="contact@lambert.fr"
        ).id
        opportunity_id = server.container.sales.open_opportunity(
            studio.workspace_id,
            client_id,
            titre="Boutique en ligne",
            montant_estime=Decimal("3200"),
            etape="negociation",
        ).id
    server.settle()
    admin.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    admin.goto(f"/opportunites/{opportunity_id}")
    page.get_by_role("button", name="✔ Marquer gagnée").click()
    expect(toasts).to_contain_text("« Boutique en ligne » : Gagné.")
    page.get_by_role("button", name="Générer lien de paiement").click()
    link = page.locator(f"#lien-{opportunity_id}")
    expect(link).to_have_value(re.compile(r"^https://checkout\.stripe\.com/c/pay/cs_test_"))
    expect(toasts).to_contain_text("Lien de paiement créé pour « Boutique en ligne »")
    url = link.input_value()
    opener = page.get_by_role("link", name="Ouvrir")
    expect(opener).to_have_attribute("href", url)
    expect(opener).to_have_attribute("target", "_blank")
    expect(opener).to_have_attribute("rel", "noopener")
    page.get_by_role("button", name="Copier").click()
    expect(toasts).to_contain_text("Lien copié.")
    assert page.evaluate("navigator.clipboard.readText()") == url
    # The title's badge follows too (an out-of-band swap), not only the payment section.
    expect(page.locator("#opp-title .payment-badge")).to_have_text("En attente")
    expect(page.locator(f"#paiement-{opportunity_id} .payment-badge")).to_have_text("En attente")
    admin.shoot("opportunite-lien-paiement")

    # The client pays; Stripe tells the app through its signed webhook.
    session_id = url.rsplit("/", 1)[-1]
    payload = event_payload("checkout.session.completed", stripe.complete(session_id))
    delivered = httpx.post(
        f"{server.base_url}/api/webhooks/stripe",
        content=payload,
        headers={
            "Stripe-Signature": sign(payload, webhook_secret),
            "Content-Type": "application/json",
        },
    )
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["result"] == "applied"
    server.container.wait(server.container.log.recorder.max_notification_id() or 0, "payments")
    server.settle()

    # « Payé » on the board's card, on the client page, and « Paiement reçu » in its timeline.
    page.set_viewport_size({"width": 1700, "height": 900})
    admin.goto("/opportunites")
    card = page.locator(".kanban-card", has_text="Boutique en ligne")
    expect(card.locator(".payment-badge")).to_have_text("Payé")
    expect(page.locator('.kanban-cards[data-etape="gagne"]')).to_contain_text("Boutique en ligne")
    page.set_viewport_size({"width": 1280, "height": 800})
    admin.goto(f"/clients/{client_id}")
    expect(page.locator("#opportunites .payment-badge")).to_have_text("Payé")
    expect(page.locator("#paiements .payment-badge")).to_have_text("Payé")
    expect(page.locator("#paiements")).not_to_contain_text("Générer lien de paiement")
    timeline = page.locator("#chronologie")
    expect(timeline).to_contain_text(
        "Paiement reçu : 3\u202f200,00\u00a0€ pour « Boutique en ligne »"
    )
    expect(timeline.locator('[aria-label="Paiement reçu"]')).to_have_count(1)
    expect(timeline.locator('[aria-label="Lien de paiement créé"]')).to_have_count(1)
    admin.shoot("client-paiement-recu")
