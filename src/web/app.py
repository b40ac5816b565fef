"""The Litestar application factory: the web composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from web.container import Container, running_container
from web.current_staff import StaffResolver
from web.health import HealthController
from web.payments import PaymentsController, StripeWebhookController
from web.problems import EXCEPTION_HANDLERS
from web.settings import Settings
from web.settings import settings as current_settings


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    staff_resolver: StaffResolver | None = None,
) -> Litestar:
    """Build the app; with no `container`, it starts its own for its lifespan.

    `staff_resolver` stands in for the staff session until the staff app lands
    (see web/current_staff.py); without it, staff routes answer 401.
    """
    chosen = settings or current_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        with ExitStack() as stack:
            app.state.container = container or stack.enter_context(running_container(chosen))
            yield

    return Litestar(
        route_handlers=[HealthController, StripeWebhookController, PaymentsController],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"staff_resolver": staff_resolver}),
        openapi_config=OpenAPIConfig(
            title="CRM — API",
            version="0.1.0",
            description="API JSON du CRM : clients, opportunités, tickets, paiements, portail.",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
    )
