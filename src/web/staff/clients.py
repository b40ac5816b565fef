"""Clients: the searchable list, the form, and the client page (contacts, deals, timeline)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.response import Template

from crm_core.errors import DomainError, NotFoundError
from crm_core.values import Address
from projections.clients import ClientDetail
from web.auth.identity import Staff, requires, staff_guard
from web.auth.permissions import Permission
from web.container import Container
from web.staff.emails import delivery_states, email_attachments, email_section
from web.staff.forms import Form, FormData, Pager, Parsed, is_fragment, query, text
from web.staff.payments import payment_badges
from web.staff.timeline import FILTERS, actor_name, kind_of, kinds_for
from web.templating import PARIS
from web.ui import container_of, done, fragment, page

CLIENT_FIELDS = (
    "nom", "type", "email", "telephone", "rue", "code_postal", "ville", "pays", "tags",
    "owner_id", "notes",
)  # fmt: skip


def client_or_404(container: Container, staff: Staff, client_id: UUID) -> ClientDetail:
    client = container.clients.get(staff.workspace_id, client_id)
    if client is None:
        raise NotFoundError("Client introuvable.")
    return client


def ensure_can_write(staff: Staff, client: ClientDetail) -> None:
    if not staff.can_write_client(client.owner_id):
        raise PermissionDeniedException("Votre rôle ne permet pas de modifier ce client.")


def user_names(container: Container, workspace_id: UUID) -> dict[UUID, str]:
    return {user.id: user.nom for user in container.accounts_view.users(workspace_id)}


def _client_form_values(client: ClientDetail) -> dict[str, str]:
    return {
        "nom": client.nom,
        "type": client.type_client,
        "email": client.email,
        "telephone": client.telephone,
        "rue": client.adresse.get("rue", ""),
        "code_postal": client.adresse.get("code_postal", ""),
        "ville": client.adresse.get("ville", ""),
        "pays": client.adresse.get("pays", "France"),
        "tags": ", ".join(client.tags),
        "owner_id": str(client.owner_id) if client.owner_id else "",
        "notes": client.notes,
    }


def _client_command(data: dict[str, Any], owner_id: UUID | None) -> dict[str, Any]:
    return {
        "nom": text(data, "nom"),
        "type_client": text(data, "type") or "entreprise",
        "email": text(data, "email"),
        "telephone": text(data, "telephone"),
        "adresse": Address(
            rue=text(data, "rue"),
            code_postal=text(data, "code_postal"),
            ville=text(data, "ville"),
            pays=text(data, "pays") or "France",
        ),
        "tags": tuple(tag for tag in text(data, "tags").split(",") if tag.strip()),
        "owner_id": owner_id,
        "notes": text(data, "notes"),
    }


def _now_local() -> str:
    return datetime.now(PARIS).strftime("%Y-%m-%dT%H:%M")


def activity_form(values: dict[str, Any] | None = None) -> Form:
    return Form(values or {"type": "note", "date_activite": _now_local()}, prefix="act-")


def client_sections(
    request: Request[Any, Any, Any],
    staff: Staff,
    client: ClientDetail,
    *,
    contact_form: Form | None = None,
    contact_forms: dict[str, Form] | None = None,
    activity: Form | None = None,
    email_form: Form | None = None,
) -> dict[str, Any]:
    """Everything the client page and its partials need."""
    container = container_of(request)
    names = user_names(container, staff.workspace_id)
    kind_filter = query(request, "type")
    opportunities = container.pipeline.for_client(staff.workspace_id, client.id)
    timeline = container.timeline.for_client(
        staff.workspace_id,
        client.id,
        kinds=kinds_for(kind_filter),
        limit=30,
        cursor=query(request, "curseur") or None,
    )
    return {
        "client": client,
        "names": names,
        "owner_name": names.get(client.owner_id) if client.owner_id else None,
        "can_write": staff.can_write_client(client.owner_id) and not client.archived,
        "can_archive": staff.can_write_client(client.owner_id),
        "opportunities": opportunities,
        "payments": payment_badges(container, staff.workspace_id, opportunities),
        "tickets": container.tickets.search(staff.workspace_id, client_id=client.id, limit=20),
        "timeline": timeline,
        "timeline_pager": Pager(request, timeline, f"/clients/{client.id}"),
        "kind_filter": kind_filter,
        "filters": FILTERS,
        "kind_of": kind_of,
        "actor_name": actor_name,
        "contact_form": contact_form or Form(prefix="contact-"),
        "contact_forms": contact_forms or {},
        "activity_form": activity or activity_form(),
        "make_form": lambda values, prefix: Form(values, prefix=prefix),
        "portal_visits": container.portal_view.visits(staff.workspace_id, client.id),
        "portal_issued_at": container.portal_view.link_issued_at(staff.workspace_id, client.id),
        "email_states": delivery_states(container, staff, timeline.items),
        "email_files": email_attachments(container, staff, timeline.items),
        **email_section(container, staff, client, email_form),
    }


class ClientsController(Controller):
    path = "/clients"
    guards = [staff_guard]  # noqa: RUF012
    include_in_schema = False

    # --- the list -----------------------------------------------------------------
    @get("/", sync_to_thread=True)
    def index(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        container = container_of(request)
        owner = Parsed(request.query_params).uuid("responsable")
        archived = query(request, "archives") == "1"
        results = container.clients.search(
            staff.workspace_id,
            q=query(request, "q"),
            tag=query(request, "tag"),
            owner_id=owner,
            archived=archived,
            limit=20,
            cursor=query(request, "curseur") or None,
        )
        # Every user once: their names label the rows (a disabled owner too), the
        # enabled ones fill the owner filter.
        users = container.accounts_view.users(staff.workspace_id)
        context: dict[str, Any] = {
            "results": results,
            "paging": Pager(request, results, "/clients"),
            "names": {user.id: user.nom for user in users},
            "filtered": any(query(request, key) for key in ("q", "tag", "responsable")),
            "archived": archived,
        }
        if is_fragment(request):
            return fragment(request, "staff/partials/client_results.html", **context)
        return page(
            request,
            "staff/clients/list.html",
            tags=container.clients.tags(staff.workspace_id),
            users=[user for user in users if not user.disabled],
            q=query(request, "q"),
            tag=query(request, "tag"),
            owner=query(request, "responsable"),
            **context,
        )

    # --- create and edit ----------------------------------------------------------
    def _form_page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        form: Form,
        *,
        client: ClientDetail | None = None,
        status_code: int = 200,
    ) -> Template:
        users = container_of(request).accounts_view.users(
            staff.workspace_id, include_disabled=False
        )
        return page(
            request,
            "staff/clients/form.html",
            status_code=status_code,
            form=form,
            client=client,
            users=users,
            can_assign=staff.can(Permission.WRITE_CLIENTS),
        )

    @get("/nouveau", sync_to_thread=True, guards=[requires(Permission.WRITE_CLIENTS)])
    def new(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        return self._form_page(
            request,
            staff,
            Form({"type": "entreprise", "pays": "France", "owner_id": str(staff.id)}),
        )

    @post("/nouveau", sync_to_thread=True, guards=[requires(Permission.WRITE_CLIENTS)])
    def create(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        form = Form(data)
        parsed = Parsed(data)
        owner_id = parsed.uuid("owner_id", "Ce responsable n’existe pas.")
        try:
            parsed.check()
            with staff.acting():
                receipt = container.sales.register_client(
                    staff.workspace_id, **_client_command(data, owner_id)
                )
        except DomainError as error:
            return self._form_page(request, staff, form.fail(error), status_code=422)
        container.wait(receipt.position, "clients", "timeline")
        return done(
            request, f"Client « {text(data, 'nom').strip()} » créé.", f"/clients/{receipt.id}"
        )

    @get(
        "/{client_id:uuid}/modifier",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def edit(self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID) -> Template:
        client = client_or_404(container_of(request), staff, client_id)
        ensure_can_write(staff, client)
        return self._form_page(request, staff, Form(_client_form_values(client)), client=client)

    @post(
        "/{client_id:uuid}/modifier",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def update(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        client = client_or_404(container, staff, client_id)
        ensure_can_write(staff, client)
        form = Form(data)
        parsed = Parsed(data)
        # Only full client rights reassign a client; "assigned" rights keep the owner.
        owner_id = (
            parsed.uuid("owner_id", "Ce responsable n’existe pas.")
            if staff.can(Permission.WRITE_CLIENTS)
            else client.owner_id
        )
        try:
            parsed.check()
            with staff.acting():
                receipt = container.sales.update_client(
                    staff.workspace_id, client_id, **_client_command(data, owner_id)
                )
        except DomainError as error:
            return self._form_page(request, staff, form.fail(error), client=client, status_code=422)
        container.wait(receipt.position, "clients", "timeline")
        return done(request, "Fiche client enregistrée.", f"/clients/{client_id}")

    @post(
        "/{client_id:uuid}/archiver",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def archive(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID
    ) -> Response[Any]:
        return self._archive_or_restore(request, staff, client_id, archive=True)

    @post(
        "/{client_id:uuid}/restaurer",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def restore(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID
    ) -> Response[Any]:
        return self._archive_or_restore(request, staff, client_id, archive=False)

    def _archive_or_restore(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, *, archive: bool
    ) -> Response[Any]:
        container = container_of(request)
        client = client_or_404(container, staff, client_id)
        ensure_can_write(staff, client)
        with staff.acting():
            command = container.sales.archive_client if archive else container.sales.restore_client
            receipt = command(staff.workspace_id, client_id)
        container.wait(receipt.position, "clients", "timeline")
        message = "Client archivé." if archive else "Client restauré."
        return done(request, message, f"/clients/{client_id}")

    # --- the client page ----------------------------------------------------------
    @get("/{client_id:uuid}", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID) -> Template:
        client = client_or_404(container_of(request), staff, client_id)
        context = client_sections(request, staff, client)
        if is_fragment(request) and request.headers.get("hx-target") == "chronologie":
            return fragment(request, "staff/partials/client_timeline.html", **context)
        return page(request, "staff/clients/detail.html", **context)

    @get("/{client_id:uuid}/chronologie", sync_to_thread=True)
    def timeline(self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID) -> Template:
        client = client_or_404(container_of(request), staff, client_id)
        context = client_sections(request, staff, client)
        if is_fragment(request):
            return fragment(request, "staff/partials/client_timeline.html", **context)
        return page(request, "staff/clients/detail.html", **context)

    def _section(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        client_id: UUID,
        partial: str,
        *,
        status_code: int = 200,
        toast: str = "",
        **forms: Any,
    ) -> Template:
        """The client page (no JavaScript) or one of its sections (htmx), after an action."""
        client = client_or_404(container_of(request), staff, client_id)
        context = client_sections(request, staff, client, **forms)
        if is_fragment(request):
            return fragment(
                request,
                partial,
                status_code=status_code,
                toast=toast,
                toast_kind="success",
                oob_timeline=status_code == 200 and partial.endswith("activity_form.html"),
                **context,
            )
        return page(request, "staff/clients/detail.html", status_code=status_code, **context)

    # --- contacts -----------------------------------------------------------------
    @post(
        "/{client_id:uuid}/contacts",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def add_contact(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        ensure_can_write(staff, client_or_404(container, staff, client_id))
        try:
            with staff.acting():
                receipt = container.sales.add_contact(
                    staff.workspace_id, client_id, **_contact_command(data)
                )
        except DomainError as error:
            form = Form(data, prefix="contact-").fail(error)
            return self._section(
                request, staff, client_id, _CONTACTS, status_code=422, contact_form=form
            )
        container.wait(receipt.position, "clients")
        return self._after(request, staff, client_id, _CONTACTS, "Contact ajouté.")

    @post(
        "/{client_id:uuid}/contacts/{contact_id:uuid}",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def update_contact(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        client_id: UUID,
        contact_id: UUID,
        data: FormData,
    ) -> Template | Response[Any]:
        container = container_of(request)
        ensure_can_write(staff, client_or_404(container, staff, client_id))
        try:
            with staff.acting():
                receipt = container.sales.update_contact(
                    staff.workspace_id, client_id, contact_id, **_contact_command(data)
                )
        except DomainError as error:
            form = Form(data, prefix=f"c{contact_id.hex[:8]}-").fail(error)
            return self._section(
                request,
                staff,
                client_id,
                _CONTACTS,
                status_code=422,
                contact_forms={str(contact_id): form},
            )
        container.wait(receipt.position, "clients")
        return self._after(request, staff, client_id, _CONTACTS, "Contact modifié.")

    @post(
        "/{client_id:uuid}/contacts/{contact_id:uuid}/supprimer",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def remove_contact(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, contact_id: UUID
    ) -> Template | Response[Any]:
        container = container_of(request)
        ensure_can_write(staff, client_or_404(container, staff, client_id))
        with staff.acting():
            receipt = container.sales.remove_contact(staff.workspace_id, client_id, contact_id)
        container.wait(receipt.position, "clients")
        return self._after(request, staff, client_id, _CONTACTS, "Contact supprimé.")

    # --- notes, calls, meetings ---------------------------------------------------
    @post(
        "/{client_id:uuid}/activites",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_ASSIGNED_CLIENTS)],
    )
    def log_activity(
        self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        ensure_can_write(staff, client_or_404(container, staff, client_id))
        parsed = Parsed(data)
        duration = parsed.integer("duree_minutes", "La durée")
        moment = parsed.moment("date_activite")
        try:
            parsed.check()
            assert moment is not None  # noqa: S101  (check() raised otherwise)
            with staff.acting():
                receipt = container.sales.log_activity(
                    staff.workspace_id,
                    client_id,
                    kind=text(data, "type"),
                    sujet=text(data, "sujet"),
                    contenu=text(data, "contenu"),
                    date_activite=moment,
                    duree_minutes=duration,
                    auteur_id=staff.id,
                )
        except DomainError as error:
            form = Form(data, prefix="act-").fail(error)
            return self._section(
                request, staff, client_id, _ACTIVITY, status_code=422, activity=form
            )
        container.wait(receipt.position, "timeline")
        labels = {
            "note": "Note ajoutée.",
            "appel": "Appel enregistré.",
            "reunion": "Réunion enregistrée.",
        }
        return self._after(
            request, staff, client_id, _ACTIVITY, labels.get(text(data, "type"), "Enregistré.")
        )

    def _after(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        client_id: UUID,
        partial: str,
        message: str,
    ) -> Template | Response[Any]:
        if is_fragment(request):
            return self._section(request, staff, client_id, partial, toast=message)
        return done(request, message, f"/clients/{client_id}")


_CONTACTS = "staff/partials/client_contacts.html"
_ACTIVITY = "staff/partials/client_activity_form.html"


def _contact_command(data: dict[str, Any]) -> dict[str, str]:
    return {
        "nom": text(data, "nom"),
        "email": text(data, "email"),
        "telephone": text(data, "telephone"),
        "fonction": text(data, "fonction"),
    }
