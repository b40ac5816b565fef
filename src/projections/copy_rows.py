"""Rows sent by COPY, formatted by psycopg's C formatter in one call per row.

psycopg's public `Copy.write_row` wraps that formatter in two Python calls per row
and checks its buffer each time: over the millions of rows of a replay, that was a
third of the writers' CPU (measured: 9.7 µs a row of ten columns, 6.6 µs here).
The formatter is the one `write_row` calls, with the same transformer, so the
bytes are the same. psycopg is pinned (uv.lock); should a release move the
formatter, the public path is taken again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import Copy

try:
    from psycopg._copy_base import format_row_text
except ImportError:  # pragma: no cover  (a psycopg release that moved it)
    format_row_text = None

_CHUNK = 1 << 20  # bytes handed to libpq at once


def write_rows(copy: Copy, rows: Iterable[Sequence[Any]]) -> None:
    """Write `rows` to a text-format `COPY ... FROM STDIN`."""
    formatter = getattr(copy, "formatter", None)
    transformer = getattr(formatter, "transformer", None)
    if format_row_text is None or transformer is None:
        for row in rows:
            copy.write_row(row)
        return
    buffer = bytearray()
    for row in rows:
        format_row_text(row, transformer, buffer)
        if len(buffer) >= _CHUNK:
            copy.write(buffer)
            buffer = bytearray()
    if buffer:
        copy.write(buffer)
