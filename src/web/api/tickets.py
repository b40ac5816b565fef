"""/api/tickets: support requests, their status, assignment, priority and conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter

from crm_core.errors import NotFoundError
from crm_core.values import TicketPriority, TicketSource, TicketStatus, TicketType
from projections.tickets import MessageRow, TicketRow
from web.api.common import (
    DEFAULT_LIMIT,
    READ_ERRORS,
    WRITE_ERRORS,
    Curseur,
    Limite,
    Liste,
    api_fields,
    cursor_of_this_query,
    liste,
    paginate,
    printable_body,
    query_text,
    unknown_client,
)
from web.auth.identity import Staff, requires
from web.auth.permissions import Permission
from web.container import Container

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType


class Ticket(msgspec.Struct, rename="camel"):
    id: UUID
    client_id: UUID
    client_nom: str
    sujet: str
    description: str
    type_ticket: str
    priorite: str
    source: str
    statut_ticket: str
    assignee_id: UUID | None
    ouvert_par: str
    nombre_messages: int
    cree_le: datetime
    modifie_le: datetime
    resolu_le: datetime | None


class MessageTicket(msgspec.Struct, rename="camel"):
    """A reply (seen by the client on the portal) or an internal note (`interne`)."""

    id: UUID
    texte: str
    interne: bool
    auteur: str
    cree_le: datetime


class TicketDetail(Ticket):
    messages: list[MessageTicket]


class NouveauTicket(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    client_id: UUID
    sujet: str
    description: str
    type_ticket: TicketType = TicketType.QUESTION
    priorite: TicketPriority = TicketPriority.NORMALE
    source: TicketSource = TicketSource.STAFF


class ModificationTicket(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """What changes; `assigneeId: null` unassigns."""

    statut_ticket: TicketStatus | UnsetType = UNSET
    assignee_id: UUID | UnsetType | None = UNSET
    priorite: TicketPriority | UnsetType = UNSET


class NouvelleReponse(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A reply to the client, or an internal note when `interne` is true."""

    texte: str
    interne: bool = False


def ticket(row: TicketRow) -> Ticket:
    return Ticket(
        id=row.id,
        client_id=row.client_id,
        client_nom=row.client_nom,
        sujet=row.sujet,
        description=row.description,
        type_ticket=row.type_ticket,
        priorite=row.priorite,
        source=row.source,
        statut_ticket=row.statut,
        assignee_id=row.assignee_id,
        ouvert_par=row.ouvert_par,
        nombre_messages=row.message_count,
        cree_le=row.created_at,
        modifie_le=row.updated_at,
        resolu_le=row.resolved_at,
    )


def message(row: MessageRow) -> MessageTicket:
    return MessageTicket(row.id, row.texte, row.interne, row.auteur, row.created_at)


def load_ticket(container: Container, staff: Staff, ticket_id: UUID) -> TicketRow:
    row = container.tickets.get(staff.workspace_id, ticket_id)
    if row is None:
        raise NotFoundError("Ticket introuvable.")
    return row


def detail(container: Container, staff: Staff, ticket_id: UUID) -> TicketDetail:
    row = load_ticket(container, staff, ticket_id)
    messages = container.tickets.messages(ticket_id, include_internal=True)
    return TicketDetail(
        **msgspec.structs.asdict(ticket(row)), messages=[message(m) for m in messages]
    )


