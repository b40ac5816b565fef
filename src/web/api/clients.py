"""/api/clients: the client file, its contacts, its activities and its timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.params import Parameter

from crm_core.errors import NotFoundError
from crm_core.values import ActivityKind, Address, ClientType
from projections.clients import ClientDetail, ClientRow, ContactRow
from projections.timeline import TimelineEntry
from web.api.common import (
    ADDRESS_FIELDS,
    DEFAULT_LIMIT,
    READ_ERRORS,
    WRITE_ERRORS,
    Curseur,
    Limite,
    Liste,
    api_fields,
    cursor_of_this_query,
    forbid,
    keep,
    liste,
    paginate,
    printable_body,
    query_text,
)
from web.auth.identity import Staff
from web.auth.permissions import Permission
from web.container import Container
from web.mail import inbox_address

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType
ACTIVITY_KINDS = [kind.value for kind in ActivityKind]
NOT_ASSIGNED = "Ce client ne vous est pas attribué : vous pouvez le consulter, pas le modifier."
NO_CLIENT_RIGHTS = "Votre rôle permet de consulter les clients, pas de les modifier."
NO_REASSIGN = "Seuls un administrateur ou un commercial peuvent attribuer un client à un autre."


# --- DTOs ---------------------------------------------------------------------------


class Adresse(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    rue: str = ""
    code_postal: str = ""
    ville: str = ""
    pays: str = "France"


class Contact(msgspec.Struct, rename="camel"):
    id: UUID
    nom: str
    email: str
    telephone: str
    fonction: str


class FicheClient(msgspec.Struct, rename="camel"):
    """A client with its address, notes and contacts."""

    id: UUID
    nom: str
    type: str
    email: str
    telephone: str
    adresse: Adresse
    tags: list[str]
    owner_id: UUID | None
    notes: str
    archive: bool
    contacts: list[Contact]
    cree_le: datetime
    modifie_le: datetime
    #: The client's inbox address (empty while the workspace has no mail domain).
    adresse_inbox: str = ""


class ClientResume(msgspec.Struct, rename="camel"):
    """A line of the client list (no notes, no contacts, the town only)."""

    id: UUID
    nom: str
    type: str
    email: str
    telephone: str
    ville: str
    tags: list[str]
    owner_id: UUID | None
    archive: bool
    cree_le: datetime
    modifie_le: datetime


class NouveauClient(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A new client; `ownerId` absent: the author becomes its owner (null: nobody)."""

    nom: str
    type: ClientType = ClientType.ENTREPRISE
    email: str = ""
    telephone: str = ""
    adresse: Adresse | None = None
    tags: Annotated[list[str], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    owner_id: UUID | UnsetType | None = UNSET
    notes: str = ""


class ModificationClient(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """The fields to change; absent fields keep their value."""

    nom: str | UnsetType = UNSET
    type: ClientType | UnsetType = UNSET
    email: str | UnsetType = UNSET
    telephone: str | UnsetType = UNSET
    adresse: Adresse | UnsetType = UNSET
    tags: Annotated[list[str], msgspec.Meta(max_length=50)] | UnsetType = UNSET
    owner_id: UUID | UnsetType | None = UNSET
    notes: str | UnsetType = UNSET


class ContactSaisi(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    nom: str
    email: str = ""
    telephone: str = ""
    fonction: str = ""


class EvenementTimeline(msgspec.Struct, rename="camel"):
    """An entry of the client's history (the seeds' EvenementTimeline)."""

    id: str
    client_id: UUID
    type_evenement: str
    reference_id: UUID | None
    description_texte: str
    date_evenement: datetime
    auteur: str
    auteur_id: UUID | None


class NouvelleActivite(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A note, a call or a meeting; `dateActivite` absent: now."""

    type: ActivityKind
    sujet: str
    contenu: str = ""
    date_activite: datetime | None = None
    duree_minutes: int | None = None


# --- conversions --------------------------------------------------------------------


def fiche(row: ClientDetail, adresse_inbox: str = "") -> FicheClient:
    return FicheClient(
        id=row.id,
        nom=row.nom,
        type=row.type_client,
        email=row.email,
        telephone=row.telephone,
        adresse=Adresse(
            rue=row.adresse.get("rue", ""),
            code_postal=row.adresse.get("code_postal", ""),
            ville=row.adresse.get("ville", ""),
            pays=row.adresse.get("pays", ""),
        ),
        tags=row.tags,
        owner_id=row.owner_id,
        notes=row.notes,
        archive=row.archived,
        contacts=[contact(c) for c in row.contacts],
        cree_le=row.created_at,
        modifie_le=row.updated_at,
        adresse_inbox=adresse_inbox,
    )


def fiche_complete(container: Container, row: ClientDetail) -> FicheClient:
    """The client JSON with its `adresseInbox`."""
    return fiche(row, inbox_address(container, row.workspace_id, row.id))


def resume(row: ClientRow) -> ClientResume:
    return ClientResume(
        id=row.id,
        nom=row.nom,
        type=row.type_client,
        email=row.email,
        telephone=row.telephone,
        ville=row.ville,
        tags=row.tags,
        owner_id=row.owner_id,
        archive=row.archived,
        cree_le=row.created_at,
        modifie_le=row.updated_at,
    )


def contact(row: ContactRow) -> Contact:
    return Contact(row.id, row.nom, row.email, row.telephone, row.fonction)


def _address(adresse: Adresse | None) -> Address:
    if adresse is None:
        return Address()
    return Address(
        rue=adresse.rue, code_postal=adresse.code_postal, ville=adresse.ville, pays=adresse.pays
    )


class Authors:
    """Names the actor of timeline entries (`user:<id>`, `portal:<id>`, `stripe` ...)."""

    _FIXED: ClassVar[dict[str, str]] = {"system": "Système", "stripe": "Stripe", "mail": "Email"}

    def __init__(self, container: Container, workspace_id: UUID) -> None:
        self.names = {user.id: user.nom for user in container.accounts_view.users(workspace_id)}

    def entry(self, row: TimelineEntry) -> EvenementTimeline:
        kind, _, rest = row.auteur.partition(":")
        user_id: UUID | None = None
        name = self._FIXED.get(row.auteur, row.auteur)
        if kind == "user":
            try:
                user_id = UUID(rest)
            except ValueError:
                user_id = None
            name = self.names.get(user_id, "Utilisateur supprimé") if user_id else name
        elif kind == "portal":
            name = "Portail client"
        return EvenementTimeline(
            id=row.id,
            client_id=row.client_id,
            type_evenement=row.type_evenement,
            reference_id=row.reference_id,
            description_texte=row.description_texte,
            date_evenement=row.date_evenement,
            auteur=name,
            auteur_id=user_id,
        )


def load_client(container: Container, staff: Staff, client_id: UUID) -> ClientDetail:
    """The client of the staff member's workspace (another tenant's: 404)."""
    row = container.clients.get(staff.workspace_id, client_id)
    if row is None:
        raise NotFoundError("Client introuvable.")
    return row


def writable_client(container: Container, staff: Staff, client_id: UUID) -> ClientDetail:
    """The client, when the staff member may change it (RBAC: full or assigned clients)."""
    row = load_client(container, staff, client_id)
    if not staff.can_write_client(row.owner_id):
        raise forbid(
            NOT_ASSIGNED if staff.can(Permission.WRITE_ASSIGNED_CLIENTS) else NO_CLIENT_RIGHTS
        )
    return row


def _check_owner_change(staff: Staff, owner_id: UUID | None) -> None:
    """Without full client rights, a staff member may only own what they create or edit."""
    if staff.can(Permission.WRITE_CLIENTS):
        return
    if not staff.can(Permission.WRITE_ASSIGNED_CLIENTS):
        raise forbid(NO_CLIENT_RIGHTS)
    if owner_id != staff.id:
        raise forbid(NO_REASSIGN)


# --- controller ---------------------------------------------------------------------


class ClientsController(Controller):
    path = "/clients"
    tags = ["Clients"]  # noqa: RUF012

    @get(
        sync_to_thread=True,
        summary="Liste des clients (recherche, filtres, pages)",
        responses=READ_ERRORS,
    )
    def list_clients(
        self,
        staff: Staff,
        container: Container,
        q: Annotated[str | None, Parameter(description="Recherche sur le nom et l’email")] = None,
        tag: Annotated[str | None, Parameter(description="Étiquette")] = None,
        owner_id: Annotated[UUID | None, Parameter(query="ownerId")] = None,
        archive: Annotated[bool, Parameter(description="Clients archivés")] = False,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[ClientResume]:
        with cursor_of_this_query(cursor):
            page = container.clients.search(
                staff.workspace_id,
                q=query_text("q", q),
                tag=query_text("tag", tag),
                owner_id=owner_id,
                archived=archive,
                limit=limite,
                cursor=cursor,
            )
        return liste(page, resume)

    @post(sync_to_thread=True, summary="Crée un client", responses=WRITE_ERRORS)
    def create_client(self, staff: Staff, container: Container, data: NouveauClient) -> FicheClient:
        printable_body(data)
        owner_id = staff.id if isinstance(data.owner_id, UnsetType) else data.owner_id
        _check_owner_change(staff, owner_id)
        with staff.acting(), api_fields(owner_id="ownerId", **ADDRESS_FIELDS):
            receipt = container.sales.register_client(
                staff.workspace_id,
                nom=data.nom,
                type_client=data.type.value,
                email=data.email,
                telephone=data.telephone,
                adresse=_address(data.adresse),
                tags=tuple(data.tags),
                owner_id=owner_id,
                notes=data.notes,
            )
        container.wait(receipt.position, "clients")
        return fiche_complete(container, load_client(container, staff, receipt.id))

    @get("/{client_id:uuid}", sync_to_thread=True, summary="Fiche client", responses=READ_ERRORS)
    def get_client(self, staff: Staff, container: Container, client_id: UUID) -> FicheClient:
        return fiche_complete(container, load_client(container, staff, client_id))

    def _update(
        self, staff: Staff, container: Container, client_id: UUID, data: ModificationClient
    ) -> FicheClient:
        row = writable_client(container, staff, client_id)
        owner_id = row.owner_id if isinstance(data.owner_id, UnsetType) else data.owner_id
        if owner_id != row.owner_id:
            _check_owner_change(staff, owner_id)
        current = fiche(row)
        with staff.acting(), api_fields(owner_id="ownerId", **ADDRESS_FIELDS):
            receipt = container.sales.update_client(
                staff.workspace_id,
                client_id,
                nom=keep(data.nom, current.nom),
                type_client=keep(data.type, ClientType(current.type)).value,
                email=keep(data.email, current.email),
                telephone=keep(data.telephone, current.telephone),
                adresse=_address(keep(data.adresse, current.adresse)),
                tags=tuple(keep(data.tags, current.tags)),
                owner_id=owner_id,
                notes=keep(data.notes, current.notes),
            )
        container.wait(receipt.position, "clients")
        return fiche_complete(container, load_client(container, staff, client_id))

    @patch(
        "/{client_id:uuid}",
        sync_to_thread=True,
        summary="Modifie des champs d’un client",
        description="Seuls les champs présents changent. Un développeur no-code ne modifie que "
        "ses clients attribués ; seuls l’administrateur et le commercial réattribuent.",
        responses=WRITE_ERRORS,
    )
    def patch_client(
        self, staff: Staff, container: Container, client_id: UUID, data: ModificationClient
    ) -> FicheClient:
        printable_body(data)
        return self._update(staff, container, client_id, data)

    @put(
        "/{client_id:uuid}",
        sync_to_thread=True,
        summary="Remplace la fiche d’un client",
        description="Les champs absents reprennent leur valeur par défaut (vide).",
        responses=WRITE_ERRORS,
    )
    def put_client(
        self, staff: Staff, container: Container, client_id: UUID, data: NouveauClient
    ) -> FicheClient:
        printable_body(data)
        full = ModificationClient(
            nom=data.nom,
            type=data.type,
            email=data.email,
            telephone=data.telephone,
            adresse=data.adresse or Adresse(),
            tags=data.tags,
            owner_id=data.owner_id,
            notes=data.notes,
        )
        return self._update(staff, container, client_id, full)

    @post(
        "/{client_id:uuid}/archive",
        sync_to_thread=True,
        status_code=200,
        summary="Archive un client",
        responses=WRITE_ERRORS,
    )
    def archive_client(self, staff: Staff, container: Container, client_id: UUID) -> FicheClient:
        writable_client(container, staff, client_id)
        with staff.acting():
            receipt = container.sales.archive_client(staff.workspace_id, client_id)
        container.wait(receipt.position, "clients")
        return fiche_complete(container, load_client(container, staff, client_id))

    @post(
        "/{client_id:uuid}/restauration",
        sync_to_thread=True,
        status_code=200,
        summary="Restaure un client archivé",
        responses=WRITE_ERRORS,
    )
    def restore_client(self, staff: Staff, container: Container, client_id: UUID) -> FicheClient:
        writable_client(container, staff, client_id)
        with staff.acting():
            receipt = container.sales.restore_client(staff.workspace_id, client_id)
        container.wait(receipt.position, "clients")
        return fiche_complete(container, load_client(container, staff, client_id))

    # --- contacts -----------------------------------------------------------------
    @get(
        "/{client_id:uuid}/contacts",
        sync_to_thread=True,
        summary="Contacts d’un client",
        responses=READ_ERRORS,
    )
    def list_contacts(
        self,
        staff: Staff,
        container: Container,
        client_id: UUID,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[Contact]:
        contacts = [contact(c) for c in load_client(container, staff, client_id).contacts]
        return paginate(contacts, lambda c: f"{c.nom.lower()}\x1f{c.id}", cursor, limite)

    @post(
        "/{client_id:uuid}/contacts",
        sync_to_thread=True,
        summary="Ajoute un contact à un client",
        responses=WRITE_ERRORS,
    )
    def add_contact(
        self, staff: Staff, container: Container, client_id: UUID, data: ContactSaisi
    ) -> Contact:
        printable_body(data)
        writable_client(container, staff, client_id)
        with staff.acting(), api_fields():
            receipt = container.sales.add_contact(
                staff.workspace_id,
                client_id,
                nom=data.nom,
                email=data.email,
                telephone=data.telephone,
                fonction=data.fonction,
            )
        container.wait(receipt.position, "clients")
        return self._contact(container, staff, client_id, receipt.id)

    @put(
        "/{client_id:uuid}/contacts/{contact_id:uuid}",
        sync_to_thread=True,
        summary="Modifie un contact",
        responses=WRITE_ERRORS,
    )
    def update_contact(
        self,
        staff: Staff,
        container: Container,
        client_id: UUID,
        contact_id: UUID,
        data: ContactSaisi,
    ) -> Contact:
        printable_body(data)
        writable_client(container, staff, client_id)
        with staff.acting(), api_fields():
            receipt = container.sales.update_contact(
                staff.workspace_id,
                client_id,
                contact_id,
                nom=data.nom,
                email=data.email,
                telephone=data.telephone,
                fonction=data.fonction,
            )
        container.wait(receipt.position, "clients")
        return self._contact(container, staff, client_id, contact_id)

    @delete(
        "/{client_id:uuid}/contacts/{contact_id:uuid}",
        sync_to_thread=True,
        summary="Retire un contact",
        responses=WRITE_ERRORS,
    )
    def remove_contact(
        self, staff: Staff, container: Container, client_id: UUID, contact_id: UUID
    ) -> None:
        writable_client(container, staff, client_id)
        with staff.acting():
            receipt = container.sales.remove_contact(staff.workspace_id, client_id, contact_id)
        container.wait(receipt.position, "clients")

    @staticmethod
    def _contact(container: Container, staff: Staff, client_id: UUID, contact_id: UUID) -> Contact:
        row = load_client(container, staff, client_id)
        found = next((c for c in row.contacts if c.id == contact_id), None)
        if found is None:
            raise NotFoundError("Ce contact n’existe pas.")
        return contact(found)

    # --- activities and timeline --------------------------------------------------
    def _timeline(
        self,
        staff: Staff,
        container: Container,
        client_id: UUID,
        kinds: list[str] | None,
        cursor: str | None,
        limite: int,
    ) -> Liste[EvenementTimeline]:
        load_client(container, staff, client_id)
        with cursor_of_this_query(cursor):
            page = container.timeline.for_client(
                staff.workspace_id, client_id, kinds=kinds, limit=limite, cursor=cursor
            )
        return liste(page, Authors(container, staff.workspace_id).entry)

    @get(
        "/{client_id:uuid}/activites",
        sync_to_thread=True,
        summary="Notes, appels et réunions d’un client (les plus récents d’abord)",
        responses=READ_ERRORS,
    )
    def list_activities(
        self,
        staff: Staff,
        container: Container,
        client_id: UUID,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[EvenementTimeline]:
        return self._timeline(staff, container, client_id, ACTIVITY_KINDS, cursor, limite)

    @post(
        "/{client_id:uuid}/activites",
        sync_to_thread=True,
        summary="Consigne une note, un appel ou une réunion",
        responses=WRITE_ERRORS,
    )
    def log_activity(
        self, staff: Staff, container: Container, client_id: UUID, data: NouvelleActivite
    ) -> EvenementTimeline:
        printable_body(data)
        writable_client(container, staff, client_id)
        with staff.acting(), api_fields():
            receipt = container.sales.log_activity(
                staff.workspace_id,
                client_id,
                kind=data.type.value,
                sujet=data.sujet,
                contenu=data.contenu,
                date_activite=data.date_activite or datetime.now(UTC),
                duree_minutes=data.duree_minutes,
                auteur_id=staff.id,
            )
        container.wait(receipt.position, "timeline")
        entry = container.timeline.get(staff.workspace_id, f"{receipt.id}:1")
        if entry is None:  # pragma: no cover  (the wait above guarantees it)
            raise NotFoundError("Activité introuvable.")
        return Authors(container, staff.workspace_id).entry(entry)

    @get(
        "/{client_id:uuid}/timeline",
        sync_to_thread=True,
        summary="Historique d’un client (tous les événements, les plus récents d’abord)",
        responses=READ_ERRORS,
    )
    def timeline(
        self,
        staff: Staff,
        container: Container,
        client_id: UUID,
        types: Annotated[
            list[str] | None,
            Parameter(
                description="Types d’événements à garder, séparés par des virgules "
                "(note,appel,reunion,opportunite_gagnee…)"
            ),
        ] = None,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[EvenementTimeline]:
        kinds = [
            query_text("types", kind)
            for value in types or []
            for kind in value.split(",")
            if kind.strip()
        ]
        return self._timeline(staff, container, client_id, kinds or None, cursor, limite)
