"""Tableau de bord: the JSON route by role, bad periods, the page and the exports."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.support.history import Clock, KnownHistory, write_known_history
from tests.web.conftest import Tenant

MARCH = "du=2026-03-01&au=2026-03-31"
Login = Callable[[str | None], TestClient[Litestar]]


@pytest.fixture
def history(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> KnownHistory:
    users = {"u1": tenant.users["commercial"], "u2": tenant.users["admin"]}
    return write_known_history(tenant.container, Clock(monkeypatch), tenant.workspace_id, users)


def test_the_json_figures_of_a_period_for_an_admin_cover_the_team(
    history: KnownHistory, client_as: Login, tenant: Tenant
) -> None:
    response = client_as("admin").get(f"/api/tableau-de-bord?{MARCH}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["perimetre"] == "equipe"
    assert body["periode"] == {"du": "2026-03-01", "au": "2026-03-31"}
    assert body["periode_precedente"] == {"du": "2026-02-01", "au": "2026-02-28"}
    figures = body["indicateurs"]
    assert figures["opportunites_gagnees"] == 2
    assert figures["montant_gagne"] == "4000.00"
    assert figures["taux_gain"] == pytest.approx(0.6667)
    assert figures["tickets_resolus"] == 3
    assert figures["appels"] == 3
    assert body["indicateurs_precedents"]["opportunites_ouvertes"] == 1
    owners = {row["owner_id"]: row for row in body["commerciaux"]}
    assert owners[str(tenant.users["commercial"])]["chiffre_affaires"] == "1000.00"
    assert owners[str(tenant.users["admin"])]["chiffre_affaires"] == "3000.00"
    forecast = body["prevision"]
    assert len(forecast["mois"]) == 3
    assert forecast["niveau"] == 0.8
    assert forecast["opportunites_ouvertes"] == 2  # opp4 and the reopened opp5
    assert forecast["methode"].startswith("Prévision par simulation")


@pytest.mark.parametrize("role", ["developpeur_nocode", "developpeur_automatisme"])
def test_developers_see_the_team_figures(
    history: KnownHistory, client_as: Login, role: str
) -> None:
    body = client_as(role).get(f"/api/tableau-de-bord?{MARCH}").json()
    assert body["perimetre"] == "equipe"
    assert body["indicateurs"]["opportunites_gagnees"] == 2


def test_a_commercial_gets_personal_figures_only(
    history: KnownHistory, client_as: Login, tenant: Tenant
) -> None:
    body = client_as("commercial").get(f"/api/tableau-de-bord?{MARCH}").json()
    assert body["perimetre"] == "personnel"
    assert body["indicateurs"]["opportunites_gagnees"] == 1
    assert body["indicateurs"]["montant_gagne"] == "1000.00"
    assert body["indicateurs"]["appels"] == 2
    assert [row["owner_id"] for row in body["commerciaux"]] == [str(tenant.users["commercial"])]
    assert body["prevision"]["opportunites_ouvertes"] == 1  # opp5 only


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("du=2026-13-01&au=2026-03-31", "du"),
        ("du=01/03/2026", "du"),
        ("du=2026-03-01&au=hier", "au"),
        ("du=2026-04-01&au=2026-03-01", "du"),
        ("du=2020-01-01&au=2026-03-01", "au"),
    ],
)
def test_bad_periods_are_refused_with_a_french_problem(
    client_as: Login, query: str, field: str
) -> None:
    response = client_as("admin").get(f"/api/tableau-de-bord?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Requête invalide"
    assert field in problem["errors"]
    assert any(word in problem["detail"] for word in ("Date", "date", "période"))


def test_the_json_route_needs_a_session(client_as: Login) -> None:
    response = client_as(None).get("/api/tableau-de-bord")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_the_default_period_is_the_current_month(client_as: Login) -> None:
    body = client_as("admin").get("/api/tableau-de-bord").json()
    assert body["periode"]["du"].endswith("-01")


def test_the_page_shows_every_figure_as_a_linked_table_and_the_method(
    history: KnownHistory, client_as: Login
) -> None:
    response = client_as("admin").get(f"/?{MARCH}")
    assert response.status_code == 200
    html = response.text
    assert "/static/vendor/chart.umd.min.js" in html
    assert 'id="table-indicateurs"' in html
    assert 'href="/opportunites/tableau?etape=gagne&amp;gagne_du=2026-03-01' in html
    assert "4\u202f000,00\u00a0€" in html  # the won amount, French formatting
    assert "Prévision par simulation" in html
    assert "Opp 4" in html  # at risk: past its close date
    assert "Toute l’équipe" in html


def test_the_page_with_a_bad_period_says_so_and_shows_the_default(client_as: Login) -> None:
    response = client_as("commercial").get("/?du=2026-02-30")
    assert response.status_code == 400
    assert "Date invalide" in response.text
    assert "Vos chiffres" in response.text


def test_a_table_exports_as_csv_with_raw_values(history: KnownHistory, client_as: Login) -> None:
    url = f"/tableau-de-bord/export?table=indicateurs&format=csv&{MARCH}"
    response = client_as("admin").get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        "tableau-de-bord_indicateurs_2026-03-01_2026-03-31.csv"
        in response.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Indicateur", "Période", "Période précédente", "Évolution"]
    by_label = {row[0]: row for row in rows[1:]}
    assert by_label["Montant gagné"][1] == "4000.00"
    assert by_label["Opportunités gagnées"][1:3] == ["2", "0"]


@pytest.mark.parametrize(
    "table", ["etapes_par_mois", "pipeline", "prevision", "a_risque", "commerciaux"]
)
def test_every_table_exports_as_csv_and_xlsx(
    history: KnownHistory, client_as: Login, table: str
) -> None:
    client = client_as("admin")
    as_csv = client.get(f"/tableau-de-bord/export?table={table}&format=csv&{MARCH}")
    assert as_csv.status_code == 200
    assert len(as_csv.content.decode("utf-8-sig").splitlines()) >= 2
    as_xlsx = client.get(f"/tableau-de-bord/export?table={table}&format=xlsx&{MARCH}")
    assert as_xlsx.status_code == 200
    with zipfile.ZipFile(io.BytesIO(as_xlsx.content)) as book:
        assert f'name="{table}"' in book.read("xl/workbook.xml").decode()


def test_the_whole_dashboard_exports_as_one_workbook(
    history: KnownHistory, client_as: Login
) -> None:
    response = client_as("commercial").get(f"/tableau-de-bord/export?{MARCH}")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as book:
        workbook = book.read("xl/workbook.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    for name in ("indicateurs", "etapes_par_mois", "prevision", "a_risque", "commerciaux"):
        assert f'name="{name}"' in workbook
    assert "Montant gagné" in strings


@pytest.mark.parametrize(
    "query", ["table=inconnue&format=csv", "table=pipeline&format=pdf", "table=tout&format=csv"]
)
def test_bad_export_requests_are_refused(client_as: Login, query: str) -> None:
    response = client_as("admin").get(f"/tableau-de-bord/export?{query}")
    assert response.status_code == 400
