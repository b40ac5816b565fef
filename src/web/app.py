"""The Litestar application factory: the web composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from web.container import Container, running_container
from web.health import HealthController
from web.problems import EXCEPTION_HANDLERS
from web.settings import Settings
from web.settings import settings as current_settings


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> Litestar:
    """Build the app; with no `container`, it starts its own for its lifespan."""
    chosen = settings or current_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        with ExitStack() as stack:
            app.state.container = container or stack.enter_context(running_container(chosen))
            yield

    return Litestar(
        route_handlers=[HealthController],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="CRM — API",
            version="0.1.0",
            description="API JSON du CRM : clients, opportunités, tickets, paiements, portail.",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
    )
