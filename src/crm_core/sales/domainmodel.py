"""Sales: clients with their contacts, opportunities through the pipeline, activities."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID, uuid4

import msgspec
from eventsourcing.domain import event

from crm_core.aggregate import CrmAggregate
from crm_core.checks import FieldErrors
from crm_core.errors import (
    ClientArchivedError,
    ClientErasedError,
    DomainError,
    NotFoundError,
    OpportunityClosedError,
)
from crm_core.ids import client_id_for
from crm_core.personal import PersonalData
from crm_core.values import ActivityKind, Address, ClientType, Stage


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    nom: str
    email: str = ""
    telephone: str = ""
    fonction: str = ""


def _check_client(
    *,
    nom: str,
    type_client: str,
    email: str,
    telephone: str,
    adresse: Address,
    tags: tuple[str, ...] | list[str],
    owner_id: UUID | None,
    notes: str,
) -> dict[str, Any]:
    with FieldErrors() as check:
        return {
            "nom": check.text("nom", nom, label="Le nom", required=True),
            "type_client": check.choice("type", type_client, ClientType, label="Type de client"),
            "email": check.email("email", email),
            "telephone": check.phone("telephone", telephone),
            "adresse": Address(
                rue=check.text("rue", adresse.rue, label="La rue"),
                code_postal=check.text(
                    "code_postal", adresse.code_postal, label="Le code postal", max_length=12
                ),
                ville=check.text("ville", adresse.ville, label="La ville", max_length=100),
                pays=check.text("pays", adresse.pays, label="Le pays", max_length=60),
            ),
            "tags": check.tags("tags", tags),
            "owner_id": owner_id,
            "notes": check.text("notes", notes, label="Les notes", max_length=5000),
        }


_CLIENT_PERSONAL = PersonalData(
    fields=(
        "nom",
        "email",
        "telephone",
        "adresse.rue",
        "adresse.code_postal",
        "adresse.ville",
        "notes",
    ),
)
_CONTACT_PERSONAL = PersonalData(fields=("contact.nom", "contact.email", "contact.telephone"))


class Client(CrmAggregate):
    """A company or a person the workspace sells to."""

    class Registered(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = _CLIENT_PERSONAL
        nom: str
        type_client: ClientType
        email: str
        telephone: str
        adresse: Address
        tags: tuple[str, ...]
        owner_id: UUID | None
        notes: str

    class Updated(CrmAggregate.Event):
        personal_data: ClassVar[PersonalData] = _CLIENT_PERSONAL
        nom: str
        type_client: ClientType
        email: str
        telephone: str
        adresse: Address
        tags: tuple[str, ...]
        owner_id: UUID | None
        notes: str

    class Archived(CrmAggregate.Event):
        pass

    class Restored(CrmAggregate.Event):
        pass

    class ContactAdded(CrmAggregate.Event):
        personal_data: ClassVar[PersonalData] = _CONTACT_PERSONAL
        contact: Contact

    class ContactUpdated(CrmAggregate.Event):
        personal_data: ClassVar[PersonalData] = _CONTACT_PERSONAL
        contact: Contact

    class ContactRemoved(CrmAggregate.Event):
        contact_id: UUID

    class Erased(CrmAggregate.Event):
        """The person's data was erased (RGPD): its keys are destroyed, it is forgotten."""

    @staticmethod
    def create_id(workspace_id: UUID, email: str, **_: Any) -> UUID:
        return client_id_for(workspace_id, email) if email else uuid4()

    @classmethod
    def register(
        cls,
        *,
        workspace_id: UUID,
        nom: str,
        type_client: str = "entreprise",
        email: str = "",
        telephone: str = "",
        adresse: Address | None = None,
        tags: tuple[str, ...] = (),
        owner_id: UUID | None = None,
        notes: str = "",
    ) -> Client:
        fields = _check_client(
            nom=nom,
            type_client=type_client,
            email=email,
            telephone=telephone,
            adresse=adresse or Address(),
            tags=tags,
            owner_id=owner_id,
            notes=notes,
        )
        return cls(workspace_id=workspace_id, **fields)

    @event(Registered)
    def __init__(
        self,
        workspace_id: UUID,
        nom: str,
        type_client: ClientType,
        email: str,
        telephone: str,
        adresse: Address,
        tags: tuple[str, ...],
        owner_id: UUID | None,
        notes: str,
    ) -> None:
        self.workspace_id = workspace_id
        self.contacts: dict[UUID, Contact] = {}
        self.archived = False
        self.erased = False
        self._set(nom, type_client, email, telephone, adresse, tags, owner_id, notes)

    def _set(
        self,
        nom: str,
        type_client: ClientType,
        email: str,
        telephone: str,
        adresse: Address,
        tags: tuple[str, ...],
        owner_id: UUID | None,
        notes: str,
    ) -> None:
        self.nom = nom
        self.type_client = type_client
        self.email = email
        self.telephone = telephone
        self.adresse = adresse
        self.tags = tags
        self.owner_id = owner_id
        self.notes = notes

    def ensure_active(self) -> None:
        if self.erased:
            raise ClientErasedError
        if self.archived:
            raise ClientArchivedError

    def erase(self) -> bool:
        """Forget the person; False when already erased (the keys are destroyed again)."""
        if self.erased:
            return False
        self._erase()
        return True

    @event(Erased)
    def _erase(self) -> None:
        self.erased = True
        self.archived = True
        self.contacts = {}

    def update(
        self,
        *,
        nom: str,
        type_client: str,
        email: str = "",
        telephone: str = "",
        adresse: Address | None = None,
        tags: tuple[str, ...] = (),
        owner_id: UUID | None = None,
        notes: str = "",
    ) -> None:
        self.ensure_active()
        fields = _check_client(
            nom=nom,
            type_client=type_client,
            email=email,
            telephone=telephone,
            adresse=adresse or Address(),
            tags=tags,
            owner_id=owner_id,
            notes=notes,
        )
        current = {
            "nom": self.nom,
            "type_client": self.type_client,
            "email": self.email,
            "telephone": self.telephone,
            "adresse": self.adresse,
            "tags": self.tags,
            "owner_id": self.owner_id,
            "notes": self.notes,
        }
        if fields != current:
            self._update(**fields)

    @event(Updated)
    def _update(
        self,
        nom: str,
        type_client: ClientType,
        email: str,
        telephone: str,
        adresse: Address,
        tags: tuple[str, ...],
        owner_id: UUID | None,
        notes: str,
    ) -> None:
        self._set(nom, type_client, email, telephone, adresse, tags, owner_id, notes)

    def archive(self) -> None:
        if self.erased:
            raise ClientErasedError
        if self.archived:
            raise DomainError("Ce client est déjà archivé.")
        self._archive()

    @event(Archived)
    def _archive(self) -> None:
        self.archived = True

    def restore(self) -> None:
        if self.erased:
            raise ClientErasedError
        if not self.archived:
            raise DomainError("Ce client n’est pas archivé.")
        self._restore()

    @event(Restored)
    def _restore(self) -> None:
        self.archived = False

    @staticmethod
    def _check_contact(nom: str, email: str, telephone: str, fonction: str) -> dict[str, str]:
        with FieldErrors() as check:
            return {
                "nom": check.text("nom", nom, label="Le nom du contact", required=True),
                "email": check.email("email", email),
                "telephone": check.phone("telephone", telephone),
                "fonction": check.text("fonction", fonction, label="La fonction", max_length=100),
            }

    def add_contact(
        self,
        *,
        nom: str,
        email: str = "",
        telephone: str = "",
        fonction: str = "",
    ) -> UUID:
        self.ensure_active()
        fields = self._check_contact(nom, email, telephone, fonction)
        if len(self.contacts) >= 200:
            raise DomainError("Deux cents contacts au plus par client.")
        contact = Contact(id=uuid4(), **fields)
        self._add_contact(contact=contact)
        return contact.id

    @event(ContactAdded)
    def _add_contact(self, contact: Contact) -> None:
        self.contacts[contact.id] = contact

    def update_contact(
        self,
        contact_id: UUID,
        *,
        nom: str,
        email: str = "",
        telephone: str = "",
        fonction: str = "",
    ) -> None:
        self.ensure_active()
        if contact_id not in self.contacts:
            raise NotFoundError("Ce contact n’existe pas.")
        contact = Contact(id=contact_id, **self._check_contact(nom, email, telephone, fonction))
        if contact != self.contacts[contact_id]:
            self._update_contact(contact=contact)

    @event(ContactUpdated)
    def _update_contact(self, contact: Contact) -> None:
        self.contacts[contact.id] = contact

    def remove_contact(self, contact_id: UUID) -> None:
        self.ensure_active()
        if contact_id not in self.contacts:
            raise NotFoundError("Ce contact n’existe pas.")
        self._remove_contact(contact_id=contact_id)

    @event(ContactRemoved)
    def _remove_contact(self, contact_id: UUID) -> None:
        del self.contacts[contact_id]


