"""Portal benchmark: the client's portal page under 50 concurrent connections.

    uv run python bench/portal.py [--quick] [--clients 10000] [--seconds 15] [--rounds 5]
                                  [--workers 2]

Builds a fresh database with one workspace, 10,000 clients and 200,000 events (each
client's life through the domain: 10 events; 9 portal visits; its portal link),
lets the read models the portal reads catch up, starts the app under uvicorn on a
loopback port (`--workers` processes, as `crm serve --workers` does) and measures
with wrk (a C load generator, bench/_common.py `wrk_load`), in the same run:

- `ping (reference)`: the trivial `/api/ping`;
- `portail page HTML, 200 clients`: `GET /portail` with the session cookies of 200
  clients, round robin (bench/wrk/paths.lua): clients reloading their page, which
  each process keeps rendered (web/portal/reads.py; every load still asks PostgreSQL,
  the loads waiting together in one statement);
- `portail page HTML, 10,000 clients`: the same with every client's cookie: no
  client comes back before its kept page is evicted, so every load builds and
  renders the page (the worst case);
- `portail JSON (token), 10,000 clients`: `GET /api/portail/{token}` (the token
  hashed and looked up on each request; the same worst case).

The routes take turns in `--rounds` rounds (`--seconds` per route in all, each round
starting one route further), so that the load of other processes on a shared
machine falls on each alike: requests per
second over all rounds, latencies of the median round (and the worst round's p95).
Every route is also measured on one connection (the cost of a request without
queueing). Targets: the page's p95 ≤ 30 ms and ≥ half the requests per second of
`/api/ping` under 50 connections (the 200-client page). Prints JSON (with the
machine) and writes bench/results/portal.json.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    APP_SECRET_KEY,
    EVENTS_PER_UNIT,
    app_server,
    arguments_parser,
    client_unit,
    machine,
    scratch_database,
    write_result,
    wrk_load,
)

from crm_core.context import acting_as
from crm_core.portal.domainmodel import PortalAccess, PortalVisit, hash_token

ROOT = Path(__file__).resolve().parent.parent
READ_MODELS = ("accounts", "clients", "pipeline", "tickets", "portal", "payments")
VISITS_PER_CLIENT = 9  # + the link's event: 20 events per client, 200,000 for 10,000
HOT_CLIENTS = 200
TARGET_P95_MS = 30.0
TARGET_RPS_RATIO = 0.5


@dataclasses.dataclass(frozen=True)
class Link:
    client_id: uuid.UUID
    workspace_id: uuid.UUID
    token: str


def load(conninfo: str, data_dir: Path, n_clients: int) -> tuple[dict[str, Any], list[Link]]:
    """Record the workspace, the clients' lives, visits and links; project them."""
    from web.container import running_container, start_runner
    from web.settings import load_settings

    settings = dataclasses.replace(
        load_settings(), database_url=conninfo, data_dir=data_dir, secret_key="p" * 48
    )
    links: list[Link] = []
    timings: dict[str, Any] = {}
    with running_container(settings, projections=False, worker=False) as container:
        start = time.perf_counter()
        with acting_as("system"):
            workspace = container.accounts.create_workspace(nom="Banc portail").id
        with acting_as("user:bench"):
            for first in range(0, n_clients, 200):
                batch: list[Any] = []
                for n in range(first, min(first + 200, n_clients)):
                    unit = client_unit(workspace, n)
                    client = unit[0]
                    batch.extend(unit)
                    batch.extend(
                        PortalVisit(workspace_id=workspace, client_id=client.id)
                        for _ in range(VISITS_PER_CLIENT)
                    )
                    access, token = PortalAccess.issue(client)
                    batch.append(access)
                    links.append(Link(client.id, workspace, token))
                container.sales.save(*batch)
        timings["events_recorded_s"] = round(time.perf_counter() - start, 1)
        events = container.log.recorder.max_notification_id() or 0
        start = time.perf_counter()
        with contextlib.ExitStack() as runners:
            for name in READ_MODELS:
                runners.enter_context(start_runner(container.env, name))
            container.wait(events, *READ_MODELS, timeout=3600)
        timings["projected_s"] = round(time.perf_counter() - start, 1)
        with psycopg.connect(conninfo) as conn:
            conn.execute("ANALYZE")
    data = {
        "clients": n_clients,
        "events": events,
        "domain_events_per_client": EVENTS_PER_UNIT + VISITS_PER_CLIENT + 1,
        "portal_links": len(links),
        **timings,
    }
    return data, links


