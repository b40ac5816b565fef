"""Keyset (cursor) pagination shared by the list queries."""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    next_cursor: str | None
    total: int


class InvalidCursorError(ValueError):
    def __init__(self) -> None:
        super().__init__("Curseur de pagination invalide.")


def encode_cursor(*values: object) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([str(v) for v in values])).decode()


def decode_cursor(cursor: str | None, size: int) -> list[str] | None:
    if not cursor:
        return None
    try:
        values = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()), type=list[str])
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidCursorError from None
    if len(values) != size:
        raise InvalidCursorError
    return values


def clamp_limit(limit: int, maximum: int = 200) -> int:
    return max(1, min(limit, maximum))


def like_pattern(text: str) -> str:
    """A case-insensitive 'contains' LIKE pattern with the wildcards escaped."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
