"""In-app notifications (e.g. a ticket opened from the portal): the list and the nav badge.

"Seen" is per browser session: opening /notifications marks everything up to now as
seen, and the badge counts what arrived since.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from web.auth.identity import Staff, staff_guard
from web.ui import SEEN_NOTIFICATIONS, container_of, page


class NotificationsController(Controller):
    path = "/notifications"
    include_in_schema = False
    guards = [staff_guard]  # noqa: RUF012

    @get("/", sync_to_thread=True)
    def index(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        container = container_of(request)
        notifications = container.notifications.latest(staff.workspace_id)
        request.set_session(
            {**(request.session or {}), SEEN_NOTIFICATIONS: datetime.now(UTC).isoformat()}
        )
        return page(request, "staff/notifications.html", notifications=notifications)
