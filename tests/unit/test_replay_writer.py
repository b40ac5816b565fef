"""The replay's writer thread: writes in the order given, failures not lost."""

from __future__ import annotations

import functools
import gc
import threading

import pytest

from projections.replay_writer import ReplayWriter


def _note_thread(seen: list[tuple[int, str]], number: int) -> None:
    seen.append((number, threading.current_thread().name))


def _after(release: threading.Event, done: list[int], number: int) -> None:
    release.wait(5)
    done.append(number)


def test_writes_run_in_order_in_one_other_thread() -> None:
    writer = ReplayWriter()
    seen: list[tuple[int, str]] = []
    try:
        for number in range(200):
            writer.submit(functools.partial(_note_thread, seen, number))
        writer.drain()
    finally:
        writer.close()
    assert [n for n, _ in seen] == list(range(200))
    threads = {name for _, name in seen}
    assert len(threads) == 1
    assert threads != {threading.current_thread().name}


def test_wait_for_a_mark_waits_for_those_writes_only() -> None:
    writer = ReplayWriter()
    release = threading.Event()
    done: list[int] = []
    try:
        writer.submit(functools.partial(done.append, 1))
        mark = writer.given
        writer.submit(functools.partial(_after, release, done, 2))
        writer.wait_for(mark)
        assert done == [1]  # the second write is still waiting
        release.set()
        writer.drain()
        assert done == [1, 2]
    finally:
        release.set()
        writer.close()


def test_a_failed_write_is_raised_to_the_replay_and_stops_it() -> None:
    writer = ReplayWriter()

    def fail() -> None:
        raise ValueError("COPY refusé")

    writer.submit(fail)
    with pytest.raises(ValueError, match="COPY refusé"):
        writer.drain()
    writer.submit(fail)
    with pytest.raises(ValueError, match="COPY refusé"):
        writer.close()  # drains, raises, and still stops its thread


def test_the_collector_is_rare_while_any_replay_runs_then_as_before() -> None:
    from projections.rebuild import _REPLAY_GC_THRESHOLD, _rare_collections

    before = gc.get_threshold()
    first, second = _rare_collections.during_replay(), _rare_collections.during_replay()
    with first:
        assert gc.get_threshold()[0] == max(before[0], _REPLAY_GC_THRESHOLD)
        second.__enter__()  # a replay in another thread starts, and outlives the first
    assert gc.get_threshold()[0] == max(before[0], _REPLAY_GC_THRESHOLD)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
