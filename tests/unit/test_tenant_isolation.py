"""A workspace never reaches another workspace's records: they are 'not found'."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from crm_core.errors import InvalidInputError, NotFoundError
from tests.unit.conftest import PASSWORD, WholeCrm, position, refused


class Theirs:
    """Records of the other workspace."""

    def __init__(self, crm: WholeCrm, ws: UUID) -> None:
        self.user = crm.register_user(
            ws, email="paul@agence-martin.fr", nom="Paul", role="admin", password=PASSWORD
        ).id
        self.client = crm.register_client(ws, nom="Client de Martin").id
        self.contact = crm.add_contact(ws, self.client, nom="Contact de Martin").id
        self.deal = crm.open_opportunity(
            ws, self.client, titre="Affaire de Martin", montant_estime="100"
        ).id
        self.ticket = crm.open_ticket(
            ws, self.client, sujet="Ticket de Martin", description="Chez Martin"
        ).id


REACHES: dict[str, tuple[str, Callable[[WholeCrm, UUID, Theirs], Any]]] = {
    "update_client": (
        "Client",
        lambda crm, ws, t: crm.update_client(ws, t.client, nom="Piraté", type_client="entreprise"),
    ),
    "archive_client": ("Client", lambda crm, ws, t: crm.archive_client(ws, t.client)),
    "add_contact": ("Client", lambda crm, ws, t: crm.add_contact(ws, t.client, nom="X")),
    "remove_contact": ("Client", lambda crm, ws, t: crm.remove_contact(ws, t.client, t.contact)),
    "open_opportunity": (
        "Client",
        lambda crm, ws, t: crm.open_opportunity(ws, t.client, titre="X"),
    ),
    "log_activity": (
        "Client",
        lambda crm, ws, t: crm.log_activity(
            ws, t.client, kind="note", sujet="X", date_activite=datetime.now(UTC)
        ),
    ),
    "open_ticket": (
        "Client",
        lambda crm, ws, t: crm.open_ticket(ws, t.client, sujet="X", description="X"),
    ),
    "update_opportunity": (
        "Opportunité",
        lambda crm, ws, t: crm.update_opportunity(ws, t.deal, titre="X", montant_estime=None),
    ),
    "move_opportunity": (
        "Opportunité",
        lambda crm, ws, t: crm.move_opportunity(ws, t.deal, "gagne"),
    ),
    "reply": ("Ticket", lambda crm, ws, t: crm.reply(ws, t.ticket, texte="X", auteur="x")),
    "add_internal_note": (
        "Ticket",
        lambda crm, ws, t: crm.add_internal_note(ws, t.ticket, texte="X", auteur="x"),
    ),
    "change_status": ("Ticket", lambda crm, ws, t: crm.change_status(ws, t.ticket, "ferme")),
    "rename_user": ("Utilisateur", lambda crm, ws, t: crm.rename_user(ws, t.user, "X")),
    "change_role": (
        "Utilisateur",
        lambda crm, ws, t: crm.change_role(ws, t.user, "commercial", acting_user_id=t.user),
    ),
    "change_password": (
        "Utilisateur",
        lambda crm, ws, t: crm.change_password(ws, t.user, "un autre mot de passe"),
    ),
    "disable_user": (
        "Utilisateur",
        lambda crm, ws, t: crm.disable_user(ws, t.user, acting_user_id=t.user),
    ),
}


@pytest.mark.parametrize("command", sorted(REACHES))
def test_a_record_of_another_workspace_is_not_found(
    crm: WholeCrm, workspace: UUID, other_workspace: UUID, command: str
) -> None:
    theirs = Theirs(crm, other_workspace)
    label, reach = REACHES[command]
    before = position(crm)

    with pytest.raises(NotFoundError) as error:
        reach(crm, workspace, theirs)

    assert error.value.message == f"{label} introuvable."
    assert position(crm) == before


def test_a_record_of_another_kind_is_not_found_either(crm: WholeCrm, workspace: UUID) -> None:
    ticket_owner = crm.register_client(workspace, nom="Martin").id
    ticket_id = crm.open_ticket(workspace, ticket_owner, sujet="X", description="Y").id
    with refused(NotFoundError, "Client introuvable."):
        crm.archive_client(workspace, ticket_id)
    with refused(NotFoundError, "Opportunité introuvable."):
        crm.move_opportunity(workspace, ticket_owner, "qualification")


@pytest.mark.parametrize("command", ["register_client", "open_opportunity", "update_client"])
def test_an_owner_from_another_workspace_is_refused(
    crm: WholeCrm, workspace: UUID, other_workspace: UUID, command: str
) -> None:
    stranger = Theirs(crm, other_workspace).user
    ours = crm.register_client(workspace, nom="Notre client").id
    calls: dict[str, Callable[[], Any]] = {
        "register_client": lambda: crm.register_client(workspace, nom="X", owner_id=stranger),
        "open_opportunity": lambda: crm.open_opportunity(
            workspace, ours, titre="X", owner_id=stranger
        ),
        "update_client": lambda: crm.update_client(
            workspace, ours, nom="X", type_client="entreprise", owner_id=stranger
        ),
    }
    with pytest.raises(InvalidInputError) as error:
        calls[command]()
    assert error.value.errors == {"owner_id": "Ce responsable n’existe pas."}


def test_an_owner_of_the_same_workspace_is_accepted(crm: WholeCrm, workspace: UUID) -> None:
    lea = crm.register_user(
        workspace, email="lea@atelier.fr", nom="Léa", role="commercial", password=PASSWORD
    ).id
    client_id = crm.register_client(workspace, nom="X", owner_id=lea).id
    assert crm.repository.get(client_id).owner_id == lea
