"""Staff side of the portal in Chromium: the link section of the client page."""

from __future__ import annotations

from typing import Any

from crm_core.context import acting_as, user_actor
from tests.e2e.conftest import Server


def test_a_commercial_generates_and_copies_a_portal_link(login: Any, server: Server) -> None:
    with acting_as(user_actor(server.users["commercial"])):
        client_id = server.container.sales.register_client(
            server.workspace_id, nom="Fromagerie Portail", email="fromagerie@portail.test"
        ).id
    server.settle()
    session = login("commercial")
    session.context.grant_permissions(["clipboard-read", "clipboard-write"])
    session.goto(f"/clients/{client_id}")
    page = session.page
    assert page.get_by_text("Visites du portail").is_visible()
    page.get_by_role("button", name="Générer lien portail").click()
    field = page.get_by_label("Lien à transmettre au client")
    url = field.input_value()
    assert url.startswith(f"{server.container.settings.base_url}/portail/")
    page.locator("button[data-copy='portal-url']").click()
    page.get_by_text("Lien copié.").or_(page.get_by_text("Copiez le lien")).first.wait_for()
    session.shoot("client-portail")
    session.goto(f"/clients/{client_id}")
    assert page.get_by_role("button", name="Régénérer le lien portail").is_visible()
    assert url not in page.content()
