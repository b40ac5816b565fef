"""The tableau de bord in a real headless Chromium: charts drawn, readable at 360 px and
without JavaScript; screenshots in artifacts/.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import uvicorn

from crm_core.context import acting_as
from tests.conftest import settings_for
from tests.support.history import Clock, at, write_known_history
from tests.support.services import create_database, drop_database, unavailable
from web.app import create_app
from web.container import Container, running_container

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "mot-de-passe-de-test"
PERIOD = "du=2026-01-01&au=2026-03-31"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def e2e_container(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        unavailable("Chromium absent : tests de bout en bout ignorés")
    conninfo = create_database(pg_admin)
    settings = settings_for(conninfo, tmp_path_factory.mktemp("e2e"), cookie_secure=False)
    with running_container(settings, projections=True) as container:
        yield container
    drop_database(pg_admin, conninfo)


@pytest.fixture(scope="module")
def server(e2e_container: Container) -> Iterator[str]:
    port = _free_port()
    app = create_app(e2e_container.settings, container=e2e_container)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def admin_email(e2e_container: Container) -> str:
    patcher = pytest.MonkeyPatch()
    try:
        clock = Clock(patcher)
        with acting_as("system"), clock.at(at("2026-01-01")):
            workspace: UUID = e2e_container.accounts.create_workspace(nom="Agence E2E").id
            users = {
                name: e2e_container.accounts.register_user(
                    workspace,
                    email=f"{name}.{workspace.hex[:8]}@test.fr",
                    nom=nom,
                    role="admin" if name == "u2" else "commercial",
                    password=PASSWORD,
                ).id
                for name, nom in (("u1", "Lucas Martin"), ("u2", "Sophie Admin"))
            }
        write_known_history(e2e_container, clock, workspace, users)
    finally:
        patcher.undo()
    return f"u2.{workspace.hex[:8]}@test.fr"


def _login(page: Any, server: str, email: str) -> None:
    page.goto(f"{server}/connexion")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")


@contextmanager
def _pages(browser: Any) -> Iterator[Callable[..., Any]]:
    """New pages in their own contexts of the session's Chromium (one Playwright per
    process: see tests/e2e/conftest.py); the contexts close with the block."""
    contexts: list[Any] = []

    def new_page(**options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    try:
        yield new_page
    finally:
        for context in contexts:
            context.close()


def test_the_dashboard_draws_its_charts_and_fits_a_phone(
    browser: Any, server: str, admin_email: str
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with _pages(browser) as new_page:
        page = new_page(viewport={"width": 1280, "height": 900})
        _login(page, server, admin_email)
        page.goto(f"{server}/?{PERIOD}")
        page.wait_for_function(
            "window.Chart && Object.keys(Chart.instances).length === 3", timeout=10000
        )
        assert page.locator("#table-indicateurs").is_visible()
        assert "4\u202f000,00" in page.locator("#table-indicateurs").inner_text()
        page.screenshot(path=str(ARTIFACTS / "tableau-de-bord.png"), full_page=True)
        page.get_by_role("link", name="Mois dernier").click()
        page.wait_for_load_state()
        assert "du=" in page.url

        phone = new_page(viewport={"width": 360, "height": 740})
        _login(phone, server, admin_email)
        phone.goto(f"{server}/?{PERIOD}")
        phone.wait_for_function("window.Chart && Object.keys(Chart.instances).length === 3")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, width
        phone.screenshot(path=str(ARTIFACTS / "tableau-de-bord-360.png"), full_page=True)


def test_without_javascript_every_figure_is_in_a_table(
    browser: Any, server: str, admin_email: str
) -> None:
    with _pages(browser) as new_page:
        page = new_page(java_script_enabled=False)
        _login(page, server, admin_email)
        page.goto(f"{server}/?{PERIOD}")
        for table in ("indicateurs", "etapes_par_mois", "prevision", "a_risque", "commerciaux"):
            assert page.locator(f"#table-{table}").is_visible(), table
        assert "Lucas Martin" in page.locator("#table-commerciaux").inner_text()
