"""The composition of the CRM's parts for one process (web, CLI or worker)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.projection import ProjectionRunner
from eventsourcing.utils import Environment

from adapters.passwords import Argon2PasswordHasher
from crm_core.accounts.application import AccountsApplication
from crm_core.application import LOG_NAME, EventLog
from crm_core.portal.application import PortalApplication
from crm_core.sales.application import SalesApplication
from crm_core.support.application import SupportApplication
from projections.accounts import AccountsView
from projections.clients import ClientsView
from projections.notifications import NotificationsView
from projections.pipeline import PipelineView
from projections.portal import PortalView
from projections.readmodel import ReadModel
from projections.registry import PROJECTIONS
from projections.schema import apply_migrations
from projections.tickets import TicketsView
from projections.timeline import TimelineView
from web.database import embedded_postgres, eventsourcing_env, normalise
from web.jobs import Jobs, build_broker, running_worker
from web.settings import Settings

log = logging.getLogger(__name__)
V = TypeVar("V", bound=ReadModel)


@dataclass
class Container:
    """Applications, read models and (optionally) in-process projection runners."""

    settings: Settings
    conninfo: str
    env: dict[str, str]
    accounts: AccountsApplication
    sales: SalesApplication
    support: SupportApplication
    portal: PortalApplication
    log: EventLog
    views: dict[str, ReadModel]
    jobs: Jobs
    runners: dict[str, ProjectionRunner[Any, Any]] = field(default_factory=dict)

    def view(self, name: str, kind: type[V]) -> V:
        return cast(V, self.views[name])

    @property
    def clients(self) -> ClientsView:
        return self.view("clients", ClientsView)

    @property
    def pipeline(self) -> PipelineView:
        return self.view("pipeline", PipelineView)

    @property
    def tickets(self) -> TicketsView:
        return self.view("tickets", TicketsView)

    @property
    def timeline(self) -> TimelineView:
        return self.view("timeline", TimelineView)

    @property
    def portal_view(self) -> PortalView:
        return self.view("portal", PortalView)

    @property
    def notifications(self) -> NotificationsView:
        return self.view("notifications", NotificationsView)

    @property
    def accounts_view(self) -> AccountsView:
        return self.view("accounts", AccountsView)

    def wait(self, position: int, *names: str, timeout: float = 5.0) -> None:
        """Read-your-writes: block until the named read models reached `position`."""
        for name in names:
            self.views[name].catch_up(position, PROJECTIONS[name][0].topics, timeout=timeout)

    def lag(self) -> dict[str, dict[str, int]]:
        """Per read model: its position and the relevant events it has not applied yet."""
        report: dict[str, dict[str, int]] = {}
        with psycopg.connect(self.conninfo) as conn:
            for name, view in self.views.items():
                projection_class = PROJECTIONS[name][0]
                position = view.position(LOG_NAME)
                row = conn.execute(
                    "SELECT count(*) FROM crm_events WHERE notification_id > %s"
                    " AND topic = ANY(%s)",
                    (position, list(projection_class.topics)),
                ).fetchone()
                report[name] = {"position": position, "lag": int(row[0]) if row else 0}
        return report


def build_view(env: dict[str, str], name: str) -> ReadModel:
    view_class = PROJECTIONS[name][1]
    factory = InfrastructureFactory[Any].construct(env=Environment(name, env))
    return cast(ReadModel, factory.tracking_recorder(view_class))


def start_runner(env: dict[str, str], name: str) -> ProjectionRunner[Any, Any]:
    projection_class, view_class = PROJECTIONS[name]
    # A runner reads one subscription and writes one transaction at a time: small pools.
    runner_env = {**env, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "3"}
    return ProjectionRunner(
        application_class=EventLog,
        projection_class=projection_class,
        view_class=view_class,
        env=runner_env,
    )


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The connection string: DATABASE_URL, or the embedded server for the block."""
    if settings.database_url:
        yield normalise(settings.database_url)
        return
    with embedded_postgres(settings.data_dir) as uri:
        yield normalise(uri)


@contextmanager
def running_container(
    settings: Settings,
    *,
    projections: bool | None = None,
    conninfo: str | None = None,
    worker: bool | None = None,
) -> Iterator[Container]:
    """Build everything for a process.

    Projection runners start when `projections` is true (default: the settings);
    an in-process job worker starts when `worker` is true (default: embedded mode).
    """
    with ExitStack() as stack:
        if conninfo is None:
            conninfo = stack.enter_context(database(settings))
        env = eventsourcing_env(conninfo, pool_size=settings.pool_size)
        event_log = EventLog(env)  # creates the events table before the migrations
        stack.callback(event_log.close)
        apply_migrations(conninfo, settings.migrations_dir)
        hasher = Argon2PasswordHasher()
        accounts = AccountsApplication(env, password_hasher=hasher)
        sales = SalesApplication(env)
        support = SupportApplication(env)
        portal = PortalApplication(env)
        for app in (accounts, sales, support, portal):
            stack.callback(app.close)
        run = settings.run_projections if projections is None else projections
        runners: dict[str, ProjectionRunner[Any, Any]] = {}
        views: dict[str, ReadModel] = {}
        for name in PROJECTIONS:
            if run:
                runner = stack.enter_context(start_runner(env, name))
                runners[name] = runner
                views[name] = cast(ReadModel, runner.view)
            else:
                views[name] = build_view(env, name)
                stack.callback(views[name].datastore.close)
        container = Container(
            settings=settings,
            conninfo=conninfo,
            env=env,
            accounts=accounts,
            sales=sales,
            support=support,
            portal=portal,
            log=event_log,
            views=views,
            jobs=Jobs(build_broker(settings)),
            runners=runners,
        )
        declare_actors(container)
        if settings.run_jobs_in_process if worker is None else worker:
            stack.enter_context(running_worker(container.jobs))
        yield container


def declare_actors(container: Container) -> None:
    """Declare the dramatiq actors of every feature on the container's broker.

    Each outgoing side effect (a Stripe call, an e-mail) is an adapter function
    wrapped here as an actor, so the web process, `crm worker` and the tests share
    one list. The Stripe and mail features add theirs here.
    """
    del container
