"""A thread that sends a replay's writes while the replay decodes the next events.

A rebuild is one Python thread on one core: while it waited for PostgreSQL to take
a page's rows (COPY, pipelined statements, commits), the rest of the machine waited
with it. The writes of a page are self-contained once worked out (rows, statements,
held rows taken out of memory), so one thread sends them, in the order they were
given, and the replay goes on meanwhile: the server's work and the network waits
(psycopg releases the GIL there) overlap with decoding and applying.

The replay's connections then belong to this thread: whoever uses one directly
(a read, the kept sums' computation) first waits for what was given (`drain`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class ReplayWriter:
    """Runs the writes given to it one after the other, in a thread of its own."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-writer")
        self._running: deque[Future[None]] = deque()
        self._given = 0
        self._done = 0

    @property
    def given(self) -> int:
        """How many writes were given so far (a mark for `wait_for`)."""
        return self._given

    def submit(self, work: Callable[[], None]) -> None:
        """Run `work` after every write given before; a failed write raises here."""
        self._reap()
        self._running.append(self._executor.submit(work))
        self._given += 1

    def wait_for(self, mark: int) -> None:
        """Wait until the first `mark` writes are done (the replay keeps a page ahead at
        most, so the rows in flight stay few)."""
        while self._done < mark and self._running:
            self._running.popleft().result()
            self._done += 1

    def drain(self) -> None:
        """Wait until every write given is done: the connections are free again."""
        self.wait_for(self._given)

    def close(self) -> None:
        """Drain, then stop the thread; after a failure, drop what was not sent."""
        try:
            self.drain()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _reap(self) -> None:
        while self._running and self._running[0].done():
            self._running.popleft().result()
            self._done += 1
