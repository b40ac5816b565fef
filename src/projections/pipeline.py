"""The pipeline: opportunities by stage with totals, and the sortable table."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, LiteralString, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.sales.domainmodel import Opportunity
from crm_core.values import Stage
from projections.pagination import Page, clamp_limit, decode_cursor, encode_cursor, like_pattern
from projections.readmodel import KeptSums, ReadModel, Statement, topics_of


class OpportunityRow(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    client_id: UUID
    client_nom: str
    titre: str
    montant_estime: Decimal | None
    devise: str
    etape: str
    date_cloture_prevue: date | None
    probabilite: int | None
    owner_id: UUID | None
    raison_perte: str
    created_at: datetime
    updated_at: datetime
    won_at: datetime | None


class StageColumn(msgspec.Struct, frozen=True):
    """A stage of the board: count and total of the whole column, its newest cards,
    and the cursor of the table's "maj" descending sort after the last card (None
    when every card is shown)."""

    etape: str
    count: int
    total: Decimal
    cards: list[OpportunityRow]
    next_cursor: str | None = None


SortKey = Literal["titre", "client", "montant", "etape", "cloture", "maj"]
# Each sort key is an expression on the row's own types, with the type its cursor
# value is cast back to: one keyset cursor (key, id) pages through any sort, and
# the indexes of migration 0650 serve the sorts on the opportunity's own columns.
_SORT_SQL: dict[str, tuple[str, str]] = {
    "titre": ("lower(o.titre)", "text"),
    "client": ("lower(COALESCE(c.nom, ''))", "text"),
    "montant": ("COALESCE(o.montant_estime, 0)", "numeric"),
    "etape": (
        "array_position(ARRAY['prospect','qualification','proposition',"
        "'negociation','gagne','perdu'], o.etape)",
        "integer",
    ),
    "cloture": ("COALESCE(o.date_cloture_prevue, DATE '9999-12-31')", "date"),
    "maj": ("o.updated_at", "timestamptz"),
}
_COLUMNS = (
    "o.id, o.workspace_id, o.client_id, COALESCE(c.nom, '') AS client_nom, o.titre,"
    " o.montant_estime, o.devise, o.etape, o.date_cloture_prevue, o.probabilite, o.owner_id,"
    " o.raison_perte, o.created_at, o.updated_at, o.won_at"
)
_FROM = "rm_opportunities o LEFT JOIN rm_clients c ON c.id = o.client_id"


def _cursor_value(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


# The stage totals (migration 0740): count and amount per workspace, stage and owner
# (`owner_key`: the nil UUID for opportunities without an owner).
_NO_OWNER_ID = UUID(int=0)
_NO_OWNER = "'00000000-0000-0000-0000-000000000000'::uuid"
_TOTALS = KeptSums(
    "rm_pipeline_totals",
    keys=("workspace_id", "etape", "owner_key"),
    sums=("nombre", "total"),
    recompute=(
        "INSERT INTO rm_pipeline_totals (workspace_id, etape, owner_key, nombre, total)"
        f" SELECT workspace_id, etape, COALESCE(owner_id, {_NO_OWNER}), count(*),"
        " COALESCE(sum(montant_estime), 0) FROM rm_opportunities GROUP BY 1, 2, 3",
    ),
)
# A change of a row whose old state the event does not carry: its old contribution
# leaves before the UPDATE, its new one comes in after it, with SQL.
_TOTALS_SUBTRACT = (
    "INSERT INTO rm_pipeline_totals AS t (workspace_id, etape, owner_key, nombre, total)"
    f" SELECT workspace_id, etape, COALESCE(owner_id, {_NO_OWNER}), -1,"
    " -COALESCE(montant_estime, 0) FROM rm_opportunities WHERE id = %s"
    " ON CONFLICT (workspace_id, etape, owner_key) DO UPDATE"
    " SET nombre = t.nombre + EXCLUDED.nombre, total = t.total + EXCLUDED.total"
)
_TOTALS_ADD = (
    "INSERT INTO rm_pipeline_totals AS t (workspace_id, etape, owner_key, nombre, total)"
    f" SELECT workspace_id, etape, COALESCE(owner_id, {_NO_OWNER}), 1,"
    " COALESCE(montant_estime, 0) FROM rm_opportunities WHERE id = %s"
    " ON CONFLICT (workspace_id, etape, owner_key) DO UPDATE"
    " SET nombre = t.nombre + EXCLUDED.nombre, total = t.total + EXCLUDED.total"
)


_REVISE = (
    "UPDATE rm_opportunities SET titre=%s, montant_estime=%s, devise=%s,"
    " date_cloture_prevue=%s, probabilite=%s, owner_id=%s, updated_at=%s WHERE id=%s"
)
_MOVE = (
    "UPDATE rm_opportunities SET etape=%s, updated_at=%s, raison_perte=%s,"
    " won_at = CASE WHEN %s = 'gagne' THEN %s ELSE NULL END,"
    " lost_at = CASE WHEN %s = 'perdu' THEN %s ELSE NULL END WHERE id=%s"
)


def _revised(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    row.update(
        titre=p[0],
        montant_estime=p[1],
        devise=p[2],
        date_cloture_prevue=p[3],
        probabilite=p[4],
        owner_id=p[5],
        updated_at=p[6],
    )


def _moved(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    row.update(
        etape=p[0],
        updated_at=p[1],
        raison_perte=p[2],
        won_at=p[4] if p[3] == "gagne" else None,
        lost_at=p[6] if p[5] == "perdu" else None,
    )


class _Standing(NamedTuple):
    """What an opportunity counts for in the stage totals."""

    workspace_id: UUID
    etape: str
    owner_key: UUID
    montant: Decimal

    @property
    def key(self) -> tuple[UUID, str, UUID]:
        return (self.workspace_id, self.etape, self.owner_key)


class PipelineView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_opportunities", "rm_pipeline_totals")
    # A replay applies these to the rows it holds (see `ReadModel.flush_replay`).
    replay_updates: ClassVar[dict[str, Any]] = {_REVISE: _revised, _MOVE: _moved}
    kept_sums: ClassVar[tuple[KeptSums, ...]] = (_TOTALS,)
    replay_forms: ClassVar[dict[str, LiteralString | None]] = dict.fromkeys(
        (_TOTALS_SUBTRACT, _TOTALS_ADD)
    )

    def open(self, event: Opportunity.Opened, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_opportunities (id, workspace_id, client_id, titre, montant_estime,"
                " devise, etape, date_cloture_prevue, probabilite, owner_id, created_at,"
                " updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.workspace_id,
                    event.client_id,
                    event.titre,
                    event.montant_estime,
                    event.devise,
                    event.etape.value,
                    event.date_cloture_prevue,
                    event.probabilite,
                    event.owner_id,
                    event.timestamp,
                    event.timestamp,
                ),
            ),
            *self._totals_opened(
                event.originator_id,
                _Standing(
                    event.workspace_id,
                    event.etape.value,
                    event.owner_id or _NO_OWNER_ID,
                    event.montant_estime or Decimal(0),
                ),
            ),
        )

    def _totals_opened(self, opportunity_id: UUID, standing: _Standing) -> tuple[Statement, ...]:
        memo = self.batch_memo()
        if memo is not None:
            memo[opportunity_id] = standing
        return self.add_to_sums(_TOTALS, standing.key, (1, standing.montant))

    def _totals_moved(
        self, opportunity_id: UUID, **changes: Any
    ) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        """What moves the stage totals around a change of the row, before it and after it.

        SQL, from the row itself; or, when this batch opened the opportunity and so
        knows what it counts for, the deltas (added up until the batch ends), which
        leave the row free to stay in memory (`ReadModel.batch`).
        """
        memo = self.batch_memo()
        before: _Standing | None = memo.get(opportunity_id) if memo is not None else None
        if memo is None or before is None:
            return ((_TOTALS_SUBTRACT, (opportunity_id,)),), ((_TOTALS_ADD, (opportunity_id,)),)
        after = memo[opportunity_id] = before._replace(**changes)
        return (), (
            *self.add_to_sums(_TOTALS, before.key, (-1, -before.montant)),
            *self.add_to_sums(_TOTALS, after.key, (1, after.montant)),
        )

    def update(self, event: Opportunity.Revised, tracking: Tracking) -> None:
        before, after = self._totals_moved(
            event.originator_id,
            owner_key=event.owner_id or _NO_OWNER_ID,
            montant=event.montant_estime or Decimal(0),
        )
        self.write(
            tracking,
            *before,
            (
                _REVISE,
                (
                    event.titre,
                    event.montant_estime,
                    event.devise,
                    event.date_cloture_prevue,
                    event.probabilite,
                    event.owner_id,
                    event.timestamp,
                    event.originator_id,
                ),
            ),
            *after,
        )

    def move(
        self,
        opportunity_id: UUID,
        etape: Stage,
        at: datetime,
        tracking: Tracking,
        *,
        raison: str = "",
    ) -> None:
        before, after = self._totals_moved(opportunity_id, etape=etape.value)
        self.write(
            tracking,
            *before,
            (
                _MOVE,
                (etape.value, at, raison, etape.value, at, etape.value, at, opportunity_id),
            ),
            *after,
        )

    # --- queries ----------------------------------------------------------------
    def board(
        self, workspace_id: UUID, *, per_stage: int = 20, owner_id: UUID | None = None
    ) -> list[StageColumn]:
        """Each stage with the count and total of the whole column (rm_pipeline_totals:
        a few rows, not an aggregate over the workspace's every opportunity) and its
        `per_stage` most recently changed cards, newest first."""
        per_stage = clamp_limit(per_stage)
        params: dict[str, Any] = {
            "ws": workspace_id,
            "limit": per_stage + 1,  # one more: is there a next page?
            "owner": owner_id,
            "stages": [stage.value for stage in Stage],
        }
        totals = {
            row["etape"]: row
            for row in self.fetch_all(
                "SELECT etape, sum(nombre)::bigint AS n, sum(total) AS total"
                " FROM rm_pipeline_totals WHERE workspace_id = %(ws)s"
                + (" AND owner_key = %(owner)s" if owner_id else "")
                + " GROUP BY etape",
                params,
            )
        }
        # Per stage, the newest cards straight from the stage index of migration 0740
        # read backwards (no sort, no window over the workspace's opportunities).
        owner_filter = " AND o.owner_id = %(owner)s" if owner_id else ""
        rows = self.fetch_all(
            f"SELECT {_COLUMNS} FROM unnest(%(stages)s::text[]) AS s(etape)"  # type: ignore[arg-type]
            " CROSS JOIN LATERAL (SELECT * FROM rm_opportunities o"
            f"  WHERE o.workspace_id = %(ws)s AND o.etape = s.etape{owner_filter}"
            "  ORDER BY o.updated_at DESC, o.id DESC LIMIT %(limit)s) o"
            " LEFT JOIN rm_clients c ON c.id = o.client_id"
            " ORDER BY o.updated_at DESC, o.id DESC",
            params,
        )
        cards: dict[str, list[OpportunityRow]] = {stage.value: [] for stage in Stage}
        for row in rows:
            cards[row["etape"]].append(msgspec.convert(row, OpportunityRow))
        columns = []
        for stage in Stage:
            shown = cards[stage.value][:per_stage]
            more = len(cards[stage.value]) > per_stage
            total = totals.get(stage.value)
            count = int(total["n"]) if total else 0
            columns.append(
                StageColumn(
                    etape=stage.value,
                    count=count,
                    total=total["total"] if total else Decimal(0),
                    cards=shown,
                    next_cursor=encode_cursor(_cursor_value(shown[-1].updated_at), shown[-1].id)
                    if more
                    else None,
                )
            )
        return columns

    def table(
        self,
        workspace_id: UUID,
        *,
        sort: SortKey = "maj",
        descending: bool = True,
        etape: str = "",
        client_id: UUID | None = None,
        q: str = "",
        limit: int = 50,
        cursor: str | None = None,
        owner_id: UUID | None = None,
    ) -> Page[OpportunityRow]:
        limit = clamp_limit(limit)
        order_expr, key_type = _SORT_SQL.get(sort, _SORT_SQL["maj"])
        where = ["o.workspace_id = %(ws)s"]
        params: dict[str, Any] = {"ws": workspace_id, "limit": limit + 1}
        if etape:
            where.append("o.etape = %(etape)s")
            params["etape"] = etape
        if client_id is not None:
            where.append("o.client_id = %(client)s")
            params["client"] = client_id
        if owner_id is not None:
            where.append("o.owner_id = %(owner)s")
            params["owner"] = owner_id
        if q.strip():
            where.append("lower(o.titre) LIKE %(q)s")
            params["q"] = like_pattern(q)
        if client_id is None and not q.strip():
            # Filtered by stage and/or owner at most: the total is the board's (the
            # stage totals of migration 0740), not a count over every opportunity.
            total_row = self.fetch_one(
                "SELECT COALESCE(sum(nombre), 0)::bigint AS n FROM rm_pipeline_totals"
                " WHERE workspace_id = %(ws)s"
                + (" AND etape = %(etape)s" if etape else "")
                + (" AND owner_key = %(owner)s" if owner_id is not None else ""),
                params,
            )
        else:
            total_row = self.fetch_one(
                f"SELECT count(*) AS n FROM {_FROM} WHERE {' AND '.join(where)}",
                params,  # type: ignore[arg-type]
            )
        after = decode_cursor(cursor, 2)
        direction = "DESC" if descending else "ASC"
        comparator = "<" if descending else ">"
        if after is not None:
            where.append(
                f"(({order_expr}), o.id) {comparator}"
                f" (%(after_key)s::{key_type}, %(after_id)s::uuid)"
            )
            params["after_key"], params["after_id"] = after
        rows = self.fetch_all(
            f"SELECT {_COLUMNS}, ({order_expr}) AS sort_key FROM {_FROM}"  # type: ignore[arg-type]
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY ({order_expr}) {direction}, o.id {direction} LIMIT %(limit)s",
            params,
        )
        page_rows = rows[:limit]
        items = [msgspec.convert(row, OpportunityRow, strict=False) for row in page_rows]
        next_cursor = (
            encode_cursor(_cursor_value(page_rows[-1]["sort_key"]), page_rows[-1]["id"])
            if len(rows) > limit
            else None
        )
        return Page(items=items, next_cursor=next_cursor, total=total_row["n"] if total_row else 0)

    def get(self, workspace_id: UUID, opportunity_id: UUID) -> OpportunityRow | None:
        row = self.fetch_one(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.id = %s AND o.workspace_id = %s",  # type: ignore[arg-type]
            (opportunity_id, workspace_id),
        )
        return msgspec.convert(row, OpportunityRow) if row else None

    def for_client(self, workspace_id: UUID, client_id: UUID) -> list[OpportunityRow]:
        rows = self.fetch_all(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.workspace_id = %s AND o.client_id = %s"  # type: ignore[arg-type]
            " ORDER BY o.updated_at DESC, o.id",
            (workspace_id, client_id),
        )
        return [msgspec.convert(row, OpportunityRow) for row in rows]


class PipelineProjection(Projection[PipelineView]):
    name = "pipeline"
    topics = topics_of(
        Opportunity.Opened,
        Opportunity.Revised,
        Opportunity.StageChanged,
        Opportunity.Won,
        Opportunity.Lost,
        Opportunity.Reopened,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Opportunity.Opened, tracking: Tracking) -> None:
        self.view.open(event, tracking)

    @process_event.register
    def _(self, event: Opportunity.Revised, tracking: Tracking) -> None:
        self.view.update(event, tracking)

    @process_event.register
    def _(self, event: Opportunity.StageChanged, tracking: Tracking) -> None:
        self.view.move(event.originator_id, event.vers, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Opportunity.Reopened, tracking: Tracking) -> None:
        self.view.move(event.originator_id, event.vers, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Opportunity.Won, tracking: Tracking) -> None:
        self.view.move(event.originator_id, Stage.GAGNE, event.timestamp, tracking)

    @process_event.register
    def _(self, event: Opportunity.Lost, tracking: Tracking) -> None:
        self.view.move(
            event.originator_id, Stage.PERDU, event.timestamp, tracking, raison=event.raison
        )


class PipelineSummary(msgspec.Struct, frozen=True):
    open_count: int
    open_amount: Decimal
    won_this_month_count: int
    won_this_month_amount: Decimal


def summary(view: PipelineView, workspace_id: UUID, month_start: datetime) -> PipelineSummary:
    """Open pipeline and what was won since `month_start`, for the dashboard."""
    row = view.fetch_one(
        "SELECT count(*) FILTER (WHERE etape NOT IN ('gagne','perdu')) AS open_count,"
        " COALESCE(sum(montant_estime) FILTER (WHERE etape NOT IN ('gagne','perdu')), 0)"
        "  AS open_amount,"
        " count(*) FILTER (WHERE etape = 'gagne' AND won_at >= %(start)s) AS won_count,"
        " COALESCE(sum(montant_estime) FILTER (WHERE etape = 'gagne' AND won_at >= %(start)s), 0)"
        "  AS won_amount"
        " FROM rm_opportunities WHERE workspace_id = %(ws)s",
        {"ws": workspace_id, "start": month_start},
    )
    if row is None:
        return PipelineSummary(0, Decimal(0), 0, Decimal(0))
    return PipelineSummary(
        row["open_count"], row["open_amount"], row["won_count"], row["won_amount"]
    )


def needing_attention(
    view: PipelineView, workspace_id: UUID, today: date, *, stale_days: int = 30, limit: int = 10
) -> list[OpportunityRow]:
    """Open opportunities past their expected close date or untouched for `stale_days`."""
    rows = view.fetch_all(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.workspace_id = %(ws)s"  # type: ignore[arg-type]
        " AND o.etape NOT IN ('gagne','perdu')"
        " AND (o.date_cloture_prevue < %(today)s"
        "      OR o.updated_at < %(today)s::date - make_interval(days => %(stale)s))"
        " ORDER BY o.date_cloture_prevue NULLS LAST, o.updated_at LIMIT %(limit)s",
        {"ws": workspace_id, "today": today, "stale": stale_days, "limit": limit},
    )
    return [msgspec.convert(row, OpportunityRow) for row in rows]
