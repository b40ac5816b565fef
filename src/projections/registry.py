"""The read models a runner keeps up to date, by name."""

from __future__ import annotations

from typing import Any

from eventsourcing.projection import Projection

from projections.accounts import AccountsProjection, AccountsView
from projections.analytics import AnalyticsProjection, AnalyticsView
from projections.audit import AuditProjection, AuditView
from projections.clients import ClientsProjection, ClientsView
from projections.inbox import InboxProjection, InboxView
from projections.notifications import NotificationsProjection, NotificationsView
from projections.outbox import OutboxProjection, OutboxView
from projections.payments import PaymentsProjection, PaymentsView
from projections.pipeline import PipelineProjection, PipelineView
from projections.portal import PortalProjection, PortalView
from projections.readmodel import ReadModel
from projections.tickets import TicketsProjection, TicketsView
from projections.timeline import TimelineProjection, TimelineView

PROJECTIONS: dict[str, tuple[type[Projection[Any]], type[ReadModel]]] = {
    AccountsProjection.name: (AccountsProjection, AccountsView),
    AuditProjection.name: (AuditProjection, AuditView),
    ClientsProjection.name: (ClientsProjection, ClientsView),
    PipelineProjection.name: (PipelineProjection, PipelineView),
    PaymentsProjection.name: (PaymentsProjection, PaymentsView),
    TicketsProjection.name: (TicketsProjection, TicketsView),
    TimelineProjection.name: (TimelineProjection, TimelineView),
    InboxProjection.name: (InboxProjection, InboxView),
    OutboxProjection.name: (OutboxProjection, OutboxView),
    AnalyticsProjection.name: (AnalyticsProjection, AnalyticsView),
    PortalProjection.name: (PortalProjection, PortalView),
    NotificationsProjection.name: (NotificationsProjection, NotificationsView),
}
