"""Deterministic ids: uniqueness and idempotency come from the id itself.

Saving a second aggregate with the same id conflicts in the event store
instead of creating a duplicate, whatever process or thread does it.
"""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed namespace of this CRM's ids; changing it would orphan every derived id.
CRM_NAMESPACE = UUID("6f1c1d36-2c8e-4f7a-9d3b-6a0e8b7c5e21")


def user_id_for(email: str) -> UUID:
    """One staff account per email address, across workspaces."""
    return uuid5(CRM_NAMESPACE, f"user:{email.strip().lower()}")


def client_id_for(workspace_id: UUID, email: str) -> UUID:
    """One client per email address within a workspace."""
    return uuid5(CRM_NAMESPACE, f"client:{workspace_id}:{email.strip().lower()}")


#: The tenant of the actions that concern the whole installation (rebuilding a read
#: model, verifying the event log): shown in every administrator's journal.
SYSTEM_WORKSPACE = UUID(int=0)
