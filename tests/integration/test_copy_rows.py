"""Rows written by `copy_rows.write_rows` arrive exactly as with psycopg's `write_row`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
from psycopg.types.json import Jsonb

from projections import copy_rows
from projections.copy_rows import write_rows

_TABLE = (
    "CREATE TABLE {0} (id uuid, n bigint, texte text, montant numeric, at timestamptz,"
    " actif boolean, meta jsonb)"
)


def _rows() -> list[tuple[Any, ...]]:
    awkward = ["tab\there", "ligne\nsuivante", "anti\\slash", "\\N", "", "Émilie « Ça »", None]
    return [
        (
            uuid4(),
            number,
            awkward[number % len(awkward)],
            Decimal("1500.50") if number % 2 else None,
            datetime(2026, 11, 21, 12, number % 60, tzinfo=UTC),
            number % 3 == 0,
            Jsonb({"k": awkward[number % len(awkward)], "n": number}),
        )
        for number in range(5_000)
    ]


def test_the_same_rows_as_write_row_in_chunks(fresh_database: str, monkeypatch: Any) -> None:
    # Small chunks: the rows go to the server in several pieces, as a large replay's do.
    monkeypatch.setattr(copy_rows, "_CHUNK", 4_096)
    rows = _rows()
    with psycopg.connect(fresh_database) as conn:
        for table in ("by_row", "formatted"):
            conn.execute(_TABLE.format(table))  # type: ignore[arg-type]
        with conn.cursor() as curs:
            with curs.copy("COPY by_row FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            with curs.copy("COPY formatted FROM STDIN") as copy:
                write_rows(copy, iter(rows))
        by_row = conn.execute("SELECT * FROM by_row ORDER BY n").fetchall()
        formatted = conn.execute("SELECT * FROM formatted ORDER BY n").fetchall()
    assert len(formatted) == len(rows)
    assert formatted == by_row
    assert formatted[1][2] == "ligne\nsuivante"
    assert formatted[3][2] == "\\N"  # a string, not a NULL
    assert formatted[6][2] is None
