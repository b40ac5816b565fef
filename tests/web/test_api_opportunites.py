"""JSON API: opportunities through the pipeline, and the board."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.web.api_helpers import new_client, new_opportunity, problem, walk
from tests.web.conftest import Tenant
from web.container import Container

ClientAs = Callable[[str | None], TestClient[Litestar]]


@pytest.fixture
def other_tenant(web_container: Container, app: Litestar) -> Tenant:
    return Tenant(web_container, app)


def test_a_commercial_opens_an_opportunity_and_reads_it(
    tenant: Tenant, client_as: ClientAs
) -> None:
    api = client_as("commercial")
    client = new_client(api, "Atelier Lumière")
    body = new_opportunity(
        api,
        client["id"],
        montantEstime="4500.5",
        dateCloturePrevue="2025-06-30",
        probabilite=40,
        etapePipeline="qualification",
    )
    assert body["clientId"] == client["id"]
    assert body["clientNom"] == "Atelier Lumière"
    assert body["montantEstime"] == "4500.50"
    assert body["devise"] == "EUR"
    assert body["etapePipeline"] == "qualification"
    assert body["dateCloturePrevue"] == "2025-06-30"
    assert body["probabilite"] == 40
    assert body["ownerId"] == str(tenant.users["commercial"])
    assert body["raisonPerte"] == ""
    assert (body["statutPaiement"], body["urlPaiement"]) == (None, None)
    assert api.get(f"/api/opportunites/{body['id']}").json() == body
    assert api.get("/api/opportunites").json()["items"] == [body]
    # A number is accepted too, and always answered as a decimal string.
    assert new_opportunity(api, client["id"], montantEstime=99.9)["montantEstime"] == "99.90"


def test_developers_see_the_pipeline_but_cannot_change_it(client_as: ClientAs) -> None:
    admin = client_as("admin")
    client_id = new_client(admin)["id"]
    opportunity = new_opportunity(admin, client_id)
    for role in ("developpeur_nocode", "developpeur_automatisme"):
        api = client_as(role)
        assert api.get("/api/opportunites").json()["total"] == 1
        assert api.get(f"/api/opportunites/{opportunity['id']}").status_code == 200
        assert api.get("/api/pipeline").status_code == 200
        body = problem(
            api.post("/api/opportunites", json={"clientId": client_id, "titre": "x"}), 403
        )
        assert body["detail"] == "Votre rôle ne permet pas cette action."
        problem(api.patch(f"/api/opportunites/{opportunity['id']}", json={"titre": "x"}), 403)
        problem(
            api.patch(f"/api/opportunites/{opportunity['id']}", json={"etapePipeline": "gagne"}),
            403,
        )
    assert admin.get(f"/api/opportunites/{opportunity['id']}").json() == opportunity


def test_bad_opportunity_input_is_refused_in_french(
    client_as: ClientAs, other_tenant: Tenant
) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    body = problem(
        api.post(
            "/api/opportunites",
            json={
                "clientId": client_id,
                "titre": "",
                "montantEstime": "-10",
                "devise": "euros",
                "probabilite": 150,
            },
        ),
        422,
    )
    assert body["errors"] == {
        "titre": "Le titre est obligatoire.",
        "montantEstime": "Le montant estimé ne peut pas être négatif.",
        "devise": "Devise invalide : code ISO à trois lettres (EUR, USD, CHF…).",
        "probabilite": "La probabilité doit être comprise entre 0 et 100.",
    }
    closed = problem(
        api.post(
            "/api/opportunites",
            json={"clientId": client_id, "titre": "x", "etapePipeline": "gagne"},
        ),
        422,
    )
    assert closed["errors"] == {"etapePipeline": "Une opportunité s’ouvre dans une étape en cours."}
    stage = problem(
        api.post(
            "/api/opportunites",
            json={"clientId": client_id, "titre": "x", "etapePipeline": "signe"},
        ),
        400,
    )
    assert stage["errors"]["etapePipeline"].startswith("Valeur non reconnue (valeurs possibles")
    amount = problem(
        api.post(
            "/api/opportunites",
            json={"clientId": client_id, "titre": "x", "montantEstime": "beaucoup"},
        ),
        400,
    )
    assert amount["errors"] == {"montantEstime": "Nombre invalide (exemple : 1500.00)."}
    date = problem(
        api.post(
            "/api/opportunites",
            json={"clientId": client_id, "titre": "x", "dateCloturePrevue": "30/06/2025"},
        ),
        400,
    )
    assert date["errors"] == {"dateCloturePrevue": "Date invalide (format AAAA-MM-JJ)."}
    unknown = problem(
        api.post("/api/opportunites", json={"clientId": str(uuid4()), "titre": "x"}), 422
    )
    assert unknown["errors"] == {"clientId": "Client introuvable."}
    foreign = new_client(other_tenant.client("admin"), "Ailleurs")["id"]
    problem(api.post("/api/opportunites", json={"clientId": foreign, "titre": "x"}), 422)
    assert api.get("/api/opportunites").json()["total"] == 0


def test_an_opportunity_is_won_lost_and_reopened_through_patch(client_as: ClientAs) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    opportunity = new_opportunity(api, client_id)
    url = f"/api/opportunites/{opportunity['id']}"

    no_amount = problem(api.patch(url, json={"etapePipeline": "gagne"}), 422)
    assert no_amount["detail"] == (
        "Une opportunité gagnée doit avoir un montant estimé supérieur à zéro."
    )
    # Fields first, then the stage: one request sets the amount and wins.
    won = api.patch(url, json={"montantEstime": "1200", "etapePipeline": "gagne"})
    assert won.status_code == 200, won.text
    assert (won.json()["etapePipeline"], won.json()["montantEstime"]) == ("gagne", "1200.00")
    assert won.json()["gagneLe"]

    lost_without_reason = problem(api.patch(url, json={"etapePipeline": "perdu"}), 422)
    assert lost_without_reason["errors"] == {"raisonPerte": "Indiquez la raison de la perte."}
    closed = problem(api.patch(url, json={"etapePipeline": "perdu", "raisonPerte": "Prix"}), 422)
    assert (
        closed["detail"] == "Cette opportunité est clôturée : rouvrez-la avant de changer d’étape."
    )

    reopened = api.patch(url, json={"etapePipeline": "proposition"})
    assert reopened.status_code == 200
    assert (reopened.json()["etapePipeline"], reopened.json()["gagneLe"]) == ("proposition", None)
    lost = api.patch(url, json={"etapePipeline": "perdu", "raisonPerte": "Budget gelé"})
    assert lost.status_code == 200
    assert (lost.json()["etapePipeline"], lost.json()["raisonPerte"]) == ("perdu", "Budget gelé")
    misplaced = problem(api.patch(url, json={"raisonPerte": "Autre"}), 422)
    assert set(misplaced["errors"]) == {"raisonPerte"}
    timeline = api.get(
        f"/api/clients/{client_id}/timeline?types=opportunite_gagnee,opportunite_perdue,opportunite_rouverte"
    )
    assert [e["typeEvenement"] for e in timeline.json()["items"]] == [
        "opportunite_perdue",
        "opportunite_rouverte",
        "opportunite_gagnee",
    ]


def test_patch_changes_only_the_fields_sent(tenant: Tenant, client_as: ClientAs) -> None:
    api = client_as("admin")
    opportunity = new_opportunity(api, new_client(api)["id"], montantEstime="800", probabilite=20)
    url = f"/api/opportunites/{opportunity['id']}"
    changed = api.patch(url, json={"titre": "Maintenance annuelle", "ownerId": None})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["titre"], body["ownerId"], body["montantEstime"], body["probabilite"]) == (
        "Maintenance annuelle",
        None,
        "800.00",
        20,
    )
    body = api.patch(url, json={"probabilite": None, "montantEstime": None}).json()
    assert (body["probabilite"], body["montantEstime"]) == (None, None)
    stranger = problem(api.patch(url, json={"ownerId": str(uuid4())}), 422)
    assert stranger["errors"] == {"ownerId": "Ce responsable n’existe pas."}
    problem(api.patch(url, json={"etape": "gagne"}), 400)


def test_the_opportunity_list_sorts_filters_and_pages(tenant: Tenant, client_as: ClientAs) -> None:
    api = client_as("commercial")
    first = new_client(api, "Premier")["id"]
    second = new_client(api, "Second")["id"]
    amounts = ["300", "1500", "90", "1500", "20000", "7"]
    created = [
        new_opportunity(api, first if i % 2 else second, f"Affaire {i}", montantEstime=amount)
        for i, amount in enumerate(amounts)
    ]
    for size in (1, 4, 200):
        seen = walk(api, "/api/opportunites?tri=montant&ordre=asc", size)
        assert [o["montantEstime"] for o in seen] == [
            "7.00",
            "90.00",
            "300.00",
            "1500.00",
            "1500.00",
            "20000.00",
        ]
        assert len({o["id"] for o in seen}) == 6
    descending = walk(api, "/api/opportunites?tri=titre&ordre=desc", 4)
    assert [o["titre"] for o in descending] == [f"Affaire {i}" for i in range(5, -1, -1)]
    assert len(walk(api, f"/api/opportunites?clientId={first}", 2)) == 3
    assert walk(api, "/api/opportunites?q=affaire 4", 2)[0]["id"] == created[4]["id"]
    api.patch(f"/api/opportunites/{created[0]['id']}", json={"etapePipeline": "negociation"})
    assert [o["id"] for o in walk(api, "/api/opportunites?etapePipeline=negociation", 5)] == [
        created[0]["id"]
    ]
    admin = client_as("admin")
    new_opportunity(admin, first, "À l’admin")
    mine = walk(api, f"/api/opportunites?ownerId={tenant.users['commercial']}", 3)
    assert len(mine) == 6
    by_default = api.get("/api/opportunites", params={"limite": 2}).json()
    assert by_default["total"] == 7
    assert by_default["items"][0]["titre"] == "À l’admin"  # last changed first
    bad = problem(api.get("/api/opportunites", params={"tri": "prix", "ordre": "haut"}), 400)
    assert bad["errors"] == {
        "tri": "Valeur non reconnue (valeurs possibles : "
        "maj, titre, client, montant, etape, cloture).",
        "ordre": "Valeur non reconnue (valeurs possibles : asc, desc).",
    }
    cursor = by_default["curseurSuivant"]
    other_sort = api.get("/api/opportunites", params={"tri": "montant", "cursor": cursor})
    assert other_sort.status_code in (200, 400)  # a cursor of another sort never gives a 500


def test_the_board_counts_and_totals_each_stage(client_as: ClientAs) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    new_opportunity(api, client_id, montantEstime="100")
    new_opportunity(api, client_id, montantEstime="250.50")
    won = new_opportunity(api, client_id, montantEstime="1000")
    api.patch(f"/api/opportunites/{won['id']}", json={"etapePipeline": "gagne"})
    board = api.get("/api/pipeline").json()["colonnes"]
    assert [c["etapePipeline"] for c in board] == [
        "prospect",
        "qualification",
        "proposition",
        "negociation",
        "gagne",
        "perdu",
    ]
    assert (board[0]["nombre"], board[0]["total"], len(board[0]["opportunites"])) == (
        2,
        "350.50",
        2,
    )
    assert (board[4]["nombre"], board[4]["total"]) == (1, "1000.00")
    assert board[4]["opportunites"][0]["id"] == won["id"]
    assert board[0]["curseurSuivant"] is None and board[0]["suite"] is None
    small = api.get("/api/pipeline", params={"parEtape": 1}).json()["colonnes"]
    assert (small[0]["nombre"], small[0]["total"], len(small[0]["opportunites"])) == (
        2,
        "350.50",
        1,
    )
    # The rest of the column: its `suite`, the list in the same order from the cursor.
    rest = api.get(small[0]["suite"]).json()
    assert rest["curseurSuivant"] is None
    column = [o["id"] for o in small[0]["opportunites"] + rest["items"]]
    assert column == [o["id"] for o in board[0]["opportunites"]]
    assert small[4]["curseurSuivant"] is None and small[4]["suite"] is None
    problem(api.get("/api/pipeline", params={"parEtape": 0}), 400)


def test_the_board_totals_follow_changes_owners_and_moves(client_as: ClientAs) -> None:
    """The column totals are kept by the projection: they follow a revised amount, a
    move, a reopening, and the owner filter counts only that owner's cards."""
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    mine = new_opportunity(api, client_id, montantEstime="100")
    nobody = new_opportunity(api, client_id, montantEstime="40", ownerId=None)
    api.patch(f"/api/opportunites/{mine['id']}", json={"montantEstime": "120.25"})

    def column(etape: str, **params: str) -> tuple[int, str]:
        board = api.get("/api/pipeline", params=params).json()["colonnes"]
        found = next(c for c in board if c["etapePipeline"] == etape)
        return found["nombre"], found["total"]

    assert column("prospect") == (2, "160.25")
    assert column("prospect", ownerId=mine["ownerId"]) == (1, "120.25")
    api.patch(
        f"/api/opportunites/{nobody['id']}",
        json={"etapePipeline": "perdu", "raisonPerte": "Budget"},
    )
    assert column("prospect") == (1, "120.25")
    assert column("perdu") == (1, "40.00")
    api.patch(f"/api/opportunites/{nobody['id']}", json={"etapePipeline": "qualification"})
    assert column("perdu") == (0, "0.00")
    assert column("qualification") == (1, "40.00")


