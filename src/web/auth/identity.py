"""The staff member behind a request, read from the session and the accounts read model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from crm_core.context import ActionContext, acting_as, user_actor
from crm_core.values import Role
from web.auth.permissions import ROLE_LABELS, Permission, can_write_client, has
from web.container import Container

SESSION_USER_KEY = "uid"


class Staff(msgspec.Struct, frozen=True):
    """The logged-in staff member (from the read model, so a disabled account stops)."""

    id: UUID
    workspace_id: UUID
    email: str
    nom: str
    role: Role

    def can(self, permission: Permission | str) -> bool:
        return has(self.role, Permission(permission))

    def can_write_client(self, owner_id: UUID | None) -> bool:
        return can_write_client(self.role, self.id, owner_id)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    @contextmanager
    def acting(self, correlation_id: UUID | None = None) -> Iterator[ActionContext]:
        """Open an action: the events recorded inside carry this user and one id."""
        with acting_as(user_actor(self.id), correlation_id or uuid4()) as action:
            yield action


def staff_from_connection(connection: ASGIConnection[Any, Any, Any, Any]) -> Staff | None:
    """The staff member of the session, or None (no session, unknown or disabled user)."""
    cached = connection.scope.get("state", {}).get("crm_staff")
    if isinstance(cached, Staff):
        return cached
    session = connection.scope.get("session") or {}
    raw_id = session.get(SESSION_USER_KEY) if isinstance(session, dict) else None
    if not raw_id:
        return None
    try:
        user_id = UUID(str(raw_id))
    except ValueError:
        return None
    container: Container = connection.app.state.container
    row = container.accounts_view.user(user_id)
    if row is None or row.disabled:
        return None
    staff = Staff(row.id, row.workspace_id, row.email, row.nom, Role(row.role))
    connection.scope.setdefault("state", {})["crm_staff"] = staff
    return staff


def staff_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every staff route: a session is required (401, or a redirect for pages)."""
    if staff_from_connection(connection) is None:
        raise NotAuthorizedException("Connectez-vous pour continuer.")


def requires(permission: Permission) -> Any:
    """A guard refusing with 403 the roles without `permission` (server-side, every route)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        staff = staff_from_connection(connection)
        if staff is None:
            raise NotAuthorizedException("Connectez-vous pour continuer.")
        if not staff.can(permission):
            raise PermissionDeniedException("Votre rôle ne permet pas cette action.")

    return guard


async def provide_staff(request: Request[Any, Any, Any]) -> Staff:
    """Dependency `staff`: the current staff member (guards ran before)."""
    staff = staff_from_connection(request)
    if staff is None:
        raise NotAuthorizedException("Connectez-vous pour continuer.")
    return staff
