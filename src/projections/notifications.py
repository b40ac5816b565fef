"""In-app notifications for the staff: what clients did on their own (portal, email)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.support.domainmodel import Ticket
from crm_core.values import TicketSource
from projections.readmodel import ReadModel, topics_of


class Notification(msgspec.Struct, frozen=True):
    id: str
    kind: str
    texte: str
    lien: str
    created_at: datetime


class NotificationsView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_notifications",)

    def add(self, event: Any, kind: str, texte: str, lien: str, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_notifications (id, workspace_id, kind, texte, lien, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    f"{event.originator_id}:{event.originator_version}",
                    event.workspace_id,
                    kind,
                    texte,
                    lien,
                    event.timestamp,
                ),
            ),
        )

    def latest(self, workspace_id: UUID, *, limit: int = 20) -> list[Notification]:
        rows = self.fetch_all(
            "SELECT id, kind, texte, lien, created_at FROM rm_notifications"
            " WHERE workspace_id = %s ORDER BY created_at DESC, id DESC LIMIT %s",
            (workspace_id, limit),
        )
        return [msgspec.convert(row, Notification) for row in rows]

    def count_since(self, workspace_id: UUID, since: datetime | None) -> int:
        row = self.fetch_one(
            "SELECT count(*) AS n FROM rm_notifications WHERE workspace_id = %s"
            " AND (%s::timestamptz IS NULL OR created_at > %s)",
            (workspace_id, since, since),
        )
        return int(row["n"]) if row else 0


class NotificationsProjection(Projection[NotificationsView]):
    name = "notifications"
    topics = topics_of(Ticket.Opened)

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Ticket.Opened, tracking: Tracking) -> None:
        origins = {TicketSource.PORTAIL: "depuis le portail", TicketSource.EMAIL: "par email"}
        if event.source not in origins:
            self.view.track(tracking)
            return
        self.view.add(
            event,
            "ticket",
            f"Nouveau ticket {origins[event.source]} : {event.sujet}",
            f"/tickets/{event.originator_id}",
            tracking,
        )
