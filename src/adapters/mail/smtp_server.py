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
from aiosmtpd.smtp import MISSING, SMTP

from adapters.mail.ingest import MailIngestor

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 50
# How much message data one read may take (the reader's line limit is 1001 bytes).
DATA_CHUNK_BYTES = 1 << 20
END_OF_DATA = b".\r\n"


class InboxSMTP(SMTP):
    """aiosmtpd's server with a faster `DATA`: the same protocol, read by chunks.

    aiosmtpd reads a message one line at a time, a few Python calls per line: for
    the 30,000 lines of a 2 MB attachment that cost more CPU than parsing the
    message and recording it. Here the stream is read up to each `.<CRLF>` (rare in
    a message: base64 never holds a dot), the end of data being that sequence at
    the start of a line. Dot-unstuffing, the size limit (552 once the data has been
    drained) and the handler call are aiosmtpd's. Lines over 1,000 bytes are
    accepted (aiosmtpd refuses them with 500): real mail has them, the parser copes.
    """

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802  (aiosmtpd's command name)
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        if envelope is None or not envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        data = await self._read_data()
        if data is None:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        # RFC 5321 4.5.2: a line starting with a dot lost one dot on the wire.
        if data.startswith(b"."):
            data = data[1:]
        data = data.replace(b"\r\n.", b"\r\n")
        envelope.original_content = data
        envelope.content = (
            data.decode("utf-8", errors="surrogateescape") if self._decode_data else data
        )
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytes | None:
        """The message up to the end-of-data line (excluded); None when it went over
        the size limit (the rest was read and dropped, so the session goes on)."""
        reader = self._reader
        limit = self.data_size_limit
        chunks: list[bytes] = []
        size = 0
        too_much = False
        at_line_start = True  # the data read so far is empty or ends with CRLF
        # The reader's limit (asyncio's private `_limit`, stable since 3.7) bounds a
        # `readuntil`: raised for the data, put back for the commands after it.
        line_limit = reader._limit  # type: ignore[attr-defined]
        reader._limit = DATA_CHUNK_BYTES  # type: ignore[attr-defined]
        try:
            while True:
                try:
                    chunk = await reader.readuntil(END_OF_DATA)
                except asyncio.LimitOverrunError as error:
                    # No complete `.<CRLF>` within a chunk: take what surely holds none.
                    chunk = await reader.readexactly(error.consumed)
                else:
                    if chunk == END_OF_DATA and at_line_start:
                        break
                    if chunk.endswith(b"\r\n" + END_OF_DATA):
                        chunk = chunk[: -len(END_OF_DATA)]
                        size += len(chunk)
                        if not too_much and not (limit and size > limit):
                            chunks.append(chunk)
                        else:
                            too_much = True
                        break
                at_line_start = chunk.endswith(b"\r\n")
                size += len(chunk)
                if limit and size > limit:
                    too_much = True
                    chunks.clear()  # keep no memory for a message we refuse
                elif not too_much:
                    chunks.append(chunk)
        except asyncio.CancelledError:
            log.info("Connexion perdue pendant DATA")
            self._writer.close()
            raise
        finally:
            reader._limit = line_limit  # type: ignore[attr-defined]
        return None if too_much else b"".join(chunks)


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


class InboxController(Controller):
    def factory(self) -> SMTP:
        return InboxSMTP(self.handler, **self.SMTP_kwargs)


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
        controller = InboxController(
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
