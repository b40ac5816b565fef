"""Staff authentication: login, CSRF, throttling, logout."""

from __future__ import annotations

from collections.abc import Callable

from litestar import Litestar
from litestar.testing import TestClient

from tests.web.conftest import PASSWORD, Tenant


def test_a_page_without_session_redirects_to_the_login(
    client_as: Callable[..., TestClient[Litestar]],
) -> None:
    response = client_as(None).get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?suivant=/"


def test_the_api_without_session_answers_401_problem_json(
    client_as: Callable[..., TestClient[Litestar]],
) -> None:
    response = client_as(None).get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "Connectez-vous pour continuer."


def test_the_login_form_opens_a_session_and_shows_the_dashboard(tenant: Tenant) -> None:
    client = tenant.client(None)
    page = client.get("/connexion")
    token = client.cookies["csrftoken"]
    assert 'name="_csrf_token"' in page.text
    response = client.post(
        "/connexion",
        data={"email": tenant.email("admin"), "password": PASSWORD, "_csrf_token": token},
    )
    assert response.status_code == 200
    assert "Tableau de bord" in response.text
    assert "Bienvenue" in response.text
    cookie = next(c for c in client.cookies.jar if c.name == "crm_session")
    assert cookie.secure


def test_a_form_post_without_csrf_token_is_refused(tenant: Tenant) -> None:
    client = tenant.client(None)
    client.get("/connexion")
    response = client.post(
        "/connexion", data={"email": tenant.email("admin"), "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "Jeton de sécurité" in response.text


def test_an_unsafe_api_call_without_csrf_header_is_refused(
    client_as: Callable[..., TestClient[Litestar]],
) -> None:
    client = client_as("admin")
    del client.headers["x-csrftoken"]
    response = client.post("/api/auth/logout")
    assert response.status_code == 403
    assert "Jeton de sécurité" in response.json()["detail"]


def test_a_wrong_password_is_refused_in_french(tenant: Tenant) -> None:
    client = tenant.client(None)
    response = client.post(
        "/api/auth/login", json={"email": tenant.email("admin"), "password": "mauvais"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Email ou mot de passe incorrect."


def test_five_failures_for_one_account_give_a_429(tenant: Tenant) -> None:
    email = tenant.email("commercial")
    statuses = []
    for attempt in range(6):
        client = tenant.client(None)
        # A different address per attempt: the account limit alone must stop the sixth.
        client.headers["x-forwarded-for"] = f"10.0.0.{attempt}"
        statuses.append(
            client.post("/api/auth/login", json={"email": email, "password": "mauvais"}).status_code
        )
    assert statuses[-1] == 429
    response = tenant.client(None).post(
        "/api/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "patientez une minute" in response.json()["detail"]


def test_logout_ends_the_session(client_as: Callable[..., TestClient[Litestar]]) -> None:
    client = client_as("admin")
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_a_disabled_account_loses_its_session(
    tenant: Tenant, client_as: Callable[..., TestClient[Litestar]]
) -> None:
    client = client_as("commercial")
    receipt = tenant.container.accounts.disable_user(
        tenant.workspace_id, tenant.users["commercial"], acting_user_id=tenant.users["admin"]
    )
    tenant.container.wait(receipt.position, "accounts")
    assert client.get("/api/auth/me").status_code == 401


def test_five_failures_from_one_address_give_a_429_for_any_account(tenant: Tenant) -> None:
    client = tenant.client(None)
    for attempt in range(5):
        client.post(
            "/api/auth/login", json={"email": f"inconnu{attempt}@test.fr", "password": "mauvais"}
        )
    response = client.post(
        "/api/auth/login", json={"email": tenant.email("admin"), "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"
