"""Stripe webhooks under load: 1,000 signed deliveries, 20 % duplicates, shuffled.

    uv run python bench/webhooks.py [--deliveries 1000] [--concurrency 10] [--workers 2]

The production layout: the app under uvicorn with `--workers` processes and no
projections, `crm projections run` in a process of its own, a fresh database on the
`--admin-url` server, Redis (`REDIS_URL`, else none), and a local Stripe-like server.
The payment requests belong to several workspaces, each with its own stored (sealed)
webhook secret and no STRIPE_WEBHOOK_SECRET: the multi-tenant path, where the app
finds the secret from the workspace the event names.

The deliveries come from wrk (a C client in its own process, bench/wrk/webhooks.lua)
over `--concurrency` connections: Stripe delivers an account's events over a few
parallel connections, and 10 is already more than a small business's webhooks see.
This process only prepares the data and watches the read model.

Measured: deliveries per second; from the first send of each paying event to its
request showing `paye` in rm_payment_requests (p50, p99); and a final check that each
payment request was paid exactly once and each Stripe event recorded once.
Baseline, same run, same server: badly signed deliveries per second (HTTP, the
workspace's secret looked up, the signature refused; nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    app_server,
    arguments_parser,
    machine,
    scratch_database,
    write_result,
)

from crm_core.context import acting_as
from tests.conftest import settings_for
from tests.support.fake_stripe import FakeStripe, event_payload, fake_stripe_server, sign
from web.container import running_container

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "sk_test_51BenchKey000000000000000000004242"  # noqa: S105  (fake server)
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "webhooks.lua"


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return quantiles(values, n=100, method="inclusive")[q - 1]


class Delivery:
    def __init__(self, kind: str, request_id: str, secret: str, payload: bytes) -> None:
        self.kind = kind  # paid | pending
        self.request_id = request_id
        self.secret = secret
        self.payload = payload
        self.event_id = payload.split(b'"id": "', 1)[1].split(b'"', 1)[0].decode()


def prepare(
    conninfo: str, fake: FakeStripe, data_dir: Path, unique: int, workspaces: int
) -> list[Delivery]:
    """Payment requests with open sessions, and the unique events that pay them.

    Two thirds are paid by card (one `completed, paid` event); one third by a
    delayed method (`completed, unpaid` then `async_payment_succeeded`)."""
    delayed = unique // 3 // 2
    card = unique - 2 * delayed
    settings = dataclasses.replace(
        settings_for(conninfo, data_dir),
        stripe_api_base=fake.url,
        stripe_secret_key="",
        stripe_webhook_secret="",
        stripe_reconcile_every_minutes=0,
    )
    links = []
    with (
        running_container(settings, projections=False, worker=False) as container,
        acting_as("system"),
    ):
        tenants = []
        for number in range(workspaces):
            workspace = container.accounts.create_workspace(nom=f"Banc d’essai {number}").id
            secret = f"whsec_bench{number:04d}{'0' * 24}"
            container.billing.configure_stripe(
                workspace, mode="test", secret_key=SECRET_KEY, webhook_secret=secret
            )
            client = container.sales.register_client(workspace, nom="Client du banc").id
            tenants.append((workspace, client, secret))
        for index in range(card + delayed):
            workspace, client, secret = tenants[index % workspaces]
            opportunity = container.sales.open_opportunity(
                workspace,
                client,
                titre=f"Mission {index}",
                montant_estime="1500.00",
                etape="negociation",
            ).id
            container.sales.move_opportunity(workspace, opportunity, "gagne")
            links.append((container.billing.request_payment(workspace, opportunity), secret))
    sessions = {session["url"]: session for session in fake.sessions.values()}
    events: list[Delivery] = []
    for index, (link, secret) in enumerate(links):
        session_id = sessions[link.url]["id"]
        request_id = str(link.id)
        if index < card:
            paid = event_payload("checkout.session.completed", fake.complete(session_id))
            events.append(Delivery("paid", request_id, secret, paid))
        else:
            unpaid = fake.complete(session_id, paid=False)
            pending = event_payload("checkout.session.completed", unpaid)
            events.append(Delivery("pending", request_id, secret, pending))
            succeeded = {**unpaid, "payment_status": "paid"}
            paid = event_payload("checkout.session.async_payment_succeeded", succeeded)
            events.append(Delivery("paid", request_id, secret, paid))
    return events


@contextmanager
def projections_process(conninfo: str, data_dir: Path, redis_url: str) -> Any:
    """`crm projections run` in its own process, as in production."""
    env = {
        **os.environ,
        "DATABASE_URL": conninfo,
        "REDIS_URL": redis_url,
        "CRM_DATA_DIR": str(data_dir),
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "projections", "run"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _caught_up(conninfo: str, workspaces: int, requests: int, timeout: float = 120) -> None:
    """Wait until the payments read model shows every stored secret and payment request."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.errors.UndefinedTable):
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM rm_stripe_settings"
                    " WHERE test_webhook_sealed <> ''),"
                    " (SELECT count(*) FROM rm_payment_requests WHERE session_id <> '')"
                ).fetchone()
                if row and (row[0], row[1]) == (workspaces, requests):
                    return
            time.sleep(0.2)
    sys.exit("La projection des paiements n’a pas rattrapé le journal.")


