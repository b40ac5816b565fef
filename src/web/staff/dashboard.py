"""Tableau de bord: key figures against the previous period, charts, forecast, per
salesperson, at-risk opportunities, and their CSV/XLSX exports.

Every figure is also a table row (readable without JavaScript); the charts are drawn
over them by /static/dashboard.js with the locally served Chart.js.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from litestar.response import Template

from projections.forecast import METHOD
from projections.metrics import PARIS, Period
from projections.timeline import STAGE_LABELS
from web.analytics import (
    TABLE_KEYS,
    Dashboard,
    PeriodError,
    Table,
    build_dashboard,
    parse_period,
    presets,
    scope_for,
    tables,
)
from web.auth.identity import Staff, staff_guard
from web.exports import to_csv, to_xlsx
from web.problems import problem_response
from web.ui import container_of, page


def charts(data: Dashboard) -> dict[str, Any]:
    """The series the charts draw (the same numbers as the tables)."""
    months = sorted({row.mois for row in data.etapes_par_mois})
    by_key = {(row.mois, row.etape): row.entrees for row in data.etapes_par_mois}
    stages = list(dict.fromkeys(row.etape for row in data.etapes_par_mois))
    current, before = data.indicateurs, data.indicateurs_precedents
    return {
        "etapes": {
            "labels": [f"{month:%m/%Y}" for month in months],
            "datasets": [
                {
                    "label": STAGE_LABELS.get(stage, stage),
                    "data": [by_key.get((month, stage), 0) for month in months],
                }
                for stage in stages
            ],
        },
        "prevision": {
            "labels": [f"{row.mois:%m/%Y}" for row in data.prevision.mois],
            "fourchette": [[float(row.bas), float(row.haut)] for row in data.prevision.mois],
            "attendu": [float(row.attendu) for row in data.prevision.mois],
        },
        "comparaison": {
            "labels": ["Gagné", "Encaissé", "En attente de paiement"],
            "periode": [
                float(current.montant_gagne),
                float(current.montant_encaisse),
                float(current.montant_en_attente),
            ],
            "precedente": [
                float(before.montant_gagne),
                float(before.montant_encaisse),
                float(before.montant_en_attente),
            ],
        },
    }


def _period_query(period: Period) -> str:
    return f"du={period.du.isoformat()}&au={period.au.isoformat()}"


class DashboardController(Controller):
    guards = [staff_guard]  # noqa: RUF012
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def dashboard(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        du: str | None = Parameter(default=None),
        au: str | None = Parameter(default=None),
    ) -> Template:
        container = container_of(request)
        today = datetime.now(PARIS).date()
        error = None
        try:
            period = parse_period(du, au, today)
        except PeriodError as problem:
            error = problem.message
            period = parse_period(None, None, today)
        data = build_dashboard(container, staff, period)
        tickets = container.tickets.recent_open(staff.workspace_id, limit=10)
        urgent = [t for t in tickets if t.priorite in ("haute", "urgente") or t.assignee_id is None]
        return page(
            request,
            "staff/dashboard.html",
            status_code=400 if error else 200,
            data=data,
            tables={table.key: table for table in tables(data, scope_for(staff))},
            charts=charts(data),
            presets=presets(today),
            period_query=_period_query(period),
            period_error=error,
            method=METHOD,
            tickets=urgent,
        )

    @get("/tableau-de-bord/export", sync_to_thread=True)
    def export(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        table: str = Parameter(default="tout"),
        format: str = Parameter(default="xlsx"),
        du: str | None = Parameter(default=None),
        au: str | None = Parameter(default=None),
    ) -> Response[Any]:
        try:
            period = parse_period(du, au, datetime.now(PARIS).date())
        except PeriodError as problem:
            return problem_response(request, 400, problem.message, {problem.field: problem.message})
        if table != "tout" and table not in TABLE_KEYS:
            detail = "Table inconnue : " + ", ".join(("tout", *TABLE_KEYS)) + "."
            return problem_response(request, 400, detail, {"table": detail})
        if format not in ("csv", "xlsx"):
            detail = "Format inconnu : csv ou xlsx."
            return problem_response(request, 400, detail, {"format": detail})
        if format == "csv" and table == "tout":
            detail = "Le CSV s’exporte table par table : précisez « table »."
            return problem_response(request, 400, detail, {"table": detail})
        data = build_dashboard(container_of(request), staff, period)
        chosen: list[Table] = [
            t for t in tables(data, scope_for(staff)) if table in ("tout", t.key)
        ]
        name = f"tableau-de-bord_{table}_{period.du.isoformat()}_{period.au.isoformat()}"
        if format == "csv":
            body, media = to_csv(chosen[0]), "text/csv; charset=utf-8"
        else:
            body = to_xlsx(chosen)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="{name}.{format}"',
                "Cache-Control": "no-store",
            },
        )
