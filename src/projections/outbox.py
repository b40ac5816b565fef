"""The mail outbox: a process projection that turns `SendRequested` into a send job.

Driven by the event log like any projection, so a crash between "event saved"
and "job queued" loses nothing: the runner resumes after its last tracked
position and queues again. Queue first, then track: a crash in between queues a
job twice, and the job does nothing when the email is already sent.

The composition root binds `dispatch` (a function queuing the job) with
`bind_outbox`; a runner with no dispatch bound fails instead of skipping sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.inbox.domainmodel import EmailMessage
from projections.readmodel import ReadModel, topics_of

Dispatch = Callable[[UUID, UUID], None]


class OutboxView(ReadModel):
    """Only a tracking position: the jobs themselves live in the broker."""

    tables: ClassVar[tuple[str, ...]] = ()
    dispatch: ClassVar[Dispatch | None] = None

    def queue(self, workspace_id: UUID, email_id: UUID, tracking: Tracking) -> None:
        dispatch = type(self).dispatch
        if dispatch is None:
            msg = "Aucune file d’envoi n’est branchée sur la projection outbox."
            raise RuntimeError(msg)
        dispatch(workspace_id, email_id)
        self.track(tracking)


def bind_outbox(dispatch: Dispatch) -> type[OutboxView]:
    """A view class whose `queue` calls `dispatch` (the runner builds the view itself)."""
    return type("BoundOutboxView", (OutboxView,), {"dispatch": staticmethod(dispatch)})


class OutboxProjection(Projection[OutboxView]):
    name = "outbox"
    topics = topics_of(EmailMessage.SendRequested)

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: EmailMessage.SendRequested, tracking: Tracking) -> None:
        self.view.queue(event.workspace_id, event.originator_id, tracking)
