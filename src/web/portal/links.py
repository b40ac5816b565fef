"""Staff side of the portal: generate or regenerate a client's link (JSON and page)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, post
from litestar.response import Template

from web.auth.identity import Staff, requires
from web.auth.permissions import Permission
from web.container import Container
from web.portal.issuing import issue_portal_url
from web.staff.clients import client_or_404, client_sections
from web.ui import container_of, page


class PortalUrl(msgspec.Struct):
    url: str


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


class PortalLinkPages(Controller):
    """The « Générer lien portail » button of the client page (no JavaScript needed)."""

    path = "/clients/{client_id:uuid}/portail"
    include_in_schema = False
    guards = [requires(Permission.MANAGE_PORTAL)]  # noqa: RUF012

    @post(sync_to_thread=True, status_code=200)
    def generate(self, request: Request[Any, Any, Any], staff: Staff, client_id: UUID) -> Template:
        container = container_of(request)
        client = client_or_404(container, staff, client_id)
        url = issue_portal_url(container, staff, client.id)
        # Shown once, in this response only: the token is not stored anywhere.
        context = client_sections(request, staff, client)
        response = page(request, "staff/clients/detail.html", portal_url=url, **context)
        response.headers["Cache-Control"] = "no-store"
        return response
