"""The tableau de bord's figures for a staff member and a period, as data and as tables.

One builder serves the page, the JSON route and the exports, so the three always
show the same numbers. Scope by role (RBAC matrix): a commercial sees their
personal figures; admin (full) and the developers (team) see the workspace's.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import msgspec

from crm_core.values import Role, Stage
from projections.forecast import Forecast
from projections.formatting import format_money
from projections.metrics import (
    PARIS,
    KeyFigures,
    Period,
    Salesperson,
    Scope,
    StageMonth,
    StageSnapshot,
    key_figures,
    open_pipeline,
    salespeople,
    stage_months,
)
from projections.timeline import STAGE_LABELS
from web.auth.identity import Staff
from web.container import Container

MAX_DAYS = 731
PAYMENT_NOTE = (
    "Paiements Stripe et visites du portail : ces chiffres se rempliront dès que les "
    "événements de paiement et de visite du portail seront enregistrés ; d’ici là ils valent zéro."
)


class PeriodError(ValueError):
    """A bad `du`/`au`: the French message and the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _parse_day(field: str, raw: str) -> date:
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise PeriodError(
            field, f"Date invalide pour « {field} » : utilisez le format AAAA-MM-JJ."
        ) from None
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        raise PeriodError(field, f"Date hors limites pour « {field} ».")
    return value


def parse_period(du: str | None, au: str | None, today: date) -> Period:
    """The period asked for; by default the current month up to today."""
    end = _parse_day("au", au) if au else today
    start = _parse_day("du", du) if du else end.replace(day=1)
    if start > end:
        raise PeriodError("du", "La date de début (du) doit précéder la date de fin (au).")
    if (end - start).days + 1 > MAX_DAYS:
        raise PeriodError("au", "La période ne peut pas dépasser deux ans.")
    return Period(start, end)


def presets(today: date) -> list[tuple[str, Period]]:
    """The period selector's shortcuts."""
    month = today.replace(day=1)
    last_month_end = month - timedelta(days=1)
    quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    return [
        ("Ce mois-ci", Period(month, today)),
        ("Mois dernier", Period(last_month_end.replace(day=1), last_month_end)),
        ("30 derniers jours", Period(today - timedelta(days=29), today)),
        ("Ce trimestre", Period(quarter, today)),
        ("Cette année", Period(date(today.year, 1, 1), today)),
    ]


def scope_for(staff: Staff) -> Scope:
    """Commercial: personal; admin (full) and developers (team): the workspace."""
    if staff.role is Role.COMMERCIAL:
        return Scope(staff.workspace_id, staff.id)
    return Scope(staff.workspace_id)


class Dashboard(msgspec.Struct, frozen=True):
    periode: Period
    periode_precedente: Period
    perimetre: str  # "equipe" | "personnel"
    indicateurs: KeyFigures
    indicateurs_precedents: KeyFigures
    etapes_par_mois: list[StageMonth]
    pipeline: list[StageSnapshot]
    commerciaux: list[Salesperson]
    prevision: Forecast
    notes: list[str]
    genere_le: datetime


def build_dashboard(container: Container, staff: Staff, period: Period) -> Dashboard:
    view = container.analytics
    scope = scope_for(staff)
    now = datetime.now(PARIS)
    previous = period.previous()
    return Dashboard(
        periode=period,
        periode_precedente=previous,
        perimetre="personnel" if scope.personal else "equipe",
        indicateurs=key_figures(view, scope, period),
        indicateurs_precedents=key_figures(view, scope, previous),
        etapes_par_mois=stage_months(view, scope, period),
        pipeline=open_pipeline(view, scope),
        commerciaux=salespeople(view, scope, period),
        prevision=container.forecasts.get(view, scope, now.date(), now),
        notes=[PAYMENT_NOTE],
        genere_le=now,
    )


