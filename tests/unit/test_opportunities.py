"""Opportunities: field checks at opening and revision, pipeline moves, reopening."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from crm_core.errors import DomainError, InvalidInputError, OpportunityClosedError
from crm_core.sales.application import SalesApplication
from crm_core.sales.domainmodel import InvalidAmountForWonError, Opportunity
from crm_core.values import Stage
from tests.unit.conftest import position, refused, stored_events

WON_NEEDS_AMOUNT = "Une opportunité gagnée doit avoir un montant estimé supérieur à zéro."
CLOSED = "Cette opportunité est clôturée : rouvrez-la avant de changer d’étape."


@pytest.fixture
def client_id(sales: SalesApplication, ws: UUID) -> UUID:
    return sales.register_client(ws, nom="Martin SARL").id


def open_deal(sales: SalesApplication, ws: UUID, client_id: UUID, **fields: object) -> UUID:
    values: dict[str, object] = {"titre": "Site vitrine", "montant_estime": Decimal("1500.00")}
    values.update(fields)
    return sales.open_opportunity(ws, client_id, **values).id  # type: ignore[arg-type]


def refused_fields(
    sales: SalesApplication, ws: UUID, client_id: UUID, **fields: object
) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as error:
        open_deal(sales, ws, client_id, **fields)
    return error.value.errors


# --- opening ----------------------------------------------------------------------


def test_an_opportunity_opens_in_prospect_with_its_amount_rounded_to_cents(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(
        sales,
        ws,
        client_id,
        montant_estime="1 500,5",
        devise="usd",
        probabilite=40,
        date_cloture_prevue=date(2030, 6, 30),
    )
    deal = sales.repository.get(deal_id)
    assert deal.etape is Stage.PROSPECT
    assert deal.montant_estime == Decimal("1500.50")
    assert deal.devise == "USD"
    assert deal.probabilite == 40
    assert deal.client_id == client_id


def test_an_opportunity_may_open_in_any_stage_in_progress(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id, etape="negociation")
    assert sales.repository.get(deal_id).etape is Stage.NEGOCIATION


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"titre": " "}, {"titre": "Le titre est obligatoire."}),
        (
            {"montant_estime": "-1"},
            {"montant_estime": "Le montant estimé ne peut pas être négatif."},
        ),
        (
            {"montant_estime": "10.005"},
            {"montant_estime": "Le montant estimé ne peut pas avoir plus de deux décimales."},
        ),
        (
            {"montant_estime": "mille"},
            {"montant_estime": "Le montant estimé doit être un nombre (exemple : 1500,00)."},
        ),
        (
            {"montant_estime": "NaN"},
            {"montant_estime": "Le montant estimé doit être un nombre (exemple : 1500,00)."},
        ),
        ({"montant_estime": "1000000000"}, {"montant_estime": "Le montant estimé est trop élevé."}),
        (
            {"devise": "EURO"},
            {"devise": "Devise invalide : code ISO à trois lettres (EUR, USD, CHF…)."},
        ),
        (
            {"devise": "€"},
            {"devise": "Devise invalide : code ISO à trois lettres (EUR, USD, CHF…)."},
        ),
        ({"probabilite": -1}, {"probabilite": "La probabilité doit être comprise entre 0 et 100."}),
        (
            {"probabilite": 101},
            {"probabilite": "La probabilité doit être comprise entre 0 et 100."},
        ),
        ({"date_cloture_prevue": date(1899, 12, 31)}, {"date_cloture_prevue": "Date invalide."}),
        ({"etape": "gagne"}, {"etape": "Une opportunité s’ouvre dans une étape en cours."}),
        ({"etape": "perdu"}, {"etape": "Une opportunité s’ouvre dans une étape en cours."}),
        (
            {"etape": "signature"},
            {
                "etape": "Étape invalide (valeurs possibles : prospect, qualification,"
                " proposition, negociation, gagne, perdu)."
            },
        ),
    ],
)
def test_an_opportunity_with_a_bad_field_is_refused_with_a_french_message(
    sales: SalesApplication,
    ws: UUID,
    client_id: UUID,
    fields: dict[str, object],
    expected: dict[str, str],
) -> None:
    before = position(sales)
    assert refused_fields(sales, ws, client_id, **fields) == expected
    assert position(sales) == before


@pytest.mark.parametrize("probabilite", [0, 100])
def test_the_probability_bounds_are_accepted(
    sales: SalesApplication, ws: UUID, client_id: UUID, probabilite: int
) -> None:
    deal_id = open_deal(sales, ws, client_id, probabilite=probabilite)
    assert sales.repository.get(deal_id).probabilite == probabilite


def test_an_opportunity_of_an_unknown_client_is_refused(sales: SalesApplication, ws: UUID) -> None:
    with refused(DomainError, "Client introuvable."):
        open_deal(sales, ws, uuid4())


# --- revising ---------------------------------------------------------------------


def test_a_revision_records_the_new_fields(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.update_opportunity(ws, deal_id, titre="Site e-commerce", montant_estime="4200")
    events = stored_events(sales, deal_id)
    assert type(events[-1]) is Opportunity.Revised
    assert (events[-1].titre, events[-1].montant_estime) == ("Site e-commerce", Decimal("4200.00"))


def test_a_revision_that_changes_nothing_records_no_event(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    before = position(sales)
    sales.update_opportunity(ws, deal_id, titre="Site vitrine", montant_estime="1500")
    assert position(sales) == before


def test_a_won_opportunity_cannot_lose_its_amount(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, "gagne")
    with refused(InvalidAmountForWonError, WON_NEEDS_AMOUNT):
        sales.update_opportunity(ws, deal_id, titre="Site vitrine", montant_estime=None)


def test_a_revision_with_a_negative_amount_is_refused(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    with pytest.raises(InvalidInputError) as error:
        sales.update_opportunity(ws, deal_id, titre="Site vitrine", montant_estime="-5")
    assert error.value.errors == {"montant_estime": "Le montant estimé ne peut pas être négatif."}


# --- moving through the pipeline --------------------------------------------------


def test_a_move_between_stages_in_progress_records_where_it_came_from(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, "proposition")
    last = stored_events(sales, deal_id)[-1]
    assert type(last) is Opportunity.StageChanged
    assert (last.de, last.vers) == (Stage.PROSPECT, Stage.PROPOSITION)


def test_moving_to_the_same_stage_is_a_no_op_with_no_event(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id, etape="qualification")
    before = position(sales)
    receipt = sales.move_opportunity(ws, deal_id, "qualification")
    assert position(sales) == before
    assert receipt.position == before
    assert len(stored_events(sales, deal_id)) == 1


def test_winning_records_the_amount_and_currency(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(
        sales, ws, client_id, montant_estime="2500", devise="CHF", etape="negociation"
    )
    sales.move_opportunity(ws, deal_id, "gagne")
    won = stored_events(sales, deal_id)[-1]
    assert type(won) is Opportunity.Won
    assert (won.montant, won.devise, won.de) == (Decimal("2500.00"), "CHF", Stage.NEGOCIATION)
    assert sales.repository.get(deal_id).etape is Stage.GAGNE


@pytest.mark.parametrize("montant", [None, "0"])
def test_winning_needs_an_amount_above_zero(
    sales: SalesApplication, ws: UUID, client_id: UUID, montant: str | None
) -> None:
    deal_id = open_deal(sales, ws, client_id, montant_estime=montant)
    with pytest.raises(InvalidAmountForWonError) as error:
        sales.move_opportunity(ws, deal_id, "gagne")
    assert error.value.message == WON_NEEDS_AMOUNT
    assert sales.repository.get(deal_id).etape is Stage.PROSPECT


def test_losing_needs_a_reason(sales: SalesApplication, ws: UUID, client_id: UUID) -> None:
    deal_id = open_deal(sales, ws, client_id)
    with pytest.raises(InvalidInputError) as error:
        sales.move_opportunity(ws, deal_id, "perdu", raison="   ")
    assert error.value.errors == {"raison": "Indiquez la raison de la perte."}
    assert len(stored_events(sales, deal_id)) == 1


def test_losing_records_the_reason(sales: SalesApplication, ws: UUID, client_id: UUID) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, "perdu", raison="  Budget  coupé ")
    lost = stored_events(sales, deal_id)[-1]
    assert type(lost) is Opportunity.Lost
    assert (lost.raison, lost.de) == ("Budget coupé", Stage.PROSPECT)
    assert sales.repository.get(deal_id).raison_perte == "Budget coupé"


def test_an_unknown_stage_is_refused(sales: SalesApplication, ws: UUID, client_id: UUID) -> None:
    deal_id = open_deal(sales, ws, client_id)
    with pytest.raises(InvalidInputError) as error:
        sales.move_opportunity(ws, deal_id, "signee")
    assert set(error.value.errors) == {"etapePipeline"}
    assert error.value.errors["etapePipeline"].startswith("Étape invalide")


@pytest.mark.parametrize(
    ("closing", "target"),
    [
        (("gagne", ""), "negociation"),
        (("gagne", ""), "perdu"),
        (("perdu", "Trop cher"), "prospect"),
        (("perdu", "Trop cher"), "gagne"),
    ],
)
def test_a_closed_opportunity_does_not_move_without_being_reopened(
    sales: SalesApplication,
    ws: UUID,
    client_id: UUID,
    closing: tuple[str, str],
    target: str,
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, closing[0], raison=closing[1])
    before = position(sales)
    with pytest.raises(OpportunityClosedError) as error:
        sales.move_opportunity(ws, deal_id, target, raison="Autre raison")
    assert error.value.message == CLOSED
    assert position(sales) == before


def test_winning_a_won_opportunity_again_is_a_no_op(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, "gagne")
    before = position(sales)
    sales.move_opportunity(ws, deal_id, "gagne")
    assert position(sales) == before


# --- reopening --------------------------------------------------------------------


def test_a_lost_opportunity_reopens_in_negociation_and_forgets_the_reason(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, "perdu", raison="Trop cher")
    sales.reopen_opportunity(ws, deal_id)

    reopened = stored_events(sales, deal_id)[-1]
    assert type(reopened) is Opportunity.Reopened
    assert (reopened.de, reopened.vers) == (Stage.PERDU, Stage.NEGOCIATION)
    deal = sales.repository.get(deal_id)
    assert (deal.etape, deal.raison_perte) == (Stage.NEGOCIATION, "")


def test_a_won_opportunity_reopens_in_the_chosen_stage_and_moves_again(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, "gagne")
    sales.reopen_opportunity(ws, deal_id, "qualification")
    sales.move_opportunity(ws, deal_id, "perdu", raison="Client parti")
    assert sales.repository.get(deal_id).etape is Stage.PERDU


def test_an_opportunity_in_progress_cannot_be_reopened(
    sales: SalesApplication, ws: UUID, client_id: UUID
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    with refused(DomainError, "Cette opportunité est déjà en cours."):
        sales.reopen_opportunity(ws, deal_id)


@pytest.mark.parametrize("etape", ["gagne", "perdu"])
def test_an_opportunity_does_not_reopen_into_a_closed_stage(
    sales: SalesApplication, ws: UUID, client_id: UUID, etape: str
) -> None:
    deal_id = open_deal(sales, ws, client_id)
    sales.move_opportunity(ws, deal_id, "gagne")
    with pytest.raises(InvalidInputError) as error:
        sales.reopen_opportunity(ws, deal_id, etape)
    assert error.value.errors == {
        "etapePipeline": "Une opportunité se rouvre dans une étape en cours."
    }
    assert sales.repository.get(deal_id).etape is Stage.GAGNE
