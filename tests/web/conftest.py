"""Web level: the real app through Litestar's test client, on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from crm_core.context import acting_as
from tests.conftest import settings_for
from tests.support.fake_stripe import FakeStripe, fake_stripe_server
from tests.support.services import create_database, drop_database
from web.app import create_app
from web.container import Container, running_container

PASSWORD = "mot-de-passe-de-test"
BASE_URL = "https://crm.test"  # cookies are Secure: the client must speak https


@pytest.fixture(scope="session")
def stripe_fake() -> Iterator[FakeStripe]:
    """A local Stripe-like API (tests add the keys it accepts to `valid_keys`)."""
    with fake_stripe_server() as fake:
        yield fake


@pytest.fixture(scope="session")
def web_container(
    pg_admin: str, stripe_fake: FakeStripe, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    # Its own database: two sets of projection runners must never share one.
    conninfo = create_database(pg_admin)
    settings = settings_for(
        conninfo,
        tmp_path_factory.mktemp("web"),
        trust_proxy=True,
        stripe_secret_key="",
        stripe_webhook_secret="",
        stripe_api_base=stripe_fake.url,
        stripe_timeout_seconds=2.0,
        stripe_max_network_retries=0,
    )
    with running_container(settings, projections=True) as container:
        yield container
    drop_database(pg_admin, conninfo)


@pytest.fixture(scope="session")
def app(web_container: Container) -> Litestar:
    return create_app(web_container.settings, container=web_container)


class OwnAppClient(TestClient[Litestar]):
    """A test client with an app no other open client uses.

    Litestar keeps one lifespan state per app (its event emitter): two test
    clients open at once on one app swap that state, and closing the first then
    waits forever. Each open client therefore borrows an app of its own; closed,
    it gives the app back for the next one.
    """

    _free: ClassVar[list[Litestar]] = []

    @classmethod
    def open(cls, container: Container) -> OwnAppClient:
        app = cls._free.pop() if cls._free else create_app(container.settings, container=container)
        client = cls(app, base_url=BASE_URL)
        client.__enter__()
        return client

    def __exit__(self, *args: object) -> None:
        try:
            super().__exit__(*args)
        finally:
            OwnAppClient._free.append(self.app)


class Tenant:
    """A fresh workspace with one user per role, and a way to log in as each."""

    _clients = 0

    def __init__(self, container: Container, app: Litestar) -> None:
        self.container = container
        self.app = app
        with acting_as("system"):
            self.workspace_id = container.accounts.create_workspace(nom="Agence Test").id
            self.users: dict[str, UUID] = {}
            for role in ("admin", "commercial", "developpeur_nocode", "developpeur_automatisme"):
                email = f"{role}.{self.workspace_id.hex[:8]}@test.fr"
                self.users[role] = container.accounts.register_user(
                    self.workspace_id,
                    email=email,
                    nom=role.replace("_", " ").title(),
                    role=role,
                    password=PASSWORD,
                ).id
        last = container.log.recorder.max_notification_id() or 0
        container.wait(last, "accounts")

    def email(self, role: str) -> str:
        return f"{role}.{self.workspace_id.hex[:8]}@test.fr"

    def client(self, role: str | None = None) -> TestClient[Litestar]:
        """A test client, logged in as `role` (with its CSRF header set) when given."""
        client: TestClient[Litestar] = OwnAppClient.open(self.container)
        # Each client its own address, so the per-IP login limit of one test never
        # spills into another (the app trusts X-Forwarded-For in these tests).
        Tenant._clients += 1
        client.headers["x-forwarded-for"] = (
            f"10.{Tenant._clients // 65536 % 256}."
            f"{Tenant._clients // 256 % 256}.{Tenant._clients % 256}"
        )
        if role is not None:
            response = client.post(
                "/api/auth/login", json={"email": self.email(role), "password": PASSWORD}
            )
            assert response.status_code == 201, response.text
            me = client.get("/api/auth/me")
            client.headers["x-csrftoken"] = me.json()["csrfToken"]
        return client


@pytest.fixture
def tenant(web_container: Container, app: Litestar) -> Tenant:
    return Tenant(web_container, app)


@pytest.fixture
def client_as(tenant: Tenant) -> Iterator[Callable[[str | None], TestClient[Litestar]]]:
    opened: list[TestClient[Litestar]] = []

    def make(role: str | None) -> TestClient[Litestar]:
        client = tenant.client(role)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
