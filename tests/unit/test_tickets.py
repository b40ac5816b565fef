"""Tickets: opening, the conversation, assignment and status rules."""

from __future__ import annotations

from uuid import UUID

import pytest

from crm_core.errors import DomainError, InvalidInputError, TicketClosedError
from crm_core.support.domainmodel import Ticket
from crm_core.values import TicketPriority, TicketSource, TicketStatus, TicketType
from tests.unit.conftest import PASSWORD, WholeCrm, position, refused, stored_events

CLOSED = "Ce ticket est fermé : rouvrez-le pour y répondre."


@pytest.fixture
def client_id(crm: WholeCrm, workspace: UUID) -> UUID:
    return crm.register_client(workspace, nom="Martin SARL").id


@pytest.fixture
def ticket_id(crm: WholeCrm, workspace: UUID, client_id: UUID) -> UUID:
    return crm.open_ticket(
        workspace,
        client_id,
        sujet="Le site est lent",
        description="Les pages mettent dix secondes à s’afficher.",
    ).id


def user(crm: WholeCrm, workspace: UUID, email: str) -> UUID:
    return crm.register_user(
        workspace, email=email, nom="Léa", role="developpeur_nocode", password=PASSWORD
    ).id


def test_a_ticket_opens_as_new_with_its_kind_priority_and_source(
    crm: WholeCrm, workspace: UUID, client_id: UUID
) -> None:
    ticket_id = crm.open_ticket(
        workspace,
        client_id,
        sujet="Bug formulaire",
        description="Le bouton ne répond pas.",
        type_ticket="bug",
        priorite="urgente",
        source="portail",
        ouvert_par=f"portal:{client_id}",
    ).id
    ticket = crm.repository.get(ticket_id)
    assert ticket.statut is TicketStatus.NOUVEAU
    assert (ticket.type_ticket, ticket.priorite, ticket.source) == (
        TicketType.BUG,
        TicketPriority.URGENTE,
        TicketSource.PORTAIL,
    )
    assert ticket.ouvert_par == f"portal:{client_id}"


def test_a_ticket_with_bad_fields_is_refused_with_every_message(
    crm: WholeCrm, workspace: UUID, client_id: UUID
) -> None:
    with pytest.raises(InvalidInputError) as error:
        crm.open_ticket(
            workspace,
            client_id,
            sujet="s" * 201,
            description=" ",
            type_ticket="plainte",
            priorite="critique",
            source="fax",
        )
    assert error.value.errors == {
        "sujet": "Le sujet ne doit pas dépasser 200 caractères.",
        "description": "La description est obligatoire.",
        "typeTicket": "Type de ticket invalide (valeurs possibles : question, bug, demande).",
        "priorite": "Priorité invalide (valeurs possibles : basse, normale, haute, urgente).",
        "source": "Source invalide (valeurs possibles : staff, portail, email).",
    }


# --- the conversation -------------------------------------------------------------


