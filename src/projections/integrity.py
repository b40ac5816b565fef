"""Tamper evidence: recompute the hash chain of the stored events (migration 0400).

The database chains each event to the previous one as it is inserted. Here the
chain is recomputed in Python, independently of the SQL functions (a superuser
could replace them), and every position where the stored history no longer
matches its chain is named: an edited, moved or deleted event, a deleted chain
link, a truncated tail.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from uuid import UUID

import msgspec
import psycopg

_BATCH = 5_000


class ChainProblem(msgspec.Struct, frozen=True):
    position: int
    message: str


class ChainReport(msgspec.Struct, frozen=True):
    checked: int
    head_position: int
    head_hash: str
    problems: list[ChainProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


def event_hash(
    previous: bytes | None,
    notification_id: int,
    originator_id: UUID,
    originator_version: int,
    topic: str,
    state: bytes,
) -> bytes:
    """The SQL function crm_event_hash, byte for byte."""
    topic_bytes = topic.encode()
    return hashlib.sha256(
        (previous or b"")
        + struct.pack(">q", notification_id)
        + originator_id.bytes
        + struct.pack(">q", originator_version)
        + struct.pack(">i", len(topic_bytes))
        + topic_bytes
        + state
    ).digest()


def verify_chain(
    conninfo: str,
    *,
    anchors: dict[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainReport:
    """Walk the whole log and its chain; `anchors` are (position -> hex hash) kept
    outside the database (a superuser who rewrote the whole chain is caught there).
    """
    problems: list[ChainProblem] = []
    previous: bytes | None = None
    last_chained = 0
    checked = 0
    seen_anchors: dict[int, bytes] = {}
    wanted = {position: bytes.fromhex(value) for position, value in (anchors or {}).items()}
    with psycopg.connect(conninfo) as conn:
        with conn.cursor(name="crm_verify_chain") as curs:
            curs.itersize = _BATCH
            curs.execute(
                "SELECT coalesce(e.notification_id, c.notification_id) AS position,"
                " e.notification_id IS NOT NULL AS stored, e.originator_id,"
                " e.originator_version, e.topic, e.state, c.hash"
                " FROM crm_events e FULL OUTER JOIN crm_event_chain c"
                " ON c.notification_id = e.notification_id ORDER BY 1"
            )
            for position, stored, originator_id, version, topic, state, link in curs:
                checked += 1
                if progress is not None and checked % 50_000 == 0:
                    progress(checked)
                if not stored:
                    problems.append(
                        ChainProblem(position, "événement supprimé (son maillon subsiste)")
                    )
                    previous, last_chained = bytes(link), position
                    continue
                expected = event_hash(previous, position, originator_id, version, topic, state)
                if link is None:
                    problems.append(
                        ChainProblem(position, "maillon de la chaîne supprimé ou jamais écrit")
                    )
                    previous = expected
                    continue
                chained = bytes(link)
                if expected != chained:
                    problems.append(
                        ChainProblem(
                            position,
                            "empreinte différente : événement modifié, déplacé, ou événement"
                            f" précédent supprimé (précédent chaîné : #{last_chained})",
                        )
                    )
                if position in wanted:
                    seen_anchors[position] = chained
                # Resynchronise on the stored link: each damage is reported once.
                previous, last_chained = chained, position
        head = conn.execute(
            "SELECT notification_id, hash FROM crm_event_chain_head WHERE singleton"
        ).fetchone()
    head_position, head_hash = (int(head[0]), bytes(head[1])) if head else (0, b"")
    if head_position > last_chained:
        problems.append(
            ChainProblem(
                last_chained + 1,
                f"fin du journal tronquée : la tête de chaîne est #{head_position},"
                f" le dernier événement chaîné #{last_chained}",
            )
        )
    elif head is not None and (head_position != last_chained or head_hash != previous):
        problems.append(ChainProblem(head_position, "tête de chaîne modifiée"))
    for position, value in sorted(wanted.items()):
        if seen_anchors.get(position) != value:
            problems.append(
                ChainProblem(position, "ne correspond pas à l’ancre conservée hors de la base")
            )
    return ChainReport(
        checked=checked,
        head_position=head_position,
        head_hash=head_hash.hex(),
        problems=sorted(problems, key=lambda problem: problem.position),
    )
