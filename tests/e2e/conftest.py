"""End-to-end: the real app under uvicorn on loopback, driven by the system Chromium.

Chromium comes from Debian (`apt-get install chromium`); without it the tests skip
locally and fail in CI (CI=true). Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import uvicorn

from crm_core.context import acting_as
from tests.conftest import settings_for
from tests.support.fake_stripe import FakeStripe, fake_stripe_server
from tests.support.services import create_database, drop_database, unavailable
from web.app import create_app
from web.container import Container, running_container
from web.mail import running_mail_receiver

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "mot-de-passe-e2e"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The app served on a loopback port, with a workspace and one user per role."""

    def __init__(
        self, container: Container, base_url: str, stripe: FakeStripe | None = None
    ) -> None:
        self.container = container
        self.base_url = base_url
        self.stripe = stripe  # the Stripe-like API the app calls
        with acting_as("system"):
            self.workspace_id = container.accounts.create_workspace(nom="Studio E2E").id
            self.users: dict[str, UUID] = {}
            for role in ("admin", "commercial", "developpeur_nocode", "developpeur_automatisme"):
                self.users[role] = container.accounts.register_user(
                    self.workspace_id,
                    email=self.email(role),
                    nom=role.replace("_", " ").title(),
                    role=role,
                    password=PASSWORD,
                ).id
        self.settle()

    def email(self, role: str) -> str:
        return f"{role}@e2e.test"

    def settle(self) -> None:
        last = self.container.log.recorder.max_notification_id() or 0
        self.container.wait(last, "accounts", "clients", "pipeline", "tickets", "timeline")


@pytest.fixture(scope="session")
def server(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    conninfo = create_database(pg_admin)
    stripe = ExitStack()
    fake = stripe.enter_context(fake_stripe_server())
    port = _free_port()
    settings = settings_for(
        conninfo,
        tmp_path_factory.mktemp("e2e"),
        cookie_secure=False,
        base_url=f"http://127.0.0.1:{port}",
        stripe_secret_key="",
        stripe_webhook_secret="",
        stripe_api_base=fake.url,
        stripe_timeout_seconds=2.0,
        stripe_max_network_retries=0,
    )
    with stripe, running_container(settings, projections=True) as container:
        app = create_app(settings, container=container)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        uv_server = uvicorn.Server(config)
        thread = threading.Thread(target=uv_server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not uv_server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("Le serveur uvicorn n’a pas démarré.")
            time.sleep(0.05)
        try:
            yield Server(container, f"http://127.0.0.1:{port}", fake)
        finally:
            uv_server.should_exit = True
            thread.join(timeout=10)
    drop_database(pg_admin, conninfo)


@pytest.fixture(scope="session")
def mail_receiver(server: Server) -> Iterator[tuple[str, int]]:
    """The inbox's SMTP receiver on a loopback port, as `crm serve` starts it embedded."""
    with running_mail_receiver(server.container, host="127.0.0.1", port=0) as address:
        yield address


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable("Chromium absent : apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Session:
    """A logged-in browser page for one role."""

    def __init__(self, browser: Any, server: Server, role: str) -> None:
        self.server = server
        self.context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
        self.context.set_default_timeout(15000)
        self.page = self.context.new_page()
        self.page.goto(f"{server.base_url}/connexion")
        self.page.get_by_label("Adresse email").fill(server.email(role))
        self.page.get_by_label("Mot de passe").fill(PASSWORD)
        self.page.get_by_role("button", name="Se connecter").click()
        self.page.wait_for_url(f"{server.base_url}/")

    def goto(self, path: str) -> Any:
        return self.page.goto(f"{self.server.base_url}{path}")

    def shoot(self, name: str) -> None:
        """A screenshot at desktop and phone width; the phone page must not scroll sideways."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(viewport)
            self.page.wait_for_timeout(100)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
            if label == "phone":
                overflow = self.page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 1, f"{name} déborde de {overflow}px à 360 px"
        self.page.set_viewport_size(DESKTOP)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def login(browser: Any, server: Server) -> Iterator[Any]:
    opened: list[Session] = []

    def make(role: str) -> Session:
        session = Session(browser, server, role)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()
