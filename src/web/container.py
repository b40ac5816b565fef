"""The composition of the CRM's parts for one process (web, CLI or worker)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import psycopg

from adapters.crypto import FernetCipher
from adapters.passwords import Argon2PasswordHasher
from adapters.secrets import AesGcmSecretBox
from adapters.stripe.gateway import StripeGateways
from adapters.stripe.reconcile import reconcile_pending
from adapters.stripe.webhooks import StripeWebhooks
from crm_core.accounts.application import AccountsApplication
from crm_core.application import LOG_NAME, EventLog
from crm_core.audit.application import AuditApplication
from crm_core.billing.application import BillingApplication
from crm_core.billing.domainmodel import mode_of_secret_key
from crm_core.billing.ports import StripeCredentials
from crm_core.inbox.application import InboxApplication
from crm_core.portal.application import PortalApplication
from crm_core.sales.application import SalesApplication
from crm_core.support.application import SupportApplication
from projections.accounts import AccountsView
from projections.analytics import AnalyticsView
from projections.audit import AuditView
from projections.clients import ClientsView
from projections.forecast import ForecastCache
from projections.inbox import InboxView
from projections.log_head import LogHead
from projections.notifications import NotificationsView
from projections.outbox import OutboxProjection, bind_outbox
from projections.payments import PaymentsView
from projections.pipeline import PipelineView
from projections.portal import PortalView
from projections.readmodel import ReadModel
from projections.registry import PROJECTIONS
from projections.runner import BatchingProjectionRunner
from projections.schema import apply_migrations_locked, schema_lock
from projections.tickets import TicketsView
from projections.timeline import TimelineView
from web.database import embedded_postgres, eventsourcing_env, normalise
from web.jobs import Jobs, build_broker, periodic, running_worker
from web.mail import declare_mail_actors, outbox_dispatch
from web.settings import Settings
from web.views import build_view
from web.webhook_secrets import StoredWebhookSecrets

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
    billing: BillingApplication
    stripe_webhooks: StripeWebhooks
    audit: AuditApplication
    inbox: InboxApplication
    portal: PortalApplication
    log: EventLog
    views: dict[str, ReadModel]
    jobs: Jobs
    runners: dict[str, BatchingProjectionRunner[Any]] = field(default_factory=dict)
    forecasts: ForecastCache = field(default_factory=ForecastCache)

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
    def audit_view(self) -> AuditView:
        return self.view("audit", AuditView)

    @property
    def inbox_view(self) -> InboxView:
        return self.view("inbox", InboxView)

    @property
    def analytics(self) -> AnalyticsView:
        return self.view("analytics", AnalyticsView)

    @property
    def portal_view(self) -> PortalView:
        return self.view("portal", PortalView)

    @property
    def notifications(self) -> NotificationsView:
        return self.view("notifications", NotificationsView)

    @property
    def accounts_view(self) -> AccountsView:
        return self.view("accounts", AccountsView)

    @property
    def payments(self) -> PaymentsView:
        return self.view("payments", PaymentsView)

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
                    " AND (topic = ANY(%s) OR cardinality(%s::text[]) = 0)",
                    (position, list(projection_class.topics), list(projection_class.topics)),
                ).fetchone()
                report[name] = {"position": position, "lag": int(row[0]) if row else 0}
        return report


def runner_env(env: dict[str, str]) -> dict[str, str]:
    """A runner reads one subscription and writes one transaction at a time: small pools.

    No ping before each use: a runner already survives a lost connection (it waits,
    then resumes from its tracked position), and the runners wake on every save of
    the log, so a ping would double their queries.
    """
    return {
        **env,
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "3",
        "POSTGRES_PRE_PING": "n",
    }


def start_runner(
    env: dict[str, str],
    name: str,
    view_class: type[ReadModel] | None = None,
    head: LogHead | None = None,
) -> BatchingProjectionRunner[Any]:
    """`view_class` overrides the registry's (the outbox's view bound to the job queue);
    `head` is the process's shared follower of the log (else the runner follows it)."""
    projection_class, registered_view = PROJECTIONS[name]
    view_class = view_class or registered_view
    return BatchingProjectionRunner(
        application_class=EventLog,
        projection_class=projection_class,
        view_class=view_class,
        env=runner_env(env),
        head=head,
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
        env = eventsourcing_env(
            conninfo, encryption_key=settings.encryption_key, pool_size=settings.pool_size
        )
        with schema_lock(conninfo) as schema:
            # Every application and read model creates its tables if missing: several
            # workers starting at once (`crm serve --workers N`) would race on the catalog
            # ("tuple concurrently updated"), so they all do it under the schema lock.
            event_log = EventLog(env)  # creates the events table before the migrations
            stack.callback(event_log.close)
            apply_migrations_locked(schema, settings.migrations_dir)
            hasher = Argon2PasswordHasher()
            accounts = AccountsApplication(env, password_hasher=hasher)
            sales = SalesApplication(env)
            support = SupportApplication(env)
            billing = BillingApplication(
                env,
                gateways=StripeGateways(
                    api_base=settings.stripe_api_base,
                    base_url=settings.base_url,
                    timeout_seconds=settings.stripe_timeout_seconds,
                    max_network_retries=settings.stripe_max_network_retries,
                ),
                secrets=AesGcmSecretBox(settings.encryption_key),
                override=_stripe_override(settings),
            )
            audit = AuditApplication(env)
            inbox = InboxApplication(env, cipher=FernetCipher(settings.mail.encryption_key))
            portal = PortalApplication(env)
            for app in (accounts, sales, support, billing, audit, inbox, portal):
                stack.callback(app.close)
            jobs = Jobs(build_broker(settings))
            # The outbox runner queues send jobs: its view is bound to this process's broker.
            bound_views: dict[str, type[ReadModel]] = {
                OutboxProjection.name: bind_outbox(outbox_dispatch(jobs))
            }
            run = settings.run_projections if projections is None else projections
            runners: dict[str, BatchingProjectionRunner[Any]] = {}
            views: dict[str, ReadModel] = {}
            # One follower of the log for all the runners: one wake-up and one head
            # query per save, not one per runner (entered first, so it stops last).
            head = (
                stack.enter_context(LogHead(application_class=EventLog, env=runner_env(env)))
                if run
                else None
            )
            for name in PROJECTIONS:
                if run:
                    runner = stack.enter_context(
                        start_runner(env, name, bound_views.get(name), head)
                    )
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
            billing=billing,
            stripe_webhooks=StripeWebhooks(
                billing,
                lookup=cast(PaymentsView, views["payments"]),
                secrets=StoredWebhookSecrets(
                    billing, cast(PaymentsView, views["payments"]), settings.stripe_webhook_secret
                ),
                tolerance=settings.stripe_webhook_tolerance_seconds,
            ),
            audit=audit,
            inbox=inbox,
            portal=portal,
            log=event_log,
            views=views,
            jobs=jobs,
            runners=runners,
        )
        declare_actors(container)
        if settings.run_jobs_in_process if worker is None else worker:
            stack.enter_context(running_worker(container.jobs))
            stack.enter_context(scheduled_jobs(container))
        yield container


