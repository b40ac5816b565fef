"""Commands of the support side: tickets and their conversation."""

from __future__ import annotations

from uuid import UUID

from crm_core.accounts.domainmodel import StaffUser
from crm_core.application import CrmApplication, Receipt, command
from crm_core.errors import InvalidInputError
from crm_core.sales.domainmodel import Client
from crm_core.support.domainmodel import Ticket


class SupportApplication(CrmApplication):
    def _ticket(self, workspace_id: UUID, ticket_id: UUID) -> Ticket:
        return self._load(Ticket, ticket_id, workspace_id, "Ticket")

    @command
    def open_ticket(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        sujet: str,
        description: str,
        type_ticket: str = "question",
        priorite: str = "normale",
        source: str = "staff",
        ouvert_par: str = "",
    ) -> Receipt:
        client = self._load(Client, client_id, workspace_id, "Client")
        ticket = Ticket.open(
            workspace_id=workspace_id,
            client=client,
            sujet=sujet,
            description=description,
            type_ticket=type_ticket,
            priorite=priorite,
            source=source,
            ouvert_par=ouvert_par,
        )
        return Receipt(ticket.id, self._commit(ticket))

    @command
    def reply(self, workspace_id: UUID, ticket_id: UUID, *, texte: str, auteur: str) -> Receipt:
        ticket = self._ticket(workspace_id, ticket_id)
        message_id = ticket.reply(texte=texte, auteur=auteur)
        return Receipt(message_id, self._commit(ticket))

    @command
    def add_internal_note(
        self,
        workspace_id: UUID,
        ticket_id: UUID,
        *,
        texte: str,
        auteur: str,
    ) -> Receipt:
        ticket = self._ticket(workspace_id, ticket_id)
        message_id = ticket.add_internal_note(texte=texte, auteur=auteur)
        return Receipt(message_id, self._commit(ticket))

    @command
    def assign(self, workspace_id: UUID, ticket_id: UUID, assignee_id: UUID | None) -> Receipt:
        if assignee_id is not None:
            assignee = self.repository.get(assignee_id) if self._exists(assignee_id) else None
            if not isinstance(assignee, StaffUser) or assignee.workspace_id != workspace_id:
                raise InvalidInputError({"assigneeId": "Cette personne n’existe pas."})
            if assignee.disabled:
                raise InvalidInputError({"assigneeId": "Ce compte est désactivé."})
        ticket = self._ticket(workspace_id, ticket_id)
        ticket.assign(assignee_id)
        return Receipt(ticket.id, self._commit(ticket))

    @command
    def change_status(self, workspace_id: UUID, ticket_id: UUID, statut: str) -> Receipt:
        ticket = self._ticket(workspace_id, ticket_id)
        ticket.change_status(statut)
        return Receipt(ticket.id, self._commit(ticket))

    @command
    def change_priority(self, workspace_id: UUID, ticket_id: UUID, priorite: str) -> Receipt:
        ticket = self._ticket(workspace_id, ticket_id)
        ticket.change_priority(priorite)
        return Receipt(ticket.id, self._commit(ticket))