def _check_opportunity(
    *,
    titre: str,
    montant_estime: Decimal | str | None,
    devise: str,
    date_cloture_prevue: date | None,
    probabilite: int | None,
    owner_id: UUID | None,
) -> dict[str, Any]:
    with FieldErrors() as check:
        return {
            "titre": check.text("titre", titre, label="Le titre", required=True),
            "montant_estime": check.amount(
                "montant_estime", montant_estime, label="Le montant estimé"
            ),
            "devise": check.currency("devise", devise),
            "date_cloture_prevue": check.past_or_any_date(
                "date_cloture_prevue", date_cloture_prevue
            ),
            "probabilite": check.percentage("probabilite", probabilite, label="La probabilité"),
            "owner_id": owner_id,
        }


class Opportunity(CrmAggregate):
    """A deal with a client, moving through the pipeline stages."""

    class Opened(CrmAggregate.Created):
        client_id: UUID
        titre: str
        montant_estime: Decimal | None
        devise: str
        date_cloture_prevue: date | None
        probabilite: int | None
        owner_id: UUID | None
        etape: Stage

    class Revised(CrmAggregate.Event):
        titre: str
        montant_estime: Decimal | None
        devise: str
        date_cloture_prevue: date | None
        probabilite: int | None
        owner_id: UUID | None

    class StageChanged(CrmAggregate.Event):
        de: Stage
        vers: Stage

    class Won(CrmAggregate.Event):
        montant: Decimal
        devise: str
        de: Stage

    class Lost(CrmAggregate.Event):
        raison: str
        de: Stage

    class Reopened(CrmAggregate.Event):
        de: Stage
        vers: Stage

    @classmethod
    def open(
        cls,
        *,
        workspace_id: UUID,
        client: Client,
        titre: str,
        montant_estime: Decimal | str | None = None,
        devise: str = "EUR",
        date_cloture_prevue: date | None = None,
        probabilite: int | None = None,
        owner_id: UUID | None = None,
        etape: str = "prospect",
    ) -> Opportunity:
        client.ensure_active()
        fields = _check_opportunity(
            titre=titre,
            montant_estime=montant_estime,
            devise=devise,
            date_cloture_prevue=date_cloture_prevue,
            probabilite=probabilite,
            owner_id=owner_id,
        )
        with FieldErrors() as check:
            stage = check.choice("etape", etape, Stage, label="Étape")
            if stage.is_closed:
                check.add("etape", "Une opportunité s’ouvre dans une étape en cours.")
        return cls(workspace_id=workspace_id, client_id=client.id, etape=stage, **fields)

    @event(Opened)
    def __init__(
        self,
        workspace_id: UUID,
        client_id: UUID,
        titre: str,
        montant_estime: Decimal | None,
        devise: str,
        date_cloture_prevue: date | None,
        probabilite: int | None,
        owner_id: UUID | None,
        etape: Stage,
    ) -> None:
        self.workspace_id = workspace_id
        self.client_id = client_id
        self.etape = etape
        self.raison_perte = ""
        self._set(titre, montant_estime, devise, date_cloture_prevue, probabilite, owner_id)

    def _set(
        self,
        titre: str,
        montant_estime: Decimal | None,
        devise: str,
        date_cloture_prevue: date | None,
        probabilite: int | None,
        owner_id: UUID | None,
    ) -> None:
        self.titre = titre
        self.montant_estime = montant_estime
        self.devise = devise
        self.date_cloture_prevue = date_cloture_prevue
        self.probabilite = probabilite
        self.owner_id = owner_id

    def update(
        self,
        *,
        client: Client,
        titre: str,
        montant_estime: Decimal | str | None,
        devise: str = "EUR",
        date_cloture_prevue: date | None = None,
        probabilite: int | None = None,
        owner_id: UUID | None = None,
    ) -> None:
        client.ensure_active()
        fields = _check_opportunity(
            titre=titre,
            montant_estime=montant_estime,
            devise=devise,
            date_cloture_prevue=date_cloture_prevue,
            probabilite=probabilite,
            owner_id=owner_id,
        )
        if self.etape is Stage.GAGNE and not fields["montant_estime"]:
            raise InvalidAmountForWonError
        current = {
            "titre": self.titre,
            "montant_estime": self.montant_estime,
            "devise": self.devise,
            "date_cloture_prevue": self.date_cloture_prevue,
            "probabilite": self.probabilite,
            "owner_id": self.owner_id,
        }
        if fields != current:
            self._revise(**fields)

    @event(Revised)
    def _revise(
        self,
        titre: str,
        montant_estime: Decimal | None,
        devise: str,
        date_cloture_prevue: date | None,
        probabilite: int | None,
        owner_id: UUID | None,
    ) -> None:
        self._set(titre, montant_estime, devise, date_cloture_prevue, probabilite, owner_id)

    def move_to(self, etape: str, *, client: Client, raison: str = "") -> bool:
        """Move through the pipeline; returns False when already at that stage."""
        client.ensure_active()
        with FieldErrors() as check:
            target = check.choice("etapePipeline", etape, Stage, label="Étape")
            raison = check.text("raison", raison, label="La raison", max_length=500)
            if target is Stage.PERDU and not raison:
                check.add("raison", "Indiquez la raison de la perte.")
        if target is self.etape:
            return False
        if self.etape.is_closed:
            raise OpportunityClosedError(
                "Cette opportunité est clôturée : rouvrez-la avant de changer d’étape."
            )
        if target is Stage.GAGNE:
            if not self.montant_estime:
                raise InvalidAmountForWonError
            self._win(montant=self.montant_estime, devise=self.devise, de=self.etape)
        elif target is Stage.PERDU:
            self._lose(raison=raison, de=self.etape)
        else:
            self._change_stage(de=self.etape, vers=target)
        return True

    @event(StageChanged)
    def _change_stage(self, de: Stage, vers: Stage) -> None:
        self.etape = vers

    @event(Won)
    def _win(self, montant: Decimal, devise: str, de: Stage) -> None:
        self.etape = Stage.GAGNE

    @event(Lost)
    def _lose(self, raison: str, de: Stage) -> None:
        self.etape = Stage.PERDU
        self.raison_perte = raison

    def reopen(self, *, client: Client, etape: str = "negociation") -> None:
        client.ensure_active()
        if not self.etape.is_closed:
            raise DomainError("Cette opportunité est déjà en cours.")
        with FieldErrors() as check:
            target = check.choice("etapePipeline", etape, Stage, label="Étape")
            if target.is_closed:
                check.add("etapePipeline", "Une opportunité se rouvre dans une étape en cours.")
        self._reopen(de=self.etape, vers=target)

    @event(Reopened)
    def _reopen(self, de: Stage, vers: Stage) -> None:
        self.etape = vers
        self.raison_perte = ""


