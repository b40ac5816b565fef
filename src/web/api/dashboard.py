"""`GET /api/tableau-de-bord?du=AAAA-MM-JJ&au=AAAA-MM-JJ`: the dashboard's figures as JSON.

The same builder as the page and the exports (`web.analytics`); the scope follows the
role (a commercial gets their personal figures). Bad dates: 400 problem JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from projections.metrics import PARIS
from web.analytics import PeriodError, build_dashboard, parse_period
from web.auth.identity import Staff, staff_guard
from web.problems import problem_response
from web.ui import container_of


class DashboardApiController(Controller):
    path = "/api/tableau-de-bord"
    guards = [staff_guard]  # noqa: RUF012
    tags = ["Tableau de bord"]  # noqa: RUF012

    @get("/", sync_to_thread=True, summary="Indicateurs, prévision et performance par commercial")
    def figures(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        du: str | None = Parameter(default=None, description="Début de période (AAAA-MM-JJ)"),
        au: str | None = Parameter(default=None, description="Fin de période incluse (AAAA-MM-JJ)"),
    ) -> Response[Any]:
        try:
            period = parse_period(du, au, datetime.now(PARIS).date())
        except PeriodError as error:
            return problem_response(request, 400, error.message, {error.field: error.message})
        return Response(build_dashboard(container_of(request), staff, period))
