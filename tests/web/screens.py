"""Helpers of the screen tests: records made through the commands, HTML checks."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from uuid import UUID

from crm_core.context import acting_as, user_actor
from tests.web.conftest import Tenant

HTMX = {"HX-Request": "true"}


def settle(tenant: Tenant) -> None:
    """Wait until every read model applied everything recorded so far."""
    last = tenant.container.log.recorder.max_notification_id() or 0
    tenant.container.wait(last, "accounts", "clients", "pipeline", "tickets", "timeline")


def make_client(tenant: Tenant, nom: str = "Boulangerie Martin", **fields: Any) -> UUID:
    with acting_as(user_actor(tenant.users["admin"])):
        client_id = tenant.container.sales.register_client(
            tenant.workspace_id, nom=nom, **fields
        ).id
    settle(tenant)
    return client_id


def make_opportunity(
    tenant: Tenant, client_id: UUID, titre: str = "Refonte du site", **fields: Any
) -> UUID:
    fields.setdefault("montant_estime", Decimal("2500"))
    with acting_as(user_actor(tenant.users["admin"])):
        opportunity_id = tenant.container.sales.open_opportunity(
            tenant.workspace_id, client_id, titre=titre, **fields
        ).id
    settle(tenant)
    return opportunity_id


def make_ticket(tenant: Tenant, client_id: UUID, sujet: str = "Le site est lent") -> UUID:
    with acting_as(user_actor(tenant.users["admin"])):
        ticket_id = tenant.container.support.open_ticket(
            tenant.workspace_id, client_id, sujet=sujet, description="Depuis ce matin."
        ).id
    settle(tenant)
    return ticket_id


def field_error(html: str, field_id: str) -> str:
    """The message shown next to the field `field_id`, checking the ARIA wiring."""
    control = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{re.escape(field_id)}"[^>]*>', html)
    assert control, f"champ {field_id} absent"
    assert 'aria-invalid="true"' in control.group(0), control.group(0)
    assert f"e-{field_id}" in control.group(0), control.group(0)
    message = re.search(rf'<p class="field-error" id="e-{re.escape(field_id)}">([^<]*)</p>', html)
    assert message, f"message de {field_id} absent"
    return message.group(1)


def is_fragment(html: str) -> bool:
    return "<html" not in html and "<body" not in html
