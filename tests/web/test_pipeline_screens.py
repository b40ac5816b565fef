"""The pipeline screens: the board and its moves, the table, the form, the page, roles."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from crm_core.context import acting_as, user_actor
from tests.web.conftest import Tenant
from tests.web.screens import (
    HTMX,
    field_error,
    is_fragment,
    make_client,
    make_opportunity,
    settle,
)

ClientAs = Callable[..., TestClient[Litestar]]
BOARD = {**HTMX, "HX-Target": "board"}


@pytest.mark.parametrize(
    ("role", "can_write"),
    [
        ("admin", True),
        ("commercial", True),
        ("developpeur_nocode", False),
        ("developpeur_automatisme", False),
    ],
)
def test_the_board_shows_every_stage_with_totals_and_only_writers_get_controls(
    tenant: Tenant, client_as: ClientAs, role: str, can_write: bool
) -> None:
    client_id = make_client(tenant, "Studio Lumière")
    make_opportunity(tenant, client_id, "Site vitrine", montant_estime=Decimal("1500"))
    make_opportunity(tenant, client_id, "Photos produits", montant_estime=Decimal("800.50"))
    page = client_as(role).get("/opportunites")
    assert page.status_code == 200
    for label in ("Prospect", "Qualification", "Proposition", "Négociation", "Gagné", "Perdu"):
        assert f">{label}</h2>" in page.text
    assert "2 opportunités" in page.text
    assert "2\u202f300,50\u00a0€" in page.text
    assert ("Déplacer vers…" in page.text) is can_write
    # One move menu for the board, a « Déplacer… » link per card (to the opportunity
    # page and its own form without JavaScript).
    assert page.text.count('id="move-menu"') == (1 if can_write else 0)
    assert page.text.count('class="card-move-open') == (2 if can_write else 0)
    assert ("+ Nouvelle opportunité" in page.text) is can_write
    assert ('data-can-move="true"' in page.text) is can_write
    assert 'class="payment-badge"' in page.text  # the place the Stripe feature fills


def test_a_long_column_shows_its_latest_cards_the_whole_total_and_a_link_to_the_rest(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Agence Horizon")
    for n in range(22):
        make_opportunity(tenant, client_id, f"Projet {n:02d}", montant_estime=Decimal("100"))
    page = client_as("commercial").get("/opportunites")
    prospect = page.text.split('id="col-prospect"')[1].split("</section>")[0]
    assert prospect.count('class="kanban-card"') == 20
    # The newest first: the two oldest are behind the link to the table view.
    assert "Projet 21" in prospect and "Projet 02" in prospect
    assert "Projet 01" not in prospect and "Projet 00" not in prospect
    assert "22 opportunités" in prospect
    assert "2 200,00 €" in prospect
    assert '<a href="/opportunites/tableau?etape=prospect">Voir les 2 autres</a>' in prospect
    rest = client_as("commercial").get("/opportunites/tableau?etape=prospect")
    assert "Projet 00" in rest.text and "Projet 21" in rest.text


def test_moving_a_card_from_the_board_returns_the_board_with_new_totals(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Garage Moreau")
    opportunity_id = make_opportunity(tenant, client_id, "Audit SEO", montant_estime=Decimal("900"))
    response = client_as("commercial").post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "negociation", "depuis": "board"},
        headers=BOARD,
    )
    assert response.status_code == 200
    assert is_fragment(response.text)
    assert response.text.lstrip().startswith('<div id="board"')
    negotiation = response.text.split('id="col-negociation"')[1].split("</section>")[0]
    assert "Audit SEO" in negotiation
    assert "1 opportunité" in negotiation
    assert (
        json.loads(response.headers["hx-trigger"])["toast"]["text"]
        == "« Audit SEO » : Négociation."
    )
    assert tenant.container.pipeline.get(tenant.workspace_id, opportunity_id).etape == "negociation"


def column(page: str, etape: str) -> str:
    return page.split(f'id="col-{etape}"')[1].split("</section>", maxsplit=1)[0]


def test_a_board_already_shown_shows_every_change_on_the_next_load(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = client_as("commercial")
    assert "Aucune opportunité." in browser.get("/opportunites").text
    client_id = make_client(tenant, "Menuiserie Dubois")
    opportunity_id = make_opportunity(tenant, client_id, "Escalier", montant_estime=Decimal("4200"))
    board = browser.get("/opportunites").text
    assert "Aucune opportunité." not in board
    assert "Escalier" in column(board, "prospect")
    # Moved by this user (the form without JavaScript): in its new column at once.
    moved = browser.post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "proposition", "suivant": "/opportunites"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    board = browser.get("/opportunites").text
    assert "Escalier" not in column(board, "prospect")
    assert "0 opportunités" in column(board, "prospect")
    assert "Escalier" in column(board, "proposition")
    assert "1 opportunité" in column(board, "proposition")
    assert "4\u202f200,00\u00a0€" in column(board, "proposition")
    # Moved by someone else (another worker keeps its own board), then its client
    # renamed (another read model): each shows on the next load.
    with acting_as(user_actor(tenant.users["admin"])):
        tenant.container.sales.move_opportunity(tenant.workspace_id, opportunity_id, "negociation")
    settle(tenant)
    board = browser.get("/opportunites").text
    assert "Escalier" not in column(board, "proposition")
    assert "Escalier" in column(board, "negociation")
    with acting_as(user_actor(tenant.users["admin"])):
        tenant.container.sales.update_client(
            tenant.workspace_id, client_id, nom="Menuiserie Dubois & Fils", type_client="entreprise"
        )
    settle(tenant)
    assert "Menuiserie Dubois &amp; Fils" in column(
        browser.get("/opportunites").text, "negociation"
    )
    viewer = client_as("developpeur_nocode").get("/opportunites").text
    assert "Escalier" in column(viewer, "negociation")
    assert 'class="card-move-open' not in viewer


def test_winning_without_an_amount_is_refused_in_french_and_changes_nothing(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Cave Saint-Vincent")
    opportunity_id = make_opportunity(tenant, client_id, "Étiquettes", montant_estime=None)
    browser = client_as("admin")
    response = browser.post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "gagne", "depuis": "board"},
        headers=BOARD,
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Une opportunité gagnée doit avoir un montant estimé supérieur à zéro."
    )
    # Without JavaScript: back to the board with the message as a toast.
    plain = browser.post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "gagne", "suivant": "/opportunites"},
    )
    assert plain.status_code == 200
    assert "doit avoir un montant estimé supérieur à zéro" in plain.text
    assert tenant.container.pipeline.get(tenant.workspace_id, opportunity_id).etape == "prospect"


def test_moving_to_lost_asks_for_the_reason_then_records_it(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Fleuriste L’Orchidée")
    opportunity_id = make_opportunity(tenant, client_id, "Boutique en ligne")
    browser = client_as("commercial")
    asked = browser.post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "perdu", "depuis": "board"},
        headers=BOARD,
    )
    assert asked.status_code == 422
    assert asked.headers["hx-retarget"] == "#move-panel"
    assert field_error(asked.text, "lost-raison") == "Indiquez la raison de la perte."
    without_js = browser.post(
        f"/opportunites/{opportunity_id}/etape", data={"etapePipeline": "perdu"}
    )
    assert without_js.status_code == 422
    assert "Pourquoi « Boutique en ligne » est-elle perdue ?" in without_js.text
    lost = browser.post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "perdu", "raison": "Budget reporté", "depuis": "board"},
        headers=BOARD,
    )
    assert lost.status_code == 200
    assert "Budget reporté" in lost.text.split('id="col-perdu"')[1]
    timeline = browser.get(f"/clients/{client_id}").text
    assert "Opportunité « Boutique en ligne » perdue : Budget reporté" in timeline


def test_the_menu_move_works_without_javascript(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, "Imprimerie Gutenberg")
    opportunity_id = make_opportunity(
        tenant, client_id, "Catalogue", montant_estime=Decimal("3000")
    )
    browser = client_as("admin")
    response = browser.post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "gagne", "suivant": "/opportunites"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/opportunites"
    board = browser.get("/opportunites").text
    assert "« Catalogue » : Gagné." in board
    assert "Catalogue" in board.split('id="col-gagne"')[1].split("</section>")[0]
    reopened = browser.post(
        f"/opportunites/{opportunity_id}/rouvrir", data={"etapePipeline": "proposition"}
    )
    assert "« Catalogue » rouverte en Proposition." in reopened.text
    assert tenant.container.pipeline.get(tenant.workspace_id, opportunity_id).etape == "proposition"


@pytest.mark.parametrize("role", ["developpeur_nocode", "developpeur_automatisme"])
def test_view_only_roles_get_403_on_pipeline_writes(
    tenant: Tenant, client_as: ClientAs, role: str
) -> None:
    # One logged-in test client per test: two clients of the shared app at once hang
    # at shutdown (the app's lifespan runs once per client).
    client_id = make_client(
        tenant, "Hôtel Les Tilleuls", owner_id=tenant.users["developpeur_nocode"]
    )
    opportunity_id = make_opportunity(tenant, client_id, "Réservations")
    browser = client_as(role)
    assert browser.get("/opportunites/nouvelle").status_code == 403
    assert browser.post("/opportunites/nouvelle", data={"titre": "X"}).status_code == 403
    moved = browser.post(
        f"/opportunites/{opportunity_id}/etape",
        data={"etapePipeline": "qualification"},
        headers=BOARD,
    )
    assert moved.status_code == 403
    assert browser.post(f"/opportunites/{opportunity_id}", data={"titre": "X"}).status_code == 403
    page = browser.get(f"/opportunites/{opportunity_id}")
    assert page.status_code == 200
    assert "Marquer gagnée" not in page.text
    assert "Enregistrer" not in page.text
    assert tenant.container.pipeline.get(tenant.workspace_id, opportunity_id).etape == "prospect"


def test_opening_an_opportunity_from_the_form(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, "Atelier Lefèvre")
    browser = client_as("commercial")
    form = browser.get("/opportunites/nouvelle", params={"client": str(client_id)})
    assert f'<option value="{client_id}" selected>' in form.text
    invalid = browser.post(
        "/opportunites/nouvelle",
        data={
            "client_id": str(client_id),
            "titre": "",
            "montant_estime": "abc",
            "probabilite": "150",
            "etape": "prospect",
        },
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "titre") == "Le titre est obligatoire."
    assert field_error(invalid.text, "montant_estime").startswith(
        "Le montant estimé doit être un nombre"
    )
    assert field_error(invalid.text, "probabilite").startswith("La probabilité doit")
    assert tenant.container.pipeline.for_client(tenant.workspace_id, client_id) == []
    created = browser.post(
        "/opportunites/nouvelle",
        data={
            "client_id": str(client_id),
            "titre": "Refonte",
            "montant_estime": "1 250,50",
            "devise": "EUR",
            "date_cloture_prevue": "2026-12-15",
            "etape": "qualification",
        },
    )
    assert created.status_code == 200
    assert "Opportunité « Refonte » ouverte." in created.text
    assert "1\u202f250,50\u00a0€" in created.text
    assert "15 déc. 2026" in created.text


def test_editing_an_opportunity_shows_field_errors(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, "Garage Moreau")
    opportunity_id = make_opportunity(tenant, client_id, "Site")
    browser = client_as("admin")
    invalid = browser.post(
        f"/opportunites/{opportunity_id}", data={"titre": "Site", "devise": "euros"}
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "devise").startswith("Devise invalide")
    ok = browser.post(
        f"/opportunites/{opportunity_id}",
        data={"titre": "Site e-commerce", "montant_estime": "4000", "devise": "EUR"},
    )
    assert "Opportunité enregistrée." in ok.text
    assert (
        tenant.container.pipeline.get(tenant.workspace_id, opportunity_id).titre
        == "Site e-commerce"
    )


def test_the_table_sorts_filters_and_pages(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, "Coopérative Bio Terroir")
    for number, amount in enumerate((500, 4000, 1200)):
        make_opportunity(tenant, client_id, f"Projet {number}", montant_estime=Decimal(amount))
    browser = client_as("developpeur_automatisme")
    by_amount = browser.get("/opportunites/tableau", params={"tri": "montant", "ordre": "desc"})
    assert by_amount.status_code == 200
    text = by_amount.text
    assert text.index("Projet 1") < text.index("Projet 2") < text.index("Projet 0")
    assert 'aria-sort="descending"' in text
    ascending = browser.get(
        "/opportunites/tableau", params={"tri": "montant", "ordre": "asc"}, headers=HTMX
    )
    assert is_fragment(ascending.text)
    assert ascending.text.index("Projet 0") < ascending.text.index("Projet 1")
    searched = browser.get("/opportunites/tableau", params={"q": "projet 2"})
    assert "Projet 2" in searched.text
    assert "Projet 1" not in searched.text
    staged = browser.get("/opportunites/tableau", params={"etape": "gagne"})
    assert "Aucune opportunité ne correspond" in staged.text
    for number in range(3, 28):
        make_opportunity(tenant, client_id, f"Projet {number}")
    first = browser.get("/opportunites/tableau", params={"tri": "titre", "ordre": "asc"})
    assert "Page 1 · 28 résultats" in first.text
    assert 'rel="next"' in first.text
