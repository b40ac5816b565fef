"""Background jobs with dramatiq: Redis-backed in production, in-process when embedded.

Actors are declared here, in the composition root, around plain functions of the
adapters, on a broker built at start-up (nothing is registered at import time).
In the embedded mode a StubBroker and a dramatiq Worker run inside the process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from web.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "crm"


@dataclass
class Jobs:
    """The broker and the actors declared on it, by name."""

    broker: dramatiq.Broker
    actors: dict[str, dramatiq.Actor[Any, Any]] = field(default_factory=dict)

    def declare(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        max_retries: int = 10,
        min_backoff_ms: int = 1000,
        max_backoff_ms: int = 300_000,
        time_limit_ms: int = 60_000,
        queue: str = DEFAULT_QUEUE,
    ) -> dramatiq.Actor[Any, Any]:
        """Declare `fn` as actor `name` (retries with exponential backoff by default)."""
        actor: dramatiq.Actor[Any, Any] = dramatiq.Actor(
            fn,
            broker=self.broker,
            actor_name=name,
            queue_name=queue,
            priority=0,
            options={
                "max_retries": max_retries,
                "min_backoff": min_backoff_ms,
                "max_backoff": max_backoff_ms,
                "time_limit": time_limit_ms,
            },
        )
        self.actors[name] = actor
        return actor

    def send(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.actors[name].send(*args, **kwargs)


def build_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(url=settings.redis_url, namespace="crm-jobs")  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
    # Declared up front so a worker started before the actors still consumes it.
    broker.declare_queue(DEFAULT_QUEUE)
    return broker


@contextmanager
def running_worker(jobs: Jobs, *, threads: int = 2) -> Iterator[dramatiq.Worker]:
    """Run a dramatiq worker for the block (in-process mode, tests, `crm worker`)."""
    worker = dramatiq.Worker(jobs.broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@contextmanager
def periodic(jobs: Jobs, name: str, every_seconds: float) -> Iterator[None]:
    """Enqueue actor `name` every `every_seconds` while the block runs (first after one
    period). The job does the work on a worker; this thread only enqueues."""
    stop = threading.Event()

    def enqueue_forever() -> None:
        while not stop.wait(every_seconds):
            try:
                jobs.send(name)
            except Exception:  # a broker hiccup must not end the schedule
                log.warning("Tâche périodique %s non mise en file", name, exc_info=True)

    thread = threading.Thread(target=enqueue_forever, name=f"periodic-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
