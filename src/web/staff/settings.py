"""Paramètres (administrators only): the workspace profile and the team's accounts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from crm_core.errors import DomainError, NotFoundError
from crm_core.values import Role
from web.auth.identity import Staff, requires
from web.auth.permissions import ROLE_LABELS, Permission
from web.staff.forms import Form, FormData, text
from web.ui import container_of, done, page, refused

PROFILE_FIELDS = (
    "nom", "raison_sociale", "siret", "numero_tva", "devise", "logo_url", "domaine_mail",
)  # fmt: skip
ROLES = [(role.value, label) for role, label in ROLE_LABELS.items()]


class SettingsController(Controller):
    path = "/parametres"
    guards = [requires(Permission.ADMIN)]  # noqa: RUF012
    include_in_schema = False

    # --- the workspace ------------------------------------------------------------
    def _workspace_page(
        self, request: Request[Any, Any, Any], form: Form, status_code: int = 200
    ) -> Template:
        return page(request, "staff/settings/workspace.html", status_code=status_code, form=form)

    @get("/", sync_to_thread=True)
    def workspace(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        row = container_of(request).accounts_view.workspace(staff.workspace_id)
        values = {name: getattr(row, name) for name in PROFILE_FIELDS} if row else {}
        return self._workspace_page(request, Form(values))

    @post("/", sync_to_thread=True)
    def update_workspace(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        try:
            with staff.acting():
                receipt = container.accounts.update_workspace(
                    staff.workspace_id, **{name: text(data, name) for name in PROFILE_FIELDS}
                )
        except DomainError as error:
            return self._workspace_page(request, Form(data).fail(error), status_code=422)
        container.wait(receipt.position, "accounts")
        return done(request, "Profil de l’espace enregistré.", "/parametres")

    # --- the team -----------------------------------------------------------------
    def _users_page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        form: Form | None = None,
        status_code: int = 200,
    ) -> Template:
        users = container_of(request).accounts_view.users(staff.workspace_id)
        return page(
            request,
            "staff/settings/users.html",
            status_code=status_code,
            users=users,
            roles=ROLES,
            role_labels={role.value: label for role, label in ROLE_LABELS.items()},
            form=form or Form({"role": Role.COMMERCIAL.value}, prefix="new-"),
        )

    @get("/utilisateurs", sync_to_thread=True)
    def users(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        return self._users_page(request, staff)

    @post("/utilisateurs", sync_to_thread=True)
    def create_user(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        try:
            with staff.acting():
                receipt = container.accounts.register_user(
                    staff.workspace_id,
                    email=text(data, "email"),
                    nom=text(data, "nom"),
                    role=text(data, "role"),
                    password=text(data, "password"),
                )
        except DomainError as error:
            form = Form({**data, "password": ""}, prefix="new-").fail(error)
            return self._users_page(request, staff, form, status_code=422)
        container.wait(receipt.position, "accounts")
        return done(
            request,
            f"Compte créé pour {text(data, 'nom').strip()} : transmettez-lui son mot de passe.",
            "/parametres/utilisateurs",
        )

    def _user_or_404(self, request: Request[Any, Any, Any], staff: Staff, user_id: UUID) -> str:
        row = container_of(request).accounts_view.user(user_id)
        if row is None or row.workspace_id != staff.workspace_id:
            raise NotFoundError("Utilisateur introuvable.")
        return row.nom

    @post("/utilisateurs/{user_id:uuid}/role", sync_to_thread=True)
    def change_role(
        self, request: Request[Any, Any, Any], staff: Staff, user_id: UUID, data: FormData
    ) -> Response[Any]:
        container = container_of(request)
        nom = self._user_or_404(request, staff, user_id)
        role = text(data, "role")
        try:
            with staff.acting():
                receipt = container.accounts.change_role(
                    staff.workspace_id, user_id, role, acting_user_id=staff.id
                )
        except DomainError as error:
            return refused(request, error, "/parametres/utilisateurs")
        container.wait(receipt.position, "accounts")
        label = dict(ROLES).get(role, role)
        return done(request, f"{nom} est maintenant {label}.", "/parametres/utilisateurs")

    @post("/utilisateurs/{user_id:uuid}/desactiver", sync_to_thread=True)
    def disable(
        self, request: Request[Any, Any, Any], staff: Staff, user_id: UUID
    ) -> Response[Any]:
        container = container_of(request)
        nom = self._user_or_404(request, staff, user_id)
        try:
            with staff.acting():
                receipt = container.accounts.disable_user(
                    staff.workspace_id, user_id, acting_user_id=staff.id
                )
        except DomainError as error:
            return refused(request, error, "/parametres/utilisateurs")
        container.wait(receipt.position, "accounts")
        return done(request, f"Compte de {nom} désactivé.", "/parametres/utilisateurs")

    @post("/utilisateurs/{user_id:uuid}/activer", sync_to_thread=True)
    def enable(self, request: Request[Any, Any, Any], staff: Staff, user_id: UUID) -> Response[Any]:
        container = container_of(request)
        nom = self._user_or_404(request, staff, user_id)
        try:
            with staff.acting():
                receipt = container.accounts.enable_user(staff.workspace_id, user_id)
        except DomainError as error:
            return refused(request, error, "/parametres/utilisateurs")
        container.wait(receipt.position, "accounts")
        return done(request, f"Compte de {nom} réactivé.", "/parametres/utilisateurs")
