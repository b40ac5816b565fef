"""Composition of the inbox: the directory over the read models, the ingestor, the
SMTP receiver, the IMAP poller, the send job and the outbox dispatch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import dramatiq
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.mail.imap import ImapError, poll_mailbox
from adapters.mail.ingest import MailIngestor
from adapters.mail.parsing_pool import ParsingPool
from adapters.mail.sending import send_outgoing
from adapters.mail.smtp_server import running_smtp_receiver
from adapters.mail.store import ContentStore
from crm_core.errors import DomainError
from crm_core.inbox.addresses import client_inbox_address, client_inbox_key
from crm_core.inbox.application import InboxApplication, ServerAccess
from crm_core.inbox.domainmodel import SmtpSecurity
from projections.inbox import InboxView
from projections.outbox import Dispatch
from web.jobs import DEFAULT_QUEUE, Jobs
from web.settings import MailConfig

if TYPE_CHECKING:
    from web.container import Container

log = logging.getLogger(__name__)
SEND_ACTOR = "envoyer_email"
KEY_REFRESH_SECONDS = 1.0
# Processes parsing received mail: one per core, two at most (parsing is a part of
# each message's CPU; the rest stays in the receiver's process).
PARSING_PROCESSES = max(1, min(2, os.cpu_count() or 1))


class ReadModelDirectory:
    """`MailDirectory` over the read models; inbox keys recomputed per workspace.

    The key -> client map of a workspace is cached and rebuilt on a miss at most
    once a second, so a flood of made-up keys costs one query a second.
    """

    def __init__(self, view: InboxView, secret: bytes) -> None:
        self.view = view
        self.secret = secret
        self._keys: dict[UUID, tuple[float, dict[str, UUID]]] = {}
        self._lock = threading.Lock()

    def workspaces_for_domain(self, domain: str) -> list[UUID]:
        return self.view.workspaces_for_domain(domain)

    def mail_domain(self, workspace_id: UUID) -> str:
        return self.view.mail_domain(workspace_id)

    def client_for_key(self, workspace_id: UUID, key: str) -> UUID | None:
        with self._lock:
            loaded_at, keys = self._keys.get(workspace_id, (0.0, {}))
        found = keys.get(key)
        if found is not None or time.monotonic() - loaded_at < KEY_REFRESH_SECONDS:
            return found
        keys = {
            client_inbox_key(self.secret, workspace_id, client_id): client_id
            for client_id in self.view.client_ids(workspace_id)
        }
        with self._lock:
            self._keys[workspace_id] = (time.monotonic(), keys)
        return keys.get(key)

    def client_for_address(self, workspace_id: UUID, address: str) -> UUID | None:
        return self.view.client_for_address(workspace_id, address)


def inbox_secret(config: MailConfig) -> bytes:
    return config.inbox_secret.encode("utf-8")


def inbox_address(container: Container, workspace_id: UUID, client_id: UUID) -> str:
    """The client's `adresseInbox` (empty while the workspace has no mail domain).

    For the staff app: `inbox_address(container, workspace_id, client.id)`.
    """
    domain = container.inbox_view.mail_domain(workspace_id)
    return client_inbox_address(
        inbox_secret(container.settings.mail), workspace_id, client_id, domain
    )


def attachment_store(container: Container) -> ContentStore:
    """Where received attachments are kept (by sha256), outside the events."""
    return ContentStore(container.settings.data_dir / "mail" / "pieces-jointes")


def quarantine_store(container: Container) -> ContentStore:
    """Where the raw bytes of the messages that could not be read are kept."""
    return ContentStore(container.settings.data_dir / "mail" / "quarantaine")


def build_ingestor(
    container: Container,
    inbox: InboxApplication | None = None,
    view: InboxView | None = None,
    parsing: ParsingPool | None = None,
) -> MailIngestor:
    config = container.settings.mail
    return MailIngestor(
        inbox or container.inbox,
        ReadModelDirectory(view or container.inbox_view, inbox_secret(config)),
        attachments=attachment_store(container),
        quarantine=quarantine_store(container),
        max_message_bytes=config.max_message_bytes,
        max_attachment_bytes=config.max_attachment_bytes,
        parse=parsing.parse if parsing is not None else None,
    )


def smtp_for(container: Container, workspace_id: UUID) -> ServerAccess | None:
    """The environment's SMTP server when set (every workspace), else the workspace's."""
    config = container.settings.mail
    if config.smtp_host:
        return ServerAccess(
            hote=config.smtp_host,
            port=config.smtp_port,
            utilisateur=config.smtp_user,
            mot_de_passe=config.smtp_password,
            securite=SmtpSecurity(config.smtp_security),
            expediteur=config.smtp_from,
        )
    return container.inbox.smtp_access(workspace_id)


def outbox_dispatch(jobs: Jobs) -> Dispatch:
    """Queue a send by actor name: the outbox runner may start before the actor exists."""

    def dispatch(workspace_id: UUID, email_id: UUID) -> None:
        jobs.broker.enqueue(
            dramatiq.Message(
                queue_name=DEFAULT_QUEUE,
                actor_name=SEND_ACTOR,
                args=(str(workspace_id), str(email_id)),
                kwargs={},
                options={},
            )
        )

    return dispatch


def declare_mail_actors(container: Container) -> None:
    config = container.settings.mail

    def send_email(workspace_id: str, email_id: str) -> str:
        return send_outgoing(
            container.inbox,
            lambda ws: smtp_for(container, ws),
            lambda ws, client: inbox_address(container, ws, client),
            UUID(workspace_id),
            UUID(email_id),
            max_attempts=config.max_send_attempts,
        )

    container.jobs.declare(
        SEND_ACTOR,
        send_email,
        max_retries=max(config.max_send_attempts - 1, 0),
        min_backoff_ms=config.retry_min_backoff_ms,
        max_backoff_ms=max(config.retry_min_backoff_ms, 3_600_000),
    )


@contextmanager
def running_mail_receiver(
    container: Container, *, host: str | None = None, port: int | None = None
) -> Iterator[tuple[str, int]]:
    config = container.settings.mail
    # The receiver's own application, without the ping before each use of a pooled
    # connection (a round trip per query, four per message): a save that meets a
    # dead connection is retried by the library or answered 451, and the sending
    # server delivers again later, so nothing is lost without it.
    env = {**container.env, "POSTGRES_PRE_PING": "n"}
    inbox = InboxApplication(env, cipher=container.inbox.cipher)
    # Its look-ups (domains, clients) through a view of its own, without the ping too.
    factory = InfrastructureFactory[Any].construct(env=Environment("inbox", env))
    view = cast(InboxView, factory.tracking_recorder(InboxView))
    # Messages are parsed in other processes: this one keeps the protocol and the
    # saves, and the parsing of several sessions runs on other cores.
    parsing = ParsingPool(
        attachment_store(container), config.max_attachment_bytes, processes=PARSING_PROCESSES
    )
    try:
        parsing.warm_up()
        with running_smtp_receiver(
            build_ingestor(container, inbox, view, parsing),
            host=host or config.listen_host,
            port=config.listen_port if port is None else port,
            max_message_bytes=config.max_message_bytes,
        ) as address:
            yield address
    finally:
        parsing.close()
        inbox.close()
        view.datastore.close()


def poll_imap_once(container: Container, ingestor: MailIngestor | None = None) -> dict[UUID, Any]:
    """Poll every workspace's IMAP mailbox once; returns a report per workspace."""
    ingestor = ingestor or build_ingestor(container)
    reports: dict[UUID, Any] = {}
    for workspace_id in container.inbox_view.workspace_ids():
        try:
            access = container.inbox.imap_access(workspace_id)
        except DomainError as error:
            reports[workspace_id] = error.message
            continue
        if access is None:
            continue
        try:
            report = poll_mailbox(access, partial(ingestor.ingest, workspace_id))
        except ImapError as error:
            log.warning("IMAP %s : %s", workspace_id, error)
            reports[workspace_id] = str(error)
            continue
        container.inbox.advance_imap(workspace_id, report.uidvalidity, report.dernier_uid)
        reports[workspace_id] = report
    return reports


@contextmanager
def running_imap_poller(container: Container, every: float) -> Iterator[threading.Thread]:
    """Poll in a background thread every `every` seconds for the block."""
    stop = threading.Event()
    ingestor = build_ingestor(container)

    def loop() -> None:
        while not stop.is_set():
            try:
                poll_imap_once(container, ingestor)
            except Exception:  # the next round retries; one bad poll must not stop the loop
                log.exception("Relève IMAP échouée")
            stop.wait(every)

    thread = threading.Thread(target=loop, name="imap-poller", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=10)
