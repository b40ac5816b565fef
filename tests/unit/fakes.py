"""Hand-written fakes of the domain's ports, for the unit tests."""

from __future__ import annotations

import hashlib

CURRENT = "fake-v2$"
OUTDATED = "fake-v1$"


class FakePasswordHasher:
    """A PasswordHasher that is fast and readable, and remembers what it was asked.

    A hash is a tagged SHA-256 of the password. Hashes tagged `fake-v1$` count as
    outdated, so a login can be seen upgrading them.
    """

    def __init__(self) -> None:
        self.verified: list[str] = []

    def hash(self, password: str) -> str:
        return CURRENT + hashlib.sha256(password.encode()).hexdigest()

    def outdated_hash(self, password: str) -> str:
        return OUTDATED + hashlib.sha256(password.encode()).hexdigest()

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        _, _, digest = password_hash.partition("$")
        return digest == hashlib.sha256(password.encode()).hexdigest()

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(CURRENT)
