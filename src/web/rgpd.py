"""RGPD: everything the CRM knows about a client (JSON and a readable HTML page), erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import jinja2
import msgspec

from crm_core.audit.application import EventRecord, display
from crm_core.audit.domainmodel import AdminActionKind
from crm_core.labels import field_label
from projections.audit import records_referencing
from web.container import Container

_TEMPLATES = Path(__file__).with_name("templates")


class RecordExport(msgspec.Struct, frozen=True):
    kind: str
    id: UUID
    current: dict[str, str]
    events: list[EventRecord]


class ClientExport(msgspec.Struct, frozen=True):
    client_id: UUID
    workspace_id: UUID
    generated_at: datetime
    client: RecordExport
    related: list[RecordExport]


def _record(container: Container, workspace_id: UUID, record_id: UUID) -> RecordExport:
    snapshot = container.audit.snapshot(workspace_id, record_id)
    return RecordExport(
        kind=snapshot.kind,
        id=record_id,
        current={field_label(name): display(value) for name, value in snapshot.fields.items()},
        events=container.audit.events_of(workspace_id, record_id),
    )


def export_client(container: Container, workspace_id: UUID, client_id: UUID) -> ClientExport:
    """Everything known about a client from its events and those that reference it.

    The export is itself recorded (an AdminAction), without its content.
    """
    client = _record(container, workspace_id, client_id)
    related = [
        _record(container, workspace_id, record_id)
        for record_id in records_referencing(container.conninfo, client_id)
    ]
    container.audit.record(
        workspace_id,
        kind=AdminActionKind.EXPORT_RGPD,
        cible=str(client_id),
        details=f"{1 + len(related)} enregistrement(s)",
    )
    return ClientExport(
        client_id=client_id,
        workspace_id=workspace_id,
        generated_at=datetime.now(UTC),
        client=client,
        related=related,
    )


def export_json(export: ClientExport) -> bytes:
    return msgspec.json.format(msgspec.json.encode(export), indent=2)


def export_html(export: ClientExport) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("rgpd/export.html").render(export=export)
