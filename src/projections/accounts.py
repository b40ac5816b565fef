"""Workspaces and staff users, for sessions, user management and owner pickers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, LiteralString
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.accounts.domainmodel import StaffUser, Workspace
from projections.readmodel import ReadModel, topics_of


class WorkspaceRow(msgspec.Struct, frozen=True):
    id: UUID
    nom: str
    raison_sociale: str
    siret: str
    numero_tva: str
    devise: str
    logo_url: str
    domaine_mail: str


class UserRow(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    email: str
    nom: str
    role: str
    disabled: bool
    created_at: datetime


#: A user by id (one parameter), in `UserRow`'s field order: also read on the web's
#: event loop for every staff request (web/auth/identity.py).
USER_BY_ID: LiteralString = (
    "SELECT id, workspace_id, email, nom, role, disabled, created_at FROM rm_users WHERE id = %s"
)

_WORKSPACE_FIELDS = (
    "nom",
    "raison_sociale",
    "siret",
    "numero_tva",
    "devise",
    "logo_url",
    "domaine_mail",
)


class AccountsView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_workspaces", "rm_users")

    def save_workspace(self, event: Any, tracking: Tracking) -> None:
        values = [getattr(event, field) for field in _WORKSPACE_FIELDS]
        self.write(
            tracking,
            (
                "INSERT INTO rm_workspaces (id, nom, raison_sociale, siret, numero_tva, devise,"
                " logo_url, domaine_mail, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET nom=EXCLUDED.nom,"
                " raison_sociale=EXCLUDED.raison_sociale, siret=EXCLUDED.siret,"
                " numero_tva=EXCLUDED.numero_tva, devise=EXCLUDED.devise,"
                " logo_url=EXCLUDED.logo_url, domaine_mail=EXCLUDED.domaine_mail,"
                " updated_at=EXCLUDED.updated_at",
                (event.originator_id, *values, event.timestamp, event.timestamp),
            ),
        )

    def register_user(self, event: Any, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_users (id, workspace_id, email, nom, role, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.workspace_id,
                    event.email,
                    event.nom,
                    event.role.value,
                    event.timestamp,
                    event.timestamp,
                ),
            ),
        )

    def set_user_field(
        self, user_id: UUID, column: str, value: Any, at: datetime, tracking: Tracking
    ) -> None:
        if column not in ("nom", "role", "disabled"):
            msg = f"Colonne inattendue : {column}"
            raise ValueError(msg)
        self.write(
            tracking,
            (
                f"UPDATE rm_users SET {column}=%s, updated_at=%s WHERE id=%s",  # type: ignore[arg-type]
                (value, at, user_id),
            ),
        )

    def workspace(self, workspace_id: UUID) -> WorkspaceRow | None:
        row = self.fetch_one(
            "SELECT id, nom, raison_sociale, siret, numero_tva, devise, logo_url, domaine_mail"
            " FROM rm_workspaces WHERE id = %s",
            (workspace_id,),
        )
        return msgspec.convert(row, WorkspaceRow) if row else None

    def user(self, user_id: UUID) -> UserRow | None:
        row = self.fetch_one(USER_BY_ID, (user_id,))
        return msgspec.convert(row, UserRow) if row else None

    def first_workspace_id(self) -> UUID | None:
        row = self.fetch_one("SELECT id FROM rm_workspaces ORDER BY created_at, id LIMIT 1")
        return row["id"] if row else None

    def user_by_email(self, email: str) -> UserRow | None:
        row = self.fetch_one(
            "SELECT id, workspace_id, email, nom, role, disabled, created_at FROM rm_users"
            " WHERE email = %s",
            (email.strip().lower(),),
        )
        return msgspec.convert(row, UserRow) if row else None

    def users(self, workspace_id: UUID, *, include_disabled: bool = True) -> list[UserRow]:
        rows = self.fetch_all(
            "SELECT id, workspace_id, email, nom, role, disabled, created_at FROM rm_users"
            " WHERE workspace_id = %s AND (%s OR NOT disabled) ORDER BY lower(nom), id",
            (workspace_id, include_disabled),
        )
        return [msgspec.convert(row, UserRow) for row in rows]


class AccountsProjection(Projection[AccountsView]):
    name = "accounts"
    topics = topics_of(
        Workspace.Created,
        Workspace.ProfileUpdated,
        StaffUser.Registered,
        StaffUser.RoleChanged,
        StaffUser.Renamed,
        StaffUser.Disabled,
        StaffUser.Enabled,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Workspace.Created, tracking: Tracking) -> None:
        self.view.save_workspace(event, tracking)

    @process_event.register
    def _(self, event: Workspace.ProfileUpdated, tracking: Tracking) -> None:
        self.view.save_workspace(event, tracking)

    @process_event.register
    def _(self, event: StaffUser.Registered, tracking: Tracking) -> None:
        self.view.register_user(event, tracking)

    @process_event.register
    def _(self, event: StaffUser.RoleChanged, tracking: Tracking) -> None:
        self.view.set_user_field(
            event.originator_id, "role", event.role.value, event.timestamp, tracking
        )

    @process_event.register
    def _(self, event: StaffUser.Renamed, tracking: Tracking) -> None:
        self.view.set_user_field(event.originator_id, "nom", event.nom, event.timestamp, tracking)

    @process_event.register
    def _(self, event: StaffUser.Disabled, tracking: Tracking) -> None:
        self.view.set_user_field(event.originator_id, "disabled", True, event.timestamp, tracking)

    @process_event.register
    def _(self, event: StaffUser.Enabled, tracking: Tracking) -> None:
        self.view.set_user_field(event.originator_id, "disabled", False, event.timestamp, tracking)