# --- tables: what the page shows without JavaScript and what the exports contain ---
class Cell(msgspec.Struct, frozen=True):
    text: str  # shown
    value: Any  # exported (numbers stay numbers)
    href: str | None = None
    kind: str = ""  # "percent" for rates (0..1), exported as percentages


class Table(msgspec.Struct, frozen=True):
    key: str
    titre: str
    colonnes: list[str]
    lignes: list[list[Cell]]


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".replace(".", ",") + "\u00a0%"


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}".replace(".", ",")
    return f"{text}\u00a0{unit}" if unit else text


def _link(path: str, **params: Any) -> str:
    query = {key: str(value) for key, value in params.items() if value not in (None, "")}
    return f"{path}?{urlencode(query)}" if query else path


# What each key figure is, how to show it, and the list behind it.
_FIGURES: list[tuple[str, str, str]] = [
    ("opportunites_ouvertes", "Opportunités créées", "count"),
    ("opportunites_gagnees", "Opportunités gagnées", "count"),
    ("montant_gagne", "Montant gagné", "money"),
    ("opportunites_perdues", "Opportunités perdues", "count"),
    ("taux_gain", "Taux de gain (gagnées / clôturées)", "percent"),
    ("conversion_paiement", "Conversion opportunité → paiement", "percent"),
    ("montant_encaisse", "Montant encaissé (Stripe)", "money"),
    ("paiements_stripe", "Paiements Stripe reçus", "count"),
    ("montant_rembourse", "Montant remboursé", "money"),
    ("montant_en_attente", "En attente de paiement", "money"),
    ("gagnees_non_payees", "Gagnées non payées", "count"),
    ("delai_paiement_moyen_jours", "Délai gagné → paiement, moyen", "days"),
    ("delai_paiement_median_jours", "Délai gagné → paiement, médian", "days"),
    ("part_lien_paiement", "Gagnées avec lien de paiement", "percent"),
    ("part_portail", "Clients actifs ayant utilisé le portail", "percent"),
    ("portail_clients_visite", "Clients ayant visité le portail", "count"),
    ("portail_clients_paiement", "Clients ayant payé en ligne", "count"),
    ("portail_clients_ticket", "Clients ayant ouvert un ticket sur le portail", "count"),
    ("tickets_ouverts", "Tickets ouverts", "count"),
    ("tickets_resolus", "Tickets résolus", "count"),
    ("delai_resolution_moyen_heures", "Délai de résolution moyen", "hours"),
    ("delai_resolution_median_heures", "Délai de résolution médian", "hours"),
    ("appels", "Appels passés", "count"),
]


def figure_links(period: Period, scope: Scope) -> dict[str, str]:
    """The list behind each key figure (the staff screens' filters)."""
    du, au = period.du.isoformat(), period.au.isoformat()
    owner = scope.owner_id
    opp = "/opportunites/tableau"
    won = _link(opp, etape="gagne", gagne_du=du, gagne_au=au, responsable=owner)
    pay = _link("/paiements", paye_du=du, paye_au=au, responsable=owner)
    tickets = _link("/tickets", ouvert_du=du, ouvert_au=au, assigne=owner)
    resolved = _link("/tickets", statut="resolu", resolu_du=du, resolu_au=au, assigne=owner)
    portal = _link("/clients", portail_du=du, portail_au=au, responsable=owner)
    return {
        "opportunites_ouvertes": _link(opp, cree_du=du, cree_au=au, responsable=owner),
        "opportunites_gagnees": won,
        "montant_gagne": won,
        "opportunites_perdues": _link(
            opp, etape="perdu", perdu_du=du, perdu_au=au, responsable=owner
        ),
        "taux_gain": won,
        "conversion_paiement": won,
        "montant_encaisse": pay,
        "paiements_stripe": pay,
        "montant_rembourse": _link("/paiements", statut="rembourse", responsable=owner),
        "montant_en_attente": _link("/paiements", statut="en_attente", responsable=owner),
        "gagnees_non_payees": _link(
            opp, etape="gagne", gagne_du=du, gagne_au=au, paiement="aucun", responsable=owner
        ),
        "delai_paiement_moyen_jours": pay,
        "delai_paiement_median_jours": pay,
        "part_lien_paiement": won,
        "part_portail": portal,
        "portail_clients_visite": portal,
        "portail_clients_paiement": pay,
        "portail_clients_ticket": _link(
            "/tickets", source="portail", ouvert_du=du, ouvert_au=au, assigne=owner
        ),
        "tickets_ouverts": tickets,
        "tickets_resolus": resolved,
        "delai_resolution_moyen_heures": resolved,
        "delai_resolution_median_heures": resolved,
        "appels": _link("/activites", type="appel", du=du, au=au, auteur=owner),
    }


