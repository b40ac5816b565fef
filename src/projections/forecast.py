"""Sales forecast (B1): expected revenue of the coming months from the open pipeline.

Method (Monte-Carlo, seeded): each simulation draws, for every open stage, a win
rate from its Beta posterior (explicit prior + the workspace's closed
opportunities that went through that stage); each open opportunity is then won
with its stage's rate and, when won, closes after a delay drawn from the delays
observed between entering that stage and the win (an explicit exponential prior
when fewer than `MIN_DELAYS` are known). The delay is counted from today: time
already spent in the stage is not used (a memoryless assumption, stated in the
notes). The revenue of a simulation in a month is the sum of the amounts of the
opportunities it closes in that month; the interval is the 10th to 90th
percentile of the simulations (80 %). Drawing the rates per simulation, rather
than fixing them, widens the interval when the history is thin.

History: opportunities closed (won or lost) in the last `HISTORY_DAYS` days.
At-risk opportunities: open ones past their expected close date, or without any
change for `STALE_DAYS` days.
"""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from threading import Lock
from typing import Any
from uuid import UUID

import msgspec
import numpy as np

from crm_core.application import LOG_NAME
from crm_core.values import OPEN_STAGES
from projections.analytics import AnalyticsView
from projections.metrics import Scope

LEVEL = 0.8
HORIZON_MONTHS = 3
SIMULATIONS = 2000
MAX_DRAWS = 4_000_000  # simulations x open opportunities; fewer simulations above
MIN_SIMULATIONS = 300
HISTORY_DAYS = 730
STALE_DAYS = 30
MIN_CLOSED = 10  # below this many closed opportunities, a stage leans on its prior
MIN_DELAYS = 5
PRIOR_STRENGTH = 4.0  # the prior counts as this many closed opportunities
PRIOR_WIN_RATE = {"prospect": 0.10, "qualification": 0.20, "proposition": 0.35, "negociation": 0.55}
PRIOR_DELAY_DAYS = {
    "prospect": 90.0,
    "qualification": 60.0,
    "proposition": 40.0,
    "negociation": 25.0,
}

METHOD = (
    "Prévision par simulation (Monte-Carlo) : chaque opportunité ouverte est gagnée selon le "
    "taux de réussite observé de son étape et conclue après un délai tiré des délais observés ; "
    "la fourchette couvre 80 % des simulations."
)


class StageHistory(msgspec.Struct, frozen=True):
    """What the workspace's history says about one open stage."""

    etape: str
    gagnees: int
    perdues: int
    delais_jours: list[float]  # entering the stage -> won, for the won ones


class StageParameters(msgspec.Struct, frozen=True):
    etape: str
    gagnees: int
    perdues: int
    taux_gain: float  # posterior mean used by the simulations
    delai_median_jours: float
    source: str  # "historique" | "a priori"


class OpenOpportunity(msgspec.Struct, frozen=True):
    etape: str
    montant: Decimal | None


class ForecastMonth(msgspec.Struct, frozen=True):
    mois: date
    attendu: Decimal  # mean of the simulations
    bas: Decimal  # 10th percentile
    median: Decimal
    haut: Decimal  # 90th percentile


class ForecastTotal(msgspec.Struct, frozen=True):
    attendu: Decimal
    bas: Decimal
    median: Decimal
    haut: Decimal


class AtRisk(msgspec.Struct, frozen=True):
    id: UUID
    titre: str
    client_nom: str
    owner_nom: str
    etape: str
    montant: Decimal | None
    date_cloture_prevue: date | None
    derniere_modification: datetime
    raisons: list[str]


class Forecast(msgspec.Struct, frozen=True):
    mois: list[ForecastMonth]
    total: ForecastTotal
    niveau: float
    simulations: int
    graine: int
    opportunites_ouvertes: int
    etapes: list[StageParameters]
    a_risque: list[AtRisk]
    methode: str
    notes: list[str]


