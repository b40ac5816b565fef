"""The business metrics of the tableau de bord, over a period, from the analytics facts.

A period is a range of calendar days in Paris time, both ends included. "In the
period" means the fact's date (opened, won, lost, paid, resolved...) falls in it.
The scope is a workspace, optionally narrowed to one salesperson (`owner_id`):
their opportunities (and the payments of those), the calls they logged, the
tickets assigned to them and the clients they own.

Definitions (the names are the JSON and export columns):

- `opportunites_ouvertes`: opportunities created in the period.
- `opportunites_gagnees`, `montant_gagne`: opportunities won in the period and still
  won today; amount = the amount of the Won event.
- `opportunites_perdues`: lost in the period and still lost today.
- `taux_gain`: gagnées / (gagnées + perdues) of the period.
- `conversion_paiement`: among the opportunities closed (won or lost) in the period,
  the share that received a payment (at any time up to today).
- `montant_encaisse`, `paiements_stripe`: Stripe payments received in the period
  (gross, refunds not deducted) and their number; `montant_rembourse` the refunds
  recorded on them.
- `montant_en_attente`, `gagnees_non_payees`: opportunities won in the period with
  no payment received yet (amount of the Won event).
- `delai_paiement_moyen_jours`, `delai_paiement_median_jours`: for the payments
  received in the period, days between the opportunity's win and the payment.
- `part_lien_paiement`: among the opportunities won in the period, the share for
  which a Stripe payment link was created.
- `portail_*`: distinct clients who visited the portal, paid online, or opened a
  ticket from the portal in the period; `part_portail` = clients who did any of
  these / active (not archived) clients.
- `tickets_ouverts`, `tickets_resolus`: tickets opened / resolved (first move to
  résolu or fermé) in the period; `delai_resolution_*_heures`: for the tickets
  resolved in the period, hours from opening to resolution.
- `appels`: activities of kind `appel` dated in the period, by their author.
- `pipeline_*`: the open pipeline today (not period-bound).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from psycopg.rows import DictRow

from crm_core.values import OPEN_STAGES, Stage
from projections.analytics import AnalyticsView

PARIS = ZoneInfo("Europe/Paris")


class Period(msgspec.Struct, frozen=True):
    """Calendar days `du` to `au`, both included, in Paris time."""

    du: date
    au: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.du, time(), PARIS)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.au + timedelta(days=1), time(), PARIS)

    @property
    def days(self) -> int:
        return (self.au - self.du).days + 1

    def previous(self) -> Period:
        """The period just before: as many whole months when the period is whole calendar
        months (March -> February), else as many days.
        """
        if self.du.day == 1 and (self.au + timedelta(days=1)).day == 1:
            months = (self.au.year - self.du.year) * 12 + self.au.month - self.du.month + 1
            index = self.du.year * 12 + self.du.month - 1 - months
            return Period(date(index // 12, index % 12 + 1, 1), self.du - timedelta(days=1))
        return Period(self.du - timedelta(days=self.days), self.du - timedelta(days=1))

    def months(self) -> list[date]:
        """The first day of each month the period touches."""
        first = self.du.replace(day=1)
        out: list[date] = []
        while first <= self.au:
            out.append(first)
            first = (first + timedelta(days=32)).replace(day=1)
        return out


class Scope(msgspec.Struct, frozen=True):
    workspace_id: UUID
    owner_id: UUID | None = None  # a salesperson's personal figures

    @property
    def personal(self) -> bool:
        return self.owner_id is not None


class KeyFigures(msgspec.Struct, frozen=True):
    opportunites_ouvertes: int
    opportunites_gagnees: int
    montant_gagne: Decimal
    opportunites_perdues: int
    taux_gain: float | None
    conversion_paiement: float | None
    montant_encaisse: Decimal
    paiements_stripe: int
    montant_rembourse: Decimal
    montant_en_attente: Decimal
    gagnees_non_payees: int
    delai_paiement_moyen_jours: float | None
    delai_paiement_median_jours: float | None
    part_lien_paiement: float | None
    gagnees_avec_lien: int
    portail_clients_actifs: int
    portail_clients_visite: int
    portail_clients_paiement: int
    portail_clients_ticket: int
    portail_clients_total: int
    part_portail: float | None
    tickets_ouverts: int
    tickets_resolus: int
    delai_resolution_moyen_heures: float | None
    delai_resolution_median_heures: float | None
    appels: int


class StageMonth(msgspec.Struct, frozen=True):
    """Opportunities entering a stage in a month (Paris time)."""

    mois: date
    etape: str
    entrees: int
    montant: Decimal


class StageSnapshot(msgspec.Struct, frozen=True):
    etape: str
    nombre: int
    montant: Decimal


class Salesperson(msgspec.Struct, frozen=True):
    """One owner's figures over the period (owner None: opportunities without owner)."""

    owner_id: UUID | None
    nom: str
    opportunites_gagnees: int
    opportunites_perdues: int
    taux_conversion: float | None
    chiffre_affaires: Decimal
    montant_encaisse: Decimal
    appels: int
    pipeline_ouvert: Decimal


