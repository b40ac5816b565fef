"""Who may do what: the RBAC matrix of the Axivity PRD for the screens that exist.

| area          | admin | commercial | developpeur_nocode      | developpeur_automatisme |
|---------------|-------|------------|-------------------------|-------------------------|
| dashboard     | full  | personal   | team                    | team                    |
| pipeline      | full  | full       | view                    | view                    |
| clients       | full  | full       | assigned (own clients)  | view                    |
| tickets       | full  | full       | full                    | full                    |
| portal links  | full  | full       | —                       | —                       |
| settings/users| full  | —          | —                       | —                       |

Tickets are not in the matrix: support is the developers' daily work and the
commercial answers their clients, so every staff role handles them. The portal
issue gives portal links to admin and commercial (the matrix says admin only).
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from crm_core.values import Role


class Permission(StrEnum):
    VIEW = "view"
    WRITE_PIPELINE = "write_pipeline"
    WRITE_CLIENTS = "write_clients"
    WRITE_ASSIGNED_CLIENTS = "write_assigned_clients"
    WRITE_TICKETS = "write_tickets"
    MANAGE_PORTAL = "manage_portal"
    ADMIN = "admin"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.COMMERCIAL: frozenset(
        {
            Permission.VIEW,
            Permission.WRITE_PIPELINE,
            Permission.WRITE_CLIENTS,
            Permission.WRITE_ASSIGNED_CLIENTS,
            Permission.WRITE_TICKETS,
            Permission.MANAGE_PORTAL,
        }
    ),
    Role.DEVELOPPEUR_NOCODE: frozenset(
        {Permission.VIEW, Permission.WRITE_ASSIGNED_CLIENTS, Permission.WRITE_TICKETS}
    ),
    Role.DEVELOPPEUR_AUTOMATISME: frozenset({Permission.VIEW, Permission.WRITE_TICKETS}),
}

ROLE_LABELS = {
    Role.ADMIN: "Administrateur",
    Role.COMMERCIAL: "Commercial",
    Role.DEVELOPPEUR_NOCODE: "Développeur no-code",
    Role.DEVELOPPEUR_AUTOMATISME: "Développeur automatisme",
}


def has(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


def can_write_client(role: Role, user_id: UUID, owner_id: UUID | None) -> bool:
    """Full client rights, or rights on the clients assigned to the user."""
    if has(role, Permission.WRITE_CLIENTS):
        return True
    return has(role, Permission.WRITE_ASSIGNED_CLIENTS) and owner_id == user_id
