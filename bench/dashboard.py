"""Dashboard render time on a big workspace: p50/p95 against a trivial route, as JSON.

    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
        uv run python bench/dashboard.py [--opportunities 100000] [--events 1000000]
        [--keep | --reuse DBNAME [--reproject analytics]]

What it does, in a fresh database it drops afterwards (unless --keep):
1. writes the history through the real aggregates, many aggregates per `save()`
   (event times set by the library's clock, spread over three years): clients,
   opportunities moving through the pipeline (most closed), tickets, and call/note
   activities filling up to `--events`;
2. applies the read models the dashboard reads (accounts, clients, tickets,
   analytics) with the real projection handlers, committing every few thousand
   events instead of one transaction per event (the runner's way is too slow for
   a million events here); pipeline and timeline are not built (not read by it);
3. serves the real app under uvicorn (`--workers`, 2 by default, as `crm serve
   --workers 2`), logs in as the admin once (httpx) and loads each route with wrk
   (`--concurrency` connections, 1 by default: one request at a time, the render time
   itself) for `--seconds`: `GET /api/ping` (the trivial baseline), `GET /` for the
   current month and for the last twelve months, and the JSON route for both; plus
   one uncached forecast computation.

Generating a million events takes minutes: `--keep` keeps the database and prints its
name, `--reuse NAME` measures it again without generating (the schema migrations run;
`--reproject analytics` applies that read model again from zero after a change of its
tables or handlers).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import platform
import random
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def _bench_key(data_dir: Path) -> str:
    """The master key of the bench's data, kept in its data folder (as `crm run` keeps
    its own): a database kept with --keep is readable by a later --reuse run."""
    path = data_dir / "encryption_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(), "utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


DATA_DIR = ROOT / ".crm-data" / "bench"
# Before _common, which would pick a random key for the run.
os.environ.setdefault("CRM_ENCRYPTION_KEY", _bench_key(DATA_DIR))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from _common import app_server, write_result, wrk_load  # noqa: E402
from eventsourcing import domain  # noqa: E402
from eventsourcing.persistence import Tracking  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402
from psycopg.sql import SQL, Identifier  # noqa: E402

from crm_core.application import LOG_NAME  # noqa: E402
from crm_core.context import acting_as, user_actor  # noqa: E402
from crm_core.sales.domainmodel import Activity, Client, Opportunity  # noqa: E402
from crm_core.support.domainmodel import Ticket  # noqa: E402
from projections.forecast import forecast  # noqa: E402
from projections.metrics import PARIS, Scope  # noqa: E402
from projections.registry import PROJECTIONS  # noqa: E402
from tests.conftest import settings_for  # noqa: E402
from tests.support.services import create_database, drop_database  # noqa: E402
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


def reset_read_model(container: Container, name: str) -> None:
    """Empty a read model and its tracking, so that it is applied again from zero."""
    view = container.views[name]
    with psycopg.connect(container.settings.database_url, autocommit=True) as conn:
        for table in view.tables:
            conn.execute(SQL("TRUNCATE {0}").format(Identifier(table)))
        conn.execute(SQL("TRUNCATE {0}").format(Identifier(view.tracking_table_name)))


def existing(conninfo: str) -> dict[str, Any]:
    """The workspace and admin of a database kept by an earlier run (`--keep`)."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT workspace_id, email FROM rm_users WHERE email LIKE 'admin.%%@banc.fr'"
        ).fetchone()
        if row is None:
            msg = "Pas de données du banc dans cette base."
            raise RuntimeError(msg)
        clients = conn.execute("SELECT count(*) FROM rm_analytics_clients").fetchone()
        tickets = conn.execute("SELECT count(*) FROM rm_analytics_tickets").fetchone()
    return {
        "workspace": row[0],
        "admin_email": row[1],
        "clients": clients[0] if clients else 0,
        "tickets": tickets[0] if tickets else 0,
    }


