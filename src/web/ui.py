"""Helpers shared by the staff pages: page context, flashes, toasts, htmx."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.response import Redirect, Template

from crm_core.errors import DomainError
from projections.accounts import WorkspaceRow
from web.auth.identity import Staff, staff_from_connection
from web.container import Container

_FLASH_KEY = "flashes"
SEEN_NOTIFICATIONS = "notifications_vues"  # session key: when /notifications was last opened


class Flash(msgspec.Struct, frozen=True):
    kind: str
    text: str


def container_of(request: Request[Any, Any, Any]) -> Container:
    container: Container = request.app.state.container
    return container


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def flash(request: Request[Any, Any, Any], text: str, kind: str = "success") -> None:
    """A message shown on the next full page (no-JavaScript forms redirect after POST)."""
    flashes = list(request.session.get(_FLASH_KEY, [])) if request.session else []
    flashes.append({"kind": kind, "text": text})
    request.set_session({**(request.session or {}), _FLASH_KEY: flashes})


def _pop_flashes(request: Request[Any, Any, Any]) -> list[Flash]:
    session = request.scope.get("session")
    if not isinstance(session, dict) or not session.get(_FLASH_KEY):
        return []
    flashes = [Flash(**item) for item in session[_FLASH_KEY]]
    request.set_session({key: value for key, value in session.items() if key != _FLASH_KEY})
    return flashes


def notifications_seen(request: Request[Any, Any, Any]) -> datetime | None:
    """When this session last opened the notifications list (None: never)."""
    session = request.scope.get("session")
    raw = session.get(SEEN_NOTIFICATIONS) if isinstance(session, dict) else None
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def unread_notifications(request: Request[Any, Any, Any], staff: Staff) -> int:
    """Notifications of the workspace that arrived since this session last opened the list."""
    return container_of(request).notifications.count_since(
        staff.workspace_id, notifications_seen(request)
    )


def page(
    request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any
) -> Template:
    """Render a template with what every staff page needs (user, workspace, flashes)."""
    staff = staff_from_connection(request)
    return page_with(
        request,
        template,
        workspace=container_of(request).accounts_view.workspace(staff.workspace_id)
        if staff
        else None,
        notifications_unread=unread_notifications(request, staff) if staff else 0,
        status_code=status_code,
        **context,
    )


def page_with(
    request: Request[Any, Any, Any],
    template: str,
    *,
    workspace: WorkspaceRow | None,
    notifications_unread: int,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """`page` for a handler that read the workspace and the unread count itself (on
    the event loop, in its own statement): nothing here touches the database but the
    staff member, which the guard has already read."""
    return Template(
        template_name=template,
        context={
            "request": request,
            "staff": staff_from_connection(request),
            "workspace": workspace,
            "flashes": _pop_flashes(request),
            "notifications_unread": notifications_unread,
            **context,
        },
        status_code=status_code,
    )


def fragment(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status_code: int = 200,
    toast: str = "",
    toast_kind: str = "success",
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """Render a part of a page for htmx (flashes stay for the next full page)."""
    staff = staff_from_connection(request)
    all_headers = {**(toast_header(toast, toast_kind) if toast else {}), **(headers or {})}
    return Template(
        template_name=template,
        context={"request": request, "staff": staff, **context},
        status_code=status_code,
        headers=all_headers or None,
    )


def toast_header(text: str, kind: str = "success") -> dict[str, str]:
    """The HX-Trigger header that shows a toast after an htmx request."""
    return {"HX-Trigger": json.dumps({"toast": {"kind": kind, "text": text}})}


def done(request: Request[Any, Any, Any], text: str, redirect_to: str) -> Response[Any]:
    """After a successful change: go to `redirect_to`, where a toast confirms it."""
    flash(request, text)
    if is_htmx(request):
        return Response(b"", status_code=204, headers={"HX-Redirect": redirect_to})
    return Redirect(redirect_to, status_code=303)


def refused(request: Request[Any, Any, Any], error: DomainError, back: str) -> Response[Any]:
    """A refused action: a toast for htmx (problem JSON), else a flash on `back`."""
    if is_htmx(request):
        raise error
    flash(request, error.message, "error")
    return Redirect(back, status_code=303)


__all__ = [
    "Staff",
    "container_of",
    "done",
    "flash",
    "fragment",
    "is_htmx",
    "page",
    "page_with",
    "refused",
    "toast_header",
]
