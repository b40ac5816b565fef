"""Staff side of the portal: generate or regenerate a client's link."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, post

from web.auth.identity import Staff, requires
from web.auth.permissions import Permission
from web.container import Container


class PortalUrl(msgspec.Struct):
    url: str


def issue_portal_url(container: Container, staff: Staff, client_id: UUID) -> str:
    """A fresh link (the previous one stops working); the URL is shown once."""
    with staff.acting():
        issued = container.portal.issue_link(staff.workspace_id, client_id)
    container.wait(issued.receipt.position, "portal")
    return f"{container.settings.base_url}/portail/{issued.token}"


class PortalLinksApi(Controller):
    path = "/api/clients/{client_id:uuid}/portail"
    tags = ["Portail client"]  # noqa: RUF012
    guards = [requires(Permission.MANAGE_PORTAL)]  # noqa: RUF012

    @post(
        summary="Génère un nouveau lien portail (l’ancien cesse de fonctionner)",
        sync_to_thread=True,
        status_code=201,
    )
    def generate(self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID) -> PortalUrl:
        container: Container = request.app.state.container
        return PortalUrl(issue_portal_url(container, staff, client_id))
