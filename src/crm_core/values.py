"""Vocabulary shared by the aggregates: the seeds' French names, stored as values."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Role(StrEnum):
    ADMIN = "admin"
    COMMERCIAL = "commercial"
    DEVELOPPEUR_NOCODE = "developpeur_nocode"
    DEVELOPPEUR_AUTOMATISME = "developpeur_automatisme"


class ClientType(StrEnum):
    ENTREPRISE = "entreprise"
    PARTICULIER = "particulier"


class Stage(StrEnum):
    PROSPECT = "prospect"
    QUALIFICATION = "qualification"
    PROPOSITION = "proposition"
    NEGOCIATION = "negociation"
    GAGNE = "gagne"
    PERDU = "perdu"

    @property
    def is_closed(self) -> bool:
        return self in (Stage.GAGNE, Stage.PERDU)


OPEN_STAGES = tuple(stage for stage in Stage if not stage.is_closed)


class TicketType(StrEnum):
    QUESTION = "question"
    BUG = "bug"
    DEMANDE = "demande"


class TicketPriority(StrEnum):
    BASSE = "basse"
    NORMALE = "normale"
    HAUTE = "haute"
    URGENTE = "urgente"


class TicketSource(StrEnum):
    STAFF = "staff"
    PORTAIL = "portail"
    EMAIL = "email"


class TicketStatus(StrEnum):
    NOUVEAU = "nouveau"
    EN_COURS = "en_cours"
    EN_ATTENTE_CLIENT = "en_attente_client"
    RESOLU = "resolu"
    FERME = "ferme"

    @property
    def is_open(self) -> bool:
        return self not in (TicketStatus.RESOLU, TicketStatus.FERME)


class ActivityKind(StrEnum):
    NOTE = "note"
    APPEL = "appel"
    REUNION = "reunion"


class Address(msgspec.Struct, frozen=True, kw_only=True):
    rue: str = ""
    code_postal: str = ""
    ville: str = ""
    pays: str = "France"

    def one_line(self) -> str:
        town = " ".join(part for part in (self.code_postal, self.ville) if part)
        return ", ".join(part for part in (self.rue, town, self.pays) if part)
