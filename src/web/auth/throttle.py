"""Login rate limiting: 5 failures per minute per account and per IP address."""

from __future__ import annotations

import hashlib
from typing import Protocol

from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

MAX_FAILURES = 5
WINDOW_SECONDS = 60


class Counter(Protocol):
    async def increment(self, key: str, window_seconds: int) -> int: ...


async def increment(store: Store, key: str) -> int:
    """Count one more failure under `key` for the current one-minute window."""
    if isinstance(store, RedisStore):
        # INCR is atomic; the window starts with the first failure.
        full_key = store._make_key(key)
        count = int(await store._redis.incr(full_key))
        if count == 1:
            await store._redis.expire(full_key, WINDOW_SECONDS)
        return count
    counter: Counter = store  # type: ignore[assignment]
    return await counter.increment(key, WINDOW_SECONDS)


def _keys(email: str, ip: str) -> tuple[str, str]:
    # Hashed so the store never holds a list of e-mail addresses that failed to log in.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"account:{account}", f"ip:{ip}"


class LoginThrottle:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def blocked(self, email: str, ip: str) -> bool:
        for key in _keys(email, ip):
            raw = await self.store.get(key)
            if raw is not None and int(raw) >= MAX_FAILURES:
                return True
        return False

    async def failed(self, email: str, ip: str) -> None:
        for key in _keys(email, ip):
            await increment(self.store, key)

    async def succeeded(self, email: str) -> None:
        await self.store.delete(_keys(email, "")[0])
