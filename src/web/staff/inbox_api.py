"""JSON API of the inbox (issue 6): a client's emails, manual entries, « À trier »,
attaching, sending. The screens are built on the same commands and queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException

from crm_core.context import user_actor
from projections.inbox import EmailDetail, EmailRow
from projections.pagination import Page
from web.auth.identity import Staff, staff_guard
from web.mail import inbox_address
from web.ui import container_of


class LogEmail(msgspec.Struct, rename="camel"):
    """FR-INBOX-2: an email typed in on the client page."""

    expediteur: str
    sujet: str
    texte: str = ""
    sens: str = "entrant"
    date: datetime | None = None
    destinataires: list[str] = []


class SendEmail(msgspec.Struct, rename="camel"):
    destinataires: list[str]
    sujet: str
    texte: str
    cc: list[str] = []
    ticket_id: UUID | None = None
    en_reponse_a: UUID | None = None


class Attach(msgspec.Struct, rename="camel"):
    client_id: UUID


class Created(msgspec.Struct, rename="camel"):
    id: UUID


class ClientEmails(msgspec.Struct, rename="camel"):
    adresse_inbox: str
    emails: Page[EmailRow]


class InboxApiController(Controller):
    guards = [staff_guard]  # noqa: RUF012
    tags = ["Emails"]  # noqa: RUF012

    def _writable_client(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID
    ) -> None:
        client = container_of(request).clients.get(staff.workspace_id, client_id)
        if client is None:
            raise NotFoundException("Client introuvable.")
        if not staff.can_write_client(client.owner_id):
            raise PermissionDeniedException("Vous ne pouvez pas modifier ce client.")

    @get(
        "/api/clients/{client_id:uuid}/emails",
        summary="Les emails d’un client",
        sync_to_thread=True,
    )
    def client_emails(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        client_id: UUID,
        cursor: str | None = None,
    ) -> ClientEmails:
        container = container_of(request)
        if container.clients.get(staff.workspace_id, client_id) is None:
            raise NotFoundException("Client introuvable.")
        return ClientEmails(
            adresse_inbox=inbox_address(container, staff.workspace_id, client_id),
            emails=container.inbox_view.for_client(staff.workspace_id, client_id, cursor=cursor),
        )

    @post(
        "/api/clients/{client_id:uuid}/emails",
        summary="Ajoute un email à l’historique",
        sync_to_thread=True,
    )
    def log_email(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: LogEmail
    ) -> Created:
        self._writable_client(request, staff, client_id)
        container = container_of(request)
        with staff.acting():
            receipt = container.inbox.log_email(
                staff.workspace_id,
                client_id,
                expediteur=data.expediteur,
                destinataires=data.destinataires,
                sujet=data.sujet,
                texte=data.texte,
                sens=data.sens,
                date_message=data.date or datetime.now().astimezone(),
                auteur=user_actor(staff.id),
            )
        container.wait(receipt.position, "inbox", "timeline")
        return Created(receipt.id)

    @post(
        "/api/clients/{client_id:uuid}/emails/envoi",
        summary="Envoie un email au client",
        sync_to_thread=True,
    )
    def send_email(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: SendEmail
    ) -> Created:
        self._writable_client(request, staff, client_id)
        container = container_of(request)
        with staff.acting():
            receipt = container.inbox.request_send(
                staff.workspace_id,
                client_id,
                destinataires=data.destinataires,
                cc=data.cc,
                sujet=data.sujet,
                texte=data.texte,
                auteur=user_actor(staff.id),
                ticket_id=data.ticket_id,
                en_reponse_a=data.en_reponse_a,
            )
        container.wait(receipt.position, "inbox", "timeline")
        return Created(receipt.id)

    @get("/api/emails/a-trier", summary="Les emails à trier", sync_to_thread=True)
    def unsorted(
        self, request: Request[Any, Any, Any], staff: Staff, cursor: str | None = None
    ) -> Page[EmailRow]:
        return container_of(request).inbox_view.unsorted(staff.workspace_id, cursor=cursor)

    @get("/api/emails/{email_id:uuid}", summary="Un email", sync_to_thread=True)
    def detail(self, request: Request[Any, Any, Any], staff: Staff, email_id: UUID) -> EmailDetail:
        found = container_of(request).inbox_view.get(staff.workspace_id, email_id)
        if found is None:
            raise NotFoundException("Email introuvable.")
        return found

    @post(
        "/api/emails/{email_id:uuid}/rattacher",
        summary="Rattache un email à un client",
        sync_to_thread=True,
    )
    def attach(
        self, request: Request[Any, Any, Any], staff: Staff, email_id: UUID, data: Attach
    ) -> Created:
        self._writable_client(request, staff, data.client_id)
        container = container_of(request)
        with staff.acting():
            receipt = container.inbox.attach_to_client(staff.workspace_id, email_id, data.client_id)
        container.wait(receipt.position, "inbox", "timeline")
        return Created(receipt.id)
