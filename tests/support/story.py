"""A short, realistic history touching every read model, for the integration tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import msgspec

from crm_core.context import acting_as, user_actor
from crm_core.values import Address
from web.container import Container


class Story(msgspec.Struct):
    workspace_id: UUID
    admin_id: UUID
    client_id: UUID
    deal_id: UUID
    ticket_id: UUID
    last_position: int


def tell_story(container: Container, name: str, *, replies: int = 2) -> Story:
    """Record a workspace with a user, a client, a deal through the pipeline, a ticket."""
    with acting_as("system"):
        ws = container.accounts.create_workspace(nom=f"Agence {name}", siret="73282932000074").id
        admin = container.accounts.register_user(
            ws,
            email=f"admin-{name}@exemple.fr",
            nom="Admin",
            role="admin",
            password="un mot de passe solide",
        ).id
    sales, support = container.sales, container.support
    with acting_as(user_actor(admin)):
        client = sales.register_client(
            ws,
            nom=f"Client {name}",
            email=f"client-{name}@exemple.fr",
            tags=("vip", "lyon"),
            adresse=Address(rue="1 rue d’Italie", code_postal="69001", ville="Lyon"),
            owner_id=admin,
        ).id
        contact = sales.add_contact(ws, client, nom="Julie", email="julie@exemple.fr").id
        sales.update_contact(ws, client, contact, nom="Julie Martin", fonction="Gérante")
        sales.add_contact(ws, client, nom="Paul")
        sales.update_client(
            ws,
            client,
            nom=f"Client {name} SARL",
            type_client="entreprise",
            email=f"client-{name}@exemple.fr",
            tags=("vip",),
        )
        deal = sales.open_opportunity(
            ws,
            client,
            titre="Site vitrine",
            montant_estime=Decimal("1500.50"),
            date_cloture_prevue=date(2030, 1, 31),
            probabilite=60,
        ).id
        sales.update_opportunity(ws, deal, titre="Site e-commerce", montant_estime="4200")
        sales.move_opportunity(ws, deal, "proposition")
        sales.move_opportunity(ws, deal, "perdu", raison="Budget")
        sales.reopen_opportunity(ws, deal, "negociation")
        sales.move_opportunity(ws, deal, "gagne")
        sales.log_activity(
            ws,
            client,
            kind="appel",
            sujet="Appel de suivi",
            contenu="RAS",
            duree_minutes=20,
            date_activite=datetime(2025, 5, 2, 9, 0, tzinfo=timezone(timedelta(hours=2))),
        )
        ticket = support.open_ticket(
            ws,
            client,
            sujet="Formulaire en panne",
            description="Le bouton ne répond pas",
            type_ticket="bug",
        )
        for number in range(replies):
            support.reply(ws, ticket.id, texte=f"Réponse {number}", auteur=user_actor(admin))
        support.add_internal_note(ws, ticket.id, texte="Voir le cache", auteur=user_actor(admin))
        support.assign(ws, ticket.id, admin)
        support.change_status(ws, ticket.id, "resolu")
        last = sales.archive_client(ws, client).position
    return Story(ws, admin, client, deal, ticket.id, last)
