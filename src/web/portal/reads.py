"""The portal's hot path: every load asks PostgreSQL, pages kept rendered.

A client reloads their page far more often than its content changes. Each load
still asks PostgreSQL (on the event loop, no thread): whether the link is still the
current one, and the positions of the read models the page is made of. Only when a
position moved does the same statement build the page's document; only when the
document differs is the page rendered again. A new ticket, a payment or a revoked
link therefore shows on the very next load.

Under load, the loads that wait at the same time share one statement (`BatchedReads`):
each is still read by a statement sent after it arrived, so nothing it follows is
missed, but the round trip, the statement's execution and the positions are paid
once per batch instead of once per load.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

from psycopg import OperationalError

from projections.portal import PAGE_READ_MODELS, PageQueries, page_queries
from web.auth.store import LazyPool
from web.container import Container

#: Rendered pages kept per process: one per recent (client, session, variant).
CACHED_PAGES = 2048
#: Statements in flight at once per kind of read, and pages per statement. While as
#: many are in flight, new loads wait for the first to come back and then go together:
#: a few connections suffice, and a busy process sends fewer, larger statements.
READS_IN_FLIGHT = 4
MAX_BATCH = 64

#: A page's answer: the positions of its read models, and its document (None when the
#: positions are those the reader knew it at).
Row = tuple[str, str | None]


class Rendered(NamedTuple):
    positions: str
    document: str
    body: bytes


class RenderedPages:
    """The last rendering per key, least recently used dropped first."""

    def __init__(self, size: int = CACHED_PAGES) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()

    def get(self, key: Hashable) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: Rendered) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class _Waiting(NamedTuple):
    params: tuple[Any, ...]  # (known positions or None, *keys)
    answer: asyncio.Future[Row | None]


class BatchedReads:
    """One statement of `PageQueries` for all the loads waiting together."""

    def __init__(self, pool: LazyPool, query: bytes) -> None:
        self._pool = pool
        self._query = query
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def fetch(self, known: str | None, *keys: Any) -> Row | None:
        """The row of one page (None: no current link), read after this call."""
        answer: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting((known, *keys), answer))
        self._schedule()
        return await answer

    def _schedule(self) -> None:
        if self._waiting and not self._scheduled and self._in_flight < READS_IN_FLIGHT:
            # Soon, not now: requests already received on this turn of the loop join.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._launch)

    def _launch(self) -> None:
        self._scheduled = False
        while self._waiting and self._in_flight < READS_IN_FLIGHT:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            self._in_flight += 1
            task = asyncio.ensure_future(self._read(batch))
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)

    async def _read(self, batch: list[_Waiting]) -> None:
        try:
            rows = await self._fetch(batch)
            for n, waiting in enumerate(batch):
                if not waiting.answer.done():  # its request may have been cancelled
                    waiting.answer.set_result(rows.get(n))
        except Exception as error:  # noqa: BLE001  (every load of the batch raises it)
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
        finally:
            for waiting in batch:  # cancelled (shutdown): no load waits for ever
                waiting.answer.cancel()
            self._in_flight -= 1
            self._schedule()

    async def _fetch(self, batch: list[_Waiting]) -> dict[int, Row]:
        columns = [list(column) for column in zip(*(w.params for w in batch), strict=True)]
        params = [list(range(len(batch))), *columns]
        try:
            return await self._fetch_once(params)
        except OperationalError:
            # A pooled connection broken by a server restart is dropped by the pool
            # when it fails; one more try gets a fresh one.
            return await self._fetch_once(params)

    async def _fetch_once(self, params: list[list[Any]]) -> dict[int, Row]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(self._query, params, prepare=True)
            rows = await cursor.fetchall()
        return {n: (positions, document) for n, positions, document in rows}


class PortalReads:
    """One per app: the portal's async pool, its statements and its rendered pages."""

    def __init__(self, pool: LazyPool, queries: PageQueries) -> None:
        self.pool = pool
        self.by_session = BatchedReads(pool, queries.by_sessions)
        self.by_token_hash = BatchedReads(pool, queries.by_token_hashes)
        self.pages = RenderedPages()
        self.api = RenderedPages()

    @classmethod
    def for_container(cls, container: Container, *, max_connections: int) -> PortalReads:
        tables = [container.views[name].tracking_table_name for name in PAGE_READ_MODELS]
        return cls(
            LazyPool(lambda: container.conninfo, max_size=max_connections), page_queries(tables)
        )

    async def page(
        self,
        cache: RenderedPages,
        key: Hashable,
        reads: BatchedReads,
        keys: tuple[Any, ...],
        render: Callable[[str], bytes | None],
    ) -> bytes | None:
        """The page for `key`: reused, or rendered by `render` from its document.

        None when no current link matches `keys` (or `render` finds nothing to show).
        """
        known = cache.get(key)
        row = await reads.fetch(known.positions if known else None, *keys)
        if row is None:
            cache.drop(key)
            return None
        positions, document = row
        if document is None:  # same positions as the kept page's: same document
            return known.body if known else None
        if known is not None and known.document == document:
            body: bytes | None = known.body  # other rows moved, not this page's
        else:
            body = render(document)
        if body is None:
            cache.drop(key)
            return None
        cache.put(key, Rendered(positions, document, body))
        return body

    async def close(self) -> None:
        await self.pool.close()
