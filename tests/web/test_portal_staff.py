"""Staff side of the portal: the client page's link section and the notifications."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from tests.web.conftest import Tenant
from tests.web.test_portal import ClientAs, _client_with_history, _enter


def _generate(staff: TestClient[Litestar], client_id: object) -> str:
    response = staff.post(f"/clients/{client_id}/portail")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert 'data-copy="portal-url"' in html and "Copier" in html
    return html.split('id="portal-url" type="text" readonly value="')[1].split('"')[0]


def test_the_client_page_generates_a_link_shown_once_and_counts_visits(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = _client_with_history(tenant)
    staff = client_as("commercial")
    before = staff.get(f"/clients/{client_id}").text
    assert "Générer lien portail" in before and "Visites du portail : <strong>0</strong>" in before
    url = _generate(staff, client_id)
    token = url.rsplit("/portail/", 1)[1]
    _enter(tenant, token)
    container = tenant.container
    container.wait(container.log.recorder.max_notification_id() or 0, "portal")
    after = staff.get(f"/clients/{client_id}").text
    assert token not in after  # the URL is shown once, in the POST's answer only
    assert "Régénérer le lien portail" in after
    assert "Visites du portail : <strong>1</strong>" in after
    again = _generate(client_as("admin"), client_id)
    assert again != url
    assert tenant.client(None).get(f"/portail/{token}").status_code == 404


def test_a_developer_sees_no_button_and_may_not_post(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = _client_with_history(tenant)
    developer = client_as("developpeur_nocode")
    assert "Générer lien portail" not in developer.get(f"/clients/{client_id}").text
    assert developer.post(f"/clients/{client_id}/portail").status_code == 403


def test_a_portal_ticket_lights_the_nav_badge_until_the_list_is_opened(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = _client_with_history(tenant)
    staff = client_as("admin")
    url = _generate(staff, client_id)
    first = staff.get("/clients").text
    assert 'href="/notifications"' in first
    api = tenant.client(None)
    created = api.post(
        f"/api/portail/{url.rsplit('/portail/', 1)[1]}/tickets",
        json={"sujet": "Facture manquante", "description": "Merci"},
    )
    assert created.status_code == 201
    container = tenant.container
    container.wait(container.log.recorder.max_notification_id() or 0, "notifications")
    assert 'class="nav-badge"' in staff.get("/clients").text
    listing = staff.get("/notifications")
    assert listing.status_code == 200
    assert "depuis le portail" in listing.text
    assert 'class="nav-badge"' not in staff.get("/clients").text
    assert tenant.client(None).get("/notifications", follow_redirects=False).status_code in (
        302,
        303,
        401,
    )
