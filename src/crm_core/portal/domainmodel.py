"""The client portal: a secret link per client, and each visit recorded.

The portal access is its own aggregate (one per client, id derived from the
client id) rather than events on the Client: regenerating a link must never
conflict with a colleague editing the client record at the same moment.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import event

from crm_core.aggregate import CrmAggregate
from crm_core.ids import CRM_NAMESPACE
from crm_core.sales.domainmodel import Client

TOKEN_BYTES = 32  # 256 bits from the OS's CSPRNG


def hash_token(token: str) -> str:
    """SHA-256 of the token: the token has 256 bits of entropy, so a fast hash is safe
    and lets the portal look a link up by its hash in one indexed query."""
    return hashlib.sha256(token.encode()).hexdigest()


def portal_access_id(client_id: UUID) -> UUID:
    return uuid5(CRM_NAMESPACE, f"portal-access:{client_id}")


class PortalAccess(CrmAggregate):
    """The one valid portal link of a client; only the token's hash is kept."""

    class Issued(CrmAggregate.Created):
        client_id: UUID
        token_hash: str

    class Reissued(CrmAggregate.Event):
        token_hash: str

    class Revoked(CrmAggregate.Event):
        pass

    @staticmethod
    def create_id(client_id: UUID, **_: Any) -> UUID:
        return portal_access_id(client_id)

    @classmethod
    def issue(cls, client: Client) -> tuple[PortalAccess, str]:
        """A first link for the client; returns the token, shown once and never stored."""
        client.ensure_active()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        return cls(
            workspace_id=client.workspace_id, client_id=client.id, token_hash=hash_token(token)
        ), token

    @event(Issued)
    def __init__(self, workspace_id: UUID, client_id: UUID, token_hash: str) -> None:
        self.workspace_id = workspace_id
        self.client_id = client_id
        self.token_hash: str | None = token_hash

    def reissue(self, client: Client) -> str:
        """A new link; the previous one stops working at once."""
        client.ensure_active()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._reissue(token_hash=hash_token(token))
        return token

    @event(Reissued)
    def _reissue(self, token_hash: str) -> None:
        self.token_hash = token_hash

    def revoke(self) -> None:
        if self.token_hash is not None:
            self._revoke()

    @event(Revoked)
    def _revoke(self) -> None:
        self.token_hash = None


class PortalVisit(CrmAggregate):
    """One opening of the portal by a client (for the adoption metric). No token in it."""

    class Recorded(CrmAggregate.Created):
        client_id: UUID

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return uuid4()

    @event(Recorded)
    def __init__(self, workspace_id: UUID, client_id: UUID) -> None:
        self.workspace_id = workspace_id
        self.client_id = client_id
