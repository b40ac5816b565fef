"""THE ONE PLACE to wire to the staff session when the staff web app lands.

`current_staff` is the dependency the staff-only JSON routes take (payment links,
Stripe settings). Until the staff app (login, sessions, CSRF) is merged, it asks
`app.state.staff_resolver`, which `create_app(staff_resolver=...)` sets; with no
resolver every staff route answers 401. Tests pass a resolver; production has
none, so nothing is reachable without a session.

To wire it: replace the body of `current_staff` with the session lookup (user id,
workspace id, role from the authenticated session) and drop `staff_resolver`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from crm_core.values import Role


class StaffMember(msgspec.Struct, frozen=True):
    user_id: UUID
    workspace_id: UUID
    role: Role


StaffResolver = Callable[[Request[Any, Any, Any]], StaffMember | None]


def current_staff(request: Request[Any, Any, Any]) -> StaffMember:
    resolver: StaffResolver | None = getattr(request.app.state, "staff_resolver", None)
    member = resolver(request) if resolver is not None else None
    if member is None:
        raise NotAuthorizedException
    return member


def require_admin(member: StaffMember) -> None:
    if member.role is not Role.ADMIN:
        raise PermissionDeniedException("Seul un administrateur peut modifier les réglages Stripe.")
