"""The one path of every inbound message (SMTP receiver, IMAP poller): raw bytes ->
parse -> find the workspace and the client -> the `receive` command, or quarantine.

It translates and does not decide: which ticket a reply belongs to and which rule
opens a ticket are the domain's decisions. Nothing here drops a message: what
cannot be read is kept raw in quarantine with an event; what fails for a
passing reason (the database) raises, so the SMTP client or the next IMAP poll
tries again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Protocol
from uuid import UUID

import msgspec

from adapters.mail.parsing import UnreadableMessageError, parse_message
from adapters.mail.parsing_pool import ParserUnavailableError
from adapters.mail.store import ContentStore
from crm_core.context import acting_as
from crm_core.errors import DomainError
from crm_core.inbox.addresses import domain_of, parse_plus_address
from crm_core.inbox.application import InboxApplication
from crm_core.inbox.domainmodel import InboundEmail

log = logging.getLogger(__name__)
MAIL_ACTOR = "mail"
_OWN_ID = re.compile(r"^<[0-9a-f]{32}@(?P<domain>[^>]+)>$")


class MailDirectory(Protocol):
    """What the inbox adapters need to know about workspaces and clients.

    Implemented by the composition root over the read models (an adapter never
    imports a projection).
    """

    def workspaces_for_domain(self, domain: str) -> list[UUID]:
        """The workspaces whose mail domain is `domain` (lower-case)."""
        ...

    def mail_domain(self, workspace_id: UUID) -> str: ...

    def client_for_key(self, workspace_id: UUID, key: str) -> UUID | None:
        """The client whose inbox key is `key`, in this workspace only."""
        ...

    def client_for_address(self, workspace_id: UUID, address: str) -> UUID | None:
        """The active client whose email, or one of whose contacts' email, is `address`."""
        ...


class IngestResult(msgspec.Struct, frozen=True):
    workspace_id: UUID
    email_id: UUID
    statut: str  # "recu" | "doublon" | "quarantaine"
    position: int
    client_id: UUID | None = None
    ticket_id: UUID | None = None
    action_ticket: str = ""
    raison: str = ""


