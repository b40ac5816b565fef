"""The receiver's parsing processes: the same result as parsing in place, and a lost
worker is a passing failure (the sender retries), never a quarantined message."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.mail.parsing import UnreadableMessageError, parse_message
from adapters.mail.parsing_pool import ParserUnavailableError, ParsingPool
from adapters.mail.store import ContentStore
from tests.support.mail import corpus

VALUES = {"FROM": "alice@client.example", "TO": "contact@agence.test", "PARENT": "<p@x>"}


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "pieces")


@pytest.fixture
def pool(store: ContentStore) -> Iterator[ParsingPool]:
    parsing = ParsingPool(store, 1_000_000, processes=1)
    yield parsing
    parsing.close()


@pytest.mark.parametrize(
    "name", ["alternative.eml", "attachment.eml", "forwarded.eml", "latin1.eml", "bounce.eml"]
)
def test_a_worker_reads_a_message_as_the_parser_does_in_place(
    name: str, pool: ParsingPool, store: ContentStore, tmp_path: Path
) -> None:
    raw = corpus(name, **VALUES)
    in_place = parse_message(raw, store=ContentStore(tmp_path / "ici"), max_attachment_bytes=10**6)
    assert pool.parse(raw) == in_place
    for attachment in in_place.pieces_jointes:  # stored by the worker, in the same place
        assert store.exists(attachment.sha256)


def test_an_unreadable_message_is_raised_in_the_receiver_with_its_hints(
    pool: ParsingPool,
) -> None:
    with pytest.raises(UnreadableMessageError):
        pool.parse(corpus("garbage.bin", **VALUES))
    error = UnreadableMessageError(
        "Structure MIME illisible.", expediteur="a@b.example", sujet="Objet", message_id="<m@b>"
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (what crosses from a worker)
    assert (copy.reason, copy.expediteur, copy.sujet, copy.message_id) == (
        "Structure MIME illisible.",
        "a@b.example",
        "Objet",
        "<m@b>",
    )


def test_a_lost_worker_is_a_passing_failure_and_a_new_one_serves_the_next_message(
    pool: ParsingPool,
) -> None:
    raw = corpus("alternative.eml", **VALUES)
    pool.warm_up()
    for child in multiprocessing.active_children():
        if child.pid is not None:
            os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(ParserUnavailableError):
        pool.parse(raw)
    assert pool.parse(raw).texte.startswith("Bonjour,")
