"""Issuing a client's portal link: shared by the staff pages, the API and the mail templates."""

from __future__ import annotations

from uuid import UUID

from web.auth.identity import Staff
from web.container import Container


def issue_portal_url(container: Container, staff: Staff, client_id: UUID) -> str:
    """A fresh link (the previous one stops working); the URL is shown once."""
    with staff.acting():
        issued = container.portal.issue_link(staff.workspace_id, client_id)
    container.wait(issued.receipt.position, "portal")
    return f"{container.settings.base_url}/portail/{issued.token}"
