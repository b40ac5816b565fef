"""How the client timeline shows each kind of entry: an icon, a label, a filter group.

A kind not listed here (a later feature's `paiement_recu`, `email_client`, ...)
still shows, with the generic icon and its description; a feature adds its
kinds to `KINDS` and, if it wants a filter, to `FILTERS`.
"""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID


class Kind(NamedTuple):
    icon: str
    label: str
    group: str


GENERIC = Kind("•", "Événement", "autre")

KINDS: dict[str, Kind] = {
    "note": Kind("✎", "Note", "note"),
    "appel": Kind("☎", "Appel", "appel"),
    "reunion": Kind("◷", "Réunion", "reunion"),
    "client_cree": Kind("★", "Client créé", "client"),
    "client_archive": Kind("▣", "Client archivé", "client"),
    "client_restaure": Kind("↺", "Client restauré", "client"),
    "opportunite_creee": Kind("◆", "Opportunité ouverte", "opportunite"),
    "opportunite_etape": Kind("➜", "Changement d’étape", "opportunite"),
    "opportunite_gagnee": Kind("✔", "Opportunité gagnée", "gagne"),
    "opportunite_perdue": Kind("✖", "Opportunité perdue", "perdu"),
    "opportunite_rouverte": Kind("↺", "Opportunité rouverte", "opportunite"),
    "ticket_ouvert": Kind("⚑", "Ticket ouvert", "ticket"),
    "ticket_reponse": Kind("↩", "Réponse à un ticket", "ticket"),
    "ticket_statut": Kind("⚐", "Statut de ticket", "ticket"),
    "lien_paiement_cree": Kind("↗", "Lien de paiement créé", "paiement"),
    "paiement_en_attente": Kind("⧗", "Paiement en cours", "paiement"),
    "paiement_recu": Kind("€", "Paiement reçu", "paiement"),
    "paiement_echoue": Kind("✖", "Paiement échoué", "perdu"),
    "paiement_expire": Kind("⌛", "Lien de paiement expiré", "paiement"),
    "paiement_rembourse": Kind("↩", "Paiement remboursé", "paiement"),
    "email_client": Kind("✉", "Email", "email"),
    "email_echec": Kind("✉", "Échec d’envoi d’un email", "email"),
}


class Filter(NamedTuple):
    key: str
    label: str
    kinds: tuple[str, ...]


FILTERS: tuple[Filter, ...] = (
    Filter("", "Tout", ()),
    Filter("notes", "Notes", ("note",)),
    Filter("appels", "Appels", ("appel",)),
    Filter("reunions", "Réunions", ("reunion",)),
    Filter(
        "opportunites",
        "Opportunités",
        (
            "opportunite_creee",
            "opportunite_etape",
            "opportunite_gagnee",
            "opportunite_perdue",
            "opportunite_rouverte",
        ),
    ),
    Filter("tickets", "Tickets", ("ticket_ouvert", "ticket_reponse", "ticket_statut")),
    Filter("emails", "Emails", ("email_client", "email_echec")),
    Filter(
        "paiements",
        "Paiements",
        (
            "lien_paiement_cree",
            "paiement_en_attente",
            "paiement_recu",
            "paiement_echoue",
            "paiement_expire",
            "paiement_rembourse",
        ),
    ),
)


def kind_of(type_evenement: str) -> Kind:
    known = KINDS.get(type_evenement)
    if known is not None:
        return known
    return GENERIC._replace(label=type_evenement.replace("_", " ").capitalize())


def kinds_for(filter_key: str) -> list[str] | None:
    for item in FILTERS:
        if item.key == filter_key and item.kinds:
            return list(item.kinds)
    return None


def actor_name(actor: str, names: dict[UUID, str]) -> str:
    """'user:<id>' -> the user's name; the portal, Stripe, mail and the system in French."""
    if actor.startswith("user:"):
        try:
            return names.get(UUID(actor[5:]), "Utilisateur supprimé")
        except ValueError:
            return "Utilisateur"
    if actor.startswith("portal:"):
        return "Portail client"
    return {"stripe": "Stripe", "mail": "Email", "system": "Système"}.get(actor, actor)
