"""Replay benchmark: rebuild every read model from a large log, against a bare read.

    uv run python bench/replay.py                  # 1,000,000 events
    uv run python bench/replay.py --events 100000  # smaller

Creates its own database on BENCH_DATABASE_URL (else TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres), fills it through the application
(aggregates saved in large batches, so the personal fields are encrypted and the
hash chain written like in production), then, in a child process so that its
peak memory is its own, measures:

- the bare read: every event read in order and decoded by the mapper (the least
  any replay has to do), with the rebuild's own reader (the next page is fetched
  while one is decoded), in events per second; once before and once after the
  rebuild, averaged (this machine's speed drifts from one minute to the next);
- the rebuild of every read model into shadow tables, what `crm projections
  rebuild --toutes` does before its swaps: groups of read models each replayed by a
  worker process (`--processes`, default one per core up to four; 1 = all in this
  process's worker, in one pass over the log), secondary indexes included, from the
  start of the workers to their end, in log events per second; with the peak RSS
  (of this process and of its workers: the largest) and the peak of Python
  allocations (tracemalloc, in a separate pass over one read model in this process,
  since tracing slows everything down).

Prints one JSON object. Targets: whole rebuild < 120 s, peak memory < 500 MB,
rebuild rate >= 0.3 x bare read rate.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from crm_core.application import LOG_NAME  # noqa: E402
from crm_core.context import acting_as  # noqa: E402
from crm_core.sales.domainmodel import Activity, Client, Opportunity  # noqa: E402
from crm_core.support.domainmodel import Ticket  # noqa: E402
from projections.rebuild import (  # noqa: E402
    ShadowReplay,
    log_pages,
    plan_groups,
    replay_together,
)
from projections.registry import PROJECTIONS  # noqa: E402
from tests.conftest import settings_for  # noqa: E402
from web.container import Container, running_container  # noqa: E402
from web.replay import events_by_topic, replay_in_processes  # noqa: E402
from web.views import build_view  # noqa: E402

EVENTS_PER_CLIENT = 17  # see _client_story
BATCH_EVENTS = 5_000


def _admin_url() -> str:
    return make_conninfo(
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )


def _client_story(workspace_id: uuid.UUID, number: int) -> list[Any]:
    """Seventeen events around one client, the mix of a busy CRM."""
    client = Client.register(
        workspace_id=workspace_id,
        nom=f"Client {number}",
        email=f"client{number}@bench.example",
        telephone="0102030405",
        notes="Client de test pour le banc de rejeu",
    )
    for step in range(2):
        client.update(
            nom=f"Client {number}",
            type_client="entreprise",
            email=f"client{number}@bench.example",
            telephone=f"01020304{step:02d}",
            notes="Notes revues",
        )
    client.add_contact(nom=f"Contact {number}", email=f"contact{number}@bench.example")
    opportunity = Opportunity.open(
        workspace_id=workspace_id, client=client, titre=f"Affaire {number}", montant_estime="1500"
    )
    opportunity.move_to("qualification", client=client)
    opportunity.move_to("proposition", client=client)
    opportunity.move_to("gagne", client=client)
    ticket = Ticket.open(
        workspace_id=workspace_id, client=client, sujet="Question", description="Comment faire ?"
    )
    for _ in range(3):
        ticket.reply(texte="Voici la réponse détaillée.", auteur="staff")
    ticket.change_status("resolu")
    activities = [
        Activity.log(
            workspace_id=workspace_id,
            client=client,
            kind="appel",
            sujet="Point hebdomadaire",
            contenu="Échange sur l’avancement",
            date_activite=datetime.now(UTC),
            duree_minutes=30,
        )
        for _ in range(4)
    ]
    return [client, opportunity, ticket, *activities]


def generate(container: Container, events: int) -> dict[str, float]:
    started = time.perf_counter()
    with acting_as("bench"):
        workspace_id = container.accounts.create_workspace(nom="Banc de rejeu").id
        batch: list[Any] = []
        pending = 0
        number = 0
        while number * EVENTS_PER_CLIENT < events:
            story = _client_story(workspace_id, number)
            batch += story
            pending += sum(len(aggregate.pending_events) for aggregate in story)
            number += 1
            if pending >= BATCH_EVENTS:
                container.sales.save(*batch)
                batch, pending = [], 0
        if batch:
            container.sales.save(*batch)
    stored = container.log.recorder.max_notification_id() or 0
    elapsed = time.perf_counter() - started
    return {"generated_events": stored, "clients": number, "generate_seconds": round(elapsed, 1)}


def _bare_read(container: Container, head: int) -> dict[str, float]:
    """Every event read and decoded, with the rebuild's own reader (the next page is
    fetched while this one is decoded): all a replay does before applying."""
    mapper = container.log.mapper
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    for notifications in log_pages(container.log, 0, head, []):
        for notification in notifications:
            mapper.to_domain_event(notification)
        count += len(notifications)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "events": count,
        "seconds": round(elapsed, 2),
        "events_per_second": count / elapsed,
        "cpu_seconds": cpu,
    }


def _replays(container: Container, names: list[str]) -> list[ShadowReplay]:
    replays = [
        ShadowReplay(
            conninfo=container.conninfo,
            log=container.log,
            name=name,
            projection_class=PROJECTIONS[name][0],
            view=build_view(container.env, name),
        )
        for name in names
    ]
    for replay in replays:
        replay.prepare()
    return replays


def _close(replays: list[ShadowReplay]) -> None:
    for replay in replays:
        replay.drop()
        replay.close()
        replay.view.datastore.close()
        replay.view.forget_replay()  # what it remembered (records, subjects, keys)
    # The second bare read must run as the first did, without the rebuild's millions of
    # objects for the cyclic collector to walk.
    gc.collect()


def measure(container: Container, processes: int) -> dict[str, Any]:
    head = container.log.recorder.max_notification_id() or 0
    # The bare read before and after the rebuild, averaged: this machine's speed
    # drifts by a fifth from one minute to the next, and the ratio is of two timings.
    bare_before = _bare_read(container, head)
    names = sorted(PROJECTIONS)
    groups = plan_groups(
        {name: PROJECTIONS[name][0] for name in names},
        processes,
        events_by_topic(container.conninfo),
    )
    server_cpu = _postgres_cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu = time.perf_counter(), time.process_time()
    try:
        # What `crm projections rebuild --toutes` does before its swaps: each group in
        # a worker process, replayed together, then its secondary indexes built.
        outcomes = replay_in_processes(container, groups, swap=False)
        total_seconds = time.perf_counter() - started
    finally:
        _drop_shadow_tables(container, names)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu
    cpu += done.ru_utime + done.ru_stime - children.ru_utime - children.ru_stime
    server_cpu = _postgres_cpu_seconds() - server_cpu
    applied = {name: outcome.done for name, outcome in outcomes.items()}
    gc.collect()
    bare_after = _bare_read(container, head)
    bare = {
        "events": head,
        "seconds": (bare_before["seconds"] + bare_after["seconds"]) / 2,
        "cpu_seconds": (bare_before["cpu_seconds"] + bare_after["cpu_seconds"]) / 2,
        "seconds_before_rebuild": bare_before["seconds"],
        "seconds_after_rebuild": bare_after["seconds"],
    }
    bare["events_per_second"] = head / bare["seconds"]
    # The largest of this process (the bare reads) and the workers (the rebuild).
    peak_rss_mb = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    # Python allocations, traced on a replay of the busiest read model (tracing slows
    # everything down, so it is a separate, shorter pass, in this process).
    replays = _replays(container, ["audit"])
    try:
        tracemalloc.start()
        replay_together(replays, min(head, 200_000))
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        _close(replays)
    rebuild_rate = head / total_seconds
    return {
        "log_events": head,
        "bare_read": {k: round(v, 2) for k, v in bare.items()},
        "rebuild_all_read_models": {
            "processes": len(groups),
            "groups": groups,
            "seconds": round(total_seconds, 1),
            "log_events_per_second": round(rebuild_rate),
            # CPU seconds, less sensitive than the wall clock to a shared machine's load:
            # this process and its workers, and the whole PostgreSQL server.
            "cpu_seconds_python": round(cpu, 1),
            "cpu_seconds_postgres": round(server_cpu, 1),
            "applied_events": sum(applied.values()),
            "applied_per_read_model": applied,
        },
        "ratio_rebuild_to_bare_read": round(rebuild_rate / bare["events_per_second"], 3),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "peak_python_alloc_mb_audit_200k": round(traced_peak / 2**20, 1),
        "targets": {
            "rebuild_under_120_s": total_seconds < 120,
            "peak_under_500_mb": peak_rss_mb < 500,
            "ratio_at_least_0_3": rebuild_rate / bare["events_per_second"] >= 0.3,
        },
    }


def _drop_shadow_tables(container: Container, names: list[str]) -> None:
    with psycopg.connect(container.conninfo, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(
                    sql.Identifier(f"crm_next_{name}")
                )
            )


def _postgres_cpu_seconds() -> float:
    """CPU time of the whole local PostgreSQL server: its live processes, and those
    that ended (counted in their parent's, the postmaster's, children's time)."""
    processes: dict[int, tuple[int, float, float]] = {}  # pid -> (ppid, own, children's)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if not text[text.index("(") + 1 :].startswith("postgres"):
            continue
        fields = text.rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        processes[int(stat.parent.name)] = (
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / ticks,
            (int(fields[13]) + int(fields[14])) / ticks,
        )
    return sum(
        own + (children if ppid not in processes else 0.0)
        for ppid, own, children in processes.values()
    )


def _container(conninfo: str, data_dir: Path) -> Any:
    return running_container(
        settings_for(conninfo, data_dir), projections=False, conninfo=conninfo, worker=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--database", help="measure this existing database (kept)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # child: the database to measure
    parser.add_argument("--data-dir", default=str(ROOT / ".bench-data"))
    parser.add_argument(
        "--processes",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="worker processes of the rebuild (as `crm projections rebuild --toutes`)",
    )
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    if args.measure:
        with _container(args.measure, data_dir) as container:
            print(json.dumps(measure(container, args.processes)))
        return
    if args.database:
        with _container(make_conninfo(args.database), data_dir) as container:
            print(json.dumps(measure(container, args.processes), indent=2))
        return
    load_at_start = [round(load, 2) for load in os.getloadavg()]
    admin = _admin_url()
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {0}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin)
    params["dbname"] = name
    conninfo = make_conninfo(**params)  # type: ignore[arg-type]
    try:
        with _container(conninfo, data_dir) as container:
            generation = generate(container, args.events)
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                *("--measure", conninfo, "--data-dir", str(data_dir)),
                *("--processes", str(args.processes)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {0} WITH (FORCE)").format(sql.Identifier(name))
                )
    print(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_at_start": load_at_start,
                },
                **generation,
                **figures,
                "application": LOG_NAME,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
