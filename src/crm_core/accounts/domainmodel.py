"""The account side: the workspace (tenant) and its staff users."""

from __future__ import annotations

import re
from typing import Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import event

from crm_core.aggregate import CrmAggregate
from crm_core.checks import FieldErrors
from crm_core.errors import DomainError
from crm_core.ids import user_id_for
from crm_core.personal import PersonalData
from crm_core.values import Role

_SIRET = re.compile(r"^\d{14}$")
_VAT = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
_DOMAIN = re.compile(r"^([a-z0-9-]+\.)+[a-z]{2,}$")
MIN_PASSWORD_LENGTH = 10


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _check_profile(
    *,
    nom: str,
    raison_sociale: str,
    siret: str,
    numero_tva: str,
    devise: str,
    logo_url: str,
    domaine_mail: str,
) -> dict[str, Any]:
    with FieldErrors() as check:
        siret = "".join(siret.split())
        if siret and not (_SIRET.fullmatch(siret) and _luhn_ok(siret)):
            check.add("siret", "SIRET invalide : 14 chiffres avec une clé de contrôle correcte.")
        numero_tva = "".join(numero_tva.split()).upper()
        if numero_tva and not _VAT.fullmatch(numero_tva):
            check.add("numero_tva", "Numéro de TVA invalide (exemple : FR12345678901).")
        domaine_mail = domaine_mail.strip().lower()
        if domaine_mail and not _DOMAIN.fullmatch(domaine_mail):
            check.add("domaine_mail", "Domaine invalide (exemple : mon-agence.fr).")
        logo_url = logo_url.strip()
        if logo_url and not logo_url.startswith(("https://", "/")):
            check.add("logo_url", "Le logo doit être une adresse https:// ou un chemin local.")
        return {
            "nom": check.text("nom", nom, label="Le nom", required=True),
            "raison_sociale": check.text(
                "raison_sociale", raison_sociale, label="La raison sociale"
            ),
            "siret": siret,
            "numero_tva": numero_tva,
            "devise": check.currency("devise", devise),
            "logo_url": check.text("logo_url", logo_url, label="Le logo", max_length=500),
            "domaine_mail": domaine_mail,
        }


class Workspace(CrmAggregate):
    """The freelancer's or agency's account: the tenant every record belongs to."""

    class Created(CrmAggregate.Created):
        nom: str
        raison_sociale: str
        siret: str
        numero_tva: str
        devise: str
        logo_url: str
        domaine_mail: str

    class ProfileUpdated(CrmAggregate.Event):
        nom: str
        raison_sociale: str
        siret: str
        numero_tva: str
        devise: str
        logo_url: str
        domaine_mail: str

    @staticmethod
    def create_id(workspace_id: UUID, **_: Any) -> UUID:
        return workspace_id

    @classmethod
    def create(
        cls,
        *,
        nom: str,
        raison_sociale: str = "",
        siret: str = "",
        numero_tva: str = "",
        devise: str = "EUR",
        logo_url: str = "",
        domaine_mail: str = "",
        workspace_id: UUID | None = None,
    ) -> Workspace:
        profile = _check_profile(
            nom=nom,
            raison_sociale=raison_sociale,
            siret=siret,
            numero_tva=numero_tva,
            devise=devise,
            logo_url=logo_url,
            domaine_mail=domaine_mail,
        )
        return cls(workspace_id=workspace_id or uuid4(), **profile)

    @event(Created)
    def __init__(
        self,
        workspace_id: UUID,
        nom: str,
        raison_sociale: str,
        siret: str,
        numero_tva: str,
        devise: str,
        logo_url: str,
        domaine_mail: str,
    ) -> None:
        self.workspace_id = workspace_id
        self._set_profile(nom, raison_sociale, siret, numero_tva, devise, logo_url, domaine_mail)

    def _set_profile(
        self,
        nom: str,
        raison_sociale: str,
        siret: str,
        numero_tva: str,
        devise: str,
        logo_url: str,
        domaine_mail: str,
    ) -> None:
        self.nom = nom
        self.raison_sociale = raison_sociale
        self.siret = siret
        self.numero_tva = numero_tva
        self.devise = devise
        self.logo_url = logo_url
        self.domaine_mail = domaine_mail

    def update_profile(
        self,
        *,
        nom: str,
        raison_sociale: str = "",
        siret: str = "",
        numero_tva: str = "",
        devise: str = "EUR",
        logo_url: str = "",
        domaine_mail: str = "",
    ) -> None:
        profile = _check_profile(
            nom=nom,
            raison_sociale=raison_sociale,
            siret=siret,
            numero_tva=numero_tva,
            devise=devise,
            logo_url=logo_url,
            domaine_mail=domaine_mail,
        )
        current = {name: getattr(self, name) for name in profile}
        # Saving the settings form unchanged must not add a "profile updated" line to the
        # audit journal: only a real change is an event.
        if profile != current:
            self._update_profile(**profile)

    @event(ProfileUpdated)
    def _update_profile(
        self,
        nom: str,
        raison_sociale: str,
        siret: str,
        numero_tva: str,
        devise: str,
        logo_url: str,
        domaine_mail: str,
    ) -> None:
        self._set_profile(nom, raison_sociale, siret, numero_tva, devise, logo_url, domaine_mail)


