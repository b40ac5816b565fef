"""GET /health: is the database reachable, how far behind is each read model."""

from __future__ import annotations

import msgspec
import psycopg
from litestar import Controller, Response, get
from litestar.datastructures import State

from web.container import Container


class ReadModelHealth(msgspec.Struct):
    position: int
    lag: int


class Health(msgspec.Struct):
    status: str
    database: str
    projections: dict[str, ReadModelHealth]


class HealthController(Controller):
    path = "/health"
    tags = ["Santé"]  # noqa: RUF012

    @get(sync_to_thread=True, summary="État du CRM : base de données et retard des projections")
    def health(self, state: State) -> Response[Health]:
        container: Container = state.container
        try:
            lag = container.lag()
        except psycopg.Error:
            return Response(Health("degrade", "injoignable", {}), status_code=503)
        projections = {name: ReadModelHealth(**values) for name, values in lag.items()}
        return Response(Health("ok", "ok", projections))