def _one(view: AnalyticsView, query: Any, params: dict[str, Any]) -> DictRow:
    """The single row of an aggregate query (which always returns one)."""
    row = view.fetch_one(query, params)
    if row is None:  # pragma: no cover - aggregates without GROUP BY return one row
        msg = "Une requête d’agrégat n’a renvoyé aucune ligne."
        raise LookupError(msg)
    return row


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _owner(scope: Scope, column: LiteralString) -> LiteralString:
    # Composed from fixed fragments only; the id itself is a bound parameter.
    return f" AND {column} = %(owner)s" if scope.personal else ""  # type: ignore[return-value]


def _params(scope: Scope, period: Period) -> dict[str, Any]:
    return {
        "ws": scope.workspace_id,
        "owner": scope.owner_id,
        "start": period.start,
        "end": period.end,
        "du": period.du,
        "au": period.au,
    }


def _days(scope: Scope) -> LiteralString:
    """The per-day summaries of the scope and period (at most one row per day and owner)."""
    return (
        "SELECT * FROM rm_analytics_days WHERE workspace_id = %(ws)s"
        " AND jour >= %(du)s AND jour <= %(au)s" + _owner(scope, "owner_id")
    )


def key_figures(view: AnalyticsView, scope: Scope, period: Period) -> KeyFigures:
    """Every key figure of the period (definitions in the module docstring).

    Opportunity counts and amounts and calls are sums of the per-day summaries
    (`rm_analytics_days`); payments and tickets, whose delays need a median, are read
    from their facts through the indexes on their dates (bounded by the period's
    payments and tickets). One round trip.
    """
    p = _params(scope, period)
    opp_owner = _owner(scope, "o.owner_id")
    row = _one(
        view,
        f"WITH days AS ({_days(scope)}),"  # type: ignore[arg-type]
        " opp AS (SELECT COALESCE(sum(ouvertes), 0) AS ouvertes,"
        "  COALESCE(sum(gagnees), 0) AS gagnees, COALESCE(sum(montant_gagne), 0) AS montant_gagne,"
        "  COALESCE(sum(perdues), 0) AS perdues, COALESCE(sum(closes_payees), 0) AS closed_paid,"
        "  COALESCE(sum(gagnees_non_payees), 0) AS non_payees,"
        "  COALESCE(sum(montant_en_attente), 0) AS en_attente,"
        "  COALESCE(sum(gagnees_avec_lien), 0) AS avec_lien, COALESCE(sum(appels), 0) AS appels"
        "  FROM days),"
        " pay AS (SELECT count(*) AS pay_n, COALESCE(sum(p.paid_amount), 0) AS pay_montant,"
        "  COALESCE(sum(p.refunded_amount), 0) AS pay_rembourse,"
        "  avg(EXTRACT(EPOCH FROM p.paid_at - o.won_at) / 86400) AS pay_delai_moyen,"
        "  percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM p.paid_at - o.won_at)"
        "   / 86400) AS pay_delai_median"
        "  FROM rm_analytics_payments p"
        "  JOIN rm_analytics_opportunities o ON o.id = p.opportunity_id"
        "  WHERE p.workspace_id = %(ws)s AND p.paid_at >= %(start)s AND p.paid_at < %(end)s"
        f"  {opp_owner}),"
        " tickets AS (SELECT"
        "  count(*) FILTER (WHERE opened_at >= %(start)s AND opened_at < %(end)s) AS t_ouverts,"
        "  count(*) FILTER (WHERE resolved_at >= %(start)s AND resolved_at < %(end)s)"
        "   AS t_resolus,"
        "  avg(EXTRACT(EPOCH FROM resolved_at - opened_at) / 3600)"
        "   FILTER (WHERE resolved_at >= %(start)s AND resolved_at < %(end)s) AS t_moyen,"
        "  percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM resolved_at - opened_at)"
        "   / 3600) FILTER (WHERE resolved_at >= %(start)s AND resolved_at < %(end)s) AS t_median"
        "  FROM rm_analytics_tickets WHERE workspace_id = %(ws)s"
        f" {_owner(scope, 'assignee_id')}"
        "  AND ((opened_at >= %(start)s AND opened_at < %(end)s)"
        "    OR (resolved_at >= %(start)s AND resolved_at < %(end)s)))"
        f" SELECT * FROM opp, pay, tickets, ({_portal_query(scope)}) AS portal",
        p,
    )
    closed = row["gagnees"] + row["perdues"]
    return KeyFigures(
        opportunites_ouvertes=row["ouvertes"],
        opportunites_gagnees=row["gagnees"],
        montant_gagne=row["montant_gagne"],
        opportunites_perdues=row["perdues"],
        taux_gain=_ratio(row["gagnees"], closed),
        conversion_paiement=_ratio(row["closed_paid"], closed),
        montant_encaisse=row["pay_montant"],
        paiements_stripe=row["pay_n"],
        montant_rembourse=row["pay_rembourse"],
        montant_en_attente=row["en_attente"],
        gagnees_non_payees=row["non_payees"],
        delai_paiement_moyen_jours=_num(row["pay_delai_moyen"]),
        delai_paiement_median_jours=_num(row["pay_delai_median"]),
        part_lien_paiement=_ratio(row["avec_lien"], row["gagnees"]),
        gagnees_avec_lien=row["avec_lien"],
        portail_clients_actifs=row["actifs"],
        portail_clients_visite=row["visite"],
        portail_clients_paiement=row["paiement"],
        portail_clients_ticket=row["ticket"],
        portail_clients_total=row["total"],
        part_portail=_ratio(row["total"], row["actifs"]),
        tickets_ouverts=row["t_ouverts"],
        tickets_resolus=row["t_resolus"],
        delai_resolution_moyen_heures=_num(row["t_moyen"]),
        delai_resolution_median_heures=_num(row["t_median"]),
        appels=row["appels"],
    )


