"""Paramètres › Emails (administrators only): SMTP and IMAP accounts, email -> ticket rules.

Passwords go one way: typed in, stored encrypted, never sent back to the browser
(the form shows « enregistré » and a blank field keeps the stored one).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from crm_core.errors import DomainError, InvalidInputError
from crm_core.inbox.application import ServerAccess
from web.auth.identity import Staff, requires
from web.auth.permissions import Permission
from web.staff.forms import Form, FormData, Parsed, text
from web.ui import container_of, done, page, refused

SECURITIES = [
    ("starttls", "STARTTLS"),
    ("tls", "TLS"),
    ("aucune", "Aucune (déconseillé)"),
]
CRITERIA = [("destinataire", "Destinataire (adresse exacte)"), ("sujet", "Sujet (motif, * permis)")]
TICKET_TYPES = [("question", "Question"), ("bug", "Bug"), ("demande", "Demande")]
PRIORITIES = [
    ("basse", "Basse"),
    ("normale", "Normale"),
    ("haute", "Haute"),
    ("urgente", "Urgente"),
]
BACK = "/parametres/email"


def _account_values(access: ServerAccess | None, *, imap: bool) -> dict[str, str]:
    """The form's values: everything but the password."""
    if access is None:
        return {"port": "993" if imap else "587", "securite": "tls" if imap else "starttls"}
    values = {
        "hote": access.hote,
        "port": str(access.port),
        "utilisateur": access.utilisateur,
        "securite": access.securite.value,
    }
    if imap:
        values["dossier"] = access.dossier
    else:
        values["expediteur"] = access.expediteur
    return values


class MailSettingsController(Controller):
    path = "/parametres/email"
    guards = [requires(Permission.ADMIN)]  # noqa: RUF012
    include_in_schema = False

    def _page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        *,
        smtp: Form | None = None,
        imap: Form | None = None,
        rule: Form | None = None,
        status_code: int = 200,
    ) -> Template:
        container = container_of(request)
        errors: list[str] = []
        accesses: list[ServerAccess | None] = []
        for read in (container.inbox.smtp_access, container.inbox.imap_access):
            try:
                accesses.append(read(staff.workspace_id))
            except DomainError as error:  # a password no longer decrypts: say so
                accesses.append(None)
                errors.append(error.message)
        smtp_access, imap_access = accesses
        return page(
            request,
            "staff/settings/email.html",
            status_code=status_code,
            smtp=smtp or Form(_account_values(smtp_access, imap=False), prefix="smtp-"),
            imap=imap or Form(_account_values(imap_access, imap=True), prefix="imap-"),
            smtp_password_saved=bool(smtp_access and smtp_access.mot_de_passe),
            imap_password_saved=bool(imap_access and imap_access.mot_de_passe),
            smtp_from_environment=bool(container.settings.mail.smtp_host),
            rule=rule or Form({"critere": "destinataire", "priorite": "normale"}, prefix="rule-"),
            rules=container.inbox_view.rules(staff.workspace_id),
            mail_domain=container.inbox_view.mail_domain(staff.workspace_id),
            securities=SECURITIES,
            criteria=CRITERIA,
            ticket_types=TICKET_TYPES,
            priorities=PRIORITIES,
            errors=errors,
        )

    @get("/", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        return self._page(request, staff)

    @post("/smtp", sync_to_thread=True)
    def save_smtp(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        parsed = Parsed(data)
        port = parsed.integer("port", "Le port")
        try:
            parsed.check()
            with staff.acting():
                receipt = container.inbox.configure_smtp(
                    staff.workspace_id,
                    hote=text(data, "hote"),
                    port=port or 0,
                    utilisateur=text(data, "utilisateur"),
                    mot_de_passe=text(data, "mot_de_passe"),
                    expediteur=text(data, "expediteur"),
                    securite=text(data, "securite") or "starttls",
                )
        except DomainError as error:
            form = Form({**data, "mot_de_passe": ""}, prefix="smtp-").fail(error)
            return self._page(request, staff, smtp=form, status_code=422)
        container.wait(receipt.position, "inbox")
        return done(request, "Serveur d’envoi (SMTP) enregistré.", BACK)

    @post("/imap", sync_to_thread=True)
    def save_imap(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        parsed = Parsed(data)
        port = parsed.integer("port", "Le port")
        try:
            parsed.check()
            with staff.acting():
                receipt = container.inbox.configure_imap(
                    staff.workspace_id,
                    hote=text(data, "hote"),
                    port=port or 0,
                    utilisateur=text(data, "utilisateur"),
                    mot_de_passe=text(data, "mot_de_passe"),
                    dossier=text(data, "dossier") or "INBOX",
                    securite=text(data, "securite") or "tls",
                )
        except DomainError as error:
            form = Form({**data, "mot_de_passe": ""}, prefix="imap-").fail(error)
            return self._page(request, staff, imap=form, status_code=422)
        container.wait(receipt.position, "inbox")
        return done(request, "Boîte de réception (IMAP) enregistrée.", BACK)

    @post("/regles", sync_to_thread=True)
    def add_rule(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        try:
            with staff.acting():
                receipt = container.inbox.add_ticket_rule(
                    staff.workspace_id,
                    critere=text(data, "critere"),
                    motif=text(data, "motif"),
                    type_ticket=text(data, "type_ticket") or "question",
                    priorite=text(data, "priorite") or "normale",
                )
        except DomainError as error:
            if isinstance(error, InvalidInputError) and "typeTicket" in error.errors:
                error.errors["type_ticket"] = error.errors.pop("typeTicket")
            form = Form(data, prefix="rule-").fail(error)
            return self._page(request, staff, rule=form, status_code=422)
        container.wait(receipt.position, "inbox")
        return done(request, "Règle ajoutée.", BACK)

    @post("/regles/{rule_id:uuid}/supprimer", sync_to_thread=True)
    def remove_rule(
        self, request: Request[Any, Any, Any], staff: Staff, rule_id: UUID
    ) -> Response[Any]:
        container = container_of(request)
        try:
            with staff.acting():
                receipt = container.inbox.remove_ticket_rule(staff.workspace_id, rule_id)
        except DomainError as error:
            return refused(request, error, BACK)
        container.wait(receipt.position, "inbox")
        return done(request, "Règle supprimée.", BACK)
