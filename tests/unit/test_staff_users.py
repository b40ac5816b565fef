"""Staff users: registration, passwords, roles, disabling, and logging in."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from crm_core.accounts.domainmodel import StaffUser
from crm_core.errors import (
    AccountDisabledError,
    AuthenticationError,
    DomainError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
)
from crm_core.ids import user_id_for
from crm_core.values import Role
from tests.unit.conftest import PASSWORD, WholeCrm, position, refused, stored_events
from tests.unit.fakes import FakePasswordHasher

WRONG_LOGIN = "Email ou mot de passe incorrect."


def register(
    crm: WholeCrm,
    workspace: UUID,
    email: str = "lea@atelier.fr",
    role: str = "admin",
    password: str = PASSWORD,
) -> UUID:
    return crm.register_user(
        workspace, email=email, nom="Léa Dupont", role=role, password=password
    ).id


def test_a_user_is_registered_with_only_a_hash_of_the_password(
    crm: WholeCrm, workspace: UUID
) -> None:
    user_id = register(crm, workspace, email=" Lea@Atelier.FR ")
    assert user_id == user_id_for("lea@atelier.fr")
    (registered,) = stored_events(crm, user_id)
    assert type(registered) is StaffUser.Registered
    assert registered.email == "lea@atelier.fr"
    assert registered.role is Role.ADMIN
    assert PASSWORD not in registered.password_hash
    assert FakePasswordHasher().verify(registered.password_hash, PASSWORD)


def test_a_second_account_with_the_same_email_is_refused_even_in_another_workspace(
    crm: WholeCrm, workspace: UUID, other_workspace: UUID
) -> None:
    register(crm, workspace)
    with refused(DuplicateError, "Un compte existe déjà avec cette adresse email."):
        register(crm, other_workspace, email="LEA@atelier.fr")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("court", "Le mot de passe doit faire au moins 10 caractères."),
        ("123456789", "Le mot de passe doit faire au moins 10 caractères."),
        ("x" * 257, "Le mot de passe ne doit pas dépasser 256 caractères."),
    ],
)
def test_a_password_of_the_wrong_length_is_refused(
    crm: WholeCrm, workspace: UUID, password: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        register(crm, workspace, password=password)
    assert error.value.errors == {"password": message}


def test_a_ten_character_password_is_enough(crm: WholeCrm, workspace: UUID) -> None:
    register(crm, workspace, password="0123456789")
    assert crm.authenticate("lea@atelier.fr", "0123456789").email == "lea@atelier.fr"


def test_a_user_with_bad_fields_is_refused_with_every_message(
    crm: WholeCrm, workspace: UUID
) -> None:
    with pytest.raises(InvalidInputError) as error:
        crm.register_user(workspace, email="lea", nom=" ", role="stagiaire", password=PASSWORD)
    assert error.value.errors == {
        "email": "Adresse email invalide (exemple : nom@domaine.fr).",
        "nom": "Le nom est obligatoire.",
        "role": "Rôle invalide (valeurs possibles : admin, commercial, developpeur_nocode,"
        " developpeur_automatisme).",
    }


def test_a_user_of_an_unknown_workspace_is_refused(crm: WholeCrm) -> None:
    with refused(NotFoundError, "Espace de travail introuvable."):
        register(crm, uuid4())


# --- roles, names, passwords ------------------------------------------------------


def test_an_admin_cannot_remove_their_own_admin_role(crm: WholeCrm, workspace: UUID) -> None:
    admin = register(crm, workspace)
    with refused(DomainError, "Vous ne pouvez pas retirer votre propre rôle d’administrateur."):
        crm.change_role(workspace, admin, "commercial", acting_user_id=admin)
    assert crm.repository.get(admin).role is Role.ADMIN


def test_an_admin_can_change_the_role_of_another_admin(crm: WholeCrm, workspace: UUID) -> None:
    first = register(crm, workspace, email="lea@atelier.fr")
    second = register(crm, workspace, email="paul@atelier.fr")
    crm.change_role(workspace, second, "commercial", acting_user_id=first)
    assert crm.repository.get(second).role is Role.COMMERCIAL
    assert type(stored_events(crm, second)[-1]) is StaffUser.RoleChanged


def test_the_same_role_again_records_no_event(crm: WholeCrm, workspace: UUID) -> None:
    admin = register(crm, workspace)
    before = position(crm)
    crm.change_role(workspace, admin, "admin", acting_user_id=admin)
    assert position(crm) == before


def test_a_rename_needs_a_name_and_records_only_a_change(crm: WholeCrm, workspace: UUID) -> None:
    user_id = register(crm, workspace)
    with refused(InvalidInputError, "Le nom est obligatoire."):
        crm.rename_user(workspace, user_id, "  ")
    before = position(crm)
    crm.rename_user(workspace, user_id, " Léa  Dupont ")
    assert position(crm) == before
    crm.rename_user(workspace, user_id, "Léa Martin")
    assert crm.repository.get(user_id).nom == "Léa Martin"


def test_a_new_password_replaces_the_old_one(crm: WholeCrm, workspace: UUID) -> None:
    user_id = register(crm, workspace)
    crm.change_password(workspace, user_id, "un nouveau mot de passe")
    with pytest.raises(AuthenticationError):
        crm.authenticate("lea@atelier.fr", PASSWORD)
    assert crm.authenticate("lea@atelier.fr", "un nouveau mot de passe").id == user_id


def test_a_new_password_must_be_long_enough(crm: WholeCrm, workspace: UUID) -> None:
    user_id = register(crm, workspace)
    with refused(InvalidInputError, "Le mot de passe doit faire au moins 10 caractères."):
        crm.change_password(workspace, user_id, "court")


# --- disabling --------------------------------------------------------------------


def test_a_user_cannot_disable_their_own_account(crm: WholeCrm, workspace: UUID) -> None:
    admin = register(crm, workspace)
    with refused(DomainError, "Vous ne pouvez pas désactiver votre propre compte."):
        crm.disable_user(workspace, admin, acting_user_id=admin)
    assert crm.repository.get(admin).disabled is False


def test_an_admin_disables_and_enables_another_user(crm: WholeCrm, workspace: UUID) -> None:
    admin = register(crm, workspace)
    lea = register(crm, workspace, email="paul@atelier.fr", role="commercial")
    crm.disable_user(workspace, lea, acting_user_id=admin)
    before = position(crm)
    crm.disable_user(workspace, lea, acting_user_id=admin)
    assert position(crm) == before
    crm.enable_user(workspace, lea)
    assert crm.repository.get(lea).disabled is False
    assert [type(event) for event in stored_events(crm, lea)] == [
        StaffUser.Registered,
        StaffUser.Disabled,
        StaffUser.Enabled,
    ]


# --- logging in -------------------------------------------------------------------


def test_the_right_password_logs_in_whatever_the_email_case(crm: WholeCrm, workspace: UUID) -> None:
    user_id = register(crm, workspace, role="commercial")
    logged_in = crm.authenticate("  LEA@atelier.fr", PASSWORD)
    assert (logged_in.id, logged_in.workspace_id, logged_in.role) == (
        user_id,
        workspace,
        Role.COMMERCIAL,
    )


def test_a_wrong_password_is_refused(crm: WholeCrm, workspace: UUID) -> None:
    register(crm, workspace)
    with pytest.raises(AuthenticationError) as error:
        crm.authenticate("lea@atelier.fr", "pas le bon mot de passe")
    assert error.value.message == WRONG_LOGIN


def test_an_unknown_email_gets_the_same_refusal_after_checking_a_hash(
    crm: WholeCrm, hasher: FakePasswordHasher
) -> None:
    hasher.verified.clear()
    with pytest.raises(AuthenticationError) as error:
        crm.authenticate("personne@atelier.fr", PASSWORD)
    assert error.value.message == WRONG_LOGIN
    assert len(hasher.verified) == 1, "the refusal must cost one hash check, as for a real user"


def test_a_disabled_account_cannot_log_in(crm: WholeCrm, workspace: UUID) -> None:
    admin = register(crm, workspace)
    lea = register(crm, workspace, email="paul@atelier.fr", role="commercial")
    crm.disable_user(workspace, lea, acting_user_id=admin)
    with pytest.raises(AccountDisabledError) as error:
        crm.authenticate("paul@atelier.fr", PASSWORD)
    assert error.value.message == "Ce compte est désactivé. Contactez un administrateur."


def test_a_disabled_account_with_a_wrong_password_gets_the_generic_refusal(
    crm: WholeCrm, workspace: UUID
) -> None:
    admin = register(crm, workspace)
    lea = register(crm, workspace, email="paul@atelier.fr", role="commercial")
    crm.disable_user(workspace, lea, acting_user_id=admin)
    with pytest.raises(AuthenticationError):
        crm.authenticate("paul@atelier.fr", "pas le bon mot de passe")


def test_a_login_upgrades_an_outdated_hash(
    crm: WholeCrm, workspace: UUID, hasher: FakePasswordHasher
) -> None:
    user_id = register(crm, workspace)
    crm.change_password(workspace, user_id, PASSWORD)
    user = crm.repository.get(user_id)
    user.change_password_hash(hasher.outdated_hash(PASSWORD))
    crm.save(user)

    crm.authenticate("lea@atelier.fr", PASSWORD)

    latest = stored_events(crm, user_id)[-1]
    assert type(latest) is StaffUser.PasswordChanged
    assert not hasher.needs_rehash(latest.password_hash)
    assert hasher.verify(latest.password_hash, PASSWORD)
