"""Dashboard render time on a big workspace: p50/p95 against a trivial route, as JSON.

    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
        uv run python bench/dashboard.py [--opportunities 100000] [--events 1000000]

What it does, in a fresh database it drops afterwards (unless --keep):
1. writes the history through the real aggregates, many aggregates per `save()`
   (event times set by the library's clock, spread over three years): clients,
   opportunities moving through the pipeline (most closed), tickets, and call/note
   activities filling up to `--events`;
2. applies the read models the dashboard reads (accounts, clients, tickets,
   analytics) with the real projection handlers, committing every few thousand
   events instead of one transaction per event (the runner's way is too slow for
   a million events here); pipeline and timeline are not built (not read by it);
3. serves the real app in-process (Litestar test client), logs in as the admin and
   times `GET /` for the current month and for the last twelve months, the JSON
   route, and `GET /api/auth/me` (session + JSON: the trivial baseline), plus one
   uncached forecast computation.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import psycopg  # noqa: E402
from eventsourcing import domain  # noqa: E402
from eventsourcing.persistence import Tracking  # noqa: E402
from litestar.testing import TestClient  # noqa: E402

from crm_core.application import LOG_NAME  # noqa: E402
from crm_core.context import acting_as, user_actor  # noqa: E402
from crm_core.sales.domainmodel import Activity, Client, Opportunity  # noqa: E402
from crm_core.support.domainmodel import Ticket  # noqa: E402
from projections.forecast import forecast  # noqa: E402
from projections.metrics import PARIS, Scope  # noqa: E402
from projections.registry import PROJECTIONS  # noqa: E402
from tests.conftest import settings_for  # noqa: E402
from tests.support.services import create_database, drop_database  # noqa: E402
from web.app import create_app  # noqa: E402
from web.container import Container, running_container  # noqa: E402

PASSWORD = "mot-de-passe-du-banc"  # noqa: S105 - a throwaway database
STAGES = ["prospect", "qualification", "proposition", "negociation"]
CLOCK: dict[str, datetime] = {"now": datetime.now(UTC)}


def _now() -> datetime:
    return CLOCK["now"]


@contextmanager
def at(when: datetime) -> Iterator[None]:
    CLOCK["now"] = when
    yield


def generate(  # noqa: PLR0912, PLR0915 - one linear script of the history
    container: Container, opportunities: int, events: int, seed: int
) -> dict[str, Any]:
    """The history; returns the workspace, the admin's email and the counts."""
    rng = random.Random(seed)
    real_clock = domain.datetime_now_with_tzinfo
    domain.datetime_now_with_tzinfo = _now  # type: ignore[assignment]
    now = datetime.now(UTC)
    start = now - timedelta(days=3 * 365)
    with acting_as("system"), at(start):
        workspace = container.accounts.create_workspace(nom="Agence du banc").id
        users = [
            container.accounts.register_user(
                workspace,
                email=f"{'admin' if i == 0 else f'commercial{i}'}.{workspace.hex[:6]}@banc.fr",
                nom=f"Commercial {i}" if i else "Admin",
                role="admin" if i == 0 else "commercial",
                password=PASSWORD,
            ).id
            for i in range(6)
        ]
    sales = container.sales
    batch: list[Any] = []

    def flush() -> None:
        if batch:
            sales.save(*batch)
            batch.clear()

    n_clients = max(50, opportunities // 20)
    clients: list[Client] = []
    with acting_as(user_actor(users[0])):
        for i in range(n_clients):
            with at(start + timedelta(minutes=i)):
                client = Client.register(
                    workspace_id=workspace, nom=f"Client {i}", owner_id=rng.choice(users[1:])
                )
            clients.append(client)
        sales.save(*clients)
        for i in range(opportunities):
            client = rng.choice(clients)
            opened = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
            owner = rng.choice(users[1:])
            with at(opened):
                opp = Opportunity.open(
                    workspace_id=workspace,
                    client=client,
                    titre=f"Affaire {i}",
                    montant_estime=str(rng.randint(5, 300) * 100),
                    owner_id=owner,
                    date_cloture_prevue=(opened + timedelta(days=rng.randint(15, 120))).date(),
                )
            when = opened
            stage = 0
            for _ in range(rng.randint(0, 3)):
                when += timedelta(days=rng.expovariate(1 / 12))
                if when >= now or stage >= 3:
                    break
                stage += 1
                with at(when):
                    opp.move_to(STAGES[stage], client=client)
            if rng.random() < 0.5:
                when += timedelta(days=rng.expovariate(1 / 5))
                if when < now:
                    with at(when):
                        opp.update(
                            client=client,
                            titre=opp.titre,
                            montant_estime=str(rng.randint(5, 300) * 100),
                            date_cloture_prevue=opp.date_cloture_prevue,
                            owner_id=owner,
                        )
            when += timedelta(days=rng.expovariate(1 / 20))
            if when < now - timedelta(days=20) or rng.random() < 0.2:
                with at(min(when, now)):
                    if rng.random() < 0.25 + 0.12 * stage:
                        opp.move_to("gagne", client=client)
                    else:
                        opp.move_to("perdu", client=client, raison="Budget")
            batch.append(opp)
            if len(batch) >= 2000:
                flush()
        flush()
        done = container.log.recorder.max_notification_id() or 0
        tickets = max(10, opportunities // 10)
        remaining = max(0, events - done - tickets * 3)
        for i in range(tickets):
            client = rng.choice(clients)
            opened = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
            with at(opened):
                ticket = Ticket.open(
                    workspace_id=workspace,
                    client=client,
                    sujet=f"Ticket {i}",
                    description="Banc",
                    source=rng.choice(["staff", "portail", "email"]),
                )
            with at(opened + timedelta(hours=1)):
                ticket.assign(rng.choice(users))
            if rng.random() < 0.8:
                with at(opened + timedelta(hours=rng.expovariate(1 / 30))):
                    ticket.change_status("resolu")
            batch.append(ticket)
            if len(batch) >= 2000:
                flush()
        flush()
        for i in range(remaining):
            when = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
            with at(when):
                batch.append(
                    Activity.log(
                        workspace_id=workspace,
                        client=rng.choice(clients),
                        kind="appel" if rng.random() < 0.6 else "note",
                        sujet=f"Échange {i}",
                        date_activite=when,
                        auteur_id=rng.choice(users),
                    )
                )
            if len(batch) >= 5000:
                flush()
        flush()
    domain.datetime_now_with_tzinfo = real_clock  # type: ignore[assignment]
    return {
        "workspace": workspace,
        "admin_email": f"admin.{workspace.hex[:6]}@banc.fr",
        "clients": n_clients,
        "opportunities": opportunities,
        "tickets": tickets,
        "events": container.log.recorder.max_notification_id() or 0,
    }


def apply_read_models(container: Container, names: list[str], every: int = 5000) -> float:
    """Run the real projection handlers over the log, one transaction per `every` events."""
    started = time.perf_counter()
    for name in names:
        projection_class, _ = PROJECTIONS[name]
        view = container.views[name]
        pending: list[Any] = []
        original_write = view.write
        original_track = view.track

        def write(tracking: Tracking, *statements: Any, _p: list[Any] = pending) -> None:
            _p.append((tracking, statements))

        def track(tracking: Tracking, _p: list[Any] = pending) -> None:
            _p.append((tracking, ()))

        view.write = write  # type: ignore[method-assign]
        view.track = track  # type: ignore[method-assign]
        projection = projection_class(view=view)
        position = view.position(LOG_NAME)
        while True:
            notes = container.log.recorder.select_notifications(
                position + 1, every, topics=projection_class.topics
            )
            if not notes:
                break
            for note in notes:
                event = container.log.mapper.to_domain_event(note)
                projection.process_event(event, Tracking(LOG_NAME, note.id))
            statements = [s for _, group in pending for s in group]
            original_write(pending[-1][0], *statements)
            position = notes[-1].id
            pending.clear()
        view.write = original_write  # type: ignore[method-assign]
        view.track = original_track  # type: ignore[method-assign]
    return time.perf_counter() - started


def timed(call: Callable[[], Any], runs: int) -> dict[str, float]:
    samples: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            msg = f"HTTP {response.status_code}: {response.text[:200]}"
            raise RuntimeError(msg)
    samples.sort()
    return {
        "runs": runs,
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
        "max_ms": round(samples[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    admin_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not admin_url:
        print("TEST_DATABASE_URL (un serveur PostgreSQL) est requis.", file=sys.stderr)
        return 2
    conninfo = create_database(admin_url, prefix="bench_dashboard")
    report: dict[str, Any] = {
        "benchmark": "dashboard",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    try:
        settings = settings_for(conninfo, ROOT / ".crm-data" / "bench", trust_proxy=False)
        with running_container(settings, projections=False, worker=False) as container:
            began = time.perf_counter()
            made = generate(container, args.opportunities, args.events, args.seed)
            report["generate_s"] = round(time.perf_counter() - began, 1)
            report["read_models_s"] = round(
                apply_read_models(container, ["accounts", "clients", "tickets", "analytics"]), 1
            )
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
                report["events"] = conn.execute("SELECT count(*) FROM crm_events").fetchone()[0]  # type: ignore[index]
                report["opportunities"] = conn.execute(
                    "SELECT count(*) FROM rm_analytics_opportunities"
                ).fetchone()[0]  # type: ignore[index]
                report["open_opportunities"] = conn.execute(
                    "SELECT count(*) FROM rm_analytics_opportunities"
                    " WHERE won_at IS NULL AND lost_at IS NULL"
                ).fetchone()[0]  # type: ignore[index]
            report["clients"], report["tickets"] = made["clients"], made["tickets"]
            workspace: UUID = made["workspace"]
            now = datetime.now(PARIS)
            began = time.perf_counter()
            forecast(container.analytics, Scope(workspace), now.date(), now)
            report["forecast_uncached_ms"] = round((time.perf_counter() - began) * 1000, 1)
            app = create_app(settings, container=container)
            with TestClient(app, base_url="https://bench.local") as client:
                login = client.post(
                    "/api/auth/login", json={"email": made["admin_email"], "password": PASSWORD}
                )
                if login.status_code != 201:
                    raise RuntimeError(login.text)
                today = now.date()
                year = f"du={(today - timedelta(days=364)).isoformat()}&au={today.isoformat()}"
                began = time.perf_counter()
                client.get("/")  # the first render computes and caches the forecast
                report["first_render_ms"] = round((time.perf_counter() - began) * 1000, 1)
                for path in ("/", f"/?{year}", "/api/auth/me"):
                    client.get(path)
                report["routes"] = {
                    "trivial GET /api/auth/me": timed(
                        lambda: client.get("/api/auth/me"), args.runs
                    ),
                    "GET / (mois en cours)": timed(lambda: client.get("/"), args.runs),
                    "GET / (12 derniers mois)": timed(lambda: client.get(f"/?{year}"), args.runs),
                    "GET /api/tableau-de-bord (12 mois)": timed(
                        lambda: client.get(f"/api/tableau-de-bord?{year}"), args.runs
                    ),
                }
        report["target"] = "p95 de GET / <= 200 ms"
        report["date"] = datetime.now(PARIS).date().isoformat()
    finally:
        if not args.keep:
            drop_database(admin_url, conninfo)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
