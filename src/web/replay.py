"""Rebuild or verify a read model while the CRM keeps serving (CLI and admin screen)."""

from __future__ import annotations

from collections.abc import Callable

from crm_core.audit.domainmodel import AdminActionKind
from crm_core.ids import SYSTEM_WORKSPACE
from projections.rebuild import (
    Difference,
    RebuildProgress,
    ShadowReplay,
    build_indexes_together,
    catch_up_together,
    rebuild_progress,
)
from projections.registry import PROJECTIONS
from web.container import Container, build_view

__all__ = ["progress", "rebuild_all", "rebuild_projection", "verify_projection"]

Progress = Callable[[RebuildProgress], None]


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


def rebuild_all(container: Container, on_progress: Progress | None = None) -> dict[str, int]:
    """Replay every read model from zero in one pass over the log (each event read and
    decoded once, for all of them), then swap each in, one after the other.

    Returns each read model's last applied position; each rebuild is recorded.
    """
    replays = [_replay(container, name, on_progress) for name in sorted(PROJECTIONS)]
    positions: dict[str, int] = {}
    try:
        for replay in replays:
            replay.prepare()
        catch_up_together(replays)
        build_indexes_together(replays)
        for replay in replays:
            replay.swap()  # applies the events stored since, then swaps
            positions[replay.name] = replay.last_applied
    except BaseException:
        for replay in replays:
            replay.drop()
        raise
    finally:
        for replay in replays:
            replay.close()
            replay.view.datastore.close()
    for replay in replays:
        container.audit.record(
            SYSTEM_WORKSPACE,
            kind=AdminActionKind.RECONSTRUCTION_PROJECTION,
            cible=replay.name,
            details=(
                f"{replay.done} événements rejoués jusqu’à la position {positions[replay.name]}"
                " (reconstruction de toutes les projections)"
            ),
        )
    return positions


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
