"""Clients and their contacts: field checks, uniqueness, no-op updates, archiving."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from crm_core.errors import DomainError, DuplicateError, InvalidInputError, NotFoundError
from crm_core.ids import client_id_for
from crm_core.sales.application import SalesApplication
from crm_core.sales.domainmodel import Client
from crm_core.values import Address, ClientType
from tests.unit.conftest import position, refused, stored_events


def register(sales: SalesApplication, ws: UUID, **fields: object) -> UUID:
    values: dict[str, object] = {"nom": "Boulangerie Martin", "email": "contact@martin.fr"}
    values.update(fields)
    return sales.register_client(ws, **values).id  # type: ignore[arg-type]


def invalid_fields(error: pytest.ExceptionInfo[InvalidInputError]) -> dict[str, str]:
    return error.value.errors


def test_a_registered_client_keeps_its_cleaned_fields(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(
        sales,
        ws,
        nom="  Boulangerie   Martin ",
        email=" Contact@Martin.FR ",
        type_client="particulier",
        telephone="06 12 34 56 78",
        adresse=Address(rue="3 rue Haute", code_postal="69001", ville="Lyon"),
        tags=("VIP", "vip", " boulangerie "),
    )

    client = sales.repository.get(client_id)
    assert client.nom == "Boulangerie Martin"
    assert client.email == "contact@martin.fr"
    assert client.type_client is ClientType.PARTICULIER
    assert client.adresse.ville == "Lyon"
    assert client.tags == ("vip", "boulangerie")
    assert client.archived is False
    assert client_id == client_id_for(ws, "contact@martin.fr")


def test_a_client_without_a_name_is_refused_with_a_french_message(
    sales: SalesApplication, ws: UUID
) -> None:
    with pytest.raises(InvalidInputError) as error:
        register(sales, ws, nom="   ")
    assert invalid_fields(error) == {"nom": "Le nom est obligatoire."}
    assert position(sales) == 0


def test_every_bad_client_field_is_reported_at_once(sales: SalesApplication, ws: UUID) -> None:
    with pytest.raises(InvalidInputError) as error:
        register(
            sales,
            ws,
            nom="",
            type_client="association",
            email="pas-un-email",
            telephone="appelez-moi",
            adresse=Address(code_postal="1" * 13),
            tags=("x" * 41,),
        )
    assert invalid_fields(error) == {
        "nom": "Le nom est obligatoire.",
        "type": "Type de client invalide (valeurs possibles : entreprise, particulier).",
        "email": "Adresse email invalide (exemple : nom@domaine.fr).",
        "telephone": "Numéro de téléphone invalide (exemple : 06 12 34 56 78).",
        "code_postal": "Le code postal ne doit pas dépasser 12 caractères.",
        "tags": "Une étiquette ne doit pas dépasser 40 caractères.",
    }
    assert position(sales) == 0


def test_more_than_twenty_tags_are_refused(sales: SalesApplication, ws: UUID) -> None:
    with pytest.raises(InvalidInputError) as error:
        register(sales, ws, tags=tuple(f"etiquette-{n}" for n in range(21)))
    assert invalid_fields(error) == {"tags": "Vingt étiquettes au plus."}


def test_a_second_client_with_the_same_email_is_a_duplicate(
    sales: SalesApplication, ws: UUID
) -> None:
    register(sales, ws, email="contact@martin.fr")
    with refused(DuplicateError, "Un client avec cette adresse email existe déjà."):
        register(sales, ws, nom="Autre", email="  CONTACT@martin.fr")


def test_the_same_email_may_be_a_client_of_two_workspaces(sales: SalesApplication) -> None:
    first = register(sales, uuid4(), email="contact@martin.fr")
    second = register(sales, uuid4(), email="contact@martin.fr")
    assert first != second


def test_clients_without_email_are_never_duplicates(sales: SalesApplication, ws: UUID) -> None:
    assert register(sales, ws, email="") != register(sales, ws, email="")


def test_an_owner_must_be_a_user_of_the_workspace(sales: SalesApplication, ws: UUID) -> None:
    with pytest.raises(InvalidInputError) as error:
        register(sales, ws, owner_id=uuid4())
    assert invalid_fields(error) == {"owner_id": "Ce responsable n’existe pas."}


def test_an_update_records_the_new_fields(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws)
    sales.update_client(
        ws,
        client_id,
        nom="Boulangerie Martin & fils",
        type_client="entreprise",
        email="contact@martin.fr",
        notes="Livraison le mardi",
    )

    events = stored_events(sales, client_id)
    assert [type(event) for event in events] == [Client.Registered, Client.Updated]
    assert events[-1].nom == "Boulangerie Martin & fils"
    assert events[-1].notes == "Livraison le mardi"


def test_an_update_that_changes_nothing_records_no_event(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws, tags=("vip",))
    before = position(sales)
    receipt = sales.update_client(
        ws,
        client_id,
        nom=" Boulangerie Martin ",
        type_client="entreprise",
        email="CONTACT@martin.fr",
        tags=("VIP",),
    )
    assert position(sales) == before
    assert receipt.position == before
    assert len(stored_events(sales, client_id)) == 1


def test_an_invalid_update_is_refused_and_records_nothing(
    sales: SalesApplication, ws: UUID
) -> None:
    client_id = register(sales, ws)
    with pytest.raises(InvalidInputError) as error:
        sales.update_client(ws, client_id, nom="", type_client="entreprise")
    assert invalid_fields(error) == {"nom": "Le nom est obligatoire."}
    assert len(stored_events(sales, client_id)) == 1


def test_archiving_twice_is_refused(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws)
    sales.archive_client(ws, client_id)
    with refused(DomainError, "Ce client est déjà archivé."):
        sales.archive_client(ws, client_id)


def test_restoring_an_active_client_is_refused(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws)
    with refused(DomainError, "Ce client n’est pas archivé."):
        sales.restore_client(ws, client_id)


def test_a_restored_client_can_be_changed_again(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws)
    sales.archive_client(ws, client_id)
    sales.restore_client(ws, client_id)
    sales.update_client(ws, client_id, nom="Nouveau nom", type_client="entreprise")
    assert sales.repository.get(client_id).nom == "Nouveau nom"


# --- contacts ---------------------------------------------------------------------


def test_a_contact_is_added_updated_and_removed(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws)
    contact_id = sales.add_contact(
        ws, client_id, nom="Julie Martin", email="Julie@Martin.fr", fonction="Gérante"
    ).id
    sales.update_contact(
        ws,
        client_id,
        contact_id,
        nom="Julie Martin",
        email="julie@martin.fr",
        telephone="+33 6 12 34 56 78",
        fonction="Gérante",
    )
    contact = sales.repository.get(client_id).contacts[contact_id]
    assert (contact.email, contact.telephone) == ("julie@martin.fr", "+33 6 12 34 56 78")

    sales.remove_contact(ws, client_id, contact_id)
    assert sales.repository.get(client_id).contacts == {}
    assert [type(event) for event in stored_events(sales, client_id)] == [
        Client.Registered,
        Client.ContactAdded,
        Client.ContactUpdated,
        Client.ContactRemoved,
    ]


def test_a_contact_needs_a_name_and_valid_details(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws)
    with pytest.raises(InvalidInputError) as error:
        sales.add_contact(
            ws, client_id, nom=" ", email="julie@", telephone="abc", fonction="f" * 101
        )
    assert invalid_fields(error) == {
        "nom": "Le nom du contact est obligatoire.",
        "email": "Adresse email invalide (exemple : nom@domaine.fr).",
        "telephone": "Numéro de téléphone invalide (exemple : 06 12 34 56 78).",
        "fonction": "La fonction ne doit pas dépasser 100 caractères.",
    }


def test_an_unchanged_contact_records_no_event(sales: SalesApplication, ws: UUID) -> None:
    client_id = register(sales, ws)
    contact_id = sales.add_contact(ws, client_id, nom="Julie Martin").id
    before = position(sales)
    sales.update_contact(ws, client_id, contact_id, nom=" Julie  Martin")
    assert position(sales) == before


@pytest.mark.parametrize("action", ["update", "remove"])
def test_an_unknown_contact_is_not_found(sales: SalesApplication, ws: UUID, action: str) -> None:
    client_id = register(sales, ws)
    with refused(NotFoundError, "Ce contact n’existe pas."):
        if action == "update":
            sales.update_contact(ws, client_id, uuid4(), nom="Julie")
        else:
            sales.remove_contact(ws, client_id, uuid4())


def test_an_unknown_client_is_not_found(sales: SalesApplication, ws: UUID) -> None:
    with refused(NotFoundError, "Client introuvable."):
        sales.update_client(ws, uuid4(), nom="X", type_client="entreprise")
