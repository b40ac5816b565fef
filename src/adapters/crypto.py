"""Secrets at rest (SMTP and IMAP passwords) encrypted with Fernet (AES-128-CBC + HMAC).

The key is `CRM_ENCRYPTION_KEY` (a urlsafe base64 32-byte Fernet key). Several
keys may be given, separated by commas, newest first: tokens made with an older
key still decrypt while new ones use the first (a key rotation without downtime).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class FernetCipher:
    """Implements `crm_core.ports.SecretCipher`."""

    def __init__(self, keys: str) -> None:
        parts = [key.strip() for key in keys.split(",") if key.strip()]
        if not parts:
            msg = "CRM_ENCRYPTION_KEY est vide."
            raise ValueError(msg)
        self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in parts])

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as error:
            msg = "Secret chiffré avec une autre clé ou altéré."
            raise ValueError(msg) from error
