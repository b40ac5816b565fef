"""Paramètres: administrators only; workspace profile and the team's accounts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.web.conftest import PASSWORD, Tenant
from tests.web.screens import field_error

ClientAs = Callable[..., TestClient[Litestar]]


@pytest.mark.parametrize("role", ["commercial", "developpeur_nocode", "developpeur_automatisme"])
def test_only_administrators_reach_the_settings(client_as: ClientAs, role: str) -> None:
    browser = client_as(role)
    assert "/parametres" not in browser.get("/").text  # no link in the navigation
    for path in ("/parametres", "/parametres/utilisateurs"):
        response = browser.get(path)
        assert response.status_code == 403
        assert "Votre rôle ne permet pas cette action." in response.text
    assert browser.post("/parametres", data={"nom": "Pirate"}).status_code == 403
    assert browser.post("/parametres/utilisateurs", data={"email": "x@y.fr"}).status_code == 403


def test_the_administrator_updates_the_workspace_profile(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = client_as("admin")
    page = browser.get("/parametres")
    assert page.status_code == 200
    assert 'value="Agence Test"' in page.text
    invalid = browser.post(
        "/parametres", data={"nom": "Agence Test", "siret": "123", "domaine_mail": "pas un domaine"}
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "siret").startswith("SIRET invalide")
    assert field_error(invalid.text, "domaine_mail").startswith("Domaine invalide")
    assert tenant.container.accounts_view.workspace(tenant.workspace_id).siret == ""
    saved = browser.post(
        "/parametres",
        data={
            "nom": "Atelier Dupont",
            "raison_sociale": "Dupont SARL",
            "siret": "73282932000074",
            "numero_tva": "FR44732829320",
            "devise": "EUR",
            "logo_url": "https://exemple.fr/logo.png",
            "domaine_mail": "dupont.fr",
        },
    )
    assert saved.status_code == 200
    assert "Profil de l’espace enregistré." in saved.text
    assert "Atelier Dupont" in saved.text  # the brand in the top bar
    workspace = tenant.container.accounts_view.workspace(tenant.workspace_id)
    assert (workspace.nom, workspace.siret, workspace.domaine_mail) == (
        "Atelier Dupont",
        "73282932000074",
        "dupont.fr",
    )


def test_the_administrator_creates_changes_and_disables_accounts(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = client_as("admin")
    listing = browser.get("/parametres/utilisateurs")
    assert tenant.email("commercial") in listing.text
    invalid = browser.post(
        "/parametres/utilisateurs",
        data={"nom": "", "email": "faux", "role": "commercial", "password": "court"},
    )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "new-password").startswith("Le mot de passe doit faire")
    invalid = browser.post(
        "/parametres/utilisateurs",
        data={"nom": "", "email": "faux", "role": "commercial", "password": PASSWORD},
    )
    assert field_error(invalid.text, "new-nom") == "Le nom est obligatoire."
    assert field_error(invalid.text, "new-email").startswith("Adresse email invalide")
    email = f"nouvelle.{tenant.workspace_id.hex[:8]}@test.fr"
    created = browser.post(
        "/parametres/utilisateurs",
        data={
            "nom": "Nina Nouvelle",
            "email": email,
            "role": "developpeur_nocode",
            "password": PASSWORD,
        },
    )
    assert "Compte créé pour Nina Nouvelle" in created.text
    user = tenant.container.accounts_view.user_by_email(email)
    assert user is not None
    assert user.role == "developpeur_nocode"
    changed = browser.post(f"/parametres/utilisateurs/{user.id}/role", data={"role": "commercial"})
    assert "Nina Nouvelle est maintenant Commercial." in changed.text
    disabled = browser.post(f"/parametres/utilisateurs/{user.id}/desactiver")
    assert "Compte de Nina Nouvelle désactivé." in disabled.text
    assert tenant.container.accounts_view.user(user.id).disabled
    enabled = browser.post(f"/parametres/utilisateurs/{user.id}/activer")
    assert "Compte de Nina Nouvelle réactivé." in enabled.text
    own = browser.post(f"/parametres/utilisateurs/{tenant.users['admin']}/desactiver")
    assert "Vous ne pouvez pas désactiver votre propre compte." in own.text
