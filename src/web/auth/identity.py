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
from psycopg import OperationalError

from crm_core.context import ActionContext, acting_as, user_actor
from crm_core.values import Role
from projections.accounts import USER_BY_ID, UserRow
from web.auth.permissions import ROLE_LABELS, Permission, can_write_client, has
from web.auth.store import LazyPool
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


_NOBODY = object()  # remembered in the scope: this request has no valid staff session


def _session_user_id(connection: ASGIConnection[Any, Any, Any, Any]) -> UUID | None:
    session = connection.scope.get("session") or {}
    raw_id = session.get(SESSION_USER_KEY) if isinstance(session, dict) else None
    if not raw_id:
        return None
    try:
        return UUID(str(raw_id))
    except ValueError:
        return None


def _remember(connection: ASGIConnection[Any, Any, Any, Any], row: UserRow | None) -> Staff | None:
    staff = (
        None
        if row is None or row.disabled
        else Staff(row.id, row.workspace_id, row.email, row.nom, Role(row.role))
    )
    connection.scope.setdefault("state", {})["crm_staff"] = staff or _NOBODY
    return staff


def staff_from_connection(connection: ASGIConnection[Any, Any, Any, Any]) -> Staff | None:
    """The staff member of the session, or None (no session, unknown or disabled user).

    Synchronous: for code already off the event loop (pages run in threads). On
    the loop, guards use `resolve_staff`, which reads the account on the loop itself.
    """
    cached = connection.scope.get("state", {}).get("crm_staff")
    if cached is not None:
        return cached if isinstance(cached, Staff) else None
    user_id = _session_user_id(connection)
    if user_id is None:
        return None
    container: Container = connection.app.state.container
    return _remember(connection, container.accounts_view.user(user_id))


class StaffAccounts:
    """The account behind a staff session, read on the event loop.

    Every staff request reads it (a disabled account stops at once): one prepared
    query on an async pool costs less than a trip through a worker thread to the
    read model's synchronous pool.
    """

    def __init__(self, pool: LazyPool) -> None:
        self.pool = pool

    async def user(self, user_id: UUID) -> UserRow | None:
        try:
            return await self._user(user_id)
        except OperationalError:
            # A pooled connection broken by a server restart is dropped by the pool
            # when it fails; one more try gets a fresh one.
            return await self._user(user_id)

    async def _user(self, user_id: UUID) -> UserRow | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_USER_BY_ID, (user_id,), prepare=True)
            row = await cursor.fetchone()
        return UserRow(*row) if row else None


_USER_BY_ID = USER_BY_ID.encode()


async def resolve_staff(connection: ASGIConnection[Any, Any, Any, Any]) -> Staff | None:
    """`staff_from_connection` without blocking the event loop on the database."""
    cached = connection.scope.get("state", {}).get("crm_staff")
    if cached is not None:
        return cached if isinstance(cached, Staff) else None
    user_id = _session_user_id(connection)
    if user_id is None:
        return None
    accounts: StaffAccounts = connection.app.state.staff_accounts
    return _remember(connection, await accounts.user(user_id))


async def staff_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every staff route: a session is required (401, or a redirect for pages)."""
    if await resolve_staff(connection) is None:
        raise NotAuthorizedException("Connectez-vous pour continuer.")


def requires(permission: Permission) -> Any:
    """A guard refusing with 403 the roles without `permission` (server-side, every route)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        staff = await resolve_staff(connection)
        if staff is None:
            raise NotAuthorizedException("Connectez-vous pour continuer.")
        if not staff.can(permission):
            raise PermissionDeniedException("Votre rôle ne permet pas cette action.")

    return guard


async def provide_staff(request: Request[Any, Any, Any]) -> Staff:
    """Dependency `staff`: the current staff member (guards ran before)."""
    staff = await resolve_staff(request)
    if staff is None:
        raise NotAuthorizedException("Connectez-vous pour continuer.")
    return staff
