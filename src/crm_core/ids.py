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


def payment_request_id_for(workspace_id: UUID, opportunity_id: UUID, kind: str) -> UUID:
    """One payment request per opportunity and kind: a double click finds the same one."""
    return uuid5(CRM_NAMESPACE, f"payment-request:{workspace_id}:{opportunity_id}:{kind}")


def stripe_event_record_id(stripe_event_id: str) -> UUID:
    """One record per Stripe event id: a redelivered webhook conflicts instead of counting twice."""
    return uuid5(CRM_NAMESPACE, f"stripe-event:{stripe_event_id}")


def stripe_settings_id_for(workspace_id: UUID) -> UUID:
    """One Stripe settings record per workspace."""
    return uuid5(CRM_NAMESPACE, f"stripe-settings:{workspace_id}")


#: The tenant of the actions that concern the whole installation (rebuilding a read
#: model, verifying the event log): shown in every administrator's journal.
SYSTEM_WORKSPACE = UUID(int=0)