def deliver(
    base: str, deliveries: list[Delivery], concurrency: int, workdir: Path, *, bad: bool = False
) -> dict[str, Any]:
    """Send every delivery once through wrk; the answers with their monotonic times."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk est absent : apt-get install wrk")
    source = workdir / ("bad.tsv" if bad else "deliveries.tsv")
    answers = workdir / ("bad-answers.tsv" if bad else "answers.tsv")
    with source.open("w", encoding="utf-8") as out:
        for delivery in deliveries:
            secret = "whsec_wrongwrongwrongwrong" if bad else delivery.secret
            body = delivery.payload.decode()
            out.write(f"{delivery.event_id}\t{sign(delivery.payload, secret)}\t{body}\n")
    # wrk stops itself after the last answer; the duration is only a bound.
    bound = max(60, len(deliveries) // 10)
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{bound}s", "--timeout", "30s"]
    command += ["-s", str(WRK_SCRIPT), base, "--", str(source), str(answers)]
    # wrk's thread stops after the last answer, but wrk itself sleeps to the end of
    # its duration: the answers file appearing is the end, and SIGINT stops wrk.
    launched = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + bound + 10
    while not answers.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    if not answers.exists():
        sys.exit(f"wrk n’a pas reçu toutes les réponses en {bound} s : l’application répond-elle ?")
    rows = [line.split("\t") for line in answers.read_text(encoding="utf-8").splitlines()]
    # A refused delivery's answer names no event: its send time is unknown.
    first_send = min((float(row[1]) for row in rows if float(row[1]) > 0), default=launched)
    last_answer = max(float(row[2]) for row in rows)
    results: dict[str, int] = {}
    codes: dict[str, int] = {}
    for row in rows:
        results[row[4]] = results.get(row[4], 0) + 1
        codes[row[3]] = codes.get(row[3], 0) + 1
    return {
        "rate": len(rows) / (last_answer - first_send),
        "answers": len(rows),
        "sent_at": {row[0]: float(row[1]) for row in rows},
        "applied": {row[0] for row in rows if row[4] == "applied"},
        "results": results,
        "codes": codes,
    }


def _watch(conninfo: str, seen: dict[str, float], stop: threading.Event) -> None:
    """Record when each payment request first shows `paye` in the read model."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT id::text FROM rm_payment_requests WHERE status = 'paye'"
            ).fetchall()
            now = time.monotonic()
            for (request_id,) in rows:
                seen.setdefault(request_id, now)
            time.sleep(0.01)


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
    result: dict[str, Any] = {
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


def _measure(
    args: argparse.Namespace,
    conninfo: str,
    base: str,
    deliveries: list[Delivery],
    unique: list[Delivery],
    workdir: Path,
) -> dict[str, Any]:
    expected_paid = sum(1 for delivery in unique if delivery.kind == "paid")
    httpx.get(f"{base}/api/ping")
    baseline = deliver(base, deliveries[:300], args.concurrency, workdir, bad=True)
    seen: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(conninfo, seen, stop), daemon=True)
    watcher.start()
    measured = deliver(base, deliveries, args.concurrency, workdir)
    deadline = time.monotonic() + 30
    while len(seen) < expected_paid and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join()
    latencies = [
        max(seen[d.request_id] - measured["sent_at"][d.event_id], 0.0)
        for d in unique
        if d.kind == "paid" and d.event_id in measured["applied"] and d.request_id in seen
    ]
    check = _check(conninfo, expected_paid, len(unique))
    rate = measured["rate"]
    p99 = _percentile(latencies, 99)
    return {
        "command": " ".join(["python", *sys.argv]),
        "deliveries": args.deliveries,
        "answered": measured["answers"],
        "unique_events": len(unique),
        "duplicates": args.deliveries - len(unique),
        "workspaces": args.workspaces,
        "concurrency": args.concurrency,
        "concurrency_note": "wrk connections; Stripe delivers an account's events over"
        " a few parallel connections",
        "layout": f"uvicorn --workers {args.workers} (no projections) + `crm projections"
        " run` process, secrets stored per workspace",
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "deliveries_per_second": round(rate, 1),
        "results": measured["results"],
        "status_codes": measured["codes"],
        "visible_in_read_model_ms": {
            "p50": round(_percentile(latencies, 50) * 1000, 1),
            "p99": round(p99 * 1000, 1),
            "max": round(max(latencies, default=0) * 1000, 1),
            "measured": len(latencies),
        },
        "baseline_bad_signature_per_second": round(baseline["rate"], 1),
        "baseline_status_codes": baseline["codes"],
        "check": check,
        "targets_met": {
            "rate_at_least_200_per_s": rate >= 200,
            "p99_at_most_1s": bool(latencies) and p99 <= 1.0,
            "nothing_lost_or_doubled": check["ok"],
        },
    }


