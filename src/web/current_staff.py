"""The staff member of the payment routes, from the real staff session."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from crm_core.values import Role
from web.auth.identity import staff_from_connection
from web.auth.permissions import Permission, has


class StaffMember(msgspec.Struct, frozen=True):
    user_id: UUID
    workspace_id: UUID
    role: Role


def current_staff(request: Request[Any, Any, Any]) -> StaffMember:
    staff = staff_from_connection(request)
    if staff is None:
        raise NotAuthorizedException("Connectez-vous pour continuer.")
    return StaffMember(staff.id, staff.workspace_id, staff.role)


def require_admin(member: StaffMember) -> None:
    if member.role is not Role.ADMIN:
        raise PermissionDeniedException("Seuls les administrateurs accèdent aux réglages Stripe.")


def require_pipeline_writer(member: StaffMember) -> None:
    """Payment links are part of closing a deal: the roles that may edit the pipeline."""
    if not has(member.role, Permission.WRITE_PIPELINE):
        raise PermissionDeniedException("Votre rôle ne permet pas de créer un lien de paiement.")