def test_a_public_reply_and_an_internal_note_are_different_events(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    reply_id = crm.reply(workspace, ticket_id, texte="Nous regardons.", auteur="user:lea").id
    note_id = crm.add_internal_note(
        workspace, ticket_id, texte="Cache à vider", auteur="user:lea"
    ).id

    *_, reply, note = stored_events(crm, ticket_id)
    assert type(reply) is Ticket.Replied
    assert (reply.message_id, reply.texte, reply.auteur) == (
        reply_id,
        "Nous regardons.",
        "user:lea",
    )
    assert type(note) is Ticket.NoteAdded
    assert (note.message_id, note.texte) == (note_id, "Cache à vider")
    assert crm.repository.get(ticket_id).message_count == 2


@pytest.mark.parametrize("write", ["reply", "add_internal_note"])
def test_an_empty_message_is_refused(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID, write: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        getattr(crm, write)(workspace, ticket_id, texte="  \n ", auteur="user:lea")
    assert error.value.errors == {"texte": "Le message est obligatoire."}


def test_a_closed_ticket_refuses_replies(crm: WholeCrm, workspace: UUID, ticket_id: UUID) -> None:
    crm.change_status(workspace, ticket_id, "ferme")
    before = position(crm)
    with pytest.raises(TicketClosedError) as error:
        crm.reply(workspace, ticket_id, texte="Encore une question", auteur="portal:x")
    assert error.value.message == CLOSED
    assert position(crm) == before


def test_a_reopened_ticket_accepts_replies_again(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    crm.change_status(workspace, ticket_id, "ferme")
    crm.change_status(workspace, ticket_id, "en_cours")
    crm.reply(workspace, ticket_id, texte="Nous reprenons.", auteur="user:lea")
    assert crm.repository.get(ticket_id).message_count == 1


def test_a_resolved_ticket_still_accepts_a_reply(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    crm.change_status(workspace, ticket_id, "resolu")
    crm.reply(workspace, ticket_id, texte="Merci !", auteur="portal:x")
    assert type(stored_events(crm, ticket_id)[-1]) is Ticket.Replied


# --- status -----------------------------------------------------------------------


def test_a_status_change_records_both_statuses(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    crm.change_status(workspace, ticket_id, "en_cours")
    crm.change_status(workspace, ticket_id, "en_attente_client")
    last = stored_events(crm, ticket_id)[-1]
    assert type(last) is Ticket.StatusChanged
    assert (last.de, last.vers) == (TicketStatus.EN_COURS, TicketStatus.EN_ATTENTE_CLIENT)


def test_the_same_status_again_records_no_event(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    crm.change_status(workspace, ticket_id, "en_cours")
    before = position(crm)
    crm.change_status(workspace, ticket_id, "en_cours")
    assert position(crm) == before


def test_a_ticket_never_goes_back_to_new(crm: WholeCrm, workspace: UUID, ticket_id: UUID) -> None:
    crm.change_status(workspace, ticket_id, "en_cours")
    with refused(DomainError, "Un ticket ne peut pas revenir à l’état « nouveau »."):
        crm.change_status(workspace, ticket_id, "nouveau")


def test_an_unknown_status_is_refused(crm: WholeCrm, workspace: UUID, ticket_id: UUID) -> None:
    with pytest.raises(InvalidInputError) as error:
        crm.change_status(workspace, ticket_id, "archive")
    assert error.value.errors == {
        "statutTicket": "Statut invalide (valeurs possibles : nouveau, en_cours,"
        " en_attente_client, resolu, ferme)."
    }


# --- assignment -------------------------------------------------------------------


def test_a_ticket_is_assigned_to_a_user_of_the_workspace_then_unassigned(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    lea = user(crm, workspace, "lea@atelier.fr")
    crm.assign(workspace, ticket_id, lea)
    assert crm.repository.get(ticket_id).assignee_id == lea
    crm.assign(workspace, ticket_id, None)
    assert crm.repository.get(ticket_id).assignee_id is None


def test_assigning_the_same_user_again_records_no_event(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    lea = user(crm, workspace, "lea@atelier.fr")
    crm.assign(workspace, ticket_id, lea)
    before = position(crm)
    crm.assign(workspace, ticket_id, lea)
    assert position(crm) == before


def test_assigning_a_user_of_another_workspace_is_refused(
    crm: WholeCrm, workspace: UUID, other_workspace: UUID, ticket_id: UUID
) -> None:
    stranger = user(crm, other_workspace, "paul@agence-martin.fr")
    before = position(crm)
    with pytest.raises(InvalidInputError) as error:
        crm.assign(workspace, ticket_id, stranger)
    assert error.value.errors == {"assigneeId": "Cette personne n’existe pas."}
    assert position(crm) == before


def test_assigning_a_client_instead_of_a_user_is_refused(
    crm: WholeCrm, workspace: UUID, client_id: UUID, ticket_id: UUID
) -> None:
    with refused(InvalidInputError, "Cette personne n’existe pas."):
        crm.assign(workspace, ticket_id, client_id)


def test_assigning_a_disabled_user_is_refused(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    admin = crm.register_user(
        workspace, email="admin@atelier.fr", nom="Admin", role="admin", password=PASSWORD
    ).id
    lea = user(crm, workspace, "lea@atelier.fr")
    crm.disable_user(workspace, lea, acting_user_id=admin)
    with pytest.raises(InvalidInputError) as error:
        crm.assign(workspace, ticket_id, lea)
    assert error.value.errors == {"assigneeId": "Ce compte est désactivé."}


def test_a_closed_ticket_cannot_be_assigned(
    crm: WholeCrm, workspace: UUID, ticket_id: UUID
) -> None:
    lea = user(crm, workspace, "lea@atelier.fr")
    crm.change_status(workspace, ticket_id, "ferme")
    with refused(TicketClosedError, CLOSED):
        crm.assign(workspace, ticket_id, lea)
