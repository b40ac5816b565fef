"""What every benchmark shares: the machine, a throwaway database, realistic events.

Not a test helper: benchmarks print figures, they never assert on time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from crm_core.aggregate import CrmAggregate
from crm_core.context import acting_as
from crm_core.sales.domainmodel import Activity, Client, Opportunity
from crm_core.support.domainmodel import Ticket
from crm_core.values import Address

# The test helpers that create and drop databases serve the benchmarks too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# `python bench/x.py` puts bench/ first on sys.path, where bench/web.py would shadow
# the app's `web` package: once this module is imported, the scripts need only the
# project's packages, so bench/ leaves the path.
_BENCH = str(Path(__file__).resolve().parent)
while _BENCH in sys.path:
    sys.path.remove(_BENCH)
from tests.support.services import create_database, drop_database  # noqa: E402

# One master key for the whole run: data recorded by the bench and read back by the
# app it starts (a subprocess inherits the environment) must use the same key.
os.environ.setdefault(
    "CRM_ENCRYPTION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
)

# The signing key of the app `app_server` starts: a bench that signs a cookie (the
# portal's session) for many clients at once needs the same one.
APP_SECRET_KEY = "bench-" + "k" * 48

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def arguments(description: str, *, events: bool = False) -> argparse.Namespace:
    return arguments_parser(description, events=events).parse_args()


def arguments_parser(description: str, *, events: bool = False) -> argparse.ArgumentParser:
    """The common options (--quick, --admin-url), for scripts that add their own."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Small sizes, for a smoke run.")
    if events:
        parser.add_argument("--events", type=int, default=0, help="Events to record.")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL),
        help="A PostgreSQL server on which the bench may create and drop a database.",
    )
    return parser


def machine(admin_url: str) -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        sync_row = conn.execute("SHOW synchronous_commit").fetchone()
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "postgresql": row[0] if row else "?",
        "server_synchronous_commit": sync_row[0] if sync_row else "?",
        "load_average_at_start": list(os.getloadavg()),
        "note": "shared machine (other agents run on the same cores): compare ratios,"
        " not absolute figures",
    }


@contextmanager
def scratch_database(admin_url: str, prefix: str, *, keep: bool = False) -> Iterator[str]:
    """A new database for the run, dropped afterwards whatever happens (unless `keep`)."""
    conninfo = create_database(admin_url, prefix)
    try:
        yield conninfo
    finally:
        if not keep:
            drop_database(admin_url, conninfo)


def write_result(name: str, result: dict[str, Any]) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(text + "\n", encoding="utf-8")


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


EVENTS_PER_UNIT = 10


def client_unit(workspace_id: uuid.UUID, n: int) -> list[CrmAggregate]:
    """One client's life, through the domain methods (validation included): 10 events.

    Registered, ContactAdded; an activity; an opportunity opened, moved twice, won or
    lost; a ticket opened, answered, resolved. Every projection finds work in it.
    """
    client = Client.register(
        workspace_id=workspace_id,
        nom=f"Société {n} SARL",
        email=f"contact{n}@exemple.fr",
        telephone="+33 1 23 45 67 89",
        adresse=Address(rue=f"{n} rue de la Paix", code_postal="75002", ville="Paris"),
        tags=("bench", f"lot{n % 7}"),
        notes="Client de test du banc de mesure.",
    )
    client.add_contact(nom=f"Camille {n}", email=f"camille{n}@exemple.fr", fonction="CTO")
    activity = Activity.log(
        workspace_id=workspace_id,
        client=client,
        kind="appel",
        sujet="Premier appel",
        contenu="Besoin d’un site et d’une automatisation des factures.",
        date_activite=datetime(2025, 3, 1, 10, 30, tzinfo=UTC) + timedelta(minutes=n),
        duree_minutes=30,
    )
    opportunity = Opportunity.open(
        workspace_id=workspace_id,
        client=client,
        titre=f"Refonte du site {n}",
        montant_estime=Decimal("4800.00") + n,
        date_cloture_prevue=date(2025, 6, 30),
        probabilite=40,
    )
    opportunity.move_to("qualification", client=client)
    opportunity.move_to("proposition", client=client)
    if n % 3:
        opportunity.move_to("gagne", client=client)
    else:
        opportunity.move_to("perdu", client=client, raison="Budget reporté")
    ticket = Ticket.open(
        workspace_id=workspace_id,
        client=client,
        sujet=f"Accès au portail {n}",
        description="Je n’arrive pas à me connecter au portail.",
    )
    ticket.reply(texte="Nous regardons cela aujourd’hui.", auteur="staff")
    ticket.change_status("resolu")
    return [client, activity, opportunity, ticket]


def generate(app: Any, events: int, *, workspaces: int = 5, batch_units: int = 200) -> int:
    """Record about `events` realistic events with `app.save` in large batches."""
    units = max(1, events // EVENTS_PER_UNIT)
    workspace_ids = [uuid.uuid4() for _ in range(workspaces)]
    with acting_as("user:bench"):
        for start in range(0, units, batch_units):
            aggregates: list[CrmAggregate] = []
            for n in range(start, min(start + batch_units, units)):
                aggregates.extend(client_unit(workspace_ids[n % workspaces], n))
            app.save(*aggregates)
    return units * EVENTS_PER_UNIT


@contextmanager
def app_server(conninfo: str, data_dir: Path, redis_url: str, *, workers: int = 1) -> Iterator[str]:
    """The CRM's web app in its own process on a free loopback port; yields its base URL.

    Projections are not run inside it: the bench has projected its data beforehand.
    `workers` > 1 runs uvicorn's process manager, as `crm serve --workers N` does.
    """
    import socket
    import subprocess

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "DATABASE_URL": conninfo,
        "REDIS_URL": redis_url,
        "CRM_RUN_PROJECTIONS": "0",
        "CRM_COOKIE_SECURE": "0",
        "CRM_DATA_DIR": str(data_dir),
        "CRM_SECRET_KEY": APP_SECRET_KEY,
        "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "web.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            msg = "the app did not start"
            raise RuntimeError(msg)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "report.lua"
WRK_PATHS_SCRIPT = Path(__file__).resolve().parent / "wrk" / "paths.lua"


def wrk_load(
    url: str,
    *,
    concurrency: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    threads: int = 1,
    paths_file: Path | None = None,
) -> dict[str, Any]:
    """Closed-loop load from wrk (Debian's `wrk`), a C client on its own process.

    With `paths_file` (lines of "path<TAB>cookie"), each request takes the next line
    on `url`'s host (bench/wrk/paths.lua): many clients in one run, not one.

    The Python clients the first benches used (httpx) spent more CPU than the server
    they measured on this 2-core machine: on /api/ping they gave p95 ~100 ms where wrk
    sees ~5 ms. wrk leaves the cores to the app, so the figures describe the app.
    """
    import shutil
    import subprocess

    wrk = shutil.which("wrk")
    if wrk is None:
        msg = "wrk is missing: apt-get install wrk (listed in .ci/apt-packages)"
        raise RuntimeError(msg)
    command = [
        wrk,
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(WRK_PATHS_SCRIPT if paths_file else WRK_SCRIPT),
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    if paths_file is not None:
        command += ["--", str(paths_file)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(row for row in output.splitlines() if row.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    errors = {k.removeprefix("errors_"): v for k, v in raw.items() if k.startswith("errors_")}
    return {
        "requests": raw["requests"],
        "rps": per_second(raw["requests"], raw["seconds"]),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p95_ms": round(raw["p95_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "non_2xx_or_3xx": errors.pop("status"),
        "socket_errors": errors,
    }
