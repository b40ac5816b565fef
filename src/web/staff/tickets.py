"""Tickets: the filtered list, the form, and the ticket page with its conversation."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from crm_core.errors import DomainError, InvalidInputError, NotFoundError
from crm_core.values import TicketStatus
from projections.tickets import TicketRow
from web.auth.identity import Staff, requires, staff_guard
from web.auth.permissions import Permission
from web.container import Container
from web.staff.forms import Form, FormData, Pager, Parsed, is_fragment, query, text
from web.staff.timeline import actor_name
from web.templating import LABELS
from web.ui import container_of, done, fragment, page, refused

STATUSES = list(LABELS["statut_ticket"].items())
UNASSIGNED = "aucun"


def ticket_or_404(container: Container, staff: Staff, ticket_id: UUID) -> TicketRow:
    found = container.tickets.get(staff.workspace_id, ticket_id)
    if found is None:
        raise NotFoundError("Ticket introuvable.")
    return found


def _client_choices(container: Container, workspace_id: UUID) -> list[tuple[str, str]]:
    return [(str(c.id), c.nom) for c in container.clients.search(workspace_id, limit=200).items]


class TicketsController(Controller):
    path = "/tickets"
    guards = [staff_guard]  # noqa: RUF012
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        container = container_of(request)
        parsed = Parsed(request.query_params)
        assignee = query(request, "assigne")
        statut = query(request, "statut")
        results = container.tickets.search(
            staff.workspace_id,
            statut=statut if statut in LABELS["statut_ticket"] else "",
            client_id=parsed.uuid("client"),
            assignee_id=None if assignee == UNASSIGNED else parsed.uuid("assigne"),
            unassigned=assignee == UNASSIGNED,
            open_only=query(request, "ouverts") == "1",
            q=query(request, "q"),
            limit=20,
            cursor=query(request, "curseur") or None,
        )
        users = container.accounts_view.users(staff.workspace_id)
        context: dict[str, Any] = {
            "results": results,
            "paging": Pager(request, results, "/tickets"),
            "names": {u.id: u.nom for u in users},
            "filtered": any(
                query(request, key) for key in ("q", "statut", "client", "assigne", "ouverts")
            ),
        }
        if is_fragment(request):
            return fragment(request, "staff/partials/ticket_results.html", **context)
        return page(
            request,
            "staff/tickets/list.html",
            statuses=STATUSES,
            clients=_client_choices(container, staff.workspace_id),
            users=[u for u in users if not u.disabled],
            filters={
                key: query(request, key) for key in ("q", "statut", "client", "assigne", "ouverts")
            },
            **context,
        )

    # --- create -------------------------------------------------------------------
    def _form_page(
        self, request: Request[Any, Any, Any], staff: Staff, form: Form, status_code: int = 200
    ) -> Template:
        container = container_of(request)
        return page(
            request,
            "staff/tickets/form.html",
            status_code=status_code,
            form=form,
            clients=_client_choices(container, staff.workspace_id),
        )

    @get("/nouveau", sync_to_thread=True, guards=[requires(Permission.WRITE_TICKETS)])
    def new(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        values = {"client_id": query(request, "client"), "typeTicket": "question"}
        return self._form_page(request, staff, Form({**values, "priorite": "normale"}))

    @post("/nouveau", sync_to_thread=True, guards=[requires(Permission.WRITE_TICKETS)])
    def create(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        parsed = Parsed(data)
        client_id = parsed.uuid("client_id", "Choisissez un client.")
        if client_id is None:
            parsed.errors.setdefault("client_id", "Choisissez un client.")
        try:
            parsed.check()
            assert client_id is not None  # noqa: S101  (check() raised otherwise)
            with staff.acting():
                receipt = container.support.open_ticket(
                    staff.workspace_id,
                    client_id,
                    sujet=text(data, "sujet"),
                    description=text(data, "description"),
                    type_ticket=text(data, "typeTicket") or "question",
                    priorite=text(data, "priorite") or "normale",
                    source="staff",
                    ouvert_par=staff.nom,
                )
        except DomainError as error:
            if isinstance(error, NotFoundError):
                error = InvalidInputError({"client_id": "Ce client n’existe pas."})
            return self._form_page(request, staff, Form(data).fail(error), status_code=422)
        container.wait(receipt.position, "tickets", "timeline")
        return done(request, "Ticket créé.", f"/tickets/{receipt.id}")

    # --- the ticket page ----------------------------------------------------------
    def _context(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        ticket: TicketRow,
        *,
        reply: Form | None = None,
        note: Form | None = None,
    ) -> dict[str, Any]:
        container = container_of(request)
        users = container.accounts_view.users(staff.workspace_id)
        return {
            "t": ticket,
            "messages": container.tickets.messages(ticket.id, include_internal=True),
            "users": [u for u in users if not u.disabled],
            "names": {u.id: u.nom for u in users},
            "actor_name": actor_name,
            "statuses": [(v, label) for v, label in STATUSES if v != TicketStatus.NOUVEAU.value],
            "reply_form": reply or Form(prefix="reply-"),
            "note_form": note or Form(prefix="note-"),
            "closed": ticket.statut == TicketStatus.FERME.value,
        }

    @get("/{ticket_id:uuid}", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], staff: Staff, ticket_id: UUID) -> Template:
        ticket = ticket_or_404(container_of(request), staff, ticket_id)
        return page(request, "staff/tickets/detail.html", **self._context(request, staff, ticket))

    def _message(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        ticket_id: UUID,
        data: dict[str, Any],
        *,
        internal: bool,
    ) -> Template | Response[Any]:
        container = container_of(request)
        ticket = ticket_or_404(container, staff, ticket_id)
        command = container.support.add_internal_note if internal else container.support.reply
        key = "note" if internal else "reply"
        try:
            with staff.acting():
                receipt = command(
                    staff.workspace_id, ticket_id, texte=text(data, "texte"), auteur=staff.nom
                )
        except DomainError as error:
            form = Form(data, prefix=f"{key}-").fail(error)
            context = self._context(request, staff, ticket, **{key: form})
            if is_fragment(request):
                return fragment(
                    request, "staff/partials/ticket_conversation.html", status_code=422, **context
                )
            return page(request, "staff/tickets/detail.html", status_code=422, **context)
        container.wait(receipt.position, "tickets", "timeline")
        message = "Note interne ajoutée." if internal else "Réponse envoyée au client."
        if is_fragment(request):
            fresh = ticket_or_404(container, staff, ticket_id)
            return fragment(
                request,
                "staff/partials/ticket_conversation.html",
                toast=message,
                **self._context(request, staff, fresh),
            )
        return done(request, message, f"/tickets/{ticket_id}")

    @post(
        "/{ticket_id:uuid}/reponse",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_TICKETS)],
    )
    def reply(
        self, request: Request[Any, Any, Any], staff: Staff, ticket_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        return self._message(request, staff, ticket_id, data, internal=False)

    @post(
        "/{ticket_id:uuid}/note", sync_to_thread=True, guards=[requires(Permission.WRITE_TICKETS)]
    )
    def note(
        self, request: Request[Any, Any, Any], staff: Staff, ticket_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        return self._message(request, staff, ticket_id, data, internal=True)

    @post(
        "/{ticket_id:uuid}/assigner",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_TICKETS)],
    )
    def assign(
        self, request: Request[Any, Any, Any], staff: Staff, ticket_id: UUID, data: FormData
    ) -> Response[Any]:
        container = container_of(request)
        ticket_or_404(container, staff, ticket_id)
        parsed = Parsed(data)
        assignee = parsed.uuid("assigneeId", "Cette personne n’existe pas.")
        try:
            parsed.check()
            with staff.acting():
                receipt = container.support.assign(staff.workspace_id, ticket_id, assignee)
        except DomainError as error:
            return refused(request, error, f"/tickets/{ticket_id}")
        container.wait(receipt.position, "tickets")
        names = {u.id: u.nom for u in container.accounts_view.users(staff.workspace_id)}
        message = (
            f"Ticket assigné à {names.get(assignee, 'cette personne')}."
            if assignee
            else "Ticket désassigné."
        )
        return done(request, message, f"/tickets/{ticket_id}")

    @post(
        "/{ticket_id:uuid}/statut", sync_to_thread=True, guards=[requires(Permission.WRITE_TICKETS)]
    )
    def change_status(
        self, request: Request[Any, Any, Any], staff: Staff, ticket_id: UUID, data: FormData
    ) -> Response[Any]:
        container = container_of(request)
        ticket_or_404(container, staff, ticket_id)
        statut = text(data, "statutTicket")
        try:
            with staff.acting():
                receipt = container.support.change_status(staff.workspace_id, ticket_id, statut)
        except DomainError as error:
            return refused(request, error, f"/tickets/{ticket_id}")
        container.wait(receipt.position, "tickets", "timeline")
        label = LABELS["statut_ticket"].get(statut, statut)
        return done(request, f"Statut : {label}.", f"/tickets/{ticket_id}")
