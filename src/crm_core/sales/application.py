"""Commands of the sales side: clients, contacts, opportunities, activities."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from crm_core.accounts.domainmodel import StaffUser
from crm_core.application import CrmApplication, Receipt, command
from crm_core.errors import DuplicateError, InvalidInputError
from crm_core.sales.domainmodel import Activity, Client, Opportunity
from crm_core.values import Address

_DUPLICATE_CLIENT = "Un client avec cette adresse email existe déjà."


class SalesApplication(CrmApplication):
    def _client(self, workspace_id: UUID, client_id: UUID) -> Client:
        return self._load(Client, client_id, workspace_id, "Client")

    def _opportunity(self, workspace_id: UUID, opportunity_id: UUID) -> Opportunity:
        return self._load(Opportunity, opportunity_id, workspace_id, "Opportunité")

    def _check_owner(self, workspace_id: UUID, owner_id: UUID | None, field: str) -> None:
        if owner_id is None:
            return
        if not self._exists(owner_id):
            raise InvalidInputError({field: "Ce responsable n’existe pas."})
        owner: object = self.repository.get(owner_id)
        if not isinstance(owner, StaffUser) or owner.workspace_id != workspace_id:
            raise InvalidInputError({field: "Ce responsable n’existe pas."})

    @command
    def register_client(
        self,
        workspace_id: UUID,
        *,
        nom: str,
        type_client: str = "entreprise",
        email: str = "",
        telephone: str = "",
        adresse: Address | None = None,
        tags: tuple[str, ...] = (),
        owner_id: UUID | None = None,
        notes: str = "",
    ) -> Receipt:
        self._check_owner(workspace_id, owner_id, "owner_id")
        # No read to look for a duplicate first: the id derives from the email, so the
        # save of a second client with that email conflicts (one round trip saved).
        client = Client.register(
            workspace_id=workspace_id,
            nom=nom,
            type_client=type_client,
            email=email,
            telephone=telephone,
            adresse=adresse,
            tags=tags,
            owner_id=owner_id,
            notes=notes,
        )
        return Receipt(client.id, self._commit(client, conflict=DuplicateError(_DUPLICATE_CLIENT)))

    @command
    def update_client(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        nom: str,
        type_client: str,
        email: str = "",
        telephone: str = "",
        adresse: Address | None = None,
        tags: tuple[str, ...] = (),
        owner_id: UUID | None = None,
        notes: str = "",
    ) -> Receipt:
        self._check_owner(workspace_id, owner_id, "owner_id")
        client = self._client(workspace_id, client_id)
        client.update(
            nom=nom,
            type_client=type_client,
            email=email,
            telephone=telephone,
            adresse=adresse,
            tags=tags,
            owner_id=owner_id,
            notes=notes,
        )
        return Receipt(client.id, self._commit(client))

    @command
    def erase_client(self, workspace_id: UUID, client_id: UUID) -> Receipt:
        """Erase a client's personal data (RGPD right to erasure).

        `Client.Erased` is recorded first, so the read models forget the person and
        the audit shows the erasure; then the keys of its personal data (its own and
        its tickets') are destroyed. Run again, it destroys the keys again: an
        erasure interrupted between the two steps completes on retry.
        """
        client = self._client(workspace_id, client_id)
        position = self._commit(client) if client.erase() else 0
        self._erase_personal_data(client_id)
        return Receipt(client.id, position or self.recorder.max_notification_id() or 0)

    @command
    def archive_client(self, workspace_id: UUID, client_id: UUID) -> Receipt:
        client = self._client(workspace_id, client_id)
        client.archive()
        return Receipt(client.id, self._commit(client))

    @command
    def restore_client(self, workspace_id: UUID, client_id: UUID) -> Receipt:
        client = self._client(workspace_id, client_id)
        client.restore()
        return Receipt(client.id, self._commit(client))

    @command
    def add_contact(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        nom: str,
        email: str = "",
        telephone: str = "",
        fonction: str = "",
    ) -> Receipt:
        client = self._client(workspace_id, client_id)
        contact_id = client.add_contact(
            nom=nom, email=email, telephone=telephone, fonction=fonction
        )
        return Receipt(contact_id, self._commit(client))

    @command
    def update_contact(
        self,
        workspace_id: UUID,
        client_id: UUID,
        contact_id: UUID,
        *,
        nom: str,
        email: str = "",
        telephone: str = "",
        fonction: str = "",
    ) -> Receipt:
        client = self._client(workspace_id, client_id)
        client.update_contact(
            contact_id, nom=nom, email=email, telephone=telephone, fonction=fonction
        )
        return Receipt(contact_id, self._commit(client))

    @command
    def remove_contact(self, workspace_id: UUID, client_id: UUID, contact_id: UUID) -> Receipt:
        client = self._client(workspace_id, client_id)
        client.remove_contact(contact_id)
        return Receipt(contact_id, self._commit(client))

    @command
    def open_opportunity(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        titre: str,
        montant_estime: Decimal | str | None = None,
        devise: str = "EUR",
        date_cloture_prevue: date | None = None,
        probabilite: int | None = None,
        owner_id: UUID | None = None,
        etape: str = "prospect",
    ) -> Receipt:
        self._check_owner(workspace_id, owner_id, "owner_id")
        client = self._client(workspace_id, client_id)
        opportunity = Opportunity.open(
            workspace_id=workspace_id,
            client=client,
            titre=titre,
            montant_estime=montant_estime,
            devise=devise,
            date_cloture_prevue=date_cloture_prevue,
            probabilite=probabilite,
            owner_id=owner_id,
            etape=etape,
        )
        return Receipt(opportunity.id, self._commit(opportunity))

    @command
    def update_opportunity(
        self,
        workspace_id: UUID,
        opportunity_id: UUID,
        *,
        titre: str,
        montant_estime: Decimal | str | None,
        devise: str = "EUR",
        date_cloture_prevue: date | None = None,
        probabilite: int | None = None,
        owner_id: UUID | None = None,
    ) -> Receipt:
        self._check_owner(workspace_id, owner_id, "owner_id")
        opportunity = self._opportunity(workspace_id, opportunity_id)
        opportunity.update(
            client=self._client(workspace_id, opportunity.client_id),
            titre=titre,
            montant_estime=montant_estime,
            devise=devise,
            date_cloture_prevue=date_cloture_prevue,
            probabilite=probabilite,
            owner_id=owner_id,
        )
        return Receipt(opportunity.id, self._commit(opportunity))

    @command
    def move_opportunity(
        self,
        workspace_id: UUID,
        opportunity_id: UUID,
        etape: str,
        *,
        raison: str = "",
    ) -> Receipt:
        opportunity = self._opportunity(workspace_id, opportunity_id)
        opportunity.move_to(
            etape, client=self._client(workspace_id, opportunity.client_id), raison=raison
        )
        return Receipt(opportunity.id, self._commit(opportunity))

    @command
    def reopen_opportunity(
        self,
        workspace_id: UUID,
        opportunity_id: UUID,
        etape: str = "negociation",
    ) -> Receipt:
        opportunity = self._opportunity(workspace_id, opportunity_id)
        opportunity.reopen(client=self._client(workspace_id, opportunity.client_id), etape=etape)
        return Receipt(opportunity.id, self._commit(opportunity))

    @command
    def log_activity(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        kind: str,
        sujet: str,
        contenu: str = "",
        date_activite: datetime,
        duree_minutes: int | None = None,
        auteur_id: UUID | None = None,
    ) -> Receipt:
        activity = Activity.log(
            workspace_id=workspace_id,
            client=self._client(workspace_id, client_id),
            kind=kind,
            sujet=sujet,
            contenu=contenu,
            date_activite=date_activite,
            duree_minutes=duree_minutes,
            auteur_id=auteur_id,
        )
        return Receipt(activity.id, self._commit(activity))
