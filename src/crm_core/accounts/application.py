"""Commands of the account side: workspaces and staff users."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from crm_core.accounts.domainmodel import StaffUser, Workspace, check_password
from crm_core.application import CrmApplication, Receipt, command
from crm_core.errors import (
    AccountDisabledError,
    AuthenticationError,
    DuplicateError,
)
from crm_core.ids import user_id_for
from crm_core.ports import PasswordHasher
from crm_core.values import Role

# Verifying against this hash when the email is unknown keeps the timing of a
# failed login the same whether or not the account exists.
_DUMMY_PASSWORD = "not-a-real-password-for-timing"  # noqa: S105


class AuthenticatedUser(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    email: str
    nom: str
    role: Role


class AccountsApplication(CrmApplication):
    def __init__(self, env: Any = None, *, password_hasher: PasswordHasher) -> None:
        super().__init__(env)
        self.hasher = password_hasher
        self._dummy_hash = password_hasher.hash(_DUMMY_PASSWORD)

    @command
    def create_workspace(self, **profile: Any) -> Receipt:
        workspace = Workspace.create(**profile)
        return Receipt(workspace.id, self._commit(workspace))

    @command
    def update_workspace(self, workspace_id: UUID, **profile: Any) -> Receipt:
        workspace = self._load(Workspace, workspace_id, workspace_id, "Espace de travail")
        workspace.update_profile(**profile)
        return Receipt(workspace.id, self._commit(workspace))

    def workspace_exists(self, workspace_id: UUID) -> bool:
        return self._exists(workspace_id)

    @command
    def register_user(
        self,
        workspace_id: UUID,
        *,
        email: str,
        nom: str,
        role: str,
        password: str,
    ) -> Receipt:
        self._load(Workspace, workspace_id, workspace_id, "Espace de travail")
        check_password(password)
        duplicate = DuplicateError("Un compte existe déjà avec cette adresse email.")
        if email.strip() and self._exists(user_id_for(email)):
            raise duplicate
        user = StaffUser.register(
            workspace_id=workspace_id,
            email=email,
            nom=nom,
            role=role,
            password_hash=self.hasher.hash(password),
        )
        return Receipt(user.id, self._commit(user, conflict=duplicate))

    @command
    def authenticate(self, email: str, password: str) -> AuthenticatedUser:
        user_id = user_id_for(email)
        if not self._exists(user_id):
            self.hasher.verify(self._dummy_hash, password)
            raise AuthenticationError
        user = self._load(StaffUser, user_id, None, "Utilisateur")
        if not self.hasher.verify(user.password_hash, password):
            raise AuthenticationError
        if user.disabled:
            raise AccountDisabledError
        if self.hasher.needs_rehash(user.password_hash):
            user.change_password_hash(self.hasher.hash(password))
            self._commit(user)
        return AuthenticatedUser(user.id, user.workspace_id, user.email, user.nom, user.role)

    @command
    def change_password(self, workspace_id: UUID, user_id: UUID, password: str) -> Receipt:
        user = self._load(StaffUser, user_id, workspace_id, "Utilisateur")
        check_password(password)
        user.change_password_hash(self.hasher.hash(password))
        return Receipt(user.id, self._commit(user))

    @command
    def change_role(
        self,
        workspace_id: UUID,
        user_id: UUID,
        role: str,
        *,
        acting_user_id: UUID,
    ) -> Receipt:
        user = self._load(StaffUser, user_id, workspace_id, "Utilisateur")
        user.change_role(role, by_self=user_id == acting_user_id)
        return Receipt(user.id, self._commit(user))

    @command
    def rename_user(self, workspace_id: UUID, user_id: UUID, nom: str) -> Receipt:
        user = self._load(StaffUser, user_id, workspace_id, "Utilisateur")
        user.rename(nom)
        return Receipt(user.id, self._commit(user))

    @command
    def disable_user(self, workspace_id: UUID, user_id: UUID, *, acting_user_id: UUID) -> Receipt:
        user = self._load(StaffUser, user_id, workspace_id, "Utilisateur")
        user.disable(by_self=user_id == acting_user_id)
        return Receipt(user.id, self._commit(user))

    @command
    def enable_user(self, workspace_id: UUID, user_id: UUID) -> Receipt:
        user = self._load(StaffUser, user_id, workspace_id, "Utilisateur")
        user.enable()
        return Receipt(user.id, self._commit(user))
