"""A Litestar Store on PostgreSQL, for server-side state when Redis is absent.

Litestar ships memory, file and Redis stores; the embedded mode keeps sessions in
its own database so they survive a restart without another service.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from litestar.stores.base import NamespacedStore
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class LazyPool:
    """Async pools opened on first use, one per event loop.

    The database may start after the app is built, and an async connection
    belongs to the loop that opened it (tests run one loop per test client).
    """

    def __init__(self, conninfo: Callable[[], str], *, max_size: int = 4) -> None:
        self._conninfo = conninfo
        self._max_size = max_size
        # Keyed by the loop object itself, weakly: an id() could be reused by a new
        # loop after the old one died, handing it a pool it cannot drive.
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, AsyncConnectionPool[AsyncConnection[Any]]
        ] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = AsyncConnectionPool(
                self._conninfo(),
                min_size=1,
                max_size=self._max_size,
                open=False,
                kwargs={"autocommit": True},
            )
            await pool.open()
            self._pools[loop] = pool
        async with pool.connection() as conn:
            yield conn

    async def close(self) -> None:
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()


class PostgresStore(NamespacedStore):
    def __init__(self, pool: LazyPool, namespace: str = "crm") -> None:
        self.pool = pool
        self.namespace = namespace

    def with_namespace(self, namespace: str) -> Self:
        return type(self)(self.pool, f"{self.namespace}:{namespace}")

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = _seconds(expires_in)
        expires_at = datetime.now(UTC) + timedelta(seconds=seconds) if seconds else None
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO web_store (namespace, key, value, expires_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value,"
                " expires_at = EXCLUDED.expires_at",
                (self.namespace, key, data, expires_at),
            )

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        seconds = _seconds(renew_for)
        async with self.pool.connection() as conn:
            if seconds:
                cursor = await conn.execute(
                    "UPDATE web_store SET expires_at = now() + make_interval(secs => %s)"
                    " WHERE namespace = %s AND key = %s"
                    " AND (expires_at IS NULL OR expires_at > now()) RETURNING value",
                    (seconds, self.namespace, key),
                )
            else:
                cursor = await conn.execute(
                    "SELECT value FROM web_store WHERE namespace = %s AND key = %s"
                    " AND (expires_at IS NULL OR expires_at > now())",
                    (self.namespace, key),
                )
            row = await cursor.fetchone()
        return bytes(row[0]) if row else None

    async def delete(self, key: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM web_store WHERE namespace = %s AND key = %s", (self.namespace, key)
            )

    async def delete_all(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM web_store WHERE namespace = %s OR namespace LIKE %s",
                (self.namespace, f"{self.namespace}:%"),
            )

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT extract(epoch FROM expires_at - now())::int FROM web_store"
                " WHERE namespace = %s AND key = %s AND expires_at > now()",
                (self.namespace, key),
            )
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else None

    async def increment(self, key: str, window_seconds: int) -> int:
        """Atomically count one more within a fixed window; returns the new count."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO web_store (namespace, key, value, expires_at)"
                " VALUES (%s, %s, '1', now() + make_interval(secs => %s))"
                " ON CONFLICT (namespace, key) DO UPDATE SET"
                "  value = CASE WHEN web_store.expires_at > now()"
                "   THEN convert_to((convert_from(web_store.value, 'UTF8')::int + 1)::text, 'UTF8')"
                "   ELSE '1' END,"
                "  expires_at = CASE WHEN web_store.expires_at > now() THEN web_store.expires_at"
                "   ELSE EXCLUDED.expires_at END"
                " RETURNING convert_from(value, 'UTF8')::int",
                (self.namespace, key, window_seconds),
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 1
