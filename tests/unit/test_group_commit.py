"""Group commit: concurrent saves share a transaction, each caller keeps its own answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from crm_core.group_commit import GroupCommit


def _events(count: int, topic: str = "ok") -> list[StoredEvent]:
    return [StoredEvent(uuid4(), 1, topic, b"{}") for _ in range(count)]


class FakeRecorder:
    """An insert that takes a moment (so callers pile up), numbers the events in
    order like the log does, and refuses a transaction holding a 'conflit' event."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.transactions: list[int] = []
        self.next_id = 1
        self.lock = threading.Lock()
        self.fail_with: Exception | None = None

    def insert(self, stored: list[StoredEvent]) -> Sequence[int]:
        time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        if any(event.topic == "conflit" for event in stored):
            raise IntegrityError("clé en double")
        with self.lock:
            ids = list(range(self.next_id, self.next_id + len(stored)))
            self.next_id += len(stored)
            self.transactions.append(len(stored))
        return ids


def test_a_lone_save_is_inserted_at_once_in_its_own_transaction() -> None:
    recorder = FakeRecorder(delay=0)
    group = GroupCommit(recorder.insert)
    assert group.insert(_events(2)) == [1, 2]
    assert group.insert(_events(1)) == [3]
    assert recorder.transactions == [2, 1]


def test_concurrent_saves_share_transactions_and_each_gets_its_own_ids() -> None:
    recorder = FakeRecorder()
    group = GroupCommit(recorder.insert)
    batches = [_events(1 + n % 3) for n in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(group.insert, batches))
    assert len(recorder.transactions) < len(batches)  # some saves went together
    assert sum(recorder.transactions) == sum(len(b) for b in batches)
    for batch, ids in zip(batches, answers, strict=True):
        assert ids is not None and len(ids) == len(batch)
        assert list(ids) == list(range(ids[0], ids[0] + len(batch)))  # contiguous, in order
    every_id = sorted(i for ids in answers if ids for i in ids)
    assert every_id == list(range(1, len(every_id) + 1))  # none lost, none twice


def test_a_conflict_in_a_shared_transaction_reaches_only_the_save_at_fault() -> None:
    recorder = FakeRecorder()
    group = GroupCommit(recorder.insert)
    batches = [_events(1, "conflit" if n == 5 else "ok") for n in range(12)]

    def save(batch: list[StoredEvent]) -> str:
        try:
            group.insert(batch)
        except IntegrityError:
            return "conflit"
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(save, batches))
    assert outcomes == ["conflit" if n == 5 else "ok" for n in range(12)]
    assert sum(recorder.transactions) == 11


def test_a_database_failure_reaches_every_caller_and_the_next_save_works() -> None:
    recorder = FakeRecorder()
    recorder.fail_with = OperationalError("base injoignable")
    group = GroupCommit(recorder.insert)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(group.insert, _events(1)) for _ in range(6)]
        for future in futures:
            with pytest.raises(OperationalError):
                future.result()
    recorder.fail_with = None
    assert group.insert(_events(1)) == [1]


def test_a_group_stays_under_its_size_limit() -> None:
    recorder = FakeRecorder()
    group = GroupCommit(recorder.insert, max_events=4)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(group.insert, [_events(2) for _ in range(16)]))
    assert max(recorder.transactions) <= 4
    assert sum(recorder.transactions) == 32
