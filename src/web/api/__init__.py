"""The JSON API of the staff app: clients, opportunities, tickets, users.

Every route under the router needs a staff session (`staff_guard`); writes check
the role server-side (`requires(...)`, `Staff.can_write_client`), run inside
`staff.acting()` so events carry the user, and wait for the read model before
answering (read-your-writes). Lists answer `{items, curseurSuivant, total}`.
"""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide
from litestar.exceptions import ClientException, ValidationException
from litestar.types import ControllerRouterHandler

from web.api.clients import ClientsController
from web.api.common import (
    api_client_error_handler,
    api_validation_error_handler,
    provide_container,
)
from web.api.opportunites import OpportunitesController, PipelineController
from web.api.tickets import TicketsController
from web.api.utilisateurs import UtilisateursController, ping
from web.auth.identity import staff_guard


def api_handlers() -> list[ControllerRouterHandler]:
    """The API router (staff only) and the public trivial route `/api/ping`."""
    router = Router(
        path="/api",
        route_handlers=[
            ClientsController,
            OpportunitesController,
            PipelineController,
            TicketsController,
            UtilisateursController,
        ],
        guards=[staff_guard],
        dependencies={"container": Provide(provide_container, sync_to_thread=False)},
        exception_handlers={
            ValidationException: api_validation_error_handler,
            ClientException: api_client_error_handler,
        },
    )
    return [router, ping]


__all__ = ["api_handlers"]