def show(value: Any, kind: str) -> str:
    if kind == "money":
        return format_money(value)
    if kind == "percent":
        return percent(value)
    if kind == "days":
        return number(value, "j")
    if kind == "hours":
        return number(value, "h")
    return str(value)


def change(current: Any, before: Any, kind: str) -> str:
    """The evolution against the previous period (points for rates)."""
    if current is None or before is None:
        return "—"
    if kind == "percent":
        points = (current - before) * 100
        return f"{points:+.1f}".replace(".", ",") + "\u00a0pt"
    if not before:
        return "—" if not current else "nouveau"
    ratio = (Decimal(str(current)) - Decimal(str(before))) / Decimal(str(before)) * 100
    return f"{ratio:+.0f}\u00a0%"


def stage_month_table(data: Dashboard) -> Table:
    stages = list(Stage)
    by_month: dict[date, dict[str, StageMonth]] = {}
    for row in data.etapes_par_mois:
        by_month.setdefault(row.mois, {})[row.etape] = row
    rows: list[list[Cell]] = []
    for month, cells in sorted(by_month.items()):
        end = min((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), data.periode.au)
        start = max(month, data.periode.du)
        line = [Cell(f"{month:%m/%Y}", month.isoformat())]
        for stage in stages:
            count = cells[stage.value].entrees if stage.value in cells else 0
            href = _link(
                "/opportunites/tableau",
                etape=stage.value,
                entree_du=start.isoformat(),
                entree_au=end.isoformat(),
            )
            line.append(Cell(str(count), count, href))
        rows.append(line)
    return Table(
        "etapes_par_mois",
        "Opportunités entrées dans chaque étape, par mois",
        ["Mois", *[STAGE_LABELS.get(s.value, s.value) for s in stages]],
        rows,
    )


def pipeline_table(data: Dashboard) -> Table:
    rows = [
        [
            Cell(STAGE_LABELS.get(row.etape, row.etape), row.etape),
            Cell(str(row.nombre), row.nombre, _link("/opportunites/tableau", etape=row.etape)),
            Cell(format_money(row.montant), row.montant, _link("/opportunites", etape=row.etape)),
        ]
        for row in data.pipeline
    ]
    return Table("pipeline", "Pipeline ouvert aujourd’hui", ["Étape", "Nombre", "Montant"], rows)


def salespeople_table(data: Dashboard) -> Table:
    du, au = data.periode.du.isoformat(), data.periode.au.isoformat()
    rows: list[list[Cell]] = []
    for row in data.commerciaux:
        owner = row.owner_id or "aucun"
        won = _link(
            "/opportunites/tableau", etape="gagne", gagne_du=du, gagne_au=au, responsable=owner
        )
        rows.append(
            [
                Cell(row.nom, row.nom),
                Cell(str(row.opportunites_gagnees), row.opportunites_gagnees, won),
                Cell(
                    str(row.opportunites_perdues),
                    row.opportunites_perdues,
                    _link(
                        "/opportunites/tableau",
                        etape="perdu",
                        perdu_du=du,
                        perdu_au=au,
                        responsable=owner,
                    ),
                ),
                Cell(percent(row.taux_conversion), row.taux_conversion, won, "percent"),
                Cell(format_money(row.chiffre_affaires), row.chiffre_affaires, won),
                Cell(
                    format_money(row.montant_encaisse),
                    row.montant_encaisse,
                    _link("/paiements", paye_du=du, paye_au=au, responsable=owner),
                ),
                Cell(
                    str(row.appels),
                    row.appels,
                    _link("/activites", type="appel", du=du, au=au, auteur=owner),
                ),
                Cell(
                    format_money(row.pipeline_ouvert),
                    row.pipeline_ouvert,
                    _link("/opportunites", responsable=owner),
                ),
            ]
        )
    return Table(
        "commerciaux",
        "Performance par commercial",
        [
            "Commercial",
            "Gagnées",
            "Perdues",
            "Taux de conversion",
            "Chiffre d’affaires",
            "Encaissé",
            "Appels",
            "Pipeline ouvert",
        ],
        rows,
    )


