"""The SMTP receiver: aiosmtpd on a port, each accepted message handed to the ingestor.

`RCPT TO` is refused for domains no workspace owns (we are not an open relay);
the size limit is enforced by the protocol itself (`SIZE` and 552); a message is
acknowledged (250) only once its event is saved, and a passing failure answers
451 so the sending server tries again later. Nothing a sender does can stop the
receiver: every error ends as an SMTP reply.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from aiosmtpd.controller import Controller

from adapters.mail.ingest import MailIngestor

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 50


def session_workspaces(envelope: Any) -> dict[str, list[UUID]]:
    """The workspaces found for each accepted `RCPT TO` of this envelope (aiosmtpd
    gives a new envelope to every transaction, so nothing outlives it)."""
    found: dict[str, list[UUID]] | None = getattr(envelope, "crm_workspaces", None)
    if found is None:
        found = {}
        envelope.crm_workspaces = found
    return found


class InboxHandler:
    def __init__(self, ingestor: MailIngestor, executor: ThreadPoolExecutor) -> None:
        self.ingestor = ingestor
        # eventsourcing is synchronous: commands run in threads, off the event loop.
        self.executor = executor

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Trop de destinataires"
        loop = asyncio.get_running_loop()
        try:
            workspaces = await loop.run_in_executor(
                self.executor, self.ingestor.workspaces_for, address
            )
        except Exception:  # the directory is down: let the sender retry
            log.exception("Recherche du destinataire impossible")
            return "451 4.3.0 Erreur temporaire, réessayez plus tard"
        if not workspaces:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        # Kept for DATA, a moment later in this transaction: not looked up twice.
        session_workspaces(envelope)[address] = workspaces
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self.executor,
                self.ingestor.deliver,
                raw,
                list(envelope.rcpt_tos),
                session_workspaces(envelope),
            )
        except Exception:  # never lose a message: the sender keeps it and retries
            log.exception("Message non enregistré, réponse 451")
            return "451 4.3.0 Erreur temporaire, réessayez plus tard"
        return "250 2.0.0 Message accepté"


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_smtp_receiver(
    ingestor: MailIngestor,
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    threads: int = 8,
) -> Iterator[tuple[str, int]]:
    """Serve SMTP on (host, port) for the block; port 0 picks a free one. Yields the
    address actually served."""
    chosen = port or free_port(host)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="smtp-in") as executor:
        controller = Controller(
            InboxHandler(ingestor, executor),
            hostname=host,
            port=chosen,
            data_size_limit=max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="CRM inbox",
        )
        controller.start()
        try:
            yield host, chosen
        finally:
            controller.stop()