class InvalidAmountForWonError(DomainError):
    def __init__(self) -> None:
        super().__init__("Une opportunité gagnée doit avoir un montant estimé supérieur à zéro.")


class Activity(CrmAggregate):
    """A note, a call or a meeting logged on a client's timeline."""

    class Logged(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = PersonalData(
            subject="client_id", fields=("sujet", "contenu")
        )
        client_id: UUID
        kind: ActivityKind
        sujet: str
        contenu: str
        date_activite: datetime
        duree_minutes: int | None
        auteur_id: UUID | None

    @classmethod
    def log(
        cls,
        *,
        workspace_id: UUID,
        client: Client,
        kind: str,
        sujet: str,
        contenu: str = "",
        date_activite: datetime,
        duree_minutes: int | None = None,
        auteur_id: UUID | None = None,
    ) -> Activity:
        client.ensure_active()
        with FieldErrors() as check:
            chosen = check.choice("type", kind, ActivityKind, label="Type d’activité")
            sujet = check.text("sujet", sujet, label="Le sujet", required=True)
            contenu = check.text("contenu", contenu, label="Le contenu", max_length=20000)
            if duree_minutes is not None and not 0 < duree_minutes <= 24 * 60:
                check.add("duree_minutes", "La durée doit être comprise entre 1 et 1 440 minutes.")
            if date_activite.tzinfo is None:
                check.add("date_activite", "La date doit préciser son fuseau horaire.")
        return cls(
            workspace_id=workspace_id,
            client_id=client.id,
            kind=chosen,
            sujet=sujet,
            contenu=contenu,
            date_activite=date_activite,
            duree_minutes=duree_minutes,
            auteur_id=auteur_id,
        )

    @event(Logged)
    def __init__(
        self,
        workspace_id: UUID,
        client_id: UUID,
        kind: ActivityKind,
        sujet: str,
        contenu: str,
        date_activite: datetime,
        duree_minutes: int | None,
        auteur_id: UUID | None,
    ) -> None:
        self.workspace_id = workspace_id
        self.client_id = client_id
        self.kind = kind
        self.sujet = sujet
        self.contenu = contenu
        self.date_activite = date_activite
        self.duree_minutes = duree_minutes
        self.auteur_id = auteur_id