def forecast_table(data: Dashboard) -> Table:
    link = _link("/opportunites/tableau", statut="ouvertes")
    rows = [
        [
            Cell(f"{row.mois:%m/%Y}", row.mois.isoformat()),
            Cell(format_money(row.bas), row.bas, link),
            Cell(format_money(row.median), row.median, link),
            Cell(format_money(row.attendu), row.attendu, link),
            Cell(format_money(row.haut), row.haut, link),
        ]
        for row in data.prevision.mois
    ]
    total = data.prevision.total
    rows.append(
        [
            Cell("Total", "total"),
            Cell(format_money(total.bas), total.bas, link),
            Cell(format_money(total.median), total.median, link),
            Cell(format_money(total.attendu), total.attendu, link),
            Cell(format_money(total.haut), total.haut, link),
        ]
    )
    return Table(
        "prevision",
        "Prévision de chiffre d’affaires (intervalle à 80 %)",
        ["Mois", "Bas (10 %)", "Médiane", "Attendu (moyenne)", "Haut (90 %)"],
        rows,
    )


def at_risk_table(data: Dashboard) -> Table:
    rows = [
        [
            Cell(row.titre, row.titre, f"/opportunites/{row.id}"),
            Cell(row.client_nom, row.client_nom),
            Cell(row.owner_nom or "—", row.owner_nom),
            Cell(STAGE_LABELS.get(row.etape, row.etape), row.etape),
            Cell(format_money(row.montant), row.montant),
            Cell(
                row.date_cloture_prevue.strftime("%d/%m/%Y") if row.date_cloture_prevue else "—",
                row.date_cloture_prevue,
            ),
            Cell(", ".join(row.raisons), ", ".join(row.raisons)),
        ]
        for row in data.prevision.a_risque
    ]
    return Table(
        "a_risque",
        "Opportunités à risque",
        ["Opportunité", "Client", "Responsable", "Étape", "Montant", "Clôture prévue", "Raisons"],
        rows,
    )


def tables(data: Dashboard, scope: Scope) -> list[Table]:
    """Every table of the dashboard, in page order."""
    return [
        figures_table_for(data, scope),
        stage_month_table(data),
        pipeline_table(data),
        forecast_table(data),
        at_risk_table(data),
        salespeople_table(data),
    ]


def figures_table_for(data: Dashboard, scope: Scope) -> Table:
    links = figure_links(data.periode, scope)
    rows: list[list[Cell]] = []
    for key, label, kind in _FIGURES:
        current = getattr(data.indicateurs, key)
        before = getattr(data.indicateurs_precedents, key)
        evolution = change(current, before, kind)
        rows.append(
            [
                Cell(label, label),
                Cell(show(current, kind), current, links[key], kind),
                Cell(show(before, kind), before, None, kind),
                Cell(evolution, evolution),
            ]
        )
    return Table(
        "indicateurs",
        "Indicateurs clés",
        ["Indicateur", "Période", "Période précédente", "Évolution"],
        rows,
    )


TABLE_KEYS = ("indicateurs", "etapes_par_mois", "pipeline", "prevision", "a_risque", "commerciaux")