def main() -> None:
    parser = arguments_parser(__doc__ or "")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--workspaces", type=int, default=10)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    if args.quick:
        args.deliveries = 200
    rng = random.Random(args.seed)
    redis_url = os.environ.get("REDIS_URL", "")
    result: dict[str, Any] = {"machine": machine(args.admin_url)}
    with (
        scratch_database(args.admin_url, "crm_bench_webhooks") as conninfo,
        fake_stripe_server(SECRET_KEY) as fake,
        tempfile.TemporaryDirectory(prefix="crm-bench-webhooks-") as tmp,
    ):
        workdir = Path(tmp)
        os.environ["STRIPE_API_BASE"] = fake.url  # the app (a subprocess) inherits it
        for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
            os.environ.pop(name, None)
        os.environ["CRM_STRIPE_RECONCILE_EVERY_MINUTES"] = "0"
        os.environ["CRM_POOL_SIZE"] = "4"
        unique_count = round(args.deliveries * (1 - args.duplicates))
        started = time.perf_counter()
        unique = prepare(conninfo, fake, workdir / "data", unique_count, args.workspaces)
        result["prepare_seconds"] = round(time.perf_counter() - started, 1)
        deliveries = unique + [rng.choice(unique) for _ in range(args.deliveries - len(unique))]
        rng.shuffle(deliveries)
        # Started one after the other: the first creates what is missing in the schema.
        with projections_process(conninfo, workdir / "data", redis_url):
            # The stored webhook secrets must be on the read side before the first delivery.
            _caught_up(conninfo, args.workspaces, len({d.request_id for d in unique}))
            with app_server(conninfo, workdir / "data", redis_url, workers=args.workers) as base:
                result.update(_measure(args, conninfo, base, deliveries, unique, workdir))
    write_result("webhooks", result)


if __name__ == "__main__":
    main()
