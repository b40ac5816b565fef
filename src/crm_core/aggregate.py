"""The base aggregate: every event carries the tenant, the actor and the action."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from crm_core.context import current_action


class CrmAggregate(Aggregate):
    """Base of every CRM aggregate.

    `workspace_id` is the tenant; `actor` says who acted (`user:<id>`,
    `portal:<client>`, `stripe`, `mail`, `system`); `correlation_id` links the
    events of one action. The last two come from the open action context, so
    commands do not pass them through every signature.
    """

    workspace_id: UUID

    class Event(Aggregate.Event):
        workspace_id: UUID
        actor: str
        correlation_id: UUID

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        action = current_action()
        kwargs.setdefault("actor", action.actor)
        kwargs.setdefault("correlation_id", action.correlation_id)
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        action = current_action()
        kwargs.setdefault("workspace_id", self.workspace_id)
        kwargs.setdefault("actor", action.actor)
        kwargs.setdefault("correlation_id", action.correlation_id)
        super().trigger_event(event_class, **kwargs)