def _portal_query(scope: Scope) -> LiteralString:
    """Distinct clients of the scope who used the portal in the period, and active ones."""
    in_scope = "SELECT id FROM rm_analytics_clients WHERE workspace_id = %(ws)s" + _owner(
        scope, "owner_id"
    )
    return (
        "WITH scope AS (" + in_scope + "),"
        " uses AS ("
        "  SELECT client_id, 'visite' AS kind FROM rm_analytics_portal_visits"
        "   WHERE workspace_id = %(ws)s AND visited_at >= %(start)s AND visited_at < %(end)s"
        "  UNION ALL SELECT client_id, 'paiement' FROM rm_analytics_payments"
        "   WHERE workspace_id = %(ws)s AND paid_at >= %(start)s AND paid_at < %(end)s"
        "  UNION ALL SELECT client_id, 'ticket' FROM rm_analytics_tickets"
        "   WHERE workspace_id = %(ws)s AND source = 'portail'"
        "     AND opened_at >= %(start)s AND opened_at < %(end)s"
        " )"
        " SELECT"
        " (SELECT count(*) FROM rm_analytics_clients c WHERE c.workspace_id = %(ws)s"
        "   AND NOT c.archived" + _owner(scope, "c.owner_id") + ") AS actifs,"
        " count(DISTINCT client_id) FILTER (WHERE kind = 'visite') AS visite,"
        " count(DISTINCT client_id) FILTER (WHERE kind = 'paiement') AS paiement,"
        " count(DISTINCT client_id) FILTER (WHERE kind = 'ticket') AS ticket,"
        " count(DISTINCT client_id) AS total"
        " FROM uses WHERE client_id IN (SELECT id FROM scope)"
    )


def stage_months(view: AnalyticsView, scope: Scope, period: Period) -> list[StageMonth]:
    """Opportunities entering each stage, per month of the period (every month x stage)."""
    # The per-day summaries of the stage entries (`rm_analytics_stage_days`).
    rows = view.fetch_all(
        "SELECT date_trunc('month', jour)::date AS mois, etape, sum(entrees)::int AS entrees,"
        " COALESCE(sum(montant), 0) AS montant FROM rm_analytics_stage_days"
        " WHERE workspace_id = %(ws)s AND jour >= %(du)s AND jour <= %(au)s"
        f"{_owner(scope, 'owner_id')}"
        " GROUP BY 1, 2",
        _params(scope, period),
    )
    found = {(row["mois"], row["etape"]): row for row in rows}
    out: list[StageMonth] = []
    for month in period.months():
        for stage in Stage:
            row = found.get((month, stage.value))
            out.append(
                StageMonth(
                    mois=month,
                    etape=stage.value,
                    entrees=row["entrees"] if row else 0,
                    montant=row["montant"] if row else Decimal(0),
                )
            )
    return out


