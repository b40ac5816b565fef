"""From a portal token to a client, and the portal's own session cookie.

The link's token is exchanged once for a `__Host-` cookie holding a signed
(client id, token-hash prefix) pair, so the token leaves the address bar, the
history and any Referer. Each request checks the pair against the current link:
regenerating the link ends every session opened with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request

from crm_core.portal.domainmodel import hash_token
from projections.portal import PortalLink
from web.container import Container

COOKIE = "__Host-crm_portal"
MAX_FAILED_LOOKUPS = 20  # per address and per minute: enough for typos, not for guessing
COOKIE_MAX_AGE = 30 * 24 * 3600
MAX_TOKEN_LENGTH = 128


class PortalClient(msgspec.Struct, frozen=True):
    client_id: UUID
    workspace_id: UUID


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def lookup(container: Container, token: str) -> PortalLink | None:
    """The valid link for this token, by its hash (the token itself is never stored)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return container.portal_view.by_token_hash(hash_token(token))


def session_cookie_value(container: Container, link: PortalLink, token: str) -> str:
    return signed_session(
        container.settings.secret_key, link.client_id, link.workspace_id, hash_token(token)
    )


def signed_session(secret_key: str, client_id: UUID, workspace_id: UUID, token_hash: str) -> str:
    """The cookie's value: (client, workspace, token-hash prefix), signed with the app's key."""
    payload = f"{client_id}:{workspace_id}:{token_hash[:16]}".encode()
    return base64.urlsafe_b64encode(payload).decode() + "." + _sign(secret_key, payload)


class PortalSession(msgspec.Struct, frozen=True):
    """What a validly signed portal cookie says; the link may still have been revoked:
    the page's query (`PAGE_BY_SESSION`) checks the hash prefix against the current link."""

    client_id: UUID
    workspace_id: UUID
    hash_prefix: str

    @property
    def client(self) -> PortalClient:
        return PortalClient(self.client_id, self.workspace_id)


def session_from_cookie(secret_key: str, raw: str) -> PortalSession | None:
    """The session of a cookie signed with `secret_key`, or None. No database access."""
    encoded, _, signature = raw.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded.encode())
    except ValueError:
        return None
    if not signature or not hmac.compare_digest(signature, _sign(secret_key, payload)):
        return None
    try:
        client_text, workspace_text, hash_prefix = payload.decode().split(":")
        client_id, workspace_id = UUID(client_text), UUID(workspace_text)
    except ValueError:
        return None
    return PortalSession(client_id, workspace_id, hash_prefix)


def request_session(container: Container, request: Request[Any, Any, Any]) -> PortalSession | None:
    return session_from_cookie(container.settings.secret_key, request.cookies.get(COOKIE, ""))
