"""A replay worker: rebuilds a group of read models in a process of its own.

    python -m web.replay_worker < request.json

`crm projections rebuild --toutes` on a large log replays groups of read models in
parallel processes (`web.replay.replay_in_processes`): a Python process decodes
and applies on one core (the GIL), and each group reads and decodes its own events
once. This module imports only what a replay needs (the event log, the read
models), not the web application.

The request comes on standard input, never as arguments (its persistence settings
hold the master key of the personal data): `{"env": {...}, "conninfo": "...",
"names": [...], "swap": true}`. The answer is one JSON line on standard output:
`{"outcomes": {"NAME": {"position": P, "done": N}, ...}}`, or `{"error": "..."}`
with exit status 1. Progress goes to `crm_rebuilds`, as for a rebuild in-process.
With `swap` false, the shadow tables are left caught up and indexed (the benchmark
measures a rebuild before its swap, then drops them).
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from crm_core.application import EventLog
from projections.rebuild import ShadowReplay, build_indexes_together, catch_up_together
from projections.registry import PROJECTIONS
from web.views import build_view


class ReplayRequest(msgspec.Struct, frozen=True):
    env: dict[str, str]
    conninfo: str
    names: list[str]
    swap: bool


class ReplayOutcome(msgspec.Struct, frozen=True):
    position: int  # the last event the read model applied
    done: int  # events replayed


class ReplayAnswer(msgspec.Struct, frozen=True, omit_defaults=True):
    outcomes: dict[str, ReplayOutcome] = {}
    error: str = ""


def replay_group(request: ReplayRequest) -> dict[str, ReplayOutcome]:
    """Replay the group's read models together (one read of the log), build their
    indexes, and swap each in if asked; on any failure, drop their shadow tables."""
    # The tables exist: a worker creates none (several creating at once race).
    env = {**request.env, "CREATE_TABLE": "n"}
    log = EventLog(env)
    replays = [
        ShadowReplay(
            conninfo=request.conninfo,
            log=log,
            name=name,
            projection_class=PROJECTIONS[name][0],
            view=build_view(env, name),
        )
        for name in request.names
    ]
    try:
        for replay in replays:
            replay.prepare()
        catch_up_together(replays)
        build_indexes_together(replays)
        if request.swap:
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
        log.close()
    return {
        replay.name: ReplayOutcome(position=replay.last_applied, done=replay.done)
        for replay in replays
    }


def main(stdin: Any = None, stdout: Any = None) -> int:
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    try:
        request = msgspec.json.decode(stdin.read(), type=ReplayRequest)
        answer = ReplayAnswer(outcomes=replay_group(request))
    except Exception as error:  # noqa: BLE001  (told to the parent, which raises it)
        answer = ReplayAnswer(error=f"{type(error).__name__}: {error}")
    stdout.write(msgspec.json.encode(answer) + b"\n")
    stdout.flush()
    return 1 if answer.error else 0


if __name__ == "__main__":
    sys.exit(main())
