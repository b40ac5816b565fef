"""Stripe webhooks under load: 1,000 signed deliveries, 20 % duplicates, shuffled.

    uv run python bench/webhooks.py [--deliveries 1000] [--concurrency 16]

The app runs as `crm serve` in a subprocess on a loopback port (projections in
process), against a fresh database on TEST_DATABASE_URL (or DATABASE_URL) and a
local Stripe-like server. This process prepares the payment requests, delivers
the events from a thread pool, and watches the read model.

Measured: deliveries per second; latency from sending a paying event to the
request showing `paye` in rm_payment_requests (p50, p99); and a final check that
each payment request was paid exactly once and every Stripe event recorded once.
Baseline, same run, same server: deliveries per second of badly signed webhooks
(HTTP + signature check, no database write).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm_core.context import acting_as  # noqa: E402
from tests.conftest import settings_for  # noqa: E402
from tests.support.fake_stripe import event_payload, fake_stripe_server, sign  # noqa: E402
from tests.support.services import create_database, drop_database  # noqa: E402
from web.container import running_container  # noqa: E402

SECRET_KEY = "sk_test_51BenchKey000000000000000000004242"  # noqa: S105  (fake server)
WEBHOOK_SECRET = "whsec_benchsecret0000000000000000"  # noqa: S105


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    # The data prepared here and the app subprocess must share one master key.
    os.environ.setdefault(
        "CRM_ENCRYPTION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument(
        "--same-process",
        dest="separate_projections",
        action="store_false",
        help="projections inside the web process (embedded layout) instead of their own",
    )
    args = parser.parse_args()
    admin = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not admin:
        sys.exit("TEST_DATABASE_URL (un serveur PostgreSQL où créer une base) est requis.")
    rng = random.Random(args.seed)
    conninfo = create_database(admin, prefix="crm_bench")
    try:
        with fake_stripe_server(SECRET_KEY) as fake:
            print(json.dumps(run(args, conninfo, fake, rng), indent=2))
    finally:
        drop_database(admin, conninfo)


def prepare(conninfo: str, fake: Any, data_dir: Path, unique: int) -> list[tuple[str, bytes]]:
    """Payment requests with open sessions, and the unique events that pay them.

    Two thirds are paid by card (one `completed, paid` event); one third by a
    delayed method (`completed, unpaid` then `async_payment_succeeded`)."""
    delayed = unique // 3 // 2
    card = unique - 2 * delayed
    settings = dataclasses.replace(
        settings_for(conninfo, data_dir),
        stripe_api_base=fake.url,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_reconcile_every_minutes=0,
    )
    events: list[tuple[str, bytes]] = []
    with (
        running_container(settings, projections=False, worker=False) as container,
        acting_as("system"),
    ):
        workspace = container.accounts.create_workspace(nom="Banc d’essai").id
        client = container.sales.register_client(workspace, nom="Client du banc").id
        links = []
        for index in range(card + delayed):
            opportunity = container.sales.open_opportunity(
                workspace,
                client,
                titre=f"Mission {index}",
                montant_estime="1500.00",
                etape="negociation",
            ).id
            container.sales.move_opportunity(workspace, opportunity, "gagne")
            links.append(container.billing.request_payment(workspace, opportunity))
    fake_sessions = {session["url"]: session for session in fake.sessions.values()}
    for index, link in enumerate(links):
        session_id = fake_sessions[link.url]["id"]
        if index < card:
            events.append(
                ("paid", event_payload("checkout.session.completed", fake.complete(session_id)))
            )
        else:
            unpaid = fake.complete(session_id, paid=False)
            events.append(("pending", event_payload("checkout.session.completed", unpaid)))
            succeeded = {**unpaid, "payment_status": "paid"}
            events.append(
                ("paid", event_payload("checkout.session.async_payment_succeeded", succeeded))
            )
    return events


def run(args: argparse.Namespace, conninfo: str, stripe: Any, rng: random.Random) -> dict[str, Any]:
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"crm-bench-{os.getpid()}"  # noqa: S108
    unique_count = round(args.deliveries * (1 - args.duplicates))
    started = time.perf_counter()
    unique = prepare(conninfo, stripe, data_dir, unique_count)
    prepare_seconds = time.perf_counter() - started
    deliveries = unique + [rng.choice(unique) for _ in range(args.deliveries - len(unique))]
    rng.shuffle(deliveries)

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": conninfo,
        "CRM_DATA_DIR": str(data_dir),
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CRM_STRIPE_RECONCILE_EVERY_MINUTES": "0",
        "CRM_POOL_SIZE": "8",
        "REDIS_URL": "",
    }
    # The production layout: the web process without projections, the projection
    # runners in their own process (each with its own interpreter and GIL).
    serve = [sys.executable, "-m", "web.cli", "serve", "--port", str(port)]
    processes = [
        subprocess.Popen(
            [*serve, "--no-projections"] if args.separate_projections else serve,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    ]
    if args.separate_projections:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "web.cli", "projections", "run"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            _wait_ready(http)
            baseline = _deliver_all(
                http, [("bad", p) for _, p in deliveries[:300]], args.concurrency, bad=True
            )
            seen: dict[str, float] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=_watch, args=(conninfo, seen, stop), daemon=True)
            watcher.start()
            measured = _deliver_all(http, deliveries, args.concurrency)
            deadline = time.monotonic() + 30
            expected_paid = sum(1 for kind, _ in unique if kind == "paid")
            while len(seen) < expected_paid and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            watcher.join()
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    latencies = _visibility(measured["sends"], seen)
    check = _check(conninfo, expected_paid, len(unique))
    return {
        "deliveries": args.deliveries,
        "unique_events": len(unique),
        "duplicates": args.deliveries - len(unique),
        "concurrency": args.concurrency,
        "layout": "web + projections processes" if args.separate_projections else "one process",
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "prepare_seconds": round(prepare_seconds, 1),
        "deliveries_per_second": round(measured["rate"], 1),
        "results": measured["results"],
        "status_codes": measured["codes"],
        "visible_in_read_model_ms": {
            "p50": round(_percentile(latencies, 50) * 1000, 1),
            "p99": round(_percentile(latencies, 99) * 1000, 1),
            "max": round(max(latencies, default=0) * 1000, 1),
            "measured": len(latencies),
        },
        "baseline_bad_signature_per_second": round(baseline["rate"], 1),
        "check": check,
        "targets_met": {
            "rate_at_least_200_per_s": measured["rate"] >= 200,
            "p99_at_most_1s": bool(latencies) and _percentile(latencies, 99) <= 1.0,
            "nothing_lost_or_doubled": check["ok"],
        },
    }


def _wait_ready(http: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit("Le serveur n’a pas démarré.")


def _deliver_all(
    http: httpx.Client, deliveries: list[tuple[str, bytes]], concurrency: int, *, bad: bool = False
) -> dict[str, Any]:
    sends: list[tuple[str, bytes, float, dict[str, Any]]] = []
    lock = threading.Lock()

    def deliver(item: tuple[str, bytes]) -> None:
        kind, payload = item
        secret = "whsec_wrongwrongwrongwrong" if bad else WEBHOOK_SECRET
        sent = time.perf_counter()
        response = http.post(
            "/api/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": sign(payload, secret)},
        )
        body = response.json()
        body["status_code"] = response.status_code
        with lock:
            sends.append((kind, payload, sent, body))

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(deliver, deliveries))
    elapsed = time.perf_counter() - started
    results: dict[str, int] = {}
    codes: dict[str, int] = {}
    for _, _, _, body in sends:
        results[body.get("result", "refused")] = results.get(body.get("result", "refused"), 0) + 1
        codes[str(body["status_code"])] = codes.get(str(body["status_code"]), 0) + 1
    return {"rate": len(deliveries) / elapsed, "sends": sends, "results": results, "codes": codes}


def _watch(conninfo: str, seen: dict[str, float], stop: threading.Event) -> None:
    """Record when each payment request first shows `paye` in the read model."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT id::text FROM rm_payment_requests WHERE status = 'paye'"
            ).fetchall()
            now = time.perf_counter()
            for (request_id,) in rows:
                seen.setdefault(request_id, now)
            time.sleep(0.005)