class MailIngestor:
    def __init__(
        self,
        inbox: InboxApplication,
        directory: MailDirectory,
        *,
        attachments: ContentStore,
        quarantine: ContentStore,
        max_message_bytes: int,
        max_attachment_bytes: int,
        parse: Callable[[bytes], InboundEmail] | None = None,
    ) -> None:
        """`parse` reads the bytes (default: `parse_message` in the caller's thread;
        the SMTP receiver passes its `ParsingPool`)."""
        self.inbox = inbox
        self.directory = directory
        self.attachments = attachments
        self.quarantine_store = quarantine
        self.max_message_bytes = max_message_bytes
        self.max_attachment_bytes = max_attachment_bytes
        self.parse = parse or partial(
            parse_message, store=attachments, max_attachment_bytes=max_attachment_bytes
        )

    def accepts(self, recipient: str) -> bool:
        """SMTP `RCPT TO`: only addresses of a domain some workspace owns."""
        return bool(self.workspaces_for(recipient))

    def workspaces_for(self, recipient: str) -> list[UUID]:
        """The workspaces that own the recipient's domain (none: not ours)."""
        return self.directory.workspaces_for_domain(domain_of(recipient))

    def deliver(
        self,
        raw: bytes,
        recipients: Sequence[str],
        resolved: Mapping[str, Sequence[UUID]] | None = None,
    ) -> list[IngestResult]:
        """An SMTP delivery: one record per workspace the envelope addresses.

        `resolved` is what `workspaces_for` answered at `RCPT TO`, a moment ago in
        the same SMTP transaction: not asked again.
        """
        by_workspace: dict[UUID, list[str]] = {}
        domains: dict[UUID, str] = {}
        for recipient in recipients:
            workspaces = (
                resolved[recipient]
                if resolved is not None and recipient in resolved
                else self.workspaces_for(recipient)
            )
            for workspace_id in workspaces:
                by_workspace.setdefault(workspace_id, []).append(recipient.lower())
                # The workspace was found by this very domain: its mail domain.
                domains[workspace_id] = domain_of(recipient)
        return [
            self.ingest(ws, raw, rcpts, domain=domains[ws]) for ws, rcpts in by_workspace.items()
        ]

    def ingest(
        self,
        workspace_id: UUID,
        raw: bytes,
        envelope_recipients: Sequence[str] = (),
        *,
        domain: str | None = None,
    ) -> IngestResult:
        """One message for one workspace; `domain` is its mail domain when the
        caller already knows it (else it is looked up)."""
        digest = hashlib.sha256(raw).hexdigest()
        with acting_as(MAIL_ACTOR):
            if len(raw) > self.max_message_bytes:
                size_mb = len(raw) / 1_000_000
                return self._quarantine(
                    workspace_id, raw, digest, f"Message trop volumineux ({size_mb:.1f} Mo)."
                )
            try:
                email = self.parse(raw)
            except ParserUnavailableError:
                raise  # passing: the sender tries again (451), nothing is quarantined
            except UnreadableMessageError as error:
                return self._quarantine(
                    workspace_id,
                    raw,
                    digest,
                    error.reason,
                    expediteur=error.expediteur,
                    sujet=error.sujet,
                    message_id=error.message_id,
                )
            except RecursionError:
                return self._quarantine(workspace_id, raw, digest, "Structure MIME trop profonde.")
            except Exception as error:  # a parser bug must not lose the mail: quarantine it
                log.exception("Message illisible mis en quarantaine")
                return self._quarantine(
                    workspace_id, raw, digest, f"Analyse impossible ({type(error).__name__})."
                )
            if domain is None:
                domain = self.directory.mail_domain(workspace_id)
            if self._looks_like_ours(email, domain):
                email = msgspec.structs.replace(email, automatique=True)
            client_id, how = self._resolve(workspace_id, domain, email, envelope_recipients)
            try:
                reception = self.inbox.receive(
                    workspace_id, email, empreinte=digest, client_id=client_id, rattachement=how
                )
            except DomainError as error:
                return self._quarantine(
                    workspace_id,
                    raw,
                    digest,
                    f"Refusé : {error.message}",
                    expediteur=email.expediteur,
                    sujet=email.sujet,
                    message_id=email.message_id,
                )
        return IngestResult(
            workspace_id=workspace_id,
            email_id=reception.id,
            statut="recu" if reception.nouveau else "doublon",
            position=reception.position,
            client_id=reception.client_id,
            ticket_id=reception.ticket_id,
            action_ticket=reception.action_ticket,
        )

    @staticmethod
    def _looks_like_ours(email: InboundEmail, domain: str) -> bool:
        """A Message-ID of the shape we give our own messages, in our domain: a loop."""
        match = _OWN_ID.match(email.message_id)
        return bool(match and domain and match["domain"].lower() == domain)

    def _resolve(
        self,
        workspace_id: UUID,
        domain: str,
        email: InboundEmail,
        envelope_recipients: Sequence[str],
    ) -> tuple[UUID | None, str]:
        """Plus-address of this workspace's domain, else a known sender, else none.

        A plus-address of another domain is ignored: a key only ever resolves in
        the workspace that owns both the domain and the key.
        """
        for address in (*envelope_recipients, *email.destinataires, *email.cc):
            plus = parse_plus_address(address)
            if plus is None or not domain or plus.domain != domain:
                continue
            client_id = self.directory.client_for_key(workspace_id, plus.key)
            if client_id is not None:
                return client_id, "adresse_inbox"
        if email.expediteur:
            client_id = self.directory.client_for_address(workspace_id, email.expediteur)
            if client_id is not None:
                return client_id, "expediteur"
        return None, ""

    def _quarantine(
        self,
        workspace_id: UUID,
        raw: bytes,
        digest: str,
        reason: str,
        *,
        expediteur: str = "",
        sujet: str = "",
        message_id: str = "",
    ) -> IngestResult:
        self.quarantine_store.put(raw)
        receipt = self.inbox.quarantine(
            workspace_id,
            raison=reason,
            empreinte=digest,
            taille=len(raw),
            expediteur=expediteur,
            sujet=sujet,
            message_id=message_id,
        )
        return IngestResult(
            workspace_id=workspace_id,
            email_id=receipt.id,
            statut="quarantaine",
            position=receipt.position,
            raison=reason,
        )
