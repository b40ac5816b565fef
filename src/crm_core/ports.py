"""What the domain needs from outside, as small Protocols. Adapters implement them."""

from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True when the password matches; never raises for a mismatch."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class SecretCipher(Protocol):
    """Encrypts secrets kept at rest (SMTP/IMAP passwords); the events hold ciphertext."""

    def encrypt(self, secret: str) -> str: ...

    def decrypt(self, token: str) -> str:
        """Raises ValueError when the token was not made with the current key."""
        ...
