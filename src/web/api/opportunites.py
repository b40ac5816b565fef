"""/api/opportunites and /api/pipeline: deals, their stage, the board."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter

from crm_core.errors import InvalidInputError, NotFoundError, OpportunityClosedError
from crm_core.sales.domainmodel import InvalidAmountForWonError
from crm_core.values import Stage
from projections.pipeline import OpportunityRow, SortKey, StageColumn
from web.api.common import (
    DEFAULT_LIMIT,
    READ_ERRORS,
    WRITE_ERRORS,
    Curseur,
    Limite,
    Liste,
    api_fields,
    cursor_of_this_query,
    keep,
    printable_body,
    query_text,
    unknown_client,
)
from web.api.paiements import NO_PAYMENT, PaymentInfo, payments_of
from web.auth.identity import Staff, requires
from web.auth.permissions import Permission
from web.container import Container

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType
OPPORTUNITY_FIELDS = {"etape": "etapePipeline", "raison": "raisonPerte"}


class Tri(StrEnum):
    MAJ = "maj"
    TITRE = "titre"
    CLIENT = "client"
    MONTANT = "montant"
    ETAPE = "etape"
    CLOTURE = "cloture"


SORT_KEYS: dict[Tri, SortKey] = {
    Tri.MAJ: "maj",
    Tri.TITRE: "titre",
    Tri.CLIENT: "client",
    Tri.MONTANT: "montant",
    Tri.ETAPE: "etape",
    Tri.CLOTURE: "cloture",
}


class Ordre(StrEnum):
    ASC = "asc"
    DESC = "desc"


class Opportunite(msgspec.Struct, rename="camel"):
    """A deal; `montantEstime` is a decimal string ("1500.00"), null when unknown."""

    id: UUID
    client_id: UUID
    client_nom: str
    titre: str
    montant_estime: str | None
    devise: str
    etape_pipeline: str
    date_cloture_prevue: date | None
    probabilite: int | None
    owner_id: UUID | None
    raison_perte: str
    statut_paiement: str | None
    url_paiement: str | None
    cree_le: datetime
    modifie_le: datetime
    gagne_le: datetime | None


class NouvelleOpportunite(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A new deal; `ownerId` absent: its author owns it (null: nobody)."""

    client_id: UUID
    titre: str
    montant_estime: Decimal | None = None
    devise: str = "EUR"
    date_cloture_prevue: date | None = None
    probabilite: int | None = None
    owner_id: UUID | UnsetType | None = UNSET
    etape_pipeline: Stage = Stage.PROSPECT