def _stripe_override(settings: Settings) -> StripeCredentials | None:
    """STRIPE_SECRET_KEY (and STRIPE_WEBHOOK_SECRET) win over the stored keys."""
    if not settings.stripe_secret_key:
        return None
    mode = mode_of_secret_key(settings.stripe_secret_key)
    if mode is None:
        msg = "STRIPE_SECRET_KEY doit commencer par sk_test_, sk_live_, rk_test_ ou rk_live_."
        raise ValueError(msg)
    return StripeCredentials(mode, settings.stripe_secret_key, settings.stripe_webhook_secret)


@contextmanager
def scheduled_jobs(container: Container) -> Iterator[None]:
    """Enqueue the periodic jobs while the block runs: the in-process worker of the
    embedded mode, or `crm worker` in production (each worker process enqueues; the
    jobs are idempotent, so two workers enqueueing twice change nothing)."""
    every = container.settings.stripe_reconcile_every_minutes * 60
    with ExitStack() as stack:
        if every > 0:
            stack.enter_context(periodic(container.jobs, RECONCILE_ACTOR, every))
        yield


RECONCILE_ACTOR = "stripe.reconcile"


def declare_actors(container: Container) -> None:
    """Declare the dramatiq actors of every feature on the container's broker.

    Each outgoing side effect (a Stripe call, an e-mail) is an adapter function
    wrapped here as an actor, so the web process, `crm worker` and the tests share
    one list. The Stripe and mail features add theirs here.
    """
    settings = container.settings

    def reconcile_stripe() -> None:
        # Raises when Stripe was unreachable for some session: dramatiq retries with
        # backoff; the sessions already settled are not asked again (idempotent).
        report = reconcile_pending(
            container.billing,
            container.payments,
            older_than=timedelta(minutes=settings.stripe_reconcile_after_minutes),
            now=datetime.now(UTC),
        )
        log.info("Rapprochement Stripe : %s", report)

    container.jobs.declare(RECONCILE_ACTOR, reconcile_stripe, max_retries=5)
    declare_mail_actors(container)
