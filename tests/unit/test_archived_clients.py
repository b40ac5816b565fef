"""An archived client is read-only: every command that touches it is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from crm_core.errors import ClientArchivedError
from tests.unit.conftest import WholeCrm, position

ARCHIVED_MESSAGE = "Ce client est archivé : restaurez-le avant de le modifier."


class Records:
    def __init__(self, crm: WholeCrm, ws: UUID) -> None:
        self.client = crm.register_client(ws, nom="Martin SARL", email="martin@exemple.fr").id
        self.contact = crm.add_contact(ws, self.client, nom="Julie Martin").id
        self.open_deal = crm.open_opportunity(
            ws, self.client, titre="Site vitrine", montant_estime=Decimal(1500)
        ).id
        self.won_deal = crm.open_opportunity(
            ws, self.client, titre="Logo", montant_estime=Decimal(500)
        ).id
        crm.move_opportunity(ws, self.won_deal, "gagne")


COMMANDS: dict[str, Callable[[WholeCrm, UUID, Records], Any]] = {
    "update_client": lambda crm, ws, r: crm.update_client(
        ws, r.client, nom="Autre nom", type_client="entreprise"
    ),
    "add_contact": lambda crm, ws, r: crm.add_contact(ws, r.client, nom="Paul"),
    "update_contact": lambda crm, ws, r: crm.update_contact(ws, r.client, r.contact, nom="Paul"),
    "remove_contact": lambda crm, ws, r: crm.remove_contact(ws, r.client, r.contact),
    "open_opportunity": lambda crm, ws, r: crm.open_opportunity(ws, r.client, titre="Refonte"),
    "update_opportunity": lambda crm, ws, r: crm.update_opportunity(
        ws, r.open_deal, titre="Site vitrine v2", montant_estime="1800"
    ),
    "move_opportunity": lambda crm, ws, r: crm.move_opportunity(ws, r.open_deal, "proposition"),
    "win_opportunity": lambda crm, ws, r: crm.move_opportunity(ws, r.open_deal, "gagne"),
    "lose_opportunity": lambda crm, ws, r: crm.move_opportunity(
        ws, r.open_deal, "perdu", raison="Budget"
    ),
    "reopen_opportunity": lambda crm, ws, r: crm.reopen_opportunity(ws, r.won_deal),
    "log_activity": lambda crm, ws, r: crm.log_activity(
        ws, r.client, kind="appel", sujet="Relance", date_activite=datetime.now(UTC)
    ),
    "open_ticket": lambda crm, ws, r: crm.open_ticket(
        ws, r.client, sujet="Panne", description="Le site est en panne."
    ),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_on_an_archived_client_is_refused_and_records_nothing(
    crm: WholeCrm, workspace: UUID, command: str
) -> None:
    records = Records(crm, workspace)
    crm.archive_client(workspace, records.client)
    before = position(crm)

    with pytest.raises(ClientArchivedError) as error:
        COMMANDS[command](crm, workspace, records)

    assert error.value.message == ARCHIVED_MESSAGE
    assert position(crm) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_same_command_succeeds_once_the_client_is_restored(
    crm: WholeCrm, workspace: UUID, command: str
) -> None:
    records = Records(crm, workspace)
    crm.archive_client(workspace, records.client)
    crm.restore_client(workspace, records.client)
    before = position(crm)

    COMMANDS[command](crm, workspace, records)

    assert position(crm) > before
