"""Invisible characters never reach an event: PostgreSQL read models could not apply it."""

from __future__ import annotations

from uuid import uuid4

import pytest

from crm_core.errors import InvalidInputError
from crm_core.sales.application import SalesApplication


def test_control_characters_are_dropped_from_names_tags_and_notes(
    sales: SalesApplication,
) -> None:
    client_id = sales.register_client(
        uuid4(),
        nom="Acme\x00 Corp\x07",
        tags=("v\x00ip",),
        notes="Ligne 1\r\n\tLigne 2\x00\x1b[31m",
    ).id
    client = sales.repository.get(client_id)
    assert client.nom == "Acme Corp"
    assert client.tags == ("vip",)
    assert client.notes == "Ligne 1\r\n\tLigne 2[31m"


def test_a_name_made_only_of_control_characters_is_missing(sales: SalesApplication) -> None:
    with pytest.raises(InvalidInputError) as error:
        sales.register_client(uuid4(), nom="\x00\x01")
    assert error.value.errors == {"nom": "Le nom est obligatoire."}


def test_a_lone_surrogate_is_dropped_instead_of_failing_to_encode(
    sales: SalesApplication,
) -> None:
    client_id = sales.register_client(uuid4(), nom="Zo\ud800é").id
    assert sales.repository.get(client_id).nom == "Zoé"


@pytest.mark.parametrize("email", ["julie\x00@exemple.fr", "julie@exem\x1fple.fr"])
def test_an_email_with_a_control_character_is_invalid(sales: SalesApplication, email: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        sales.register_client(uuid4(), nom="Julie", email=email)
    assert error.value.errors == {"email": "Adresse email invalide (exemple : nom@domaine.fr)."}
