"""JSON API: clients, their contacts, activities and timeline."""

from __future__ import annotations

import base64
from collections.abc import Callable
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.web.api_helpers import new_client, problem, walk
from tests.web.conftest import Tenant
from web.container import Container

ClientAs = Callable[[str | None], TestClient[Litestar]]


@pytest.fixture
def other_tenant(web_container: Container, app: Litestar) -> Tenant:
    return Tenant(web_container, app)


def test_a_commercial_creates_a_client_and_reads_it_back(
    tenant: Tenant, client_as: ClientAs
) -> None:
    api = client_as("commercial")
    body = new_client(
        api,
        "Boulangerie Martin",
        type="particulier",
        email="Contact@Martin.fr",
        telephone="06 12 34 56 78",
        adresse={"rue": "3 rue Haute", "codePostal": "69001", "ville": "Lyon"},
        tags=["VIP", "boulangerie"],
        notes="Préfère le téléphone",
    )
    assert body["nom"] == "Boulangerie Martin"
    assert body["type"] == "particulier"
    assert body["email"] == "contact@martin.fr"
    assert body["adresse"] == {
        "rue": "3 rue Haute",
        "codePostal": "69001",
        "ville": "Lyon",
        "pays": "France",
    }
    assert body["tags"] == ["vip", "boulangerie"]
    assert body["archive"] is False
    assert body["contacts"] == []
    assert body["creeLe"] and body["modifieLe"]
    # The author owns what they create unless told otherwise.
    assert body["ownerId"] == str(tenant.users["commercial"])

    read = api.get(f"/api/clients/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body
    listed = api.get("/api/clients").json()
    assert listed["total"] == 1
    assert listed["curseurSuivant"] is None
    assert listed["items"][0]["id"] == body["id"]
    assert listed["items"][0]["ville"] == "Lyon"


def test_a_client_can_be_created_without_owner(client_as: ClientAs) -> None:
    body = new_client(client_as("admin"), ownerId=None)
    assert body["ownerId"] is None


def test_every_role_reads_clients(client_as: ClientAs) -> None:
    client_id = new_client(client_as("admin"))["id"]
    for role in ("commercial", "developpeur_nocode", "developpeur_automatisme"):
        api = client_as(role)
        assert api.get(f"/api/clients/{client_id}").status_code == 200
        assert api.get("/api/clients").json()["total"] == 1


def test_the_view_only_role_cannot_change_any_client(client_as: ClientAs) -> None:
    client_id = new_client(client_as("admin"))["id"]
    api = client_as("developpeur_automatisme")
    refusals = [
        api.post("/api/clients", json={"nom": "Nouveau"}),
        api.patch(f"/api/clients/{client_id}", json={"notes": "x"}),
        api.put(f"/api/clients/{client_id}", json={"nom": "Autre"}),
        api.post(f"/api/clients/{client_id}/archive"),
        api.post(f"/api/clients/{client_id}/restauration"),
        api.post(f"/api/clients/{client_id}/contacts", json={"nom": "Jeanne"}),
        api.put(f"/api/clients/{client_id}/contacts/{uuid4()}", json={"nom": "Jeanne"}),
        api.delete(f"/api/clients/{client_id}/contacts/{uuid4()}"),
        api.post(f"/api/clients/{client_id}/activites", json={"type": "note", "sujet": "x"}),
    ]
    for response in refusals:
        body = problem(response, 403)
        assert body["detail"] == "Votre rôle permet de consulter les clients, pas de les modifier."
    assert client_as("admin").get(f"/api/clients/{client_id}").json()["notes"] == ""


def test_a_nocode_developer_changes_only_the_clients_assigned_to_them(
    tenant: Tenant, client_as: ClientAs
) -> None:
    admin = client_as("admin")
    developer = tenant.users["developpeur_nocode"]
    mine = new_client(admin, "Le mien", ownerId=str(developer))["id"]
    theirs = new_client(admin, "Le leur")["id"]
    api = client_as("developpeur_nocode")

    assert api.patch(f"/api/clients/{mine}", json={"notes": "À rappeler"}).status_code == 200
    assert api.post(f"/api/clients/{mine}/contacts", json={"nom": "Jeanne"}).status_code == 201
    body = problem(api.patch(f"/api/clients/{theirs}", json={"notes": "x"}), 403)
    assert "ne vous est pas attribué" in body["detail"]
    problem(api.post(f"/api/clients/{theirs}/archive"), 403)
    # They may create clients for themselves, never for someone else, never hand one over.
    assert new_client(api, "Créé par moi")["ownerId"] == str(developer)
    other = str(tenant.users["commercial"])
    problem(api.post("/api/clients", json={"nom": "Pour un autre", "ownerId": other}), 403)
    problem(api.patch(f"/api/clients/{mine}", json={"ownerId": other}), 403)
    assert admin.get(f"/api/clients/{mine}").json()["ownerId"] == str(developer)


def test_patch_changes_only_the_fields_sent_and_put_replaces_the_file(
    client_as: ClientAs,
) -> None:
    api = client_as("commercial")
    client = new_client(
        api, "Studio Nord", email="studio@nord.fr", notes="Client fidèle", tags=["design"]
    )
    patched = api.patch(
        f"/api/clients/{client['id']}", json={"telephone": "01 23 45 67 89", "tags": []}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["telephone"] == "01 23 45 67 89"
    assert body["tags"] == []
    assert body["notes"] == "Client fidèle"
    assert body["email"] == "studio@nord.fr"
    assert body["modifieLe"] > client["modifieLe"]

    replaced = api.put(f"/api/clients/{client['id']}", json={"nom": "Studio Sud"})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["nom"], body["notes"], body["telephone"]) == ("Studio Sud", "", "")
    assert body["ownerId"] == client["ownerId"]


def test_bad_client_input_is_refused_field_by_field_in_french(client_as: ClientAs) -> None:
    api = client_as("commercial")
    body = problem(
        api.post(
            "/api/clients",
            json={
                "nom": "  ",
                "email": "pas-un-email",
                "telephone": "abc",
                "adresse": {"codePostal": "1" * 20},
            },
        ),
        422,
    )
    assert body["errors"] == {
        "nom": "Le nom est obligatoire.",
        "email": "Adresse email invalide (exemple : nom@domaine.fr).",
        "telephone": "Numéro de téléphone invalide (exemple : 06 12 34 56 78).",
        "adresse.codePostal": "Le code postal ne doit pas dépasser 12 caractères.",
    }
    wrong_type = problem(api.post("/api/clients", json={"nom": 12}), 400)
    assert wrong_type["errors"] == {"nom": "Valeur attendue : un texte."}
    unknown = problem(api.post("/api/clients", json={"nom": "A", "siret": "1"}), 400)
    assert unknown["errors"] == {"siret": "Champ inconnu."}
    missing = problem(api.post("/api/clients", json={}), 400)
    assert missing["errors"] == {"nom": "Ce champ est obligatoire."}
    enum = problem(api.post("/api/clients", json={"nom": "A", "type": "association"}), 400)
    assert enum["errors"] == {
        "type": "Valeur non reconnue (valeurs possibles : entreprise, particulier)."
    }
    owner = problem(api.post("/api/clients", json={"nom": "A", "ownerId": "moi"}), 400)
    assert owner["errors"] == {"ownerId": "Identifiant invalide (UUID attendu)."}
    stranger = problem(api.post("/api/clients", json={"nom": "A", "ownerId": str(uuid4())}), 422)
    assert stranger["errors"] == {"ownerId": "Ce responsable n’existe pas."}
    not_json = api.post(
        "/api/clients", content=b"{nom:", headers={"content-type": "application/json"}
    )
    assert problem(not_json, 400)["detail"] == "Le corps de la requête n’est pas un JSON valide."
    not_object = problem(api.post("/api/clients", json=["A"]), 400)
    assert not_object["errors"] == {"corps": "Valeur attendue : un objet JSON."}
    assert api.get("/api/clients").json()["total"] == 0


def test_a_second_client_with_the_same_email_is_a_conflict(client_as: ClientAs) -> None:
    api = client_as("commercial")
    new_client(api, email="compta@acme.fr")
    body = problem(api.post("/api/clients", json={"nom": "Bis", "email": "COMPTA@acme.fr"}), 409)
    assert body["detail"] == "Un client avec cette adresse email existe déjà."


def test_an_archived_client_leaves_the_list_and_comes_back_when_restored(
    client_as: ClientAs,
) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    archived = api.post(f"/api/clients/{client_id}/archive")
    assert archived.status_code == 200
    assert archived.json()["archive"] is True
    assert api.get("/api/clients").json()["total"] == 0
    assert api.get("/api/clients", params={"archive": "true"}).json()["total"] == 1
    body = problem(api.patch(f"/api/clients/{client_id}", json={"notes": "x"}), 422)
    assert body["detail"] == "Ce client est archivé : restaurez-le avant de le modifier."
    problem(api.post(f"/api/clients/{client_id}/archive"), 422)

    restored = api.post(f"/api/clients/{client_id}/restauration")
    assert restored.status_code == 200
    assert restored.json()["archive"] is False
    assert api.get("/api/clients").json()["total"] == 1
    problem(api.post(f"/api/clients/{client_id}/restauration"), 422)


def test_contacts_are_added_changed_and_removed(client_as: ClientAs) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    added = api.post(
        f"/api/clients/{client_id}/contacts",
        json={"nom": "Jeanne Roux", "email": "jeanne@acme.fr", "fonction": "Gérante"},
    )
    assert added.status_code == 201, added.text
    contact = added.json()
    assert contact["nom"] == "Jeanne Roux"
    assert contact["fonction"] == "Gérante"
    url = f"/api/clients/{client_id}/contacts/{contact['id']}"

    changed = api.put(url, json={"nom": "Jeanne Roux", "telephone": "0612345678"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["telephone"] == "0612345678"
    assert changed.json()["email"] == ""
    listed = api.get(f"/api/clients/{client_id}/contacts").json()
    assert listed["total"] == 1
    assert listed["items"] == [changed.json()]
    assert api.get(f"/api/clients/{client_id}").json()["contacts"] == [changed.json()]

    bad = problem(
        api.post(f"/api/clients/{client_id}/contacts", json={"nom": "", "email": "x"}), 422
    )
    assert set(bad["errors"]) == {"nom", "email"}
    assert api.delete(url).status_code == 204
    assert api.get(f"/api/clients/{client_id}/contacts").json()["total"] == 0
    assert problem(api.delete(url), 404)["detail"] == "Ce contact n’existe pas."
    problem(api.put(url, json={"nom": "Jeanne"}), 404)


def test_contacts_are_listed_page_by_page(client_as: ClientAs) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    for name in ("Zoé", "Anne", "Marc", "Paul", "Inès"):
        assert api.post(f"/api/clients/{client_id}/contacts", json={"nom": name}).status_code == 201
    names = [c["nom"] for c in walk(api, f"/api/clients/{client_id}/contacts", 2)]
    assert names == ["Anne", "Inès", "Marc", "Paul", "Zoé"]


def test_logged_activities_show_in_the_activities_and_the_timeline(
    tenant: Tenant, client_as: ClientAs
) -> None:
    api = client_as("commercial")
    client_id = new_client(api, "Garage Petit")["id"]
    call = api.post(
        f"/api/clients/{client_id}/activites",
        json={
            "type": "appel",
            "sujet": "Relance devis",
            "contenu": "Intéressé",
            "dureeMinutes": 15,
            "dateActivite": "2025-03-04T10:30:00+01:00",
        },
    )
    assert call.status_code == 201, call.text
    entry = call.json()
    assert entry["typeEvenement"] == "appel"
    assert entry["descriptionTexte"] == "Appel : Relance devis (15 min)\nIntéressé"
    assert entry["dateEvenement"] == "2025-03-04T09:30:00Z"
    assert entry["auteur"] == "Commercial"
    assert entry["auteurId"] == str(tenant.users["commercial"])
    note = api.post(f"/api/clients/{client_id}/activites", json={"type": "note", "sujet": "RGPD"})
    assert note.status_code == 201

    activities = api.get(f"/api/clients/{client_id}/activites").json()
    assert [a["typeEvenement"] for a in activities["items"]] == ["note", "appel"]
    timeline = api.get(f"/api/clients/{client_id}/timeline").json()
    assert {e["typeEvenement"] for e in timeline["items"]} == {"client_cree", "appel", "note"}
    calls = api.get(f"/api/clients/{client_id}/timeline", params={"types": "appel,reunion"})
    assert [e["typeEvenement"] for e in calls.json()["items"]] == ["appel"]
    repeated = api.get(f"/api/clients/{client_id}/timeline?types=appel&types=client_cree")
    assert repeated.json()["total"] == 2
    assert len(walk(api, f"/api/clients/{client_id}/timeline", 1)) == 3


def test_bad_activities_are_refused_in_french(client_as: ClientAs) -> None:
    api = client_as("commercial")
    url = f"/api/clients/{new_client(api)['id']}/activites"
    kind = problem(api.post(url, json={"type": "visio", "sujet": "x"}), 400)
    assert kind["errors"] == {
        "type": "Valeur non reconnue (valeurs possibles : note, appel, reunion)."
    }
    naive = problem(
        api.post(url, json={"type": "note", "sujet": "x", "dateActivite": "2025-03-04T10:30:00"}),
        422,
    )
    assert naive["errors"] == {"dateActivite": "La date doit préciser son fuseau horaire."}
    long = problem(api.post(url, json={"type": "appel", "sujet": "x", "dureeMinutes": 0}), 422)
    assert long["errors"] == {
        "dureeMinutes": "La durée doit être comprise entre 1 et 1 440 minutes."
    }


def test_another_workspace_s_client_is_not_found_and_never_shown(
    client_as: ClientAs, other_tenant: Tenant
) -> None:
    theirs = other_tenant.client("admin")
    secret = new_client(theirs, "Client secret", notes="confidentiel")["id"]
    api = client_as("admin")
    responses = [
        api.get(f"/api/clients/{secret}"),
        api.patch(f"/api/clients/{secret}", json={"notes": "volé"}),
        api.put(f"/api/clients/{secret}", json={"nom": "volé"}),
        api.post(f"/api/clients/{secret}/archive"),
        api.post(f"/api/clients/{secret}/restauration"),
        api.get(f"/api/clients/{secret}/contacts"),
        api.post(f"/api/clients/{secret}/contacts", json={"nom": "Espion"}),
        api.get(f"/api/clients/{secret}/activites"),
        api.post(f"/api/clients/{secret}/activites", json={"type": "note", "sujet": "x"}),
        api.get(f"/api/clients/{secret}/timeline"),
    ]
    for response in responses:
        body = problem(response, 404)
        assert body["detail"] == "Client introuvable."
        assert "secret" not in response.text
        assert "confidentiel" not in response.text
    assert api.get("/api/clients").json()["total"] == 0
    assert theirs.get(f"/api/clients/{secret}").json()["notes"] == "confidentiel"
    theirs.__exit__(None, None, None)


def test_walking_every_page_of_clients_yields_each_client_once(client_as: ClientAs) -> None:
    api = client_as("commercial")
    names = ["Émile", "alpha", "Bravo", "charlie", "Delta", "écho", "Foxtrot"]
    ids = {
        new_client(api, name, tags=["lot"] if i % 2 else [])["id"] for i, name in enumerate(names)
    }
    for size in (1, 3, 7, 200):
        seen = walk(api, "/api/clients", size)
        assert len(seen) == len(names)
        assert {c["id"] for c in seen} == ids
    first = api.get("/api/clients", params={"limite": 3}).json()
    assert first["total"] == 7
    assert len(first["items"]) == 3
    assert first["curseurSuivant"]
    assert [c["nom"] for c in walk(api, "/api/clients?tag=lot", 2)] == ["alpha", "charlie", "écho"]
    assert [c["nom"] for c in walk(api, "/api/clients?q=AL", 1)] == ["alpha"]


def test_the_client_list_filters_by_owner(tenant: Tenant, client_as: ClientAs) -> None:
    api = client_as("admin")
    new_client(api, "A")
    new_client(api, "B", ownerId=str(tenant.users["commercial"]))
    mine = api.get("/api/clients", params={"ownerId": str(tenant.users["commercial"])}).json()
    assert [c["nom"] for c in mine["items"]] == ["B"]


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "pas-un-curseur"},
        {"cursor": base64.urlsafe_b64encode(b'["a"]').decode()},
        {"limite": "0"},
        {"limite": "201"},
        {"limite": "beaucoup"},
        {"ownerId": "42"},
        {"archive": "peut-etre"},
        {"q": "a\x00b"},
        {"q": "x" * 201},
    ],
)
def test_bad_list_parameters_are_a_4xx_with_the_field(
    client_as: ClientAs, query: dict[str, str]
) -> None:
    response = client_as("commercial").get("/api/clients", params=query)
    assert response.status_code in (400, 422), response.text
    body = problem(response, response.status_code)
    assert set(body["errors"]) == set(query)


def test_a_bad_cursor_on_the_timeline_is_a_400(client_as: ClientAs) -> None:
    api = client_as("commercial")
    client_id = new_client(api)["id"]
    forged = base64.urlsafe_b64encode(b'["hier", "x"]').decode()
    body = problem(api.get(f"/api/clients/{client_id}/timeline", params={"cursor": forged}), 400)
    assert body["detail"] == "Curseur de pagination invalide."


def test_a_malformed_id_in_the_path_is_not_found(client_as: ClientAs) -> None:
    api = client_as("commercial")
    problem(api.get("/api/clients/pas-un-uuid"), 404)
    problem(api.patch("/api/clients/123", json={"notes": "x"}), 404)