def test_another_workspace_s_opportunity_is_not_found(
    client_as: ClientAs, other_tenant: Tenant
) -> None:
    theirs = other_tenant.client("admin")
    secret = new_opportunity(theirs, new_client(theirs)["id"], "Contrat secret")["id"]
    api = client_as("admin")
    for response in (
        api.get(f"/api/opportunites/{secret}"),
        api.patch(f"/api/opportunites/{secret}", json={"titre": "volé"}),
        api.patch(
            f"/api/opportunites/{secret}", json={"etapePipeline": "perdu", "raisonPerte": "x"}
        ),
    ):
        assert problem(response, 404)["detail"] == "Opportunité introuvable."
        assert "secret" not in response.text
    assert api.get("/api/opportunites").json()["total"] == 0
    assert api.get("/api/pipeline").json()["colonnes"][0]["nombre"] == 0
    assert theirs.get(f"/api/opportunites/{secret}").json()["titre"] == "Contrat secret"


@pytest.mark.parametrize("tri", ["maj", "titre", "client", "montant", "etape", "cloture"])
@pytest.mark.parametrize("ordre", ["asc", "desc"])
def test_every_sort_pages_through_every_opportunity_once(
    client_as: ClientAs, tri: str, ordre: str
) -> None:
    api = client_as("commercial")
    clients = [new_client(api, name)["id"] for name in ("Zèbre", "abeille")]
    ids = {
        new_opportunity(
            api,
            clients[i % 2],
            f"Affaire {i % 3}",
            montantEstime=None if i % 4 == 0 else str(100 * (i % 3)),
            dateCloturePrevue=None if i % 3 == 0 else f"2025-0{1 + i % 2}-15",
            etapePipeline=["prospect", "negociation"][i % 2],
        )["id"]
        for i in range(7)
    }
    seen = walk(api, f"/api/opportunites?tri={tri}&ordre={ordre}", 2)
    assert [o["id"] for o in seen if o["id"] in ids] == [o["id"] for o in seen]
    assert len(seen) == len(ids) == len({o["id"] for o in seen})
