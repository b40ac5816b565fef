"""Rebuild or verify a read model while the CRM keeps serving (CLI and admin screen)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from datetime import UTC, datetime

import msgspec
import psycopg

from crm_core.audit.domainmodel import AdminActionKind
from crm_core.ids import SYSTEM_WORKSPACE
from projections.rebuild import (
    Difference,
    RebuildProgress,
    ShadowReplay,
    build_indexes_together,
    catch_up_together,
    plan_groups,
    rebuild_progress,
    rebuild_progresses,
)
from projections.registry import PROJECTIONS
from web.container import Container
from web.replay_worker import ReplayAnswer, ReplayOutcome
from web.views import build_view

__all__ = [
    "ReplayFailedError",
    "progress",
    "rebuild_all",
    "rebuild_projection",
    "replay_in_processes",
    "verify_projection",
]

Progress = Callable[[RebuildProgress], None]

# A worker process costs a second or two to start: worth it on a large log only.
_PARALLEL_FROM = 100_000
_MAX_PROCESSES = 4
_REPORT_EVERY = 1.0  # seconds between looks at the workers' progress


def _replay(container: Container, name: str, on_progress: Progress | None) -> ShadowReplay:
    projection_class, _ = PROJECTIONS[name]
    return ShadowReplay(
        conninfo=container.conninfo,
        log=container.log,
        name=name,
        projection_class=projection_class,
        # A view of its own: in replay mode it writes to the shadow tables.
        view=build_view(container.env, name),
        on_progress=on_progress,
    )


def rebuild_projection(container: Container, name: str, on_progress: Progress | None = None) -> int:
    """Replay `name` from zero into new tables and swap them in.

    Returns the position of the last event the read model applied. The action is
    recorded once done (recording it first would add an event to replay).
    """
    replay = _replay(container, name, on_progress)
    try:
        replay.prepare()
        replay.catch_up(to_head=True)
        replay.swap()
        position = replay.last_applied
    except BaseException:
        replay.drop()
        raise
    finally:
        replay.close()
        replay.view.datastore.close()
    container.audit.record(
        SYSTEM_WORKSPACE,
        kind=AdminActionKind.RECONSTRUCTION_PROJECTION,
        cible=name,
        details=f"{replay.done} événements rejoués jusqu’à la position {position}",
    )
    return position


def rebuild_all(
    container: Container, on_progress: Progress | None = None, processes: int | None = None
) -> dict[str, int]:
    """Replay every read model from zero, then swap each in.

    In one process, the read models are replayed together, in one pass over the log
    (each event read and decoded once, for all of them). On a large log, groups of
    them are replayed by processes of their own (`plan_groups`, `replay_in_processes`):
    `processes` of them (default: one per core, up to four, from 100,000 events on).

    Returns each read model's last applied position; each rebuild is recorded.
    """
    names = sorted(PROJECTIONS)
    counts = events_by_topic(container.conninfo)
    if processes is None:
        large = sum(counts.values()) >= _PARALLEL_FROM
        processes = min(os.cpu_count() or 1, _MAX_PROCESSES) if large else 1
    groups = plan_groups({name: PROJECTIONS[name][0] for name in names}, processes, counts)
    if len(groups) > 1:
        outcomes = replay_in_processes(container, groups, swap=True, on_progress=on_progress)
    else:
        outcomes = _rebuild_in_process(container, names, on_progress)
    for name, outcome in sorted(outcomes.items()):
        container.audit.record(
            SYSTEM_WORKSPACE,
            kind=AdminActionKind.RECONSTRUCTION_PROJECTION,
            cible=name,
            details=(
                f"{outcome.done} événements rejoués jusqu’à la position {outcome.position}"
                " (reconstruction de toutes les projections)"
            ),
        )
    return {name: outcome.position for name, outcome in outcomes.items()}


def _rebuild_in_process(
    container: Container, names: list[str], on_progress: Progress | None
) -> dict[str, ReplayOutcome]:
    replays = [_replay(container, name, on_progress) for name in names]
    try:
        for replay in replays:
            replay.prepare()
        catch_up_together(replays)
        build_indexes_together(replays)
        for replay in replays:
            replay.swap()  # applies the events stored since, then swaps
    except BaseException:
        for replay in replays:
            replay.drop()
        raise
    finally:
        for replay in replays:
            replay.close()
            replay.view.datastore.close()
    return {r.name: ReplayOutcome(position=r.last_applied, done=r.done) for r in replays}


class ReplayFailedError(RuntimeError):
    """A replay worker failed; the read models of the other groups are rebuilt."""


def replay_in_processes(
    container: Container,
    groups: list[list[str]],
    *,
    swap: bool,
    on_progress: Progress | None = None,
) -> dict[str, ReplayOutcome]:
    """Replay each group of read models in a worker process of its own (see
    `web.replay_worker`), all at once; report their progress from `crm_rebuilds`.

    A failed group leaves its read models as they were (its shadow tables dropped)
    and raises `ReplayFailedError` once every worker has ended.
    """
    started = datetime.now(UTC)
    request = {"env": container.env, "conninfo": container.conninfo, "swap": swap}
    # The workers import the same code as this process, wherever it was found.
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "web.replay_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env,
        )
        for _ in groups
    ]
    with ThreadPoolExecutor(max_workers=len(workers)) as waiting:
        try:
            answers = [
                waiting.submit(worker.communicate, msgspec.json.encode({**request, "names": names}))
                for worker, names in zip(workers, groups, strict=True)
            ]
            seen: dict[str, datetime] = {}
            while not all(answer.done() for answer in answers):
                futures_wait(answers, timeout=_REPORT_EVERY)
                if on_progress is not None:
                    _report_new(container.conninfo, groups, started, seen, on_progress)
            outputs = [answer.result()[0] for answer in answers]
        except BaseException:
            for worker in workers:
                _interrupt(worker)
            raise
    if on_progress is not None:
        _report_new(container.conninfo, groups, started, {}, on_progress)
    outcomes: dict[str, ReplayOutcome] = {}
    errors: list[str] = []
    for names, output in zip(groups, outputs, strict=True):
        try:
            answer = msgspec.json.decode(output.strip().splitlines()[-1], type=ReplayAnswer)
        except (IndexError, msgspec.DecodeError, msgspec.ValidationError):
            answer = ReplayAnswer(error="le processus s’est arrêté sans répondre")
        if answer.error:
            errors.append(f"{', '.join(names)} : {answer.error}")
        outcomes.update(answer.outcomes)
    if errors:
        raise ReplayFailedError("Reconstruction en échec — " + " ; ".join(errors))
    return outcomes


def _report_new(
    conninfo: str,
    groups: list[list[str]],
    started: datetime,
    seen: dict[str, datetime],
    on_progress: Progress,
) -> None:
    """Tell `on_progress` of each report written since the last look (by the workers)."""
    names = [name for group in groups for name in group]
    for name, report in sorted(rebuild_progresses(conninfo, names).items()):
        if report.updated_at >= started and seen.get(name) != report.updated_at:
            seen[name] = report.updated_at
            on_progress(report)


def _interrupt(worker: subprocess.Popen[bytes]) -> None:
    """Stop a worker as Ctrl-C would (it drops its shadow tables), then for good."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def events_by_topic(conninfo: str) -> dict[str, int]:
    """How many events of each topic the log holds (to plan the groups)."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT topic, count(*) FROM crm_events GROUP BY topic").fetchall()
    return {str(topic): int(count) for topic, count in rows}


def verify_projection(
    container: Container, name: str, on_progress: Progress | None = None
) -> list[Difference]:
    """Compare the live read model with a fresh replay; the differences (none: identical)."""
    replay = _replay(container, name, on_progress)
    try:
        replay.prepare()
        replay.catch_up(to_head=False)
        differences = replay.compare()
    finally:
        replay.drop()
        replay.close()
        replay.view.datastore.close()
    container.audit.record(
        SYSTEM_WORKSPACE,
        kind=AdminActionKind.VERIFICATION_PROJECTION,
        cible=name,
        details=f"{len(differences)} table(s) différente(s)",
    )
    return differences


def progress(container: Container, name: str) -> RebuildProgress | None:
    """For the admin screen's progress bar: done/total, rate, time left, state."""
    return rebuild_progress(container.conninfo, name)
