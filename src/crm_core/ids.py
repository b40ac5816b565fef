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


def normalise_message_id(message_id: str) -> str:
    """'<Abc@Host>' as stored: trimmed, angle-bracketed, case kept (RFC 5322 ids are
    case-sensitive in their left part)."""
    inner = message_id.strip().strip("<>").strip()
    return f"<{inner}>" if inner else ""


def email_id_for(workspace_id: UUID, message_id: str) -> UUID:
    """One email record per Message-ID within a workspace: a redelivery is a no-op."""
    return uuid5(CRM_NAMESPACE, f"email:{workspace_id}:{normalise_message_id(message_id)}")


def raw_email_id_for(workspace_id: UUID, sha256: str) -> UUID:
    """A message without a usable Message-ID is known by the hash of its raw bytes."""
    return uuid5(CRM_NAMESPACE, f"email-raw:{workspace_id}:{sha256}")


def ticket_id_for_email(email_id: UUID) -> UUID:
    """The ticket an inbound email opens: a retried ingestion opens it once."""
    return uuid5(CRM_NAMESPACE, f"email-ticket:{email_id}")


def inbox_rules_id_for(workspace_id: UUID) -> UUID:
    return uuid5(CRM_NAMESPACE, f"inbox-rules:{workspace_id}")


def mail_settings_id_for(workspace_id: UUID) -> UUID:
    return uuid5(CRM_NAMESPACE, f"mail-settings:{workspace_id}")
