"""The workspace (tenant) profile: SIRET, VAT number, mail domain, logo, currency."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from crm_core.accounts.domainmodel import Workspace
from crm_core.errors import InvalidInputError, NotFoundError
from tests.unit.conftest import WholeCrm, refused, stored_events

BAD_SIRET = "SIRET invalide : 14 chiffres avec une clé de contrôle correcte."
BAD_VAT = "Numéro de TVA invalide (exemple : FR12345678901)."
BAD_DOMAIN = "Domaine invalide (exemple : mon-agence.fr)."


def refused_fields(crm: WholeCrm, **profile: str) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as error:
        crm.create_workspace(nom=profile.pop("nom", "Atelier Dupont"), **profile)
    return error.value.errors


def test_a_workspace_keeps_its_normalised_profile(crm: WholeCrm) -> None:
    workspace_id = crm.create_workspace(
        nom="Atelier Dupont",
        siret="732 829 320 00074",
        numero_tva="fr 40 303265045",
        domaine_mail=" Atelier-Dupont.FR ",
        devise="chf",
        logo_url="https://cdn.exemple.fr/l.png",
    ).id
    workspace = crm.repository.get(workspace_id)
    assert workspace.workspace_id == workspace_id
    assert (workspace.siret, workspace.numero_tva, workspace.domaine_mail, workspace.devise) == (
        "73282932000074",
        "FR40303265045",
        "atelier-dupont.fr",
        "CHF",
    )


@pytest.mark.parametrize("siret", ["73282932000075", "1234567890123", "7328293200007A"])
def test_a_siret_must_pass_the_luhn_check(crm: WholeCrm, siret: str) -> None:
    assert refused_fields(crm, siret=siret) == {"siret": BAD_SIRET}


@pytest.mark.parametrize("numero_tva", ["12345678901", "F1", "FR-12345678901", "FR" + "1" * 14])
def test_a_vat_number_must_have_the_european_format(crm: WholeCrm, numero_tva: str) -> None:
    assert refused_fields(crm, numero_tva=numero_tva) == {"numero_tva": BAD_VAT}


@pytest.mark.parametrize("domaine", ["localhost", "http://agence.fr", "agence .fr", "agence.f"])
def test_a_mail_domain_must_be_a_domain_name(crm: WholeCrm, domaine: str) -> None:
    assert refused_fields(crm, domaine_mail=domaine) == {"domaine_mail": BAD_DOMAIN}


def test_a_logo_must_be_served_over_https_or_locally(crm: WholeCrm) -> None:
    assert refused_fields(crm, logo_url="http://exemple.fr/logo.png") == {
        "logo_url": "Le logo doit être une adresse https:// ou un chemin local."
    }


def test_a_workspace_needs_a_name_and_a_currency_code(crm: WholeCrm) -> None:
    assert refused_fields(crm, nom=" ", devise="euros") == {
        "nom": "Le nom est obligatoire.",
        "devise": "Devise invalide : code ISO à trois lettres (EUR, USD, CHF…).",
    }


def test_an_empty_siret_vat_and_domain_are_allowed(crm: WholeCrm) -> None:
    workspace_id = crm.create_workspace(nom="Freelance").id
    assert crm.repository.get(workspace_id).siret == ""


def test_a_profile_update_is_checked_like_a_creation(crm: WholeCrm, workspace: UUID) -> None:
    with pytest.raises(InvalidInputError) as error:
        crm.update_workspace(workspace, nom="Atelier Dupont", siret="73282932000075")
    assert error.value.errors == {"siret": BAD_SIRET}
    crm.update_workspace(workspace, nom="Atelier Dupont SAS", siret="44306184100047")
    assert type(stored_events(crm, workspace)[-1]) is Workspace.ProfileUpdated
    assert crm.repository.get(workspace).siret == "44306184100047"


def test_an_unknown_workspace_is_not_found(crm: WholeCrm) -> None:
    with refused(NotFoundError, "Espace de travail introuvable."):
        crm.update_workspace(uuid4(), nom="X")


def test_a_siret_or_vat_number_pasted_with_a_line_break_is_cleaned(crm: WholeCrm) -> None:
    workspace_id = crm.create_workspace(
        nom="Atelier", siret="732 829 320\t00074\n", numero_tva="FR40303265045\n"
    ).id
    workspace = crm.repository.get(workspace_id)
    assert (workspace.siret, workspace.numero_tva) == ("73282932000074", "FR40303265045")


def test_a_siret_with_a_character_other_than_digits_and_spaces_is_invalid(crm: WholeCrm) -> None:
    assert refused_fields(crm, siret="73282932000074\x00") == {"siret": BAD_SIRET}


def test_saving_an_unchanged_profile_records_nothing(crm: WholeCrm, workspace: UUID) -> None:
    crm.update_workspace(workspace, nom="Atelier Dupont SAS", siret="44306184100047")
    count = len(stored_events(crm, workspace))
    # The same values, as the settings form sends them back (spaces included).
    crm.update_workspace(workspace, nom=" Atelier Dupont SAS ", siret="443 061 841 00047")
    assert len(stored_events(crm, workspace)) == count
    crm.update_workspace(workspace, nom="Atelier Dupont SARL", siret="44306184100047")
    assert len(stored_events(crm, workspace)) == count + 1