def open_pipeline(view: AnalyticsView, scope: Scope) -> list[StageSnapshot]:
    """The open opportunities today, per stage."""
    rows = view.fetch_all(
        "SELECT etape, sum(nombre)::int AS n, COALESCE(sum(montant), 0) AS montant"
        " FROM rm_analytics_open_pipeline WHERE workspace_id = %(ws)s"
        f"{_owner(scope, 'owner_id')} GROUP BY etape",
        {"ws": scope.workspace_id, "owner": scope.owner_id},
    )
    found = {row["etape"]: row for row in rows}
    return [
        StageSnapshot(
            etape=stage.value,
            nombre=found[stage.value]["n"] if stage.value in found else 0,
            montant=found[stage.value]["montant"] if stage.value in found else Decimal(0),
        )
        for stage in OPEN_STAGES
    ]


def salespeople(view: AnalyticsView, scope: Scope, period: Period) -> list[Salesperson]:
    """Per owner of opportunities (and per author of calls): the period's performance."""
    # Won, lost and their amounts, and calls: per-day summaries; the open pipeline
    # (today, not period-bound) from its summary per owner and stage; payments from
    # their facts.
    rows = view.fetch_all(
        f"WITH days AS ({_days(scope)}),"  # type: ignore[arg-type]
        " summed AS (SELECT owner_id, sum(gagnees) AS gagnees, sum(perdues) AS perdues,"
        "  sum(montant_gagne) AS ca, sum(appels) AS appels FROM days GROUP BY owner_id),"
        " opp AS (SELECT owner_id, gagnees, perdues, ca FROM summed"
        "  WHERE gagnees > 0 OR perdues > 0),"
        " calls AS (SELECT owner_id, appels FROM summed WHERE appels > 0),"
        " pipe AS ("
        "  SELECT owner_id, COALESCE(sum(montant), 0) AS pipeline"
        "  FROM rm_analytics_open_pipeline WHERE workspace_id = %(ws)s"
        f"  {_owner(scope, 'owner_id')}"
        "  GROUP BY owner_id HAVING sum(nombre) > 0"
        "), paid AS ("
        "  SELECT o.owner_id, sum(p.paid_amount) AS encaisse FROM rm_analytics_payments p"
        "  JOIN rm_analytics_opportunities o ON o.id = p.opportunity_id"
        "  WHERE p.workspace_id = %(ws)s AND p.paid_at >= %(start)s AND p.paid_at < %(end)s"
        f"  {_owner(scope, 'o.owner_id')}"
        "  GROUP BY o.owner_id"
        "), owners AS ("
        "  SELECT owner_id FROM opp UNION SELECT owner_id FROM pipe"
        "  UNION SELECT owner_id FROM paid UNION SELECT owner_id FROM calls"
        ") SELECT w.owner_id, COALESCE(u.nom, '') AS nom,"
        " COALESCE(opp.gagnees, 0)::int AS gagnees, COALESCE(opp.perdues, 0)::int AS perdues,"
        " COALESCE(opp.ca, 0) AS ca, COALESCE(paid.encaisse, 0) AS encaisse,"
        " COALESCE(calls.appels, 0)::int AS appels, COALESCE(pipe.pipeline, 0) AS pipeline"
        " FROM owners w"
        " LEFT JOIN opp ON opp.owner_id IS NOT DISTINCT FROM w.owner_id"
        " LEFT JOIN pipe ON pipe.owner_id IS NOT DISTINCT FROM w.owner_id"
        " LEFT JOIN paid ON paid.owner_id IS NOT DISTINCT FROM w.owner_id"
        " LEFT JOIN calls ON calls.owner_id IS NOT DISTINCT FROM w.owner_id"
        " LEFT JOIN rm_users u ON u.id = w.owner_id"
        " ORDER BY COALESCE(opp.ca, 0) DESC, nom",
        _params(scope, period),
    )
    return [
        Salesperson(
            owner_id=row["owner_id"],
            nom=row["nom"] or ("Sans responsable" if row["owner_id"] is None else "Inconnu"),
            opportunites_gagnees=row["gagnees"],
            opportunites_perdues=row["perdues"],
            taux_conversion=_ratio(row["gagnees"], row["gagnees"] + row["perdues"]),
            chiffre_affaires=row["ca"],
            montant_encaisse=row["encaisse"],
            appels=row["appels"],
            pipeline_ouvert=row["pipeline"],
        )
        for row in rows
    ]
