"""Web benchmark: the pipeline and client lists under 20 concurrent connections.

    uv run python bench/web.py [--clients 10000] [--opportunities 50000] [--seconds 8]
                               [--workers 2] [--keep | --reuse]

Builds a fresh database (on BENCH_DATABASE_URL, default the local server),
loads clients and opportunities through the domain (many aggregates per save),
lets the read models catch up, starts the app with uvicorn on a loopback port,
logs in once, and measures with wrk (a C load generator: a Python client cost
more CPU than the server it measured on a 2-core machine) requests per second
and p50/p95/p99 latency for each route, against the trivial `/api/ping` of the
same app in the same run (the `ratio`). Prints JSON, with the machine it ran on.
`--keep` leaves the loaded database for profiling, `--reuse` measures it again.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

# Run as a file, bench/ comes first on sys.path; importing _common takes it off again,
# so that `web` below is the app's package, not this script.
from _common import app_server, machine, scratch_database, write_result, wrk_load

from crm_core.context import acting_as
from crm_core.sales.domainmodel import Client, Opportunity
from crm_core.values import OPEN_STAGES

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "mot-de-passe-du-banc"  # noqa: S105  (a throwaway database's users)
WORDS = ["Atelier", "Studio", "Boulangerie", "Garage", "Cabinet", "Agence", "Ferme", "Maison"]
TOWNS = ["Lyon", "Paris", "Nantes", "Lille", "Rennes", "Bordeaux", "Dijon", "Grenoble"]
READ_MODELS = ("accounts", "clients", "pipeline")  # what the measured routes read


# --- data -----------------------------------------------------------------------------


def load(conninfo: str, data_dir: Path, n_clients: int, n_opportunities: int) -> dict[str, Any]:
    """Record the workspace, two users, the clients and opportunities; project them."""
    # Imported here: run as a file, this script ("web.py") would shadow the package.
    from web.container import running_container, start_runner
    from web.settings import load_settings

    settings = dataclasses.replace(
        load_settings(), database_url=conninfo, data_dir=data_dir, secret_key="b" * 48
    )
    rng = random.Random(42)
    timings: dict[str, Any] = {}
    with running_container(settings, projections=False, worker=False) as container:
        start = time.perf_counter()
        with acting_as("system"):
            workspace = container.accounts.create_workspace(nom="Banc d’essai").id
            owners = [
                container.accounts.register_user(
                    workspace,
                    email=f"{role}@banc.test",
                    nom=role.title(),
                    role=role,
                    password=PASSWORD,
                ).id
                for role in ("admin", "commercial")
            ]
            clients: list[Client] = []
            for first in range(0, n_clients, 1000):
                batch = [
                    Client.register(
                        workspace_id=workspace,
                        nom=f"{rng.choice(WORDS)} {rng.choice(TOWNS)} {i:05d}",
                        email=f"client{i}@banc.test",
                        tags=(rng.choice(("vip", "prospect", "fidele")),),
                        owner_id=rng.choice(owners),
                    )
                    for i in range(first, min(first + 1000, n_clients))
                ]
                container.sales.save(*batch)
                clients.extend(batch)
            timings["clients_recorded_s"] = round(time.perf_counter() - start, 1)
            for first in range(0, n_opportunities, 1000):
                batch_opportunities: list[Opportunity] = []
                for i in range(first, min(first + 1000, n_opportunities)):
                    client = rng.choice(clients)
                    opportunity = Opportunity.open(
                        workspace_id=workspace,
                        client=client,
                        titre=f"Projet {i:05d}",
                        montant_estime=Decimal(rng.randrange(100, 50_000_00)) / 100,
                        date_cloture_prevue=date(2025, 1, 1) + timedelta(days=rng.randrange(365)),
                        probabilite=rng.randrange(0, 101, 10),
                        owner_id=rng.choice(owners),
                        etape=rng.choice(OPEN_STAGES).value,
                    )
                    roll = rng.random()
                    if roll < 0.15:
                        opportunity.move_to("gagne", client=client)
                    elif roll < 0.25:
                        opportunity.move_to("perdu", client=client, raison="Budget")
                    batch_opportunities.append(opportunity)
                container.sales.save(*batch_opportunities)
        timings["events_recorded_s"] = round(time.perf_counter() - start, 1)
        events = container.log.recorder.max_notification_id() or 0

        start = time.perf_counter()
        with contextlib.ExitStack() as runners:
            for name in READ_MODELS:
                runners.enter_context(start_runner(container.env, name))
            container.wait(events, *READ_MODELS, timeout=3600)
        timings["projected_s"] = round(time.perf_counter() - start, 1)
        # What autovacuum does on a server after such a load (the test server runs with
        # autovacuum off): the kept summaries (rm_pipeline_totals, rm_client_tags, ...)
        # were updated once per event, and their dead versions would be read by
        # every request until a vacuum; the planner also needs the statistics.
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return {"events": events, **timings}


# --- load -------------------------------------------------------------------------------


ROUTES = {
    "ping (reference)": "/api/ping",
    "pipeline board HTML": "/opportunites",
    "pipeline board JSON": "/api/pipeline",
    "clients HTML": "/clients",
    "clients JSON (50, by name)": "/api/clients?limite=50",
    "clients JSON (search)": "/api/clients?limite=50&q=lyon",
    "opportunites JSON (50, last changed)": "/api/opportunites?limite=50",
    "opportunites JSON (50, by amount)": "/api/opportunites?limite=50&tri=montant&ordre=desc",
    "opportunites JSON (stage filter)": "/api/opportunites?limite=50&etapePipeline=negociation",
}


def session_cookie(base: str) -> str:
    """Log in once (httpx: one request, its cost does not matter) and return the
    `Cookie:` header value that wrk sends with every request."""
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post(
            "/api/auth/login", json={"email": "commercial@banc.test", "password": PASSWORD}
        )
        login.raise_for_status()
        for path in ROUTES.values():  # every route answers before it is measured
            client.get(path).raise_for_status()
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def run_load(base: str, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Cookie": session_cookie(base)}
    results: dict[str, Any] = {}
    for name, path in ROUTES.items():
        if args.only and args.only not in name and path != "/api/ping":
            continue
        # A short warm-up per route: connections, prepared plans, template caches.
        wrk_load(base + path, concurrency=args.concurrency, seconds=1, headers=headers)
        results[name] = {
            "path": path,
            **wrk_load(
                base + path, concurrency=args.concurrency, seconds=args.seconds, headers=headers
            ),
        }
    reference = results["ping (reference)"]
    for result in results.values():
        result["p95_ratio_to_ping"] = round(result["p95_ms"] / max(reference["p95_ms"], 0.1), 1)
    return results


KEPT = Path(__file__).resolve().parent / "results" / "web-database.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--opportunities", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"Keep the loaded database (its URL and key go to {KEPT.name}), for profiling.",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="Measure the database a --keep run left."
    )
    parser.add_argument(
        "--only", default="", help="Measure only the routes whose name contains this (and ping)."
    )
    args = parser.parse_args()
    load_at_start = list(os.getloadavg())
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        loaded: dict[str, Any]
        if args.reuse:
            kept = json.loads(KEPT.read_text(encoding="utf-8"))
            conninfo = kept["conninfo"]
            # The recorded data was encrypted under that run's master key.
            os.environ["CRM_ENCRYPTION_KEY"] = kept["encryption_key"]
            loaded = {"reused": True}
        else:
            conninfo = stack.enter_context(scratch_database(admin, "crm_bench", keep=args.keep))
            loaded = load(conninfo, data_dir, args.clients, args.opportunities)
            if args.keep:
                KEPT.parent.mkdir(exist_ok=True)
                KEPT.write_text(
                    json.dumps(
                        {"conninfo": conninfo, "encryption_key": os.environ["CRM_ENCRYPTION_KEY"]}
                    ),
                    encoding="utf-8",
                )
        ran_on = machine(conninfo)
        with app_server(conninfo, data_dir, redis_url, workers=args.workers) as base:
            results = run_load(base, args)
    write_result(
        "web",
        {
            "benchmark": "web",
            "machine": {
                **ran_on,
                "load_average_at_start": load_at_start,
                "load_average_at_end": list(os.getloadavg()),
            },
            "data": {
                "clients": args.clients,
                "opportunities": args.opportunities,
                **loaded,
            },
            "load": {
                "concurrency": args.concurrency,
                "seconds_per_route": args.seconds,
                "client": "wrk (C, one thread), same machine; one session cookie",
                "server": f"uvicorn (uvloop, httptools), {args.workers} worker process(es),"
                " as `crm serve --workers N`; sessions in Redis",
            },
            "target": "p95 <= 100 ms",
            "routes": results,
        },
    )


if __name__ == "__main__":
    main()
