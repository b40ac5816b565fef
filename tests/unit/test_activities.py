"""Activities logged on a client's timeline: notes, calls, meetings."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from crm_core.errors import InvalidInputError
from crm_core.sales.application import SalesApplication
from crm_core.values import ActivityKind

WHEN = datetime(2025, 3, 14, 10, 30, tzinfo=UTC)


@pytest.fixture
def client_id(sales: SalesApplication, ws: UUID) -> UUID:
    return sales.register_client(ws, nom="Martin SARL").id


def test_a_call_is_logged_with_its_duration(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    activity_id = sales.log_activity(
        ws,
        client_id,
        kind="appel",
        sujet=" Relance  devis ",
        contenu="A rappeler lundi",
        date_activite=WHEN,
        duree_minutes=15,
    ).id
    activity = sales.repository.get(activity_id)
    assert activity.kind is ActivityKind.APPEL
    assert activity.sujet == "Relance devis"
    assert activity.date_activite == WHEN
    assert (activity.client_id, activity.duree_minutes) == (client_id, 15)


def test_an_activity_with_bad_fields_is_refused_with_every_message(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    with pytest.raises(InvalidInputError) as error:
        sales.log_activity(
            ws,
            client_id,
            kind="courrier",
            sujet="",
            duree_minutes=0,
            date_activite=datetime(2025, 3, 14, 10, 30),  # noqa: DTZ001  (naive on purpose)
        )
    assert error.value.errors == {
        "type": "Type d’activité invalide (valeurs possibles : note, appel, reunion).",
        "sujet": "Le sujet est obligatoire.",
        "duree_minutes": "La durée doit être comprise entre 1 et 1 440 minutes.",
        "date_activite": "La date doit préciser son fuseau horaire.",
    }


@pytest.mark.parametrize(("minutes", "accepted"), [(1, True), (1440, True), (1441, False)])
def test_the_duration_is_between_one_minute_and_one_day(
    sales: SalesApplication, ws: UUID, client_id: UUID, minutes: int, accepted: bool
) -> None:
    def log() -> None:
        sales.log_activity(
            ws,
            client_id,
            kind="reunion",
            sujet="Atelier",
            date_activite=WHEN,
            duree_minutes=minutes,
        )

    if accepted:
        log()
    else:
        with pytest.raises(InvalidInputError):
            log()
