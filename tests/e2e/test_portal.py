"""The client portal in a real Chromium: axe-core on every state, keyboard only, 360 px,
without JavaScript, and the « Payer » button through a local Stripe-like server."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError

from adapters.secrets import new_key_text
from crm_core.context import acting_as, user_actor
from tests.conftest import settings_for
from tests.e2e.conftest import DESKTOP, PHONE, Server, _free_port
from tests.support.fake_stripe import FakeStripe, fake_stripe_server
from tests.support.services import create_database, drop_database
from web.app import create_app
from web.container import running_container

TEST_KEY = "sk_test_51CrmPortalE2eKey000000000000004242"
CHECKOUT = "https://checkout.stripe.com/"


@pytest.fixture(scope="module")
def stripe_fake() -> Iterator[FakeStripe]:
    with fake_stripe_server(TEST_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def portal_server(
    pg_admin: str, stripe_fake: FakeStripe, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    conninfo = create_database(pg_admin)
    port = _free_port()
    base_url = f"http://localhost:{port}"
    settings = dataclasses.replace(
        settings_for(conninfo, tmp_path_factory.mktemp("e2e-portal"), cookie_secure=False),
        encryption_key=new_key_text(),
        stripe_secret_key="",
        stripe_webhook_secret="",
        stripe_api_base=stripe_fake.url,
        stripe_timeout_seconds=2.0,
        stripe_max_network_retries=0,
        stripe_reconcile_every_minutes=0,
        base_url=base_url,
    )
    with running_container(settings, projections=True) as container:
        app = create_app(settings, container=container)
        uv_server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=uv_server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not uv_server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("Le serveur uvicorn n’a pas démarré.")
            time.sleep(0.05)
        try:
            server = Server(container, base_url)
            with acting_as(user_actor(server.users["admin"])):
                receipt = container.billing.configure_stripe(
                    server.workspace_id, mode="test", secret_key=TEST_KEY
                )
            container.wait(receipt.position, "payments")
            yield server
        finally:
            uv_server.should_exit = True
            thread.join(timeout=10)
    drop_database(pg_admin, conninfo)


class Customer:
    """A client of the e2e workspace, its won opportunities and its portal token."""

    def __init__(self, server: Server, *, amounts: tuple[str, ...] = ()) -> None:
        container, ws = server.container, server.workspace_id
        with acting_as(user_actor(server.users["commercial"])):
            self.id = container.sales.register_client(
                ws, nom="Boulangerie Martin", email=f"{uuid4().hex[:8]}@martin.fr"
            ).id
            self.won: list[UUID] = []
            for n, amount in enumerate(amounts):
                opportunity = container.sales.open_opportunity(
                    ws, self.id, titre=f"Prestation {n + 1}", montant_estime=amount
                ).id
                container.sales.move_opportunity(ws, opportunity, "gagne")
                self.won.append(opportunity)
            issued = container.portal.issue_link(ws, self.id)
        self.token = issued.token
        server.settle()
        container.wait(issued.receipt.position, "portal")


def _mark_paid(server: Server, stripe: FakeStripe, opportunity_id: UUID) -> None:
    container, ws = server.container, server.workspace_id
    with acting_as(user_actor(server.users["admin"])):
        link = container.billing.request_payment(ws, opportunity_id)
    stripe.complete(link.url.rsplit("/", 1)[-1])
    with acting_as("system"):
        container.billing.reconcile(ws, link.id)
    container.wait(container.log.recorder.max_notification_id() or 0, "payments")


@pytest.fixture
def portal(browser: Any, portal_server: Server) -> Iterator[Any]:
    """A fresh browser context per call (no staff session)."""
    contexts: list[Any] = []

    def make(*, javascript: bool = True, viewport: dict[str, int] = PHONE) -> Any:
        context = browser.new_context(
            viewport=viewport, locale="fr-FR", java_script_enabled=javascript
        )
        context.set_default_timeout(15000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _check(page: Any, state: str) -> None:
    """Zero axe-core violation, and no sideways scrolling at 360 px."""
    results = Axe().run(page)
    assert results.violations_count == 0, f"{state} :\n{results.generate_report()}"
    page.set_viewport_size(PHONE)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{state} déborde de {overflow}px à 360 px"


def test_every_portal_state_passes_axe_and_fits_360_px(
    portal: Any, portal_server: Server, stripe_fake: FakeStripe
) -> None:
    base = portal_server.base_url
    page = portal()

    page.goto(f"{base}/portail/{'x' * 43}")
    assert page.get_by_role("heading", name="Lien invalide").is_visible()
    _check(page, "lien invalide (404)")

    empty = Customer(portal_server)
    page.goto(f"{base}/portail/{empty.token}")
    assert page.url == f"{base}/portail"
    assert page.get_by_text("Rien à régler pour le moment.").is_visible()
    _check(page, "portail vide")

    page.get_by_role("button", name="Envoyer ma demande").click()
    assert page.get_by_text("Indiquez un sujet.").is_visible()
    _check(page, "erreurs de validation")

    page.get_by_label("Sujet").fill("Une question")
    page.get_by_label("Votre demande").fill("Bonjour, pouvez-vous m’aider ?")
    page.get_by_role("button", name="Envoyer ma demande").click()
    assert page.get_by_text("bien été envoyée").is_visible()
    _check(page, "après un ticket")

    paying = Customer(portal_server, amounts=("1500", "480.50"))
    _mark_paid(portal_server, stripe_fake, paying.won[1])
    page.goto(f"{base}/portail/{paying.token}")
    assert page.get_by_text("Payé", exact=True).is_visible()
    assert page.get_by_role("button", name="Payer").count() == 1
    api = httpx.get(f"{base}/api/portail/{paying.token}").json()["opportunites"]
    statuses = {UUID(o["id"]): (o["statutPaiement"], o["urlPaiement"]) for o in api}
    assert statuses[paying.won[0]] == ("en_attente", None)  # no link asked for yet
    assert statuses[paying.won[1]] == ("paye", None)
    _check(page, "avec paiements")
    page.set_viewport_size(DESKTOP)
    _check(page, "avec paiements (bureau)")

    page.goto(f"{base}/portail/merci")
    _check(page, "merci")

    page.goto(f"{base}/portail")
    page.evaluate(
        "f => { document.querySelector('form[action^=\"/portail/payer/\"]').action = f; }",
        f"/portail/payer/{uuid4()}",
    )
    page.get_by_role("button", name="Payer").click()
    assert page.get_by_role("heading", name="Prestation introuvable").is_visible()
    _check(page, "page d’erreur du paiement")


def test_keyboard_only_reaches_payer_then_files_a_ticket(
    portal: Any, portal_server: Server
) -> None:
    customer = Customer(portal_server, amounts=("1500",))
    base = portal_server.base_url
    page = portal(viewport=DESKTOP)
    page.goto(f"{base}/portail/{customer.token}")

    def tab_to(name: str, limit: int = 15) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "(document.activeElement.labels && document.activeElement.labels[0]"
                " ? document.activeElement.labels[0].textContent"
                " : document.activeElement.textContent || '').trim()"
            )
            if focused.startswith(name):
                return
        pytest.fail(f"« {name} » n’est pas atteint au clavier")

    tab_to("Aller au contenu")
    tab_to("Payer")
    # The fake Stripe hands out real-looking Checkout URLs (offline here): the browser
    # being sent there by the 303 is what matters.
    with page.expect_request(lambda request: request.url.startswith(CHECKOUT)) as sent:
        page.keyboard.press("Enter")
    assert "/c/pay/cs_test_" in sent.value.url
    project = httpx.get(f"{base}/api/portail/{customer.token}").json()["opportunites"][0]
    assert project["statutPaiement"] == "en_attente"
    assert project["urlPaiement"] == sent.value.url  # the open link, asked for on demand
    assert sent.value.is_navigation_request()
    # Stripe is offline here: the browser's navigation there fails and Chromium then
    # shows its error page, which can interrupt our next navigation. Come back once
    # that error page has taken over.
    for attempt in range(5):
        try:
            page.goto(f"{base}/portail")
            break
        except PlaywrightError:
            if attempt == 4:
                raise
            page.wait_for_timeout(300)
    tab_to("Sujet")
    page.keyboard.type("Question au clavier")
    tab_to("Votre demande")
    page.keyboard.type("Tout au clavier, sans souris.")
    tab_to("Envoyer ma demande")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/portail?envoye=1#support")
    assert page.get_by_text("bien été envoyée").is_visible()
    assert page.get_by_text("Question au clavier").is_visible()


def test_the_portal_works_without_javascript(portal: Any, portal_server: Server) -> None:
    customer = Customer(portal_server, amounts=("990",))
    base = portal_server.base_url
    page = portal(javascript=False)
    page.goto(f"{base}/portail/{customer.token}")
    page.get_by_label("Sujet").fill("Sans JavaScript")
    page.get_by_label("Votre demande").fill("Ça marche aussi.")
    page.get_by_role("button", name="Envoyer ma demande").click()
    assert page.get_by_text("bien été envoyée").is_visible()
    with page.expect_request(lambda request: request.url.startswith(CHECKOUT)) as sent:
        page.get_by_role("button", name="Payer").click(no_wait_after=True)
    assert "/c/pay/cs_test_" in sent.value.url
    project = httpx.get(f"{base}/api/portail/{customer.token}").json()["opportunites"][0]
    assert project["statutPaiement"] == "en_attente"
    assert project["urlPaiement"] == sent.value.url  # the open link, asked for on demand
