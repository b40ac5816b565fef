"""Rebuild or verify a read model while the CRM keeps serving (CLI and admin screen)."""

from __future__ import annotations

from collections.abc import Callable

from crm_core.audit.domainmodel import AdminActionKind
from crm_core.ids import SYSTEM_WORKSPACE
from projections.rebuild import Difference, RebuildProgress, ShadowReplay, rebuild_progress
from projections.registry import PROJECTIONS
from web.container import Container, build_view

__all__ = ["progress", "rebuild_projection", "verify_projection"]

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
