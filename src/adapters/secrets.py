"""Secrets sealed with AES-256-GCM (cryptography), the domain's SecretBox port.

Why AES-GCM rather than Fernet: the `context` (workspace, mode, field) is bound
as associated data, so a sealed key copied into another workspace's record does
not open. The format `v1.<base64url(nonce || ciphertext+tag)>` leaves room for
key rotation (a `v2` with another key) without rewriting history.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crm_core.errors import DomainError

_VERSION = "v1."
_NONCE_BYTES = 12


class SecretUnreadableError(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Un secret enregistré ne peut pas être déchiffré (la clé CRM_ENCRYPTION_KEY a-t-elle "
            "changé ?). Enregistrez à nouveau vos clés Stripe."
        )


def new_key_text() -> str:
    """A fresh 256-bit key, as CRM_ENCRYPTION_KEY expects it (base64url)."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


class AesGcmSecretBox:
    def __init__(self, key_text: str) -> None:
        try:
            key = base64.urlsafe_b64decode(key_text.encode())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            msg = "CRM_ENCRYPTION_KEY doit être 32 octets en base64url (crm: new_key_text())."
            raise ValueError(msg)
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, context: str) -> str:
        if not sealed.startswith(_VERSION):
            raise SecretUnreadableError
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_VERSION) :].encode())
            nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadableError from None