class TicketsController(Controller):
    path = "/tickets"
    tags = ["Tickets"]  # noqa: RUF012

    @get(
        sync_to_thread=True,
        summary="Liste des tickets (les plus récemment actifs d’abord)",
        responses=READ_ERRORS,
    )
    def list_tickets(
        self,
        staff: Staff,
        container: Container,
        statut_ticket: Annotated[TicketStatus | None, Parameter(query="statutTicket")] = None,
        client_id: Annotated[UUID | None, Parameter(query="clientId")] = None,
        assignee_id: Annotated[UUID | None, Parameter(query="assigneeId")] = None,
        non_assigne: Annotated[
            bool, Parameter(query="nonAssigne", description="Seulement les tickets sans assigné")
        ] = False,
        ouverts: Annotated[
            bool, Parameter(description="Seulement les tickets ni résolus ni fermés")
        ] = False,
        q: Annotated[str | None, Parameter(description="Recherche dans le sujet")] = None,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[Ticket]:
        with cursor_of_this_query(cursor):
            page = container.tickets.search(
                staff.workspace_id,
                statut=statut_ticket.value if statut_ticket else "",
                client_id=client_id,
                assignee_id=assignee_id,
                unassigned=non_assigne,
                open_only=ouverts,
                q=query_text("q", q),
                limit=limite,
                cursor=cursor,
            )
        return liste(page, ticket)

    @post(
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_TICKETS)],
        summary="Ouvre un ticket pour un client",
        responses=WRITE_ERRORS,
    )
    def create_ticket(
        self, staff: Staff, container: Container, data: NouveauTicket
    ) -> TicketDetail:
        printable_body(data)
        with staff.acting(), api_fields(), unknown_client():
            receipt = container.support.open_ticket(
                staff.workspace_id,
                data.client_id,
                sujet=data.sujet,
                description=data.description,
                type_ticket=data.type_ticket.value,
                priorite=data.priorite.value,
                source=data.source.value,
                ouvert_par=staff.nom,
            )
        container.wait(receipt.position, "tickets")
        return detail(container, staff, receipt.id)

    @get(
        "/{ticket_id:uuid}",
        sync_to_thread=True,
        summary="Un ticket et sa conversation (notes internes comprises)",
        responses=READ_ERRORS,
    )
    def get_ticket(self, staff: Staff, container: Container, ticket_id: UUID) -> TicketDetail:
        return detail(container, staff, ticket_id)

    @patch(
        "/{ticket_id:uuid}",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_TICKETS)],
        summary="Change le statut, l’assigné ou la priorité d’un ticket",
        description="Un ticket fermé se rouvre (statut `en_cours`) avant d’être réassigné ; "
        "une fermeture s’applique après les autres changements.",
        responses=WRITE_ERRORS,
    )
    def patch_ticket(
        self, staff: Staff, container: Container, ticket_id: UUID, data: ModificationTicket
    ) -> TicketDetail:
        printable_body(data)
        load_ticket(container, staff, ticket_id)
        ws = staff.workspace_id
        support = container.support
        positions = [0]
        closing = data.statut_ticket is TicketStatus.FERME
        with staff.acting(), api_fields():
            if not isinstance(data.statut_ticket, UnsetType) and not closing:
                positions.append(support.change_status(ws, ticket_id, data.statut_ticket).position)
            if not isinstance(data.assignee_id, UnsetType):
                positions.append(support.assign(ws, ticket_id, data.assignee_id).position)
            if not isinstance(data.priorite, UnsetType):
                positions.append(
                    support.change_priority(ws, ticket_id, data.priorite.value).position
                )
            if closing:
                positions.append(support.change_status(ws, ticket_id, "ferme").position)
        container.wait(max(positions), "tickets")
        return detail(container, staff, ticket_id)

    @get(
        "/{ticket_id:uuid}/reponses",
        sync_to_thread=True,
        summary="La conversation d’un ticket (réponses et notes internes, dans l’ordre)",
        responses=READ_ERRORS,
    )
    def list_replies(
        self,
        staff: Staff,
        container: Container,
        ticket_id: UUID,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[MessageTicket]:
        load_ticket(container, staff, ticket_id)
        messages = [
            message(m) for m in container.tickets.messages(ticket_id, include_internal=True)
        ]
        return paginate(messages, lambda m: f"{m.cree_le.isoformat()}|{m.id}", cursor, limite)

    @post(
        "/{ticket_id:uuid}/reponses",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_TICKETS)],
        summary="Répond au client ou ajoute une note interne",
        responses=WRITE_ERRORS,
    )
    def reply(
        self, staff: Staff, container: Container, ticket_id: UUID, data: NouvelleReponse
    ) -> MessageTicket:
        printable_body(data)
        load_ticket(container, staff, ticket_id)
        command = container.support.add_internal_note if data.interne else container.support.reply
        with staff.acting(), api_fields():
            receipt = command(staff.workspace_id, ticket_id, texte=data.texte, auteur=staff.nom)
        container.wait(receipt.position, "tickets")
        found = next(
            (
                m
                for m in container.tickets.messages(ticket_id, include_internal=True)
                if m.id == receipt.id
            ),
            None,
        )
        if found is None:  # pragma: no cover  (the wait above guarantees it)
            raise NotFoundError("Message introuvable.")
        return message(found)
