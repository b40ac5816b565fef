"""Each client's inbox address: `inbox+{clé}@{domaine mail de l’espace}`.

The key is derived, not stored: HMAC-SHA256 of (workspace id, client id) under a
server secret (`CRM_INBOX_SECRET`), base32, 12 characters (60 bits). Why derived:
- every client, old or new, has its address at once, without a new event on the
  Client aggregate or a migration of history;
- the staff app computes `adresseInbox` with a pure function, no query;
- it cannot be guessed from the client id (a sender must have received it), and
  it includes the workspace id, so a key from one workspace never resolves in
  another, even when two workspaces share a mail domain.
The price: changing the secret changes every address, and one address cannot be
revoked alone (a per-client generation number would add that later).
Lower-case base32 survives the MTAs that lower-case local parts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID

import msgspec

INBOX_LOCAL_PART = "inbox"
KEY_LENGTH = 12


def client_inbox_key(secret: bytes, workspace_id: UUID, client_id: UUID) -> str:
    digest = hmac.new(secret, f"{workspace_id}:{client_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:KEY_LENGTH]


def client_inbox_address(
    secret: bytes, workspace_id: UUID, client_id: UUID, domaine_mail: str
) -> str:
    """The client's `adresseInbox`; empty while the workspace has no mail domain."""
    if not domaine_mail:
        return ""
    key = client_inbox_key(secret, workspace_id, client_id)
    return f"{INBOX_LOCAL_PART}+{key}@{domaine_mail.lower()}"


class PlusAddress(msgspec.Struct, frozen=True):
    key: str
    domain: str


def parse_plus_address(address: str) -> PlusAddress | None:
    """`inbox+key@domain` -> (key, domain); None for any other shape."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at or not domain:
        return None
    base, plus, key = local.partition("+")
    if base != INBOX_LOCAL_PART or not plus or len(key) != KEY_LENGTH:
        return None
    return PlusAddress(key=key, domain=domain)


def domain_of(address: str) -> str:
    return address.strip().lower().rpartition("@")[2]
