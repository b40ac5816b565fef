"""The client screens: list, search, form, client page, contacts, activities, roles."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.web.conftest import Tenant
from tests.web.screens import HTMX, field_error, is_fragment, make_client, settle

ClientAs = Callable[..., TestClient[Litestar]]
ROLES = ["admin", "commercial", "developpeur_nocode", "developpeur_automatisme"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_client_list_and_page(
    tenant: Tenant, client_as: ClientAs, role: str
) -> None:
    client_id = make_client(tenant, "Atelier Lefèvre", email="contact@lefevre.fr")
    browser = client_as(role)
    listing = browser.get("/clients")
    assert listing.status_code == 200
    assert "Atelier Lefèvre" in listing.text
    detail = browser.get(f"/clients/{client_id}")
    assert detail.status_code == 200
    assert "Chronologie" in detail.text
    assert "Fiche client « Atelier Lefèvre » créée" in detail.text
    can_edit = role in ("admin", "commercial")
    assert ("+ Nouveau client" in listing.text) is can_edit
    assert ("/modifier" in detail.text) is can_edit
    assert ("Ajouter un contact" in detail.text) is can_edit
    assert ("Ajouter une note, un appel ou une réunion" in detail.text) is can_edit


def test_the_search_filters_by_name_and_htmx_gets_only_the_results(
    tenant: Tenant, client_as: ClientAs
) -> None:
    make_client(tenant, "Garage Moreau", tags=("auto",))
    make_client(tenant, "Fromagerie des Alpes", email="bonjour@alpes.fr")
    browser = client_as("commercial")
    page = browser.get("/clients", params={"q": "alpes"})
    assert "Fromagerie des Alpes" in page.text
    assert "Garage Moreau" not in page.text
    by_email = browser.get("/clients", params={"q": "bonjour@"}, headers=HTMX)
    assert is_fragment(by_email.text)
    assert 'id="results"' in by_email.text
    assert "Fromagerie des Alpes" in by_email.text
    by_tag = browser.get("/clients", params={"tag": "auto"})
    assert "Garage Moreau" in by_tag.text
    assert "Fromagerie" not in by_tag.text.split('id="results"')[1]
    nothing = browser.get("/clients", params={"q": "introuvable"})
    assert "Aucun client ne correspond" in nothing.text


def test_the_list_pages_forward_and_back(tenant: Tenant, client_as: ClientAs) -> None:
    for number in range(23):
        make_client(tenant, f"Client {number:02d}")
    browser = client_as("admin")
    first = browser.get("/clients")
    assert "Client 00" in first.text
    assert "Client 20" not in first.text
    assert "Page 1 · 23 résultats" in first.text
    next_url = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = browser.get(next_url.replace("&amp;", "&"))
    assert "Client 20" in second.text
    assert "Page 2" in second.text
    prev_url = second.text.split('rel="prev"')[0].rsplit('href="', 1)[1].split('"')[0]
    back = browser.get(prev_url.replace("&amp;", "&"))
    assert "Client 00" in back.text
    assert "Page 1" in back.text


def test_creating_a_client_from_the_form_opens_its_page(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = client_as("commercial")
    assert browser.get("/clients/nouveau").status_code == 200
    response = browser.post(
        "/clients/nouveau",
        data={
            "nom": "Studio Lumière",
            "type": "entreprise",
            "email": "hello@lumiere.fr",
            "ville": "Marseille",
            "tags": "vip, photo",
            "owner_id": "",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    page = browser.get(location)
    assert "Studio Lumière" in page.text
    assert "Client « Studio Lumière » créé." in page.text  # the toast
    assert "vip" in page.text


def test_an_invalid_client_form_shows_french_messages_and_records_nothing(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = client_as("admin")
    response = browser.post(
        "/clients/nouveau", data={"nom": "  ", "type": "entreprise", "email": "pas-un-email"}
    )
    assert response.status_code == 422
    assert field_error(response.text, "nom") == "Le nom est obligatoire."
    assert field_error(response.text, "email").startswith("Adresse email invalide")
    assert 'value="pas-un-email"' in response.text  # what was typed stays
    assert tenant.container.clients.search(tenant.workspace_id).total == 0


def test_a_duplicate_email_is_refused_on_the_form(tenant: Tenant, client_as: ClientAs) -> None:
    make_client(tenant, "Cave Saint-Vincent", email="cave@vincent.fr")
    response = client_as("admin").post(
        "/clients/nouveau", data={"nom": "Autre cave", "email": "cave@vincent.fr"}
    )
    assert response.status_code == 422
    assert "Un client avec cette adresse email existe déjà." in response.text


def test_editing_a_client_changes_its_page(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = make_client(tenant, "Menuiserie Bernard")
    browser = client_as("admin")
    form = browser.get(f"/clients/{client_id}/modifier")
    assert 'value="Menuiserie Bernard"' in form.text
    response = browser.post(
        f"/clients/{client_id}/modifier",
        data={
            "nom": "Menuiserie Bernard & Fils",
            "type": "entreprise",
            "telephone": "06 12 34 56 78",
        },
    )
    assert response.status_code == 200
    assert "Menuiserie Bernard &amp; Fils" in response.text
    assert "Fiche client enregistrée." in response.text
    invalid = browser.post(
        f"/clients/{client_id}/modifier",
        data={"nom": "X", "type": "entreprise", "telephone": "abc"},
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "telephone").startswith("Numéro de téléphone invalide")


def test_an_htmx_form_post_gets_a_redirect_header_after_success(
    tenant: Tenant, client_as: ClientAs
) -> None:
    response = client_as("admin").post(
        "/clients/nouveau", data={"nom": "Librairie Le Chapitre"}, headers=HTMX
    )
    assert response.status_code == 204
    assert response.headers["hx-redirect"].startswith("/clients/")


def test_the_view_only_role_gets_403_on_every_client_write(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Pharmacie Centrale")
    browser = client_as("developpeur_automatisme")
    assert browser.get("/clients/nouveau").status_code == 403
    assert browser.post("/clients/nouveau", data={"nom": "X"}).status_code == 403
    assert browser.get(f"/clients/{client_id}/modifier").status_code == 403
    for path in ("modifier", "archiver", "contacts", "activites"):
        response = browser.post(f"/clients/{client_id}/{path}", data={"nom": "X"})
        assert response.status_code == 403, path
    assert "Votre rôle ne permet pas" in browser.get(f"/clients/{client_id}/modifier").text
    assert tenant.container.clients.get(tenant.workspace_id, client_id).nom == "Pharmacie Centrale"


def test_the_nocode_developer_writes_only_the_clients_assigned_to_them(
    tenant: Tenant, client_as: ClientAs
) -> None:
    mine = make_client(tenant, "Client assigné", owner_id=tenant.users["developpeur_nocode"])
    other = make_client(tenant, "Client d’un autre", owner_id=tenant.users["commercial"])
    browser = client_as("developpeur_nocode")
    assert "/modifier" in browser.get(f"/clients/{mine}").text
    assert "/modifier" not in browser.get(f"/clients/{other}").text
    assert browser.get("/clients/nouveau").status_code == 403
    ok = browser.post(f"/clients/{mine}/contacts", data={"nom": "Anne Dupont"}, headers=HTMX)
    assert ok.status_code == 200
    refused = browser.post(f"/clients/{other}/contacts", data={"nom": "Anne Dupont"})
    assert refused.status_code == 403
    # "Assigned" rights edit the client but never hand it to someone else.
    browser.post(
        f"/clients/{mine}/modifier",
        data={
            "nom": "Client assigné",
            "type": "entreprise",
            "owner_id": str(tenant.users["admin"]),
        },
    )
    detail = tenant.container.clients.get(tenant.workspace_id, mine)
    assert detail.owner_id == tenant.users["developpeur_nocode"]


def test_contacts_are_added_edited_and_removed_with_htmx_fragments(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Hôtel Les Tilleuls")
    browser = client_as("commercial")
    added = browser.post(
        f"/clients/{client_id}/contacts",
        data={"nom": "Claire Martin", "fonction": "Gérante", "email": "claire@tilleuls.fr"},
        headers=HTMX,
    )
    assert added.status_code == 200
    assert is_fragment(added.text)
    assert 'id="contacts"' in added.text
    assert "Claire Martin" in added.text
    assert json.loads(added.headers["hx-trigger"])["toast"]["text"] == "Contact ajouté."
    invalid = browser.post(
        f"/clients/{client_id}/contacts", data={"nom": "", "email": "faux"}, headers=HTMX
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "contact-nom") == "Le nom du contact est obligatoire."
    contact = tenant.container.clients.get(tenant.workspace_id, client_id).contacts[0]
    edited = browser.post(
        f"/clients/{client_id}/contacts/{contact.id}",
        data={"nom": "Claire Martin-Roux", "fonction": "Directrice"},
        headers=HTMX,
    )
    assert "Claire Martin-Roux" in edited.text
    removed = browser.post(f"/clients/{client_id}/contacts/{contact.id}/supprimer", headers=HTMX)
    assert removed.status_code == 200
    assert "Claire Martin-Roux" not in removed.text
    assert tenant.container.clients.get(tenant.workspace_id, client_id).contacts == []


def test_a_call_logged_on_the_client_page_appears_on_the_timeline(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Garage Moreau")
    browser = client_as("commercial")
    response = browser.post(
        f"/clients/{client_id}/activites",
        data={
            "type": "appel",
            "sujet": "Point devis",
            "date_activite": "2026-03-02T10:30",
            "duree_minutes": "25",
            "contenu": "Rappeler jeudi.",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    assert 'hx-swap-oob="true"' in response.text  # the timeline comes along
    assert "Appel : Point devis (25 min)" in response.text
    assert json.loads(response.headers["hx-trigger"])["toast"]["text"] == "Appel enregistré."
    page = browser.get(f"/clients/{client_id}")
    assert 'aria-label="Appel"' in page.text
    assert "2 mars 2026 à 10:30" in page.text


def test_an_invalid_activity_gets_422_next_to_the_field(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Brasserie du Port")
    browser = client_as("admin")
    response = browser.post(
        f"/clients/{client_id}/activites",
        data={
            "type": "reunion",
            "sujet": "",
            "date_activite": "2026-03-02T10:30",
            "duree_minutes": "9999",
        },
    )
    assert response.status_code == 422
    assert field_error(response.text, "act-sujet") == "Le sujet est obligatoire."
    assert field_error(response.text, "act-duree_minutes").startswith("La durée doit")
    kinds = {
        e.type_evenement
        for e in tenant.container.timeline.for_client(tenant.workspace_id, client_id).items
    }
    assert kinds == {"client_cree"}


def test_the_timeline_filters_by_kind_and_shows_unknown_kinds(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Domaine Viticole Roux")
    browser = client_as("admin")
    for kind, sujet in (("note", "Idée de cuvée"), ("appel", "Appel découverte")):
        browser.post(
            f"/clients/{client_id}/activites",
            data={"type": kind, "sujet": sujet, "date_activite": "2026-01-05T09:00"},
        )
    settle(tenant)
    # Kinds from later features (Stripe, inbox) land in the same table.
    with psycopg.connect(tenant.container.conninfo) as conn:
        for number, (kind, text) in enumerate(
            (
                ("paiement_recu", "Paiement reçu : 1 200,00 €"),
                ("signature_devis", "Devis signé en ligne"),
            )
        ):
            conn.execute(
                "INSERT INTO rm_timeline (id, workspace_id, client_id, type_evenement,"
                " reference_id, description_texte, date_evenement, auteur)"
                " VALUES (%s, %s, %s, %s, NULL, %s, %s, 'stripe')",
                (
                    f"test:{client_id}:{number}",
                    tenant.workspace_id,
                    client_id,
                    kind,
                    text,
                    datetime(2026, 1, 6, 12, tzinfo=UTC),
                ),
            )
    calls = browser.get(f"/clients/{client_id}", params={"type": "appels"})
    assert "Appel : Appel découverte" in calls.text
    assert "Idée de cuvée" not in calls.text
    fragment = browser.get(
        f"/clients/{client_id}/chronologie", params={"type": "notes"}, headers=HTMX
    )
    assert is_fragment(fragment.text)
    assert "Note : Idée de cuvée" in fragment.text
    everything = browser.get(f"/clients/{client_id}")
    assert "Paiement reçu : 1 200,00 €" in everything.text
    assert 'aria-label="Paiement reçu"' in everything.text
    assert "Devis signé en ligne" in everything.text
    assert 'aria-label="Signature devis"' in everything.text  # the generic icon's label


def test_archiving_hides_the_client_and_restoring_brings_it_back(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = make_client(tenant, "Auto-École Pilote")
    browser = client_as("admin")
    archived = browser.post(f"/clients/{client_id}/archiver")
    assert "Client archivé." in archived.text
    assert "Ce client est archivé" in archived.text
    assert "Auto-École Pilote" not in browser.get("/clients").text.split('id="results"')[1]
    assert "Auto-École Pilote" in browser.get("/clients", params={"archives": "1"}).text
    restored = browser.post(f"/clients/{client_id}/restaurer")
    assert "Client restauré." in restored.text


def test_a_form_post_without_the_csrf_token_is_refused(tenant: Tenant, client_as: ClientAs) -> None:
    browser = client_as("admin")
    del browser.headers["x-csrftoken"]
    response = browser.post("/clients/nouveau", data={"nom": "Sans jeton"})
    assert response.status_code == 403
    assert "Jeton de sécurité" in response.text
    form = browser.get("/clients/nouveau").text
    token = form.split('name="_csrf_token" value="')[1].split('"')[0]
    accepted = browser.post(
        "/clients/nouveau", data={"nom": "Avec jeton", "_csrf_token": token}, follow_redirects=False
    )
    assert accepted.status_code == 303


def test_an_unknown_client_is_a_french_404(client_as: ClientAs) -> None:
    response = client_as("admin").get("/clients/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "Client introuvable." in response.text