class ModificationOpportunite(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Fields to change, and/or a stage: `gagne`, `perdu` (with `raisonPerte`), or an open
    stage (a closed opportunity moved to an open stage is reopened)."""

    titre: str | UnsetType = UNSET
    montant_estime: Decimal | UnsetType | None = UNSET
    devise: str | UnsetType = UNSET
    date_cloture_prevue: date | UnsetType | None = UNSET
    probabilite: int | UnsetType | None = UNSET
    owner_id: UUID | UnsetType | None = UNSET
    etape_pipeline: Stage | UnsetType = UNSET
    raison_perte: str | UnsetType = UNSET

    def changes_fields(self) -> bool:
        return any(
            not isinstance(value, UnsetType)
            for value in (
                self.titre,
                self.montant_estime,
                self.devise,
                self.date_cloture_prevue,
                self.probabilite,
                self.owner_id,
            )
        )


class ColonneEtape(msgspec.Struct, rename="camel"):
    """A column of the board: a stage, the count and total of the whole column, its
    `parEtape` most recently changed cards; `curseurSuivant` (null when they are all
    there) gives the next ones from `suite`, the list sorted the same way."""

    etape_pipeline: str
    nombre: int
    total: str
    opportunites: list[Opportunite]
    curseur_suivant: str | None
    suite: str | None


class Tableau(msgspec.Struct, rename="camel"):
    colonnes: list[ColonneEtape]


def opportunite(row: OpportunityRow, payment: PaymentInfo = NO_PAYMENT) -> Opportunite:
    return Opportunite(
        id=row.id,
        client_id=row.client_id,
        client_nom=row.client_nom,
        titre=row.titre,
        montant_estime=None if row.montant_estime is None else f"{row.montant_estime:.2f}",
        devise=row.devise,
        etape_pipeline=row.etape,
        date_cloture_prevue=row.date_cloture_prevue,
        probabilite=row.probabilite,
        owner_id=row.owner_id,
        raison_perte=row.raison_perte,
        statut_paiement=payment.statut_paiement,
        url_paiement=payment.url_paiement,
        cree_le=row.created_at,
        modifie_le=row.updated_at,
        gagne_le=row.won_at,
    )


def opportunites(container: Container, rows: list[OpportunityRow]) -> list[Opportunite]:
    payments = payments_of(container, rows)
    return [opportunite(row, payments.get(row.id, NO_PAYMENT)) for row in rows]


def load_opportunity(container: Container, staff: Staff, opportunity_id: UUID) -> Opportunite:
    row = container.pipeline.get(staff.workspace_id, opportunity_id)
    if row is None:
        raise NotFoundError("Opportunité introuvable.")
    return opportunites(container, [row])[0]


def _check_stage_change(
    current: Opportunite, target: Stage, raison: str, amount: Decimal | None
) -> None:
    """Refuse before anything is recorded what the stage change would refuse after."""
    if target is Stage.PERDU and not raison.strip():
        raise InvalidInputError({"raisonPerte": "Indiquez la raison de la perte."})
    if target is not Stage.PERDU and raison.strip():
        raise InvalidInputError(
            {"raisonPerte": "La raison de perte ne s’indique qu’avec l’étape « perdu »."}
        )
    here = Stage(current.etape_pipeline)
    if here.is_closed and target.is_closed and target is not here:
        raise OpportunityClosedError(
            "Cette opportunité est clôturée : rouvrez-la avant de changer d’étape."
        )
    if target is Stage.GAGNE and here is not Stage.GAGNE and not amount:
        raise InvalidAmountForWonError


class OpportunitesController(Controller):
    path = "/opportunites"
    tags = ["Opportunités"]  # noqa: RUF012

    @get(
        sync_to_thread=True,
        summary="Liste des opportunités (tri, filtres, pages)",
        responses=READ_ERRORS,
    )
    def list_opportunities(
        self,
        staff: Staff,
        container: Container,
        etape_pipeline: Annotated[Stage | None, Parameter(query="etapePipeline")] = None,
        client_id: Annotated[UUID | None, Parameter(query="clientId")] = None,
        owner_id: Annotated[UUID | None, Parameter(query="ownerId")] = None,
        q: Annotated[str | None, Parameter(description="Recherche dans le titre")] = None,
        tri: Annotated[Tri, Parameter(description="Clé de tri")] = Tri.MAJ,
        ordre: Annotated[Ordre, Parameter(description="Sens du tri")] = Ordre.DESC,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[Opportunite]:
        with cursor_of_this_query(cursor):
            page = container.pipeline.table(
                staff.workspace_id,
                sort=SORT_KEYS[tri],
                descending=ordre is Ordre.DESC,
                etape=etape_pipeline.value if etape_pipeline else "",
                client_id=client_id,
                owner_id=owner_id,
                q=query_text("q", q),
                limit=limite,
                cursor=cursor,
            )
        return Liste(opportunites(container, page.items), page.next_cursor, page.total)

    @post(
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_PIPELINE)],
        summary="Ouvre une opportunité",
        responses=WRITE_ERRORS,
    )
    def create_opportunity(
        self, staff: Staff, container: Container, data: NouvelleOpportunite
    ) -> Opportunite:
        printable_body(data)
        owner_id = staff.id if isinstance(data.owner_id, UnsetType) else data.owner_id
        with staff.acting(), api_fields(**OPPORTUNITY_FIELDS), unknown_client():
            receipt = container.sales.open_opportunity(
                staff.workspace_id,
                data.client_id,
                titre=data.titre,
                montant_estime=data.montant_estime,
                devise=data.devise,
                date_cloture_prevue=data.date_cloture_prevue,
                probabilite=data.probabilite,
                owner_id=owner_id,
                etape=data.etape_pipeline.value,
            )
        container.wait(receipt.position, "pipeline")
        return load_opportunity(container, staff, receipt.id)

    @get(
        "/{opportunity_id:uuid}",
        sync_to_thread=True,
        summary="Détail d’une opportunité",
        responses=READ_ERRORS,
    )
    def get_opportunity(
        self, staff: Staff, container: Container, opportunity_id: UUID
    ) -> Opportunite:
        return load_opportunity(container, staff, opportunity_id)

    @patch(
        "/{opportunity_id:uuid}",
        sync_to_thread=True,
        guards=[requires(Permission.WRITE_PIPELINE)],
        summary="Modifie une opportunité ou change son étape (gagnée, perdue, rouverte)",
        description="Les champs présents changent d’abord, puis l’étape. `perdu` exige "
        "`raisonPerte` ; `gagne` exige un montant ; une opportunité clôturée déplacée vers une "
        "étape en cours est rouverte.",
        responses=WRITE_ERRORS,
    )
    def patch_opportunity(
        self,
        staff: Staff,
        container: Container,
        opportunity_id: UUID,
        data: ModificationOpportunite,
    ) -> Opportunite:
        printable_body(data)
        current = load_opportunity(container, staff, opportunity_id)
        amount = keep(
            data.montant_estime,
            None if current.montant_estime is None else Decimal(current.montant_estime),
        )
        raison = keep(data.raison_perte, "")
        if not isinstance(data.etape_pipeline, UnsetType):
            _check_stage_change(current, data.etape_pipeline, raison, amount)
        elif raison.strip():
            raise InvalidInputError(
                {"raisonPerte": "La raison de perte ne s’indique qu’avec l’étape « perdu »."}
            )
        positions = [0]
        with staff.acting(), api_fields(**OPPORTUNITY_FIELDS):
            if data.changes_fields():
                positions.append(
                    container.sales.update_opportunity(
                        staff.workspace_id,
                        opportunity_id,
                        titre=keep(data.titre, current.titre),
                        montant_estime=amount,
                        devise=keep(data.devise, current.devise),
                        date_cloture_prevue=keep(
                            data.date_cloture_prevue, current.date_cloture_prevue
                        ),
                        probabilite=keep(data.probabilite, current.probabilite),
                        owner_id=keep(data.owner_id, current.owner_id),
                    ).position
                )
            target = data.etape_pipeline
            if not isinstance(target, UnsetType):
                here = Stage(current.etape_pipeline)
                if here.is_closed and not target.is_closed:
                    receipt = container.sales.reopen_opportunity(
                        staff.workspace_id, opportunity_id, etape=target.value
                    )
                else:
                    receipt = container.sales.move_opportunity(
                        staff.workspace_id, opportunity_id, target.value, raison=raison
                    )
                positions.append(receipt.position)
        container.wait(max(positions), "pipeline")
        return load_opportunity(container, staff, opportunity_id)


BOARD_CARDS = 20


def _more_of(column: StageColumn, owner_id: UUID | None) -> str | None:
    """The list that continues a column: same stage, same order ("maj", newest first),
    from the column's cursor."""
    if column.next_cursor is None:
        return None
    owner = f"&ownerId={owner_id}" if owner_id else ""
    return (
        f"/api/opportunites?etapePipeline={column.etape}&tri=maj&ordre=desc{owner}"
        f"&cursor={quote(column.next_cursor)}"
    )


class PipelineController(Controller):
    path = "/pipeline"
    tags = ["Opportunités"]  # noqa: RUF012

    @get(
        sync_to_thread=True,
        summary="Tableau du pipeline : chaque étape, son nombre, son total, ses cartes récentes",
        responses=READ_ERRORS,
    )
    def board(
        self,
        staff: Staff,
        container: Container,
        owner_id: Annotated[UUID | None, Parameter(query="ownerId")] = None,
        par_etape: Annotated[
            int,
            Parameter(query="parEtape", ge=1, le=200, description="Cartes par étape (1 à 200)"),
        ] = BOARD_CARDS,
    ) -> Tableau:
        columns: list[StageColumn] = container.pipeline.board(
            staff.workspace_id, per_stage=par_etape, owner_id=owner_id
        )
        rows = [card for column in columns for card in column.cards]
        by_id = {item.id: item for item in opportunites(container, rows)}
        return Tableau(
            [
                ColonneEtape(
                    etape_pipeline=column.etape,
                    nombre=column.count,
                    total=f"{column.total:.2f}",
                    opportunites=[by_id[card.id] for card in column.cards],
                    curseur_suivant=column.next_cursor,
                    suite=_more_of(column, owner_id),
                )
                for column in columns
            ]
        )