def session_cookie(base: str, email: str) -> str:
    """Log in once (httpx) and return the `Cookie:` header wrk sends with every request."""
    with httpx.Client(base_url=base) as client:
        login = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        if login.status_code != 201:
            raise RuntimeError(login.text)
        probe = client.get("/")
        if probe.status_code != 200:
            msg = f"GET / a répondu {probe.status_code} après la connexion"
            raise RuntimeError(msg)
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


READ_MODELS = ["accounts", "clients", "tickets", "analytics"]


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk time per route")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="wrk connections (1: one request at a time)"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    parser.add_argument(
        "--reuse", metavar="DBNAME", help="measure a database kept by an earlier --keep run"
    )
    parser.add_argument(
        "--reproject",
        default="",
        help="with --reuse: read models to apply again from zero (comma-separated),"
        " after a change of their tables or handlers",
    )
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    admin_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not admin_url:
        print("TEST_DATABASE_URL (un serveur PostgreSQL) est requis.", file=sys.stderr)
        return 2
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/2")
    if args.reuse:
        params = conninfo_to_dict(admin_url)
        params["dbname"] = args.reuse
        conninfo = make_conninfo(**params)  # type: ignore[arg-type]
    else:
        conninfo = create_database(admin_url, prefix="bench_dashboard")
    report: dict[str, Any] = {
        "benchmark": "dashboard",
        "database": conninfo_to_dict(conninfo)["dbname"],
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()),
        },
        "load": {
            "tool": "wrk",
            "concurrency": args.concurrency,
            "seconds_per_route": args.seconds,
            "uvicorn_workers": args.workers,
        },
    }
    data_dir = DATA_DIR
    try:
        settings = settings_for(conninfo, data_dir, trust_proxy=False)
        with running_container(settings, projections=False, worker=False) as container:
            if args.reuse:
                made = existing(conninfo)
                again = [name for name in args.reproject.split(",") if name]
                for name in again:
                    reset_read_model(container, name)
            else:
                began = time.perf_counter()
                made = generate(container, args.opportunities, args.events, args.seed)
                report["generate_s"] = round(time.perf_counter() - began, 1)
            # Catches up whatever is behind (everything after a generation; the read
            # models named in --reproject after a reuse).
            report["read_models_s"] = round(apply_read_models(container, READ_MODELS), 1)
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
        today = now.date()
        year = f"du={(today - timedelta(days=364)).isoformat()}&au={today.isoformat()}"
        routes = {
            "trivial GET /api/ping": "/api/ping",
            "GET / (mois en cours)": "/",
            "GET / (12 derniers mois)": f"/?{year}",
            "GET /api/tableau-de-bord (mois en cours)": "/api/tableau-de-bord",
            "GET /api/tableau-de-bord (12 mois)": f"/api/tableau-de-bord?{year}",
        }
        with app_server(conninfo, data_dir, redis_url, workers=args.workers) as base:
            cookie = session_cookie(base, made["admin_email"])
            headers = {"Cookie": cookie}
            began = time.perf_counter()
            first = httpx.get(f"{base}/", headers=headers, timeout=60)
            report["first_render_ms"] = round((time.perf_counter() - began) * 1000, 1)
            if first.status_code != 200:
                msg = f"GET / a répondu {first.status_code}"
                raise RuntimeError(msg)
            # Every worker computes and caches its forecast before the timed runs.
            for path in routes.values():
                wrk_load(f"{base}{path}", concurrency=args.workers * 2, seconds=2, headers=headers)
            report["routes"] = {
                label: wrk_load(
                    f"{base}{path}",
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    headers=headers,
                )
                for label, path in routes.items()
            }
        report["target"] = "p95 de GET / <= 200 ms (mois en cours et 12 mois)"
        report["date"] = datetime.now(PARIS).date().isoformat()
    finally:
        if not args.keep and not args.reuse:
            drop_database(admin_url, conninfo)
    write_result("dashboard", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
