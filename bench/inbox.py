"""Inbox: messages ingested per second over SMTP, and delivery -> timeline latency.

Starts the CRM (projection runners in-process) on a throwaway database and its
SMTP receiver on a free loopback port, registers clients, then sends 2,000
messages of mixed sizes with `smtplib` from several connections at once, from a
process of its own (`_smtp_sender.py`) as a relaying MTA does: 70 % short text,
20 % text + HTML, 8 % with a 50-500 KB attachment, 2 % with a 2 MB attachment.
Half go to a client's inbox+key address, half come from a client's own address.
A watcher polls `rm_timeline` every 10 ms and notes when each message's
`email_client` entry appears.

Figures: throughput = messages / (first MAIL FROM -> last 250); latency = from
the start of a message's SMTP transaction to its timeline row (p50/p95/p99; the
10 ms polling adds up to 10 ms). Baseline, same run, same mix: the ingestor
called directly (parse + command, no SMTP, one thread) on 300 messages.

    uv run python bench/inbox.py [--quick] [--messages N] [--connections N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import pickle
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg

if __name__ == "__main__":
    # First: takes bench/ off sys.path, where web.py shadows `web`. The processes the
    # receiver spawns (to parse) run this file again as `__mp_main__`, bench/ off
    # their path: they need nothing of the bench.
    import _common

from crm_core.context import acting_as
from crm_core.ids import email_id_for
from web.container import Container, running_container
from web.mail import build_ingestor, inbox_address, running_mail_receiver
from web.settings import load_settings

RESULTS = Path(__file__).resolve().parent / "results"


def build_message(index: int, rng: random.Random, sender: str, to: str, domain: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Message de bench n°{index}"
    message["Message-ID"] = f"<bench-{index}-{uuid.uuid4().hex[:8]}@client.example>"
    body = ("Bonjour, voici des nouvelles du projet. " * rng.randint(10, 60)).strip()
    message.set_content(body)
    kind = rng.random()
    if kind >= 0.70:
        message.add_alternative(
            f"<html><body><p>{body}</p><p><b>À bientôt</b></p></body></html>", subtype="html"
        )
    if kind >= 0.90:
        size = 2_000_000 if kind >= 0.98 else rng.randint(50_000, 500_000)
        message.add_attachment(
            rng.randbytes(size),
            maintype="application",
            subtype="pdf",
            filename=f"piece-{index}.pdf",
        )
    del domain
    return message.as_bytes(policy=policy.SMTP)  # CRLF line ends, as on the wire


def message_id_of(raw: bytes) -> str:
    return raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].strip().decode()


def children_cpu_seconds() -> float:
    """CPU time of this process's live child processes (the receiver's parsing
    workers), from /proc: they are reaped only at the end, after the figures."""
    ticks = 0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def watch_timeline(
    conninfo: str,
    workspace_id: uuid.UUID,
    expected: int,
    seen: dict[uuid.UUID, float],
    stop: threading.Event,
) -> None:
    """Note when each email's timeline row appears, fetching only the new rows.

    One runner writes `rm_timeline`, one transaction after the other, so a new row
    has a higher `xmin` (transaction id) than every row seen before: asking for
    rows above the last `xmin` keeps this watcher's own CPU out of the figures.
    """
    last_xmin = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while not stop.is_set() and len(seen) < expected:
            rows = conn.execute(
                "SELECT reference_id, xmin::text::bigint FROM rm_timeline"
                " WHERE workspace_id = %s AND type_evenement = 'email_client'"
                " AND xmin::text::bigint > %s",
                (workspace_id, last_xmin),
            ).fetchall()
            now = time.monotonic()
            for reference_id, xmin in rows:
                seen.setdefault(reference_id, now)
                last_xmin = max(last_xmin, xmin)
            time.sleep(0.01)


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(6)
    with (
        _common.scratch_database(args.admin_url, "bench_inbox") as conninfo,
        tempfile.TemporaryDirectory() as data,
    ):
        settings = dataclasses.replace(
            load_settings(),
            database_url=conninfo,
            data_dir=Path(data),
            pool_size=args.pool_size,
        )
        with running_container(settings, projections=True, worker=False) as container:
            return measure(container, conninfo, args, rng)


def measure(
    container: Container, conninfo: str, args: argparse.Namespace, rng: random.Random
) -> dict[str, Any]:
    domain = f"bench{uuid.uuid4().hex[:6]}.test"
    with acting_as("system"):
        workspace = container.accounts.create_workspace(nom="Bench", domaine_mail=domain)
        baseline_ws = container.accounts.create_workspace(nom="Base", domaine_mail="b" + domain)
        clients = []
        for n in range(args.clients):
            receipt = container.sales.register_client(
                workspace.id, nom=f"Client {n}", email=f"client{n}@client.example"
            )
            clients.append((receipt.id, f"client{n}@client.example"))
        container.wait(receipt.position, "accounts", "clients")

    def message_for(index: int, workspace_id: uuid.UUID) -> tuple[str, str, bytes]:
        client_id, client_email = clients[index % len(clients)]
        if index % 2:
            to = inbox_address(container, workspace_id, client_id)
            sender = "quelquun@ailleurs.example"
        else:
            to, sender = f"contact@{domain}", client_email
        return sender, to, build_message(index, rng, sender, to, domain)

    # Baseline: the same mix through the ingestor directly, one thread.
    ingestor = build_ingestor(container)
    baseline_messages = [message_for(i, baseline_ws.id)[2] for i in range(args.baseline)]
    started = time.monotonic()
    for raw in baseline_messages:
        ingestor.ingest(baseline_ws.id, raw)
    baseline_rate = len(baseline_messages) / (time.monotonic() - started)

    prepared = [message_for(i, workspace.id) for i in range(args.messages)]
    sizes = [len(raw) for _, _, raw in prepared]
    email_ids = [email_id_for(workspace.id, message_id_of(raw)) for _, _, raw in prepared]
    to_send = pickle.dumps([(i, *message) for i, message in enumerate(prepared)])
    seen: dict[uuid.UUID, float] = {}
    stop = threading.Event()
    with running_mail_receiver(container, host="127.0.0.1", port=0) as address:
        watcher = threading.Thread(
            target=watch_timeline, args=(conninfo, workspace.id, len(prepared), seen, stop)
        )
        watcher.start()
        cpu0, workers0 = time.process_time(), children_cpu_seconds()
        sent = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve().parent / "_smtp_sender.py"),
                f"--host={address[0]}",
                f"--port={address[1]}",
                f"--connections={args.connections}",
            ],
            input=to_send,
            capture_output=True,
            check=True,
        )
        cpu_seconds = time.process_time() - cpu0
        workers_cpu_seconds = children_cpu_seconds() - workers0
        watcher.join(timeout=120)
        stop.set()
    client = json.loads(sent.stdout)
    sent_seconds = client["t1"] - client["t0"]
    started_at = {email_ids[int(i)]: at for i, at in client["started_at"].items()}
    acked_at = {email_ids[int(i)]: at for i, at in client["acked_at"].items()}
    errors: list[str] = client["errors"]
    latencies = [seen[i] - started_at[i] for i in acked_at if i in seen]
    after_ack = [seen[i] - acked_at[i] for i in acked_at if i in seen]
    return {
        "benchmark": "inbox",
        "messages": len(prepared),
        "accepted": len(acked_at),
        "errors": errors[:5],
        "in_timeline": len(latencies),
        "connections": args.connections,
        "connections_note": (
            f"{args.connections} SMTP connections at once from a process of their own,"
            " as a relaying MTA delivers (Postfix opens up to 20 per destination);"
            " each sends its share in turn"
        ),
        "message_bytes": {
            "median": int(statistics.median(sizes)),
            "max": max(sizes),
            "total_mb": round(sum(sizes) / 1e6, 1),
        },
        "smtp_msg_per_s": round(len(acked_at) / sent_seconds, 1),
        # CPU of this process (receiver, projections, watcher) per message while
        # sending: what one core can afford. The sending MTA's own CPU is apart.
        "process_cpu_ms_per_message": round(cpu_seconds * 1000 / max(len(acked_at), 1), 2),
        # The receiver's parsing processes: the rest of the receiving side's CPU.
        "parsing_cpu_ms_per_message": round(workers_cpu_seconds * 1000 / max(len(acked_at), 1), 2),
        "sender_cpu_ms_per_message": round(client["cpu_seconds"] * 1000 / max(len(acked_at), 1), 2),
        "latency_delivery_to_timeline_s": {
            "p50": round(percentile(latencies, 0.50), 3),
            "p95": round(percentile(latencies, 0.95), 3),
            "p99": round(percentile(latencies, 0.99), 3),
            "max": round(max(latencies), 3),
        },
        "latency_250_to_timeline_s_p99": round(percentile(after_ack, 0.99), 3),
        "baseline": {
            "what": "MailIngestor.ingest direct (parse + command, no SMTP), one thread",
            "messages": len(baseline_messages),
            "msg_per_s": round(baseline_rate, 1),
        },
        "targets": {"smtp_msg_per_s": 100, "p99_s": 2.0},
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": list(os.getloadavg()),
            "pool_size": args.pool_size,
            "note": "shared machine: other agents use the same cores",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 messages, for a smoke run")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=300)
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    if args.quick:
        args.messages, args.baseline, args.clients = 200, 50, 20
    result = run(args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inbox.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
