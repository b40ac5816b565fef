"""The portal's hot path: one asynchronous query per load, pages kept rendered.

A client reloads their page far more often than its content changes. Each load
still asks PostgreSQL (one statement, on the event loop, no thread): whether the
link is still the current one, and the positions of the read models the page is
made of. Only when a position moved does the same statement build the page's
document; only when the document differs is the page rendered again. A new ticket,
a payment or a revoked link therefore shows on the very next load.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

from psycopg import OperationalError

from projections.portal import PAGE_READ_MODELS, PageQueries, page_queries
from web.auth.store import LazyPool
from web.container import Container

#: Rendered pages kept per process: one per recent (client, session, variant).
CACHED_PAGES = 2048


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


class PortalReads:
    """One per app: the portal's async pool, its statements and its rendered pages."""

    def __init__(self, pool: LazyPool, queries: PageQueries) -> None:
        self.pool = pool
        self.queries = queries
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
        query: bytes,
        params: Sequence[Any],
        render: Callable[[str], bytes | None],
    ) -> bytes | None:
        """The page for `key`: reused, or rendered by `render` from its document.

        None when no current link matches (or `render` finds nothing to show).
        """
        known = cache.get(key)
        row = await self._fetch(query, (known.positions if known else None, *params))
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

    async def _fetch(self, query: bytes, params: Sequence[Any]) -> tuple[Any, ...] | None:
        try:
            return await self._fetch_once(query, params)
        except OperationalError:
            # A pooled connection broken by a server restart is dropped by the pool
            # when it fails; one more try gets a fresh one.
            return await self._fetch_once(query, params)

    async def _fetch_once(self, query: bytes, params: Sequence[Any]) -> tuple[Any, ...] | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query, params, prepare=True)
            row: tuple[Any, ...] | None = await cursor.fetchone()
        return row

    async def close(self) -> None:
        await self.pool.close()
