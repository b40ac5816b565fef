"""Tableau de bord: the open pipeline, this month's wins, open tickets, what needs attention."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from projections.pipeline import needing_attention, summary
from web.auth.identity import Staff, staff_guard
from web.templating import PARIS
from web.ui import container_of, page


class DashboardController(Controller):
    guards = [staff_guard]  # noqa: RUF012
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def dashboard(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        container = container_of(request)
        now = datetime.now(PARIS)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        tickets = container.tickets.search(staff.workspace_id, open_only=True, limit=10)
        urgent = [
            t for t in tickets.items if t.priorite in ("haute", "urgente") or t.assignee_id is None
        ]
        return page(
            request,
            "staff/dashboard.html",
            summary=summary(container.pipeline, staff.workspace_id, month_start.astimezone(UTC)),
            open_tickets=container.tickets.count_open(staff.workspace_id),
            late=needing_attention(container.pipeline, staff.workspace_id, now.date()),
            tickets=urgent,
        )