def _visibility(
    sends: list[tuple[str, bytes, float, dict[str, Any]]], seen: dict[str, float]
) -> list[float]:
    """Per applied paying event: from sending it to its request showing `paye`."""
    latencies = []
    for kind, payload, sent, body in sends:
        if kind != "paid" or body.get("result") != "applied":
            continue
        metadata = json.loads(payload)["data"]["object"]["metadata"]
        request_id = metadata["payment_request_id"]
        if request_id in seen:
            latencies.append(max(seen[request_id] - sent, 0.0))
    return latencies


def _check(conninfo: str, expected_paid: int, unique: int) -> dict[str, Any]:
    with psycopg.connect(conninfo) as conn:
        paid_events = conn.execute(
            "SELECT originator_id, count(*) FROM crm_events"
            " WHERE topic LIKE '%PaymentRequest.Paid' GROUP BY originator_id"
        ).fetchall()
        processed = conn.execute(
            "SELECT count(*) FROM crm_events WHERE topic LIKE '%ProcessedStripeEvent.Recorded'"
        ).fetchone()
        paid_rows = conn.execute(
            "SELECT count(*) FROM rm_payment_requests WHERE status = 'paye'"
        ).fetchone()
    doubled = sum(1 for _, count in paid_events if count > 1)
    result = {
        "payment_requests_paid_events": len(paid_events),
        "expected_paid": expected_paid,
        "paid_twice": doubled,
        "read_model_paid": paid_rows[0] if paid_rows else 0,
        "stripe_events_recorded": processed[0] if processed else 0,
        "unique_stripe_events": unique,
    }
    result["ok"] = (
        len(paid_events) == expected_paid
        and doubled == 0
        and result["read_model_paid"] == expected_paid
        and result["stripe_events_recorded"] == unique
    )
    return result


if __name__ == "__main__":
    main()