def session_cookies(base: str, links: list[Link]) -> list[str]:
    """Every client's portal cookie, signed as the app signs it.

    Opening 10,000 links through the app would record 10,000 more visits: the bench
    signs the cookies with the app's key instead, and checks on a few links that the
    app, through its real exchange, hands out exactly the same value.
    """
    from web.portal.access import COOKIE, signed_session

    cookies = [
        f"{COOKIE}="
        + signed_session(APP_SECRET_KEY, link.client_id, link.workspace_id, hash_token(link.token))
        for link in links
    ]
    with httpx.Client(base_url=base, timeout=30) as client:
        for link, cookie in list(zip(links, cookies, strict=True))[:5]:
            entered = client.get(f"/portail/{link.token}", follow_redirects=False)
            assert entered.status_code == 303, entered.status_code
            assert entered.headers["set-cookie"].split(";", 1)[0] == cookie
            client.cookies.clear()
            page = client.get("/portail", headers={"cookie": cookie})
            assert page.status_code == 200, page.status_code
            assert "Projets / Prestations" in page.text
            assert page.headers["cache-control"] == "no-store"
    return cookies


def paths_file(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_load(
    base: str, links: list[Link], concurrency: int, seconds: float, rounds: int, directory: Path
) -> dict[str, Any]:
    cookies = session_cookies(base, links)
    page = "/portail\t{}"
    routes: dict[str, Path | None] = {
        "ping (reference)": None,
        f"portail page HTML, {min(HOT_CLIENTS, len(links))} clients": paths_file(
            directory, "hot", [page.format(c) for c in cookies[:HOT_CLIENTS]]
        ),
        f"portail page HTML, {len(links)} clients": paths_file(
            directory, "all", [page.format(c) for c in cookies]
        ),
        f"portail JSON (token), {len(links)} clients": paths_file(
            directory, "json", [f"/api/portail/{link.token}" for link in links]
        ),
    }

    def measure(file: Path | None, connections: int, duration: float) -> dict[str, Any]:
        if file is None:
            return wrk_load(f"{base}/api/ping", concurrency=connections, seconds=duration)
        return wrk_load(base, concurrency=connections, seconds=duration, paths_file=file)

    for file in routes.values():  # warm-up: connections, prepared statements, caches
        measure(file, concurrency, 2)
    # Rounds, the routes taking turns: load from other processes on the shared machine
    # comes and goes, and must fall on the reference and on the page alike.
    # Each round starts one route further, so none always follows the same one.
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in routes}
    order = list(routes.items())
    for round_number in range(rounds):
        shift = round_number % len(order)
        for name, file in order[shift:] + order[:shift]:
            runs[name].append(measure(file, concurrency, seconds / rounds))
    results = {name: combined(measured) for name, measured in runs.items()}
    reference = results["ping (reference)"]
    for result in results.values():
        result["rps_ratio_to_ping"] = round(result["rps"] / reference["rps"], 2)
    single = {name: measure(file, 1, 3) for name, file in routes.items()}
    return {"concurrent": results, "one_connection": single}


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one route: requests per second over all of them, the median round's
    latencies (wrk reports percentiles, not its samples), and every round's figures."""
    seconds = sum(run["requests"] / run["rps"] for run in runs if run["rps"])
    requests = sum(run["requests"] for run in runs)
    return {
        "requests": requests,
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        **{
            key: statistics.median(run[key] for run in runs)
            for key in ("p50_ms", "p95_ms", "p99_ms")
        },
        "worst_round_p95_ms": max(run["p95_ms"] for run in runs),
        "non_2xx_or_3xx": sum(run["non_2xx_or_3xx"] for run in runs),
        "socket_errors": sum(sum(run["socket_errors"].values()) for run in runs),
        "rounds": [
            {key: run[key] for key in ("rps", "p50_ms", "p95_ms", "p99_ms")} for run in runs
        ],
    }


def main() -> None:
    parser = arguments_parser(__doc__ or "")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="Per route, all rounds.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    clients = 1_000 if args.quick else args.clients
    seconds = 6.0 if args.quick else args.seconds
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
    result: dict[str, Any] = {"machine": machine(args.admin_url)}
    with (
        scratch_database(args.admin_url, "crm_bench_portal") as conninfo,
        tempfile.TemporaryDirectory() as scratch,
    ):
        data_dir = Path(scratch)
        data, links = load(conninfo, data_dir, clients)
        result["data"] = data
        result["load"] = {
            "tool": "wrk",
            "connections": args.concurrency,
            "seconds_per_route": seconds,
            "rounds": args.rounds,
            "app_workers": args.workers,
        }
        with app_server(conninfo, data_dir, redis_url, workers=args.workers) as base:
            routes = run_load(base, links, args.concurrency, seconds, args.rounds, data_dir)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    page = routes["concurrent"][f"portail page HTML, {min(HOT_CLIENTS, clients)} clients"]
    result["routes"] = routes["concurrent"]
    result["one_connection"] = routes["one_connection"]
    result["targets"] = {
        "page_p95_ms": {"target": TARGET_P95_MS, "measured": page["p95_ms"]},
        "page_rps_ratio_to_ping": {
            "target": TARGET_RPS_RATIO,
            "measured": page["rps_ratio_to_ping"],
        },
        "met": page["p95_ms"] <= TARGET_P95_MS
        and page["rps_ratio_to_ping"] >= TARGET_RPS_RATIO
        and page["non_2xx_or_3xx"] == 0
        and page["socket_errors"] == 0,
    }
    write_result("portal", result)


if __name__ == "__main__":
    main()