def month_starts(today: date, months: int = HORIZON_MONTHS) -> list[date]:
    """The first day of the current month and of the next ones (months + 1 dates)."""
    first = today.replace(day=1)
    out = [first]
    for _ in range(months):
        first = (first + timedelta(days=32)).replace(day=1)
        out.append(first)
    return out


def _money(value: float) -> Decimal:
    return Decimal(str(round(float(value), 2))).quantize(Decimal("0.01"))


def simulate(
    history: Sequence[StageHistory],
    pipeline: Sequence[OpenOpportunity],
    today: date,
    *,
    seed: int,
    simulations: int = SIMULATIONS,
    won_amounts: Sequence[Decimal] = (),
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[StageParameters], list[str], int]:
    """Revenue per simulation and month (simulations x HORIZON_MONTHS), the parameters,
    notes and the number of simulations run. Pure: the tests drive it directly.
    """
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    if pipeline:
        simulations = max(MIN_SIMULATIONS, min(simulations, MAX_DRAWS // len(pipeline)))
    starts = month_starts(today)
    # Offsets in days from today of the ends of the horizon's months.
    edges = np.array([(start - today).days for start in starts[1:]], dtype=np.float64)
    by_stage = {item.etape: item for item in history}
    params: list[StageParameters] = []
    revenue = np.zeros((simulations, HORIZON_MONTHS + 1))
    known = [float(a) for a in won_amounts if a]
    fallback = float(np.median(known)) if known else 0.0
    missing = sum(1 for o in pipeline if not o.montant)
    if missing:
        notes.append(
            f"{missing} opportunité(s) sans montant : comptée(s) au montant médian des "
            f"affaires gagnées ({_money(fallback)} €)."
        )
    thin: list[str] = []
    for stage in OPEN_STAGES:
        past = by_stage.get(stage.value, StageHistory(stage.value, 0, 0, []))
        prior = PRIOR_WIN_RATE[stage.value]
        alpha = prior * PRIOR_STRENGTH + past.gagnees
        beta = (1 - prior) * PRIOR_STRENGTH + past.perdues
        delays = np.array(past.delais_jours, dtype=np.float64)
        own_delays = len(delays) >= MIN_DELAYS
        if past.gagnees + past.perdues < MIN_CLOSED or not own_delays:
            thin.append(stage.value)
        params.append(
            StageParameters(
                etape=stage.value,
                gagnees=past.gagnees,
                perdues=past.perdues,
                taux_gain=round(alpha / (alpha + beta), 4),
                delai_median_jours=round(
                    float(np.median(delays))
                    if own_delays
                    else PRIOR_DELAY_DAYS[stage.value] * float(np.log(2)),
                    1,
                ),
                source="historique" if past.gagnees + past.perdues >= MIN_CLOSED else "a priori",
            )
        )
        amounts = np.array(
            [float(o.montant) if o.montant else fallback for o in pipeline if o.etape == stage],
            dtype=np.float64,
        )
        if amounts.size == 0:
            continue
        rates = rng.beta(alpha, beta, size=(simulations, 1))
        won = rng.random((simulations, amounts.size)) < rates
        if own_delays:
            drawn = delays[rng.integers(0, delays.size, size=(simulations, amounts.size))]
        else:
            drawn = rng.exponential(PRIOR_DELAY_DAYS[stage.value], (simulations, amounts.size))
        month = np.searchsorted(edges, drawn, side="right")  # 0.. HORIZON (= beyond)
        flat = (np.arange(simulations)[:, None] * (HORIZON_MONTHS + 1) + month).ravel()
        revenue += np.bincount(
            flat, weights=(won * amounts).ravel(), minlength=simulations * (HORIZON_MONTHS + 1)
        ).reshape(simulations, HORIZON_MONTHS + 1)
    if thin:
        notes.append(
            "Historique encore mince pour : "
            + ", ".join(thin)
            + " — taux et délais a priori explicites (prospect 10 %, qualification 20 %, "
            "proposition 35 %, négociation 55 % ; délais moyens 90/60/40/25 jours)."
        )
    notes.append(
        "Le délai restant est compté à partir d’aujourd’hui, sans tenir compte du temps "
        "déjà passé dans l’étape."
    )
    return revenue[:, :HORIZON_MONTHS], params, notes, simulations


def summarise(
    revenue: np.ndarray[Any, np.dtype[np.float64]], today: date
) -> tuple[list[ForecastMonth], ForecastTotal]:
    low_q, high_q = (1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2
    months = [
        ForecastMonth(
            mois=start,
            attendu=_money(revenue[:, i].mean()),
            bas=_money(np.quantile(revenue[:, i], low_q)),
            median=_money(np.quantile(revenue[:, i], 0.5)),
            haut=_money(np.quantile(revenue[:, i], high_q)),
        )
        for i, start in enumerate(month_starts(today)[:HORIZON_MONTHS])
    ]
    total = revenue.sum(axis=1)
    return months, ForecastTotal(
        attendu=_money(total.mean()),
        bas=_money(np.quantile(total, low_q)),
        median=_money(np.quantile(total, 0.5)),
        haut=_money(np.quantile(total, high_q)),
    )


# --- reading the workspace's history ---------------------------------------------------
def _owner(scope: Scope, column: str) -> str:
    return f" AND {column} = %(owner)s" if scope.personal else ""


def stage_history(view: AnalyticsView, scope: Scope, now: datetime) -> list[StageHistory]:
    """Per open stage: closed opportunities that went through it, won or lost, and the
    days from their last entry into the stage to the win.
    """
    rows = view.fetch_all(
        "WITH closed AS ("  # type: ignore[arg-type]
        "  SELECT id, won_at FROM rm_analytics_opportunities WHERE workspace_id = %(ws)s"
        f"  {_owner(scope, 'owner_id')}"
        "   AND COALESCE(won_at, lost_at) >= %(since)s"
        "), passed AS ("
        "  SELECT e.etape, c.won_at, max(e.entered_at) AS entered"
        "  FROM closed c JOIN rm_analytics_stage_entries e ON e.opportunity_id = c.id"
        "  WHERE e.etape = ANY(%(stages)s) GROUP BY e.opportunity_id, e.etape, c.won_at"
        ") SELECT etape, count(*) FILTER (WHERE won_at IS NOT NULL) AS gagnees,"
        " count(*) FILTER (WHERE won_at IS NULL) AS perdues,"
        " (array_agg(EXTRACT(EPOCH FROM won_at - entered) / 86400 ORDER BY won_at DESC)"
        "   FILTER (WHERE won_at IS NOT NULL))[1:500] AS delais"
        " FROM passed GROUP BY etape",
        {
            "ws": scope.workspace_id,
            "owner": scope.owner_id,
            "since": now - timedelta(days=HISTORY_DAYS),
            "stages": [stage.value for stage in OPEN_STAGES],
        },
    )
    return [
        StageHistory(
            etape=row["etape"],
            gagnees=row["gagnees"],
            perdues=row["perdues"],
            delais_jours=[max(float(d), 0.0) for d in row["delais"] or []],
        )
        for row in rows
    ]


def open_opportunities(view: AnalyticsView, scope: Scope) -> list[OpenOpportunity]:
    rows = view.fetch_all(
        "SELECT etape, montant FROM rm_analytics_opportunities WHERE workspace_id = %(ws)s"  # type: ignore[arg-type]
        f" AND won_at IS NULL AND lost_at IS NULL{_owner(scope, 'owner_id')}",
        {"ws": scope.workspace_id, "owner": scope.owner_id},
    )
    return [OpenOpportunity(row["etape"], row["montant"]) for row in rows]


def recent_won_amounts(view: AnalyticsView, scope: Scope) -> list[Decimal]:
    rows = view.fetch_all(
        "SELECT won_amount FROM rm_analytics_opportunities WHERE workspace_id = %(ws)s"  # type: ignore[arg-type]
        f" AND won_at IS NOT NULL{_owner(scope, 'owner_id')} ORDER BY won_at DESC LIMIT 200",
        {"ws": scope.workspace_id, "owner": scope.owner_id},
    )
    return [row["won_amount"] for row in rows if row["won_amount"] is not None]


def at_risk(view: AnalyticsView, scope: Scope, today: date, *, limit: int = 20) -> list[AtRisk]:
    """Open opportunities past their expected close date or unchanged for STALE_DAYS."""
    rows = view.fetch_all(
        "SELECT o.id, o.titre, COALESCE(c.nom, '') AS client_nom, COALESCE(u.nom, '') AS owner_nom,"  # type: ignore[arg-type]
        " o.etape, o.montant, o.date_cloture_prevue, o.updated_at,"
        " o.date_cloture_prevue < %(today)s AS depassee, o.updated_at < %(stale)s AS inactive"
        " FROM rm_analytics_opportunities o"
        " LEFT JOIN rm_clients c ON c.id = o.client_id LEFT JOIN rm_users u ON u.id = o.owner_id"
        " WHERE o.workspace_id = %(ws)s AND o.won_at IS NULL AND o.lost_at IS NULL"
        f"{_owner(scope, 'o.owner_id')}"
        " AND (o.date_cloture_prevue < %(today)s OR o.updated_at < %(stale)s)"
        " ORDER BY o.montant DESC NULLS LAST, o.id LIMIT %(limit)s",
        {
            "ws": scope.workspace_id,
            "owner": scope.owner_id,
            "today": today,
            "stale": datetime.combine(today, datetime.min.time(), UTC) - timedelta(days=STALE_DAYS),
            "limit": limit,
        },
    )
    out: list[AtRisk] = []
    for row in rows:
        reasons: list[str] = []
        if row["depassee"]:
            reasons.append("date de clôture dépassée")
        if row["inactive"]:
            reasons.append(f"aucune modification depuis plus de {STALE_DAYS} jours")
        out.append(
            AtRisk(
                id=row["id"],
                titre=row["titre"],
                client_nom=row["client_nom"],
                owner_nom=row["owner_nom"],
                etape=row["etape"],
                montant=row["montant"],
                date_cloture_prevue=row["date_cloture_prevue"],
                derniere_modification=row["updated_at"],
                raisons=reasons,
            )
        )
    return out


def seed_for(scope: Scope, today: date) -> int:
    """Same workspace, scope and day: same figures on every reload."""
    owner = scope.owner_id.int if scope.owner_id else 0
    return (scope.workspace_id.int ^ owner ^ today.toordinal()) % (2**63)


def forecast(view: AnalyticsView, scope: Scope, today: date, now: datetime) -> Forecast:
    pipeline = open_opportunities(view, scope)
    seed = seed_for(scope, today)
    revenue, params, notes, runs = simulate(
        stage_history(view, scope, now),
        pipeline,
        today,
        seed=seed,
        won_amounts=recent_won_amounts(view, scope) if any(not o.montant for o in pipeline) else (),
    )
    months, total = summarise(revenue, today)
    return Forecast(
        mois=months,
        total=total,
        niveau=LEVEL,
        simulations=runs,
        graine=seed,
        opportunites_ouvertes=len(pipeline),
        etapes=params,
        a_risque=at_risk(view, scope, today),
        methode=METHOD,
        notes=notes,
    )


class ForecastCache:
    """Forecasts by (workspace, scope, day), reused while the analytics position is
    unchanged or for `max_age` seconds: the simulations are the dashboard's costliest part.
    """

    def __init__(self, max_age: float = 60.0) -> None:
        self.max_age = max_age
        self._lock = Lock()
        self._items: dict[tuple[UUID, UUID | None, date], tuple[int, float, Forecast]] = {}

    def get(self, view: AnalyticsView, scope: Scope, today: date, now: datetime) -> Forecast:
        key = (scope.workspace_id, scope.owner_id, today)
        position = view.position(LOG_NAME)
        with self._lock:
            found = self._items.get(key)
        if found is not None:
            seen_at, made, value = found
            if seen_at == position or clock.monotonic() - made < self.max_age:
                return value
        value = forecast(view, scope, today, now)
        with self._lock:
            if len(self._items) > 1000:
                self._items.clear()
            self._items[key] = (position, clock.monotonic(), value)
        return value
