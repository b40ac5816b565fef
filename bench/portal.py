"""Portal benchmark: the client's portal page under 50 concurrent connections.

    uv run python bench/portal.py [--quick] [--clients 10000] [--seconds 8]

Builds a fresh database with one workspace, 10,000 clients and 200,000 events
(each client's life through the domain: 10 events; plus 10 portal visits per
client), portal links for 200 clients, lets the read models the portal reads
catch up, starts the app under uvicorn on a loopback port (one process, as in
production behind the proxy) and measures, in the same run and with the same
client: the trivial `/api/ping` (reference), the portal page `GET /portail` (HTML,
each connection with its own client's cookie) and the JSON API
`GET /api/portail/{token}` (token hashed and looked up on each request).
Targets: the page's p95 ≤ 30 ms and ≥ half the requests per second of `/api/ping`.
Prints JSON (with the machine) and writes bench/results/portal.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    EVENTS_PER_UNIT,
    app_server,
    arguments_parser,
    client_unit,
    machine,
    scratch_database,
    write_result,
)

from crm_core.context import acting_as
from crm_core.portal.domainmodel import PortalAccess, PortalVisit

ROOT = Path(__file__).resolve().parent.parent
READ_MODELS = ("accounts", "clients", "pipeline", "tickets", "portal", "payments")
VISITS_PER_CLIENT = 10
LINKS = 200
TARGET_P95_MS = 30.0
TARGET_RPS_RATIO = 0.5


def load(conninfo: str, data_dir: Path, n_clients: int) -> dict[str, Any]:
    """Record the workspace, the clients' lives, the visits and some links; project them."""
    from web.container import running_container, start_runner
    from web.settings import load_settings

    settings = dataclasses.replace(
        load_settings(), database_url=conninfo, data_dir=data_dir, secret_key="p" * 48
    )
    tokens: list[str] = []
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
                    if len(tokens) < LINKS:
                        access, token = PortalAccess.issue(client)
                        batch.append(access)
                        tokens.append(token)
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
    return {
        "clients": n_clients,
        "events": events,
        "domain_events_per_client": EVENTS_PER_UNIT + VISITS_PER_CLIENT,
        "portal_links": len(tokens),
        "tokens": tokens,
        **timings,
    }


async def measure(
    client: httpx.AsyncClient,
    requests: list[tuple[str, dict[str, str]]],
    seconds: float,
    expected: int = 200,
) -> dict[str, Any]:
    """One worker per (path, headers): as many concurrent connections as requests."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    for path, headers in requests:  # warm-up: connections, caches, prepared statements
        await client.get(path, headers=headers)
    deadline = time.perf_counter() + seconds

    async def worker(path: str, headers: dict[str, str]) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            response = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(path, headers) for path, headers in requests))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "connections": len(requests),
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "all_ok": set(statuses) == {expected},
    }


async def run_load(base: str, tokens: list[str], concurrency: int, seconds: float) -> Any:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        cookies: list[dict[str, str]] = []
        for token in tokens[:concurrency]:
            # The link is opened once (a visit, a write) and not measured.
            entered = await client.get(f"/portail/{token}", follow_redirects=False)
            assert entered.status_code == 303, entered.status_code
            value = entered.headers["set-cookie"].split(";", 1)[0]
            cookies.append({"cookie": value})
        client.cookies.clear()
        page = await client.get("/portail", headers=cookies[0])
        assert page.status_code == 200 and "Projets / Prestations" in page.text, page.status_code
        lanes = range(concurrency)
        routes = {
            "ping (reference)": [("/api/ping", {}) for _ in lanes],
            "portail page HTML (cookie)": [("/portail", cookies[i % len(cookies)]) for i in lanes],
            "portail JSON (token)": [
                (f"/api/portail/{tokens[i % len(tokens)]}", {}) for i in lanes
            ],
        }
        results: dict[str, Any] = {}
        for name, requests in routes.items():
            results[name] = {"path": requests[0][0], **await measure(client, requests, seconds)}
        reference = results["ping (reference)"]
        for result in results.values():
            result["rps_ratio_to_ping"] = round(result["rps"] / reference["rps"], 2)
            result["p95_ratio_to_ping"] = round(result["p95_ms"] / reference["p95_ms"], 1)
        # The cost of one request without queueing: one connection, same routes.
        single: dict[str, Any] = {}
        for name, requests in routes.items():
            single[name] = await measure(client, requests[:1], seconds / 2)
        return {"concurrent": results, "one_connection": single}


def main() -> None:
    here = str(Path(__file__).resolve().parent)
    while here in sys.path:  # run as a file: `web` is the app's package, not bench/web.py
        sys.path.remove(here)
    parser = arguments_parser(__doc__ or "")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    clients = 1_000 if args.quick else args.clients
    seconds = 3.0 if args.quick else args.seconds
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
    result: dict[str, Any] = {"machine": machine(args.admin_url)}
    with (
        scratch_database(args.admin_url, "crm_bench_portal") as conninfo,
        tempfile.TemporaryDirectory() as data_dir,
    ):
        data = load(conninfo, Path(data_dir), clients)
        tokens = data.pop("tokens")
        result["data"] = data
        with app_server(conninfo, Path(data_dir), redis_url) as base:
            routes = asyncio.run(run_load(base, tokens, args.concurrency, seconds))
    page = routes["concurrent"]["portail page HTML (cookie)"]
    result["routes"] = routes["concurrent"]
    result["one_connection"] = routes["one_connection"]
    result["targets"] = {
        "page_p95_ms": {"target": TARGET_P95_MS, "measured": page["p95_ms"]},
        "page_rps_ratio_to_ping": {
            "target": TARGET_RPS_RATIO,
            "measured": page["rps_ratio_to_ping"],
        },
        "met": page["p95_ms"] <= TARGET_P95_MS and page["rps_ratio_to_ping"] >= TARGET_RPS_RATIO,
    }
    write_result("portal", result)


if __name__ == "__main__":
    main()
