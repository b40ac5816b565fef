"""/api/utilisateurs: the workspace's staff, for owner and assignee pickers; /api/ping."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from crm_core.values import Role
from projections.accounts import UserRow
from web.api.common import DEFAULT_LIMIT, READ_ERRORS, Curseur, Limite, Liste, paginate
from web.auth.identity import Staff
from web.auth.permissions import ROLE_LABELS
from web.container import Container


class Utilisateur(msgspec.Struct, rename="camel"):
    id: UUID
    nom: str
    email: str
    role: str
    role_libelle: str
    actif: bool
    cree_le: datetime


def utilisateur(row: UserRow) -> Utilisateur:
    return Utilisateur(
        id=row.id,
        nom=row.nom,
        email=row.email,
        role=row.role,
        role_libelle=ROLE_LABELS[Role(row.role)],
        actif=not row.disabled,
        cree_le=row.created_at,
    )


class UtilisateursController(Controller):
    path = "/utilisateurs"
    tags = ["Utilisateurs"]  # noqa: RUF012

    @get(
        sync_to_thread=True,
        summary="L’équipe de l’espace de travail (par nom), pour choisir un responsable",
        responses=READ_ERRORS,
    )
    def list_users(
        self,
        staff: Staff,
        container: Container,
        inclure_desactives: Annotated[
            bool,
            Parameter(query="inclureDesactives", description="Inclure les comptes désactivés"),
        ] = False,
        cursor: Curseur = None,
        limite: Limite = DEFAULT_LIMIT,
    ) -> Liste[Utilisateur]:
        rows = container.accounts_view.users(
            staff.workspace_id, include_disabled=inclure_desactives
        )
        users = [utilisateur(row) for row in rows]
        return paginate(users, lambda u: f"{u.nom.lower()}\x1f{u.id}", cursor, limite)


class Pong(msgspec.Struct):
    pong: bool = True


@get(
    "/api/ping",
    tags=["Santé"],
    summary="Répond sans rien lire : la référence des mesures de performance",
)
async def ping() -> Pong:
    return Pong()
