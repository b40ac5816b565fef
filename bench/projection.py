"""Projection catch-up: events per second applied by one runner, from position 0.

Records ~100,000 realistic events (10 per client: registration, contact, activity,
an opportunity's life, a ticket's life), then for each projection starts a runner
from zero and times it until it has applied the last event of its topics. The
baseline, measured in the same run on the same events, is a bare sequential read:
`recorder.select_notifications` in pages of 500 with the projection's topics, and
the mapper's decode, without writing anything. `ratio` = runner / bare read.

Also measured: the library's `ProjectionRunner` (one transaction per event) on one
projection, and all runners at once as `crm projections run` starts them.

    uv run python bench/projection.py [--quick] [--events N]
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _common import (
    Stopwatch,
    arguments,
    generate,
    machine,
    per_second,
    scratch_database,
    write_result,
)
from eventsourcing.projection import ProjectionRunner

from adapters.secrets import new_key_text
from crm_core.application import LOG_NAME, EventLog
from projections.readmodel import ReadModel
from projections.registry import PROJECTIONS
from projections.schema import apply_migrations
from web.container import start_runner
from web.database import eventsourcing_env
from web.settings import load_settings

MEASURED = ("clients", "pipeline", "tickets", "timeline")
PAGE = 500


def last_of(conninfo: str, topics: tuple[str, ...]) -> tuple[int, int]:
    """The count and the last notification id of the events of these topics."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(max(notification_id), 0) FROM crm_events"
            " WHERE topic = ANY(%s)",
            (list(topics),),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def bare_read(log: EventLog, topics: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read and decode every event (of the topics) in pages, as a runner would."""
    watch = Stopwatch()
    count, position = 0, 0
    while True:
        page = log.recorder.select_notifications(
            start=position, limit=PAGE, topics=topics, inclusive_of_start=False
        )
        if not page:
            break
        for notification in page:
            log.mapper.to_domain_event(notification)
        count += len(page)
        position = page[-1].id
    seconds = watch.elapsed
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": per_second(count, seconds),
    }


def wait_until(view: ReadModel, last: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while view.position(LOG_NAME) < last:
        if time.monotonic() > deadline:
            msg = f"runner did not reach {last}"
            raise TimeoutError(msg)
        time.sleep(0.005)


def reset(env: dict[str, str], name: str) -> None:
    from web.views import build_view

    view = build_view(env, name)
    view.reset(LOG_NAME)
    view.datastore.close()


def time_runner(
    env: dict[str, str], conninfo: str, name: str, *, library: bool = False
) -> dict[str, Any]:
    count, last = last_of(conninfo, PROJECTIONS[name][0].topics)
    reset(env, name)
    watch = Stopwatch()  # includes the runner's start: a rebuild pays it too
    if library:
        projection_class, view_class = PROJECTIONS[name]
        runner: Any = ProjectionRunner(
            application_class=EventLog,
            projection_class=projection_class,
            view_class=view_class,
            env={**env, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "3"},
        )
    else:
        runner = start_runner(env, name)
    with runner:
        wait_until(runner.view, last)
        seconds = watch.elapsed
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": per_second(count, seconds),
    }


def all_together(env: dict[str, str], conninfo: str) -> dict[str, Any]:
    """Every runner at once, as `crm projections run` starts them (they share the cores)."""
    for name in PROJECTIONS:
        reset(env, name)
    targets = {name: last_of(conninfo, PROJECTIONS[name][0].topics) for name in PROJECTIONS}
    watch = Stopwatch()
    with ExitStack() as stack:
        runners = [stack.enter_context(start_runner(env, name)) for name in PROJECTIONS]
        for runner in runners:
            wait_until(runner.view, targets[runner.projection.name][1])
        seconds = watch.elapsed
    applied = sum(count for count, _ in targets.values())
    return {
        "runners": len(runners),
        "events_applied_in_total": applied,
        "seconds": round(seconds, 3),
        "events_applied_per_s": per_second(applied, seconds),
    }


def row_counts(conninfo: str) -> dict[str, int]:
    """What the runners wrote: a sanity check that batching dropped nothing."""
    with psycopg.connect(conninfo) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
            for table in ("rm_clients", "rm_opportunities", "rm_tickets", "rm_timeline")
        }


def main() -> None:
    args = arguments(__doc__ or "", events=True)
    total = args.events or (10_000 if args.quick else 100_000)
    library_projection = "pipeline"
    result: dict[str, Any] = {
        "benchmark": "projection catch-up",
        "machine": machine(args.admin_url),
        "quick": args.quick,
    }
    with scratch_database(args.admin_url, "bench_projection") as conninfo:
        env = eventsourcing_env(conninfo, encryption_key=new_key_text())
        log = EventLog(env)
        apply_migrations(conninfo, load_settings().migrations_dir)
        watch = Stopwatch()
        recorded = generate(log, total)
        result["events_recorded"] = {
            "events": recorded,
            "seconds": round(watch.elapsed, 3),
            "events_per_s": per_second(recorded, watch.elapsed),
            "how": "domain methods in memory, Application.save of 800 aggregates at a time",
        }
        result["bare_read_all"] = bare_read(log)
        runners: dict[str, Any] = {}
        for name in MEASURED:
            baseline = bare_read(log, PROJECTIONS[name][0].topics)
            measured = time_runner(env, conninfo, name)
            runners[name] = {
                **measured,
                "bare_read_events_per_s": baseline["events_per_s"],
                "ratio_runner_over_bare_read": round(
                    measured["events_per_s"] / baseline["events_per_s"], 3
                ),
            }
        result["runners"] = runners
        result["rows_written"] = row_counts(conninfo)
        library = time_runner(env, conninfo, library_projection, library=True)
        result["library_projection_runner"] = {
            "projection": library_projection,
            **library,
            "speedup_of_batching_runner": round(
                runners[library_projection]["events_per_s"] / library["events_per_s"], 2
            ),
            "what": "eventsourcing.projection.ProjectionRunner: one transaction per event",
        }
        result["all_runners_together"] = all_together(env, conninfo)
        log.close()
    slowest = min(runners.values(), key=lambda figures: figures["events_per_s"])
    result["summary"] = {
        "slowest_runner_events_per_s": slowest["events_per_s"],
        "target_events_per_s": 10_000,
    }
    write_result("projection", result)


if __name__ == "__main__":
    main()
