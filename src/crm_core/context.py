"""Who is acting, and for which action: carried by a context variable.

The web layer, an adapter or the CLI opens an action with `acting_as(...)`;
every event recorded inside it carries the same actor and correlation id, so
the audit log can group the events of one action without every command
signature passing them along.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from uuid import UUID, uuid4

import msgspec

SYSTEM = "system"


class ActionContext(msgspec.Struct, frozen=True):
    actor: str
    correlation_id: UUID


_current: ContextVar[ActionContext | None] = ContextVar("crm_action", default=None)


def current_action() -> ActionContext:
    """The open action, or a fresh one by the system when none is open."""
    action = _current.get()
    return action if action is not None else ActionContext(SYSTEM, uuid4())


@contextmanager
def acting_as(actor: str, correlation_id: UUID | None = None) -> Iterator[ActionContext]:
    action = ActionContext(actor, correlation_id or uuid4())
    token = _current.set(action)
    try:
        yield action
    finally:
        _current.reset(token)


@contextmanager
def within_action() -> Iterator[ActionContext]:
    """Keep the open action, or open one as the system for a single command."""
    action = _current.get()
    if action is not None:
        yield action
        return
    with acting_as(SYSTEM) as fresh:
        yield fresh


def user_actor(user_id: UUID) -> str:
    return f"user:{user_id}"


def portal_actor(client_id: UUID) -> str:
    return f"portal:{client_id}"
