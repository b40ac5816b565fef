"""Support: tickets opened by staff, by the client on the portal, or by email."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import event

from crm_core.aggregate import CrmAggregate
from crm_core.checks import FieldErrors
from crm_core.errors import DomainError, TicketClosedError
from crm_core.personal import PersonalData
from crm_core.sales.domainmodel import Client
from crm_core.values import TicketPriority, TicketSource, TicketStatus, TicketType

MAX_SUBJECT = 200
MAX_BODY = 10000


class Ticket(CrmAggregate):
    """A request for help from a client, with its conversation."""

    # The ticket's text is encrypted with the ticket's own key, owned by its client:
    # replies do not carry the client id, erasing the client erases them all.
    class Opened(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = PersonalData(
            fields=("sujet", "description", "ouvert_par"), owner="client_id"
        )
        client_id: UUID
        sujet: str
        description: str
        type_ticket: TicketType
        priorite: TicketPriority
        source: TicketSource
        ouvert_par: str

    class Replied(CrmAggregate.Event):
        personal_data: ClassVar[PersonalData] = PersonalData(fields=("texte",))
        message_id: UUID
        texte: str
        auteur: str

    class NoteAdded(CrmAggregate.Event):
        personal_data: ClassVar[PersonalData] = PersonalData(fields=("texte",))
        message_id: UUID
        texte: str
        auteur: str

    class Assigned(CrmAggregate.Event):
        assignee_id: UUID | None

    class StatusChanged(CrmAggregate.Event):
        de: TicketStatus
        vers: TicketStatus

    class PriorityChanged(CrmAggregate.Event):
        de: TicketPriority
        vers: TicketPriority

    @classmethod
    def open(
        cls,
        *,
        workspace_id: UUID,
        client: Client,
        sujet: str,
        description: str,
        type_ticket: str = "question",
        priorite: str = "normale",
        source: str = "staff",
        ouvert_par: str = "",
    ) -> Ticket:
        client.ensure_active()
        with FieldErrors() as check:
            sujet = check.text(
                "sujet", sujet, label="Le sujet", required=True, max_length=MAX_SUBJECT
            )
            description = check.text(
                "description",
                description,
                label="La description",
                required=True,
                max_length=MAX_BODY,
            )
            kind = check.choice("typeTicket", type_ticket, TicketType, label="Type de ticket")
            priority = check.choice("priorite", priorite, TicketPriority, label="Priorité")
            origin = check.choice("source", source, TicketSource, label="Source")
        return cls(
            workspace_id=workspace_id,
            client_id=client.id,
            sujet=sujet,
            description=description,
            type_ticket=kind,
            priorite=priority,
            source=origin,
            ouvert_par=ouvert_par,
        )

    @event(Opened)
    def __init__(
        self,
        workspace_id: UUID,
        client_id: UUID,
        sujet: str,
        description: str,
        type_ticket: TicketType,
        priorite: TicketPriority,
        source: TicketSource,
        ouvert_par: str,
    ) -> None:
        self.workspace_id = workspace_id
        self.client_id = client_id
        self.sujet = sujet
        self.description = description
        self.type_ticket = type_ticket
        self.priorite = priorite
        self.source = source
        self.ouvert_par = ouvert_par
        self.statut = TicketStatus.NOUVEAU
        self.assignee_id: UUID | None = None
        self.message_count = 0

    def _ensure_not_closed(self) -> None:
        if self.statut is TicketStatus.FERME:
            raise TicketClosedError("Ce ticket est fermé : rouvrez-le pour y répondre.")

    @staticmethod
    def _check_text(texte: str) -> str:
        with FieldErrors() as check:
            return check.text(
                "texte", texte, label="Le message", required=True, max_length=MAX_BODY
            )

    def reply(self, *, texte: str, auteur: str) -> UUID:
        """A public reply: the client sees it on the portal."""
        self._ensure_not_closed()
        message_id = uuid4()
        self._reply(message_id=message_id, texte=self._check_text(texte), auteur=auteur)
        return message_id

    @event(Replied)
    def _reply(self, message_id: UUID, texte: str, auteur: str) -> None:
        self.message_count += 1

    def add_internal_note(self, *, texte: str, auteur: str) -> UUID:
        """An internal note: staff only, never shown to the client."""

        message_id = uuid4()
        self._add_note(message_id=message_id, texte=self._check_text(texte), auteur=auteur)
        return message_id

    @event(NoteAdded)
    def _add_note(self, message_id: UUID, texte: str, auteur: str) -> None:
        self.message_count += 1

    def assign(self, assignee_id: UUID | None) -> None:
        self._ensure_not_closed()
        if assignee_id != self.assignee_id:
            self._assign(assignee_id=assignee_id)

    @event(Assigned)
    def _assign(self, assignee_id: UUID | None) -> None:
        self.assignee_id = assignee_id

    def change_status(self, statut: str) -> None:
        with FieldErrors() as check:
            target = check.choice("statutTicket", statut, TicketStatus, label="Statut")
        if target is self.statut:
            return
        if target is TicketStatus.NOUVEAU:
            raise DomainError("Un ticket ne peut pas revenir à l’état « nouveau ».")
        self._change_status(de=self.statut, vers=target)

    @event(StatusChanged)
    def _change_status(self, de: TicketStatus, vers: TicketStatus) -> None:
        self.statut = vers

    def change_priority(self, priorite: str) -> None:
        with FieldErrors() as check:
            target = check.choice("priorite", priorite, TicketPriority, label="Priorité")
        if target is self.priorite:
            return
        self._ensure_not_closed()
        self._change_priority(de=self.priorite, vers=target)

    @event(PriorityChanged)
    def _change_priority(self, de: TicketPriority, vers: TicketPriority) -> None:
        self.priorite = vers