def check_password(password: str) -> None:
    with FieldErrors() as check:
        if len(password) < MIN_PASSWORD_LENGTH:
            check.add(
                "password", f"Le mot de passe doit faire au moins {MIN_PASSWORD_LENGTH} caractères."
            )
        elif len(password) > 256:
            check.add("password", "Le mot de passe ne doit pas dépasser 256 caractères.")


class StaffUser(CrmAggregate):
    """A member of the workspace's staff, who logs in with email and password.

    The id derives from the email, so one email has one account and the login
    loads it without a read model. The event carries only the argon2 hash.
    """

    class Registered(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = PersonalData(fields=("email", "nom"))
        email: str
        nom: str
        role: Role
        password_hash: str

    class RoleChanged(CrmAggregate.Event):
        role: Role

    class Renamed(CrmAggregate.Event):
        personal_data: ClassVar[PersonalData] = PersonalData(fields=("nom",))
        nom: str

    class PasswordChanged(CrmAggregate.Event):
        password_hash: str

    class Disabled(CrmAggregate.Event):
        pass

    class Enabled(CrmAggregate.Event):
        pass

    @staticmethod
    def create_id(email: str, **_: Any) -> UUID:
        return user_id_for(email)

    @classmethod
    def register(
        cls,
        *,
        workspace_id: UUID,
        email: str,
        nom: str,
        role: str,
        password_hash: str,
    ) -> StaffUser:
        with FieldErrors() as check:
            email = check.email("email", email, required=True)
            nom = check.text("nom", nom, label="Le nom", required=True)
            chosen = check.choice("role", role, Role, label="Rôle")
        return cls(
            workspace_id=workspace_id,
            email=email,
            nom=nom,
            role=chosen,
            password_hash=password_hash,
        )

    @event(Registered)
    def __init__(
        self,
        workspace_id: UUID,
        email: str,
        nom: str,
        role: Role,
        password_hash: str,
    ) -> None:
        self.workspace_id = workspace_id
        self.email = email
        self.nom = nom
        self.role = role
        self.password_hash = password_hash
        self.disabled = False

    def change_role(self, role: str, *, by_self: bool) -> None:
        with FieldErrors() as check:
            chosen = check.choice("role", role, Role, label="Rôle")
        if by_self and chosen is not Role.ADMIN and self.role is Role.ADMIN:
            raise DomainError("Vous ne pouvez pas retirer votre propre rôle d’administrateur.")
        if chosen is not self.role:
            self._change_role(role=chosen)

    @event(RoleChanged)
    def _change_role(self, role: Role) -> None:
        self.role = role

    def rename(self, nom: str) -> None:
        with FieldErrors() as check:
            nom = check.text("nom", nom, label="Le nom", required=True)
        if nom != self.nom:
            self._rename(nom=nom)

    @event(Renamed)
    def _rename(self, nom: str) -> None:
        self.nom = nom

    @event(PasswordChanged)
    def change_password_hash(self, password_hash: str) -> None:
        self.password_hash = password_hash

    def disable(self, *, by_self: bool) -> None:
        if by_self:
            raise DomainError("Vous ne pouvez pas désactiver votre propre compte.")
        if not self.disabled:
            self._disable()

    @event(Disabled)
    def _disable(self) -> None:
        self.disabled = True

    def enable(self) -> None:
        if self.disabled:
            self._enable()

    @event(Enabled)
    def _enable(self) -> None:
        self.disabled = False
