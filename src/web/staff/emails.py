"""Emails (issue 6) on the staff screens: the client's « Emails / échanges » section,
writing to a client (with the payment or portal link), « À trier » and an email's page.

The screens use the commands and queries of the JSON API (`web.staff.inbox_api`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.response import Template

from crm_core.context import user_actor
from crm_core.errors import DomainError, NotFoundError
from projections.clients import ClientDetail
from projections.inbox import AttachmentRow
from web.auth.identity import Staff, requires, staff_guard
from web.auth.permissions import Permission
from web.container import Container
from web.mail import inbox_address
from web.portal.issuing import issue_portal_url
from web.staff.forms import Form, FormData, Parsed, is_fragment, query, text
from web.templating import PARIS
from web.ui import container_of, done, fragment, page, refused

SECTION = "staff/partials/client_emails.html"
SECTION_LIMIT = 10
_ADDRESSES = re.compile(r"[,;\s]+")


def addresses(raw: str) -> list[str]:
    """'a@x.fr, b@y.fr' (commas, semicolons, spaces or lines) -> ['a@x.fr', 'b@y.fr']."""
    return [item for item in _ADDRESSES.split(raw) if item]


def _client(container: Container, staff: Staff, client_id: UUID) -> ClientDetail:
    client = container.clients.get(staff.workspace_id, client_id)
    if client is None:
        raise NotFoundError("Client introuvable.")
    return client


def _writable(container: Container, staff: Staff, client_id: UUID) -> ClientDetail:
    client = _client(container, staff, client_id)
    if not staff.can_write_client(client.owner_id):
        raise PermissionDeniedException("Votre rôle ne permet pas d’écrire à ce client.")
    return client


def log_form(values: dict[str, Any] | None = None) -> Form:
    now = datetime.now(PARIS).strftime("%Y-%m-%dT%H:%M")
    return Form(values or {"sens": "entrant", "date": now}, prefix="mail-")


def email_section(
    container: Container, staff: Staff, client: ClientDetail, form: Form | None = None
) -> dict[str, Any]:
    """What `client_emails.html` needs (the client page includes it)."""
    return {
        "emails": container.inbox_view.for_client(
            staff.workspace_id, client.id, limit=SECTION_LIMIT
        ),
        "adresse_inbox": inbox_address(container, staff.workspace_id, client.id),
        "email_form": form or log_form(),
        "can_portal": staff.can(Permission.MANAGE_PORTAL),
    }


def _email_ids(entries: list[Any]) -> list[UUID]:
    return [
        e.reference_id for e in entries if e.type_evenement == "email_client" and e.reference_id
    ]


def delivery_states(container: Container, staff: Staff, entries: list[Any]) -> dict[UUID, str]:
    """The delivery state of the outgoing emails among timeline entries."""
    return container.inbox_view.delivery_states(staff.workspace_id, _email_ids(entries))


def email_attachments(
    container: Container, staff: Staff, entries: list[Any]
) -> dict[UUID, list[AttachmentRow]]:
    """The files of the emails among timeline entries (their download links)."""
    return container.inbox_view.attachments_of(staff.workspace_id, _email_ids(entries))


# --- ready-made messages ------------------------------------------------------------
def payment_message(client: ClientDetail, titre: str, url: str, signature: str) -> dict[str, str]:
    return {
        "sujet": f"Votre lien de paiement : {titre}",
        "texte": (
            f"Bonjour {client.nom},\n\n"
            f"Comme convenu, voici le lien pour régler « {titre} » en ligne, par carte"
            f" bancaire, en toute sécurité :\n\n{url}\n\n"
            "N’hésitez pas à me répondre si vous avez la moindre question.\n\n"
            f"Bien cordialement,\n{signature}"
        ),
    }


def portal_message(client: ClientDetail, url: str, signature: str) -> dict[str, str]:
    return {
        "sujet": "Votre espace client",
        "texte": (
            f"Bonjour {client.nom},\n\n"
            "Vous pouvez suivre vos demandes, vos devis et vos paiements dans votre espace"
            f" client, à cette adresse (personnelle, ne la transmettez pas) :\n\n{url}\n\n"
            "Ce lien remplace les précédents.\n\n"
            f"Bien cordialement,\n{signature}"
        ),
    }


class EmailsController(Controller):
    guards = [staff_guard]  # noqa: RUF012
    include_in_schema = False

    # --- the client page section ----------------------------------------------------
    def _section_or_page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        client_id: UUID,
        *,
        form: Form | None = None,
        status_code: int = 200,
        toast: str = "",
    ) -> Template:
        from web.staff.clients import client_sections  # noqa: PLC0415  (clients imports this module)

        container = container_of(request)
        client = _client(container, staff, client_id)
        context = client_sections(request, staff, client, email_form=form)
        if is_fragment(request):
            return fragment(
                request,
                SECTION,
                status_code=status_code,
                toast=toast,
                oob_timeline=status_code == 200,
                **context,
            )
        return page(request, "staff/clients/detail.html", status_code=status_code, **context)

    @get("/clients/{client_id:uuid}/emails", sync_to_thread=True)
    def section(self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID) -> Template:
        return self._section_or_page(request, staff, client_id)

    @post(
        "/clients/{client_id:uuid}/emails",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def log(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        _writable(container, staff, client_id)
        parsed = Parsed(data)
        moment = parsed.moment("date")
        try:
            parsed.check()
            assert moment is not None  # noqa: S101  (check() raised otherwise)
            with staff.acting():
                receipt = container.inbox.log_email(
                    staff.workspace_id,
                    client_id,
                    expediteur=text(data, "expediteur"),
                    destinataires=addresses(text(data, "destinataires")),
                    sujet=text(data, "sujet"),
                    texte=text(data, "texte"),
                    sens=text(data, "sens") or "entrant",
                    date_message=moment,
                    auteur=user_actor(staff.id),
                )
        except DomainError as error:
            form = Form(data, prefix="mail-").fail(error)
            return self._section_or_page(request, staff, client_id, form=form, status_code=422)
        container.wait(receipt.position, "inbox", "timeline")
        if is_fragment(request):
            return self._section_or_page(request, staff, client_id, toast="Email ajouté.")
        return done(request, "Email ajouté.", f"/clients/{client_id}#emails")

    # --- writing to a client --------------------------------------------------------
    def _compose(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        client: ClientDetail,
        form: Form,
        *,
        status_code: int = 200,
        notice: str = "",
    ) -> Template:
        container = container_of(request)
        won = [
            o
            for o in container.pipeline.for_client(staff.workspace_id, client.id)
            if o.etape == "gagne"
        ]
        return page(
            request,
            "staff/emails/compose.html",
            status_code=status_code,
            client=client,
            form=form,
            won=won,
            notice=notice,
            can_portal=staff.can(Permission.MANAGE_PORTAL),
        )

    def _compose_values(self, request: Request[Any, Any, Any], client: ClientDetail) -> Form:
        values = {"destinataires": client.email, "ticket_id": query(request, "ticket")}
        container = container_of(request)
        ticket_id = Parsed({"t": values["ticket_id"]}).uuid("t")
        if ticket_id is not None:
            ticket = container.tickets.get(client.workspace_id, ticket_id)
            if ticket is not None and ticket.client_id == client.id:
                values["sujet"] = f"Re: {ticket.sujet}"
            else:
                values["ticket_id"] = ""
        return Form(values)

    @get(
        "/clients/{client_id:uuid}/emails/ecrire",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def compose(self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID) -> Template:
        client = _writable(container_of(request), staff, client_id)
        return self._compose(request, staff, client, self._compose_values(request, client))

    @post(
        "/clients/{client_id:uuid}/emails/modele",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def template(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: FormData
    ) -> Template:
        """A ready-made message with the payment link (of a won deal) or the portal link.

        A POST: it creates a payment session or a new portal link (the previous
        portal link stops working), so it is never a GET.
        """
        container = container_of(request)
        client = _writable(container, staff, client_id)
        values: dict[str, Any] = {"destinataires": client.email}
        signature = staff.nom
        modele = text(data, "modele")
        try:
            if modele == "paiement":
                opportunity_id = Parsed(data).uuid("opportunite_id")
                opportunity = (
                    container.pipeline.get(staff.workspace_id, opportunity_id)
                    if opportunity_id
                    else None
                )
                if opportunity is None or opportunity.client_id != client.id:
                    raise NotFoundError("Choisissez une opportunité gagnée de ce client.")
                if not staff.can(Permission.WRITE_PIPELINE):
                    raise PermissionDeniedException(
                        "Votre rôle ne permet pas de créer un lien de paiement."
                    )
                with staff.acting():
                    link = container.billing.request_payment(staff.workspace_id, opportunity.id)
                container.wait(link.position, "payments", "timeline")
                values.update(payment_message(client, opportunity.titre, link.url, signature))
            elif modele == "portail":
                if not staff.can(Permission.MANAGE_PORTAL):
                    raise PermissionDeniedException(
                        "Votre rôle ne permet pas de générer un lien portail."
                    )
                url = issue_portal_url(container, staff, client.id)
                values.update(portal_message(client, url, signature))
            else:
                raise NotFoundError("Modèle de message inconnu.")
        except DomainError as error:
            return self._compose(
                request,
                staff,
                client,
                Form(values, error=f"Lien indisponible : {error.message}"),
                status_code=422,
            )
        notice = "Message préparé : relisez-le puis envoyez."
        return self._compose(request, staff, client, Form(values), notice=notice)

    @post(
        "/clients/{client_id:uuid}/emails/envoi",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def send(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        client = _writable(container, staff, client_id)
        parsed = Parsed(data)
        ticket_id = parsed.uuid("ticket_id", "Ticket inconnu.")
        try:
            parsed.check()
            with staff.acting():
                receipt = container.inbox.request_send(
                    staff.workspace_id,
                    client_id,
                    destinataires=addresses(text(data, "destinataires")),
                    cc=addresses(text(data, "cc")),
                    sujet=text(data, "sujet"),
                    texte=text(data, "texte"),
                    auteur=user_actor(staff.id),
                    ticket_id=ticket_id,
                )
        except DomainError as error:
            return self._compose(request, staff, client, Form(data).fail(error), status_code=422)
        container.wait(receipt.position, "inbox", "timeline")
        back = f"/tickets/{ticket_id}" if ticket_id else f"/clients/{client_id}#emails"
        return done(request, "Email en file d’envoi.", back)

    # --- « À trier » ----------------------------------------------------------------
    def _unsorted_page(
        self, request: Request[Any, Any, Any], staff: Staff, *, status_code: int = 200
    ) -> Template:
        container = container_of(request)
        unsorted = container.inbox_view.unsorted(
            staff.workspace_id, limit=30, cursor=query(request, "curseur") or None
        )
        clients = container.clients.search(staff.workspace_id, limit=200).items
        suggestions = {
            email.id: [
                c
                for c in clients
                if c.email and email.expediteur.partition("@")[2] == c.email.partition("@")[2]
            ][:3]
            for email in unsorted.items
        }
        quarantined = (
            container.inbox_view.quarantined(staff.workspace_id, limit=1).total
            if staff.can(Permission.ADMIN)
            else 0
        )
        return page(
            request,
            "staff/emails/unsorted.html",
            status_code=status_code,
            unsorted=unsorted,
            clients=clients,
            suggestions=suggestions,
            quarantined=quarantined,
        )

    @get("/emails/a-trier", sync_to_thread=True)
    def unsorted(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        return self._unsorted_page(request, staff)

    @post(
        "/emails/{email_id:uuid}/rattacher",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def attach(
        self, request: Request[Any, Any, Any], staff: Staff, email_id: UUID, data: FormData
    ) -> Response[Any]:
        container = container_of(request)
        client_id = Parsed(data).uuid("client_id")
        if client_id is None:  # the form without JavaScript: a message, not a 404
            return refused(request, DomainError("Choisissez un client."), "/emails/a-trier")
        client = _writable(container, staff, client_id)
        try:
            with staff.acting():
                receipt = container.inbox.attach_to_client(staff.workspace_id, email_id, client_id)
        except NotFoundError:
            raise
        except DomainError as error:  # already attached, archived client...
            return refused(request, error, "/emails/a-trier")
        container.wait(receipt.position, "inbox", "timeline")
        return done(request, f"Email rattaché à {client.nom}.", "/emails/a-trier")

    # --- one email ------------------------------------------------------------------
    @get("/emails/{email_id:uuid}", sync_to_thread=True)
    def detail(self, request: Request[Any, Any, Any], staff: Staff, email_id: UUID) -> Template:
        container = container_of(request)
        email = container.inbox_view.get(staff.workspace_id, email_id)
        if email is None:
            raise NotFoundError("Email introuvable.")
        client = (
            container.clients.get(staff.workspace_id, email.client_id) if email.client_id else None
        )
        return page(request, "staff/emails/detail.html", email=email, client=client)
