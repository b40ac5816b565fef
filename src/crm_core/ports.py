"""What the domain needs from outside, as small Protocols. Adapters implement them."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from uuid import UUID


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True when the password matches; never raises for a mismatch."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class SecretBox(Protocol):
    """Seals secrets (API keys, passwords) so they are stored encrypted, never in clear.

    `context` binds a sealed value to its place (workspace, field): a value moved
    to another place does not open.
    """

    def seal(self, plaintext: str, *, context: str) -> str: ...

    def open(self, sealed: str, *, context: str) -> str: ...


@runtime_checkable
class PersonalDataVault(Protocol):
    """Where the keys of the personal data live (the configured storage provides it)."""

    def erase_subject(self, subject_id: UUID) -> int:
        """Destroy the subject's key and the keys it owns; return how many were destroyed."""
        ...


class SecretCipher(Protocol):
    """Encrypts secrets kept at rest (SMTP/IMAP passwords); the events hold ciphertext."""

    def encrypt(self, secret: str) -> str: ...

    def decrypt(self, token: str) -> str:
        """Raises ValueError when the token was not made with the current key."""
        ...
