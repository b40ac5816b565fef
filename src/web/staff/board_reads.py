"""The board's hot path: one asynchronous query per load, columns kept rendered.

Like the portal's page (web/portal/reads.py): each load asks PostgreSQL once, on
the event loop, for the workspace, the unread notifications and the positions of
the read models the cards are made of. Only when a position moved does the same
statement send the cards; only when they differ are the columns rendered again.
A moved card therefore shows in its new column on the very next load.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from markupsafe import Markup
from psycopg import OperationalError
from psycopg.sql import Composed

from projections.accounts import WorkspaceRow
from projections.board import BOARD_READ_MODELS, board_query, decode_board, decode_workspace
from projections.payments import PaymentBadge
from projections.pipeline import StageColumn
from web.auth.store import LazyPool
from web.container import Container

#: Cards per column; the column's link opens the rest in the table. More cards made
#: the page slow to serve and to use (50 per stage: 300 cards).
BOARD_CARDS = 20
#: Rendered boards kept per process: one per recent (workspace, may move cards).
CACHED_BOARDS = 256

#: Renders the columns (totals and cards), given the cards' payments and whether
#: the viewer may move cards.
RenderColumns = Callable[[list[StageColumn], dict[UUID, PaymentBadge], bool], str]


class BoardView(NamedTuple):
    """What the board page shows: its columns as HTML (and whether they are all empty),
    and the workspace and unread count of the page around it."""

    columns_html: Markup
    empty: bool
    workspace: WorkspaceRow | None
    unread: int


class _Kept(NamedTuple):
    positions: str
    document: str
    columns_html: Markup
    empty: bool


class BoardReads:
    """One per app: the board's statement, the pool it runs on and its rendered columns."""

    def __init__(self, pool: LazyPool, query: Composed) -> None:
        self.pool = pool
        self.query = query
        self._query_bytes = query.as_bytes(None)
        self._kept: OrderedDict[tuple[UUID, bool], _Kept] = OrderedDict()

    @classmethod
    def for_container(cls, container: Container, pool: LazyPool) -> BoardReads:
        tables = [container.views[name].tracking_table_name for name in BOARD_READ_MODELS]
        return cls(pool, board_query(tables, per_stage=BOARD_CARDS))

    async def read(
        self, workspace_id: UUID, seen: datetime | None, *, can_move: bool, render: RenderColumns
    ) -> BoardView:
        """The board of the workspace, its columns rendered again only if they changed."""
        key = (workspace_id, can_move)
        kept = self._kept.get(key)
        params = {"known": kept.positions if kept else None, "ws": workspace_id, "since": seen}
        positions, workspace, unread, document = await self._fetch(params)
        if document is None or (kept is not None and kept.document == document):
            # Same cards: nothing moved, or only rows the board does not show.
            if kept is None:  # never: without known positions the cards always come
                msg = "the board statement answered no cards without known positions"
                raise RuntimeError(msg)
            kept = kept._replace(positions=positions)
        else:
            kept = _render(positions, document, can_move, render)
        self._kept[key] = kept
        self._kept.move_to_end(key)
        if len(self._kept) > CACHED_BOARDS:
            self._kept.popitem(last=False)
        return BoardView(kept.columns_html, kept.empty, decode_workspace(workspace), int(unread))

    def read_now(
        self, container: Container, workspace_id: UUID, *, can_move: bool, render: RenderColumns
    ) -> BoardView:
        """The board read and rendered afresh, synchronously: for a handler in a thread
        (the board sent back after a move), which must not touch the loop's cache."""
        row = container.pipeline.fetch_one(
            self.query, {"known": None, "ws": workspace_id, "since": None}
        )
        assert row is not None  # noqa: S101  (the statement always answers one row)
        kept = _render(row["positions"], row["board"], can_move, render)
        return BoardView(
            kept.columns_html, kept.empty, decode_workspace(row["workspace"]), int(row["unread"])
        )

    async def _fetch(self, params: dict[str, Any]) -> tuple[Any, ...]:
        try:
            return await self._fetch_once(params)
        except OperationalError:
            # A pooled connection broken by a server restart is dropped by the pool
            # when it fails; one more try gets a fresh one.
            return await self._fetch_once(params)

    async def _fetch_once(self, params: dict[str, Any]) -> tuple[Any, ...]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(self._query_bytes, params, prepare=True)
            row: tuple[Any, ...] | None = await cursor.fetchone()
        assert row is not None  # noqa: S101  (the statement always answers one row)
        return row


def _render(positions: str, document: str, can_move: bool, render: RenderColumns) -> _Kept:
    board = decode_board(document)
    html = Markup(render(board.columns, board.payments, can_move))  # noqa: S704  (rendered by the autoescaping Jinja environment)
    return _Kept(positions, document, html, all(column.count == 0 for column in board.columns))
