"""The Litestar application factory: the web composition root."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.base import NamespacedStore
from litestar.stores.redis import RedisStore
from litestar.types import ControllerRouterHandler

from web.api import api_handlers
from web.api.dashboard import DashboardApiController
from web.auth.identity import StaffAccounts, provide_staff
from web.auth.store import LazyPool, PostgresStore
from web.container import Container, running_container
from web.health import HealthController
from web.payments import PaymentsController, StripeWebhookController
from web.portal.links import PortalLinkPages, PortalLinksApi
from web.portal.pages import PortalApi, PortalPages
from web.portal.reads import PortalReads
from web.problems import EXCEPTION_HANDLERS
from web.settings import Settings
from web.settings import settings as current_settings
from web.staff.audit import AuditController
from web.staff.auth import AuthController
from web.staff.board_reads import BoardReads
from web.staff.clients import ClientsController
from web.staff.dashboard import DashboardController
from web.staff.emails import EmailsController
from web.staff.inbox_api import InboxApiController
from web.staff.mail_files import MailFilesController
from web.staff.mail_settings import MailSettingsController
from web.staff.notifications import NotificationsController
from web.staff.payments import PaymentLinksController, PaymentSettingsController
from web.staff.pipeline import PipelineController
from web.staff.settings import SettingsController
from web.staff.tickets import TicketsController
from web.templating import template_config

STATIC = Path(__file__).with_name("static")


def route_handlers() -> list[ControllerRouterHandler]:
    """Every controller of the app; each feature adds its own here."""
    return [
        HealthController,
        AuthController,
        DashboardController,
        ClientsController,
        NotificationsController,
        PipelineController,
        TicketsController,
        SettingsController,
        AuditController,
        PaymentSettingsController,
        PaymentLinksController,
        StripeWebhookController,
        PaymentsController,
        InboxApiController,
        EmailsController,
        MailFilesController,
        MailSettingsController,
        DashboardApiController,
        *api_handlers(),
        PortalPages,
        PortalApi,
        PortalLinksApi,
        PortalLinkPages,
    ]


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> Litestar:
    """Build the app; with no `container`, it starts its own for its lifespan."""
    chosen = settings or current_settings()
    holder: dict[str, Container] = {}
    if container is not None:
        holder["container"] = container

    def conninfo() -> str:
        return holder["container"].conninfo

    pool = LazyPool(conninfo)
    root_store: NamespacedStore = (
        RedisStore.with_client(url=chosen.redis_url, namespace="crm-web")
        if chosen.redis_url
        else PostgresStore(pool, "web")
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Handlers run the synchronous read models in threads that mostly wait on
        # PostgreSQL: the loop's default executor (cores + 4 threads) would queue
        # concurrent requests behind a handful of them.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=32, thread_name_prefix="crm-web")
        )
        with ExitStack() as stack:
            if "container" not in holder:
                holder["container"] = stack.enter_context(running_container(chosen))
            app.state.container = holder["container"]
            # The portal's own pool: its page is read on the event loop, every load asked
            # (the loads waiting together in one statement).
            portal_reads = PortalReads.for_container(holder["container"], max_connections=12)
            app.state.portal_reads = portal_reads
            # The staff pages' reads on the event loop (no worker thread): the account
            # behind each request, and the board (one statement a load, its columns
            # kept rendered). A request holds one of these connections at a time.
            staff_pool = LazyPool(lambda: holder["container"].conninfo, max_size=12)
            app.state.staff_accounts = StaffAccounts(staff_pool)
            app.state.board_reads = BoardReads.for_container(holder["container"], staff_pool)
            # What startup built (modules, templates, pools, the container) lives as
            # long as the process: frozen, it is left out of the collector's full
            # passes, which otherwise stall a request now and then for tens of ms.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                await pool.close()
                await portal_reads.close()
                await staff_pool.close()

    return Litestar(
        route_handlers=[
            *route_handlers(),
            create_static_files_router(
                path="/static", directories=[STATIC], include_in_schema=False
            ),
        ],
        dependencies={"staff": Provide(provide_staff)},
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        stores={
            "sessions": root_store.with_namespace("sessions"),
            "throttle": root_store.with_namespace("throttle"),
        },
        middleware=[
            ServerSideSessionConfig(
                key="crm_session",
                max_age=chosen.session_max_age,
                renew_on_access=True,
                secure=chosen.cookie_secure,
                httponly=True,
                samesite="lax",
                exclude=["^/portail", "^/api/portail", "^/api/webhooks", "^/static", "^/health"],
            ).middleware
        ],
        csrf_config=CSRFConfig(
            secret=chosen.secret_key,
            cookie_secure=chosen.cookie_secure,
            cookie_samesite="lax",
            # Webhooks are signed by their sender; the portal has its own token and cookie.
            exclude=["^/api/webhooks", "^/api/portail", "^/portail"],
        ),
        template_config=template_config(reload=chosen.template_reload),
        openapi_config=OpenAPIConfig(
            title="CRM — API",
            version="0.1.0",
            description="API JSON du CRM : clients, opportunités, tickets, paiements, portail.",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
    )


__all__ = ["create_app", "route_handlers"]
