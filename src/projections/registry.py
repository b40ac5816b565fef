"""The read models a runner keeps up to date, by name."""

from __future__ import annotations

from typing import Any

from eventsourcing.projection import Projection

from projections.accounts import AccountsProjection, AccountsView
from projections.clients import ClientsProjection, ClientsView
from projections.notifications import NotificationsProjection, NotificationsView
from projections.pipeline import PipelineProjection, PipelineView
from projections.portal import PortalProjection, PortalView
from projections.readmodel import ReadModel
from projections.tickets import TicketsProjection, TicketsView
from projections.timeline import TimelineProjection, TimelineView

PROJECTIONS: dict[str, tuple[type[Projection[Any]], type[ReadModel]]] = {
    AccountsProjection.name: (AccountsProjection, AccountsView),
    ClientsProjection.name: (ClientsProjection, ClientsView),
    PipelineProjection.name: (PipelineProjection, PipelineView),
    TicketsProjection.name: (TicketsProjection, TicketsView),
    TimelineProjection.name: (TimelineProjection, TimelineView),
    PortalProjection.name: (PortalProjection, PortalView),
    NotificationsProjection.name: (NotificationsProjection, NotificationsView),
}
