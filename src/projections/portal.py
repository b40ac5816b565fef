"""The portal's read side: which link is valid (by hash), and visits per client."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.portal.domainmodel import PortalAccess, PortalVisit
from projections.readmodel import ReadModel, topics_of


class PortalLink(msgspec.Struct, frozen=True):
    client_id: UUID
    workspace_id: UUID
    issued_at: datetime


class PortalView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_portal_access", "rm_portal_visits")

    def issue(self, event: PortalAccess.Issued, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_portal_access (id, client_id, workspace_id, token_hash, issued_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (
                    event.originator_id,
                    event.client_id,
                    event.workspace_id,
                    event.token_hash,
                    event.timestamp,
                ),
            ),
        )

    def set_hash(
        self, access_id: UUID, token_hash: str | None, at: datetime, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (
                "UPDATE rm_portal_access SET token_hash = %s, issued_at = %s WHERE id = %s",
                (token_hash, at, access_id),
            ),
        )

    def visit(self, event: PortalVisit.Recorded, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_portal_visits (client_id, workspace_id, visits, first_visit,"
                " last_visit) VALUES (%s, %s, 1, %s, %s) ON CONFLICT (client_id) DO UPDATE SET"
                " visits = rm_portal_visits.visits + 1, last_visit = EXCLUDED.last_visit",
                (event.client_id, event.workspace_id, event.timestamp, event.timestamp),
            ),
        )

    # --- queries ----------------------------------------------------------------
    def by_token_hash(self, token_hash: str) -> PortalLink | None:
        row = self.fetch_one(
            "SELECT client_id, workspace_id, issued_at FROM rm_portal_access WHERE token_hash = %s",
            (token_hash,),
        )
        return msgspec.convert(row, PortalLink) if row else None

    def current_hash(self, client_id: UUID) -> str | None:
        row = self.fetch_one(
            "SELECT token_hash FROM rm_portal_access WHERE client_id = %s", (client_id,)
        )
        return row["token_hash"] if row else None

    def link_issued_at(self, workspace_id: UUID, client_id: UUID) -> datetime | None:
        row = self.fetch_one(
            "SELECT issued_at FROM rm_portal_access WHERE workspace_id = %s AND client_id = %s"
            " AND token_hash IS NOT NULL",
            (workspace_id, client_id),
        )
        return row["issued_at"] if row else None

    def visits(self, workspace_id: UUID, client_id: UUID) -> int:
        row = self.fetch_one(
            "SELECT visits FROM rm_portal_visits WHERE workspace_id = %s AND client_id = %s",
            (workspace_id, client_id),
        )
        return int(row["visits"]) if row else 0


class PortalProjection(Projection[PortalView]):
    name = "portal"
    topics = topics_of(
        PortalAccess.Issued, PortalAccess.Reissued, PortalAccess.Revoked, PortalVisit.Recorded
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: PortalAccess.Issued, tracking: Tracking) -> None:
        self.view.issue(event, tracking)

    @process_event.register
    def _(self, event: PortalAccess.Reissued, tracking: Tracking) -> None:
        self.view.set_hash(event.originator_id, event.token_hash, event.timestamp, tracking)

    @process_event.register
    def _(self, event: PortalAccess.Revoked, tracking: Tracking) -> None:
        self.view.set_hash(event.originator_id, None, event.timestamp, tracking)

    @process_event.register
    def _(self, event: PortalVisit.Recorded, tracking: Tracking) -> None:
        self.view.visit(event, tracking)
