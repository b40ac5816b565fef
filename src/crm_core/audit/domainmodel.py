"""Administrators' actions on the history itself: each one is a recorded fact."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from crm_core.aggregate import CrmAggregate


class AdminActionKind(StrEnum):
    EXPORT_RGPD = "export_rgpd"
    EFFACEMENT_RGPD = "effacement_rgpd"
    RECONSTRUCTION_PROJECTION = "reconstruction_projection"
    VERIFICATION_PROJECTION = "verification_projection"
    VERIFICATION_JOURNAL = "verification_journal"
    EXPORT_JOURNAL = "export_journal"


class AdminAction(CrmAggregate):
    """One administrative action (an export, a rebuild, a verification), for the audit.

    `cible` is an id or a read-model name, `details` a short French summary: neither
    carries personal data, so an erasure never has to reach them.
    """

    class Performed(CrmAggregate.Created):
        kind: AdminActionKind
        cible: str
        details: str

    @event(Performed)
    def __init__(self, workspace_id: UUID, kind: AdminActionKind, cible: str, details: str) -> None:
        self.workspace_id = workspace_id
        self.kind = kind
        self.cible = cible
        self.details = details
