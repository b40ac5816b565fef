"""The inbox read model: each client's emails, « À trier », quarantine, ticket rules.

Also the lookups the mail receiver needs (which workspace owns a domain, which
client has an address); the composition root hands them to the adapter behind
its `MailDirectory` Protocol.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.types.json import Jsonb

from crm_core.inbox.domainmodel import EmailMessage, InboxRules
from crm_core.personal import ERASED
from crm_core.sales.domainmodel import Client
from projections.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from projections.readmodel import ReadModel, topics_of

EXCERPT_LENGTH = 280


class AttachmentRow(msgspec.Struct, frozen=True):
    nom: str
    type_contenu: str
    taille: int
    sha256: str
    stocke: bool = True


class EmailRow(msgspec.Struct, frozen=True):
    """A line of a list: no body, an excerpt."""

    id: UUID
    workspace_id: UUID
    client_id: UUID | None
    origine: str
    sens: str
    thread_id: UUID | None
    expediteur: str
    destinataires: list[str]
    sujet: str
    extrait: str
    date_message: datetime
    auteur: str
    automatique: bool
    ticket_id: UUID | None
    etat_envoi: str
    tentatives: int
    derniere_erreur: str
    nb_pieces_jointes: int
    quarantaine_raison: str
    taille: int


class EmailDetail(msgspec.Struct, frozen=True):
    id: UUID
    workspace_id: UUID
    client_id: UUID | None
    origine: str
    sens: str
    message_id: str
    thread_id: UUID | None
    expediteur: str
    destinataires: list[str]
    cc: list[str]
    sujet: str
    texte: str
    html: str
    date_message: datetime
    auteur: str
    rattachement: str
    automatique: bool
    pieces_jointes: list[AttachmentRow]
    ticket_id: UUID | None
    action_ticket: str
    etat_envoi: str
    tentatives: int
    derniere_erreur: str
    quarantaine_raison: str
    quarantaine_sha256: str
    taille: int
    quarantaine_ignoree: bool


class RuleRow(msgspec.Struct, frozen=True):
    id: UUID
    critere: str
    motif: str
    type_ticket: str
    priorite: str


_ROW_COLUMNS = (
    "id, workspace_id, client_id, origine, sens, thread_id, expediteur, destinataires, sujet,"
    " extrait, date_message, auteur, automatique, ticket_id, etat_envoi, tentatives,"
    " derniere_erreur, jsonb_array_length(pieces_jointes) AS nb_pieces_jointes,"
    " quarantaine_raison, taille"
)
_DETAIL_COLUMNS = (
    "id, workspace_id, client_id, origine, sens, message_id, thread_id, expediteur,"
    " destinataires, cc, sujet, texte, html, date_message, auteur, rattachement, automatique,"
    " pieces_jointes, ticket_id, action_ticket, etat_envoi, tentatives, derniere_erreur,"
    " quarantaine_raison, quarantaine_sha256, taille, quarantaine_ignoree"
)
_INSERT = (
    "INSERT INTO rm_emails (id, workspace_id, client_id, origine, sens, message_id, thread_id,"
    " expediteur, destinataires, cc, sujet, extrait, texte, html, date_message, auteur,"
    " rattachement, automatique, pieces_jointes, ticket_id, action_ticket, etat_envoi,"
    " quarantaine_raison, quarantaine_sha256, taille, created_at, updated_at)"
    " VALUES (%(id)s, %(workspace_id)s, %(client_id)s, %(origine)s, %(sens)s, %(message_id)s,"
    " %(thread_id)s, %(expediteur)s, %(destinataires)s, %(cc)s, %(sujet)s, %(extrait)s,"
    " %(texte)s, %(html)s, %(date_message)s, %(auteur)s, %(rattachement)s, %(automatique)s,"
    " %(pieces_jointes)s, %(ticket_id)s, %(action_ticket)s, %(etat_envoi)s,"
    " %(quarantaine_raison)s, %(quarantaine_sha256)s, %(taille)s, %(at)s, %(at)s)"
    " ON CONFLICT (id) DO NOTHING"
)


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_LENGTH else flat[: EXCERPT_LENGTH - 1] + "…"


def _row(event: Any, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": event.originator_id,
        "workspace_id": event.workspace_id,
        "client_id": None,
        "message_id": "",
        "thread_id": None,
        "expediteur": "",
        "destinataires": [],
        "cc": [],
        "sujet": "",
        "texte": "",
        "html": "",
        "date_message": event.timestamp,
        "auteur": event.actor,
        "rattachement": "",
        "automatique": False,
        "pieces_jointes": Jsonb([]),
        "ticket_id": None,
        "action_ticket": "",
        "etat_envoi": "",
        "quarantaine_raison": "",
        "quarantaine_sha256": "",
        "taille": 0,
        "at": event.timestamp,
    }
    row.update(values)
    row["extrait"] = excerpt(row["texte"])
    return row


class InboxView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = ("rm_emails", "rm_inbox_rules")

    # --- writes -----------------------------------------------------------------
    def insert(self, row: dict[str, Any], tracking: Tracking) -> None:
        self.write(tracking, (_INSERT, row))

    def update(self, email_id: UUID, at: datetime, tracking: Tracking, **values: Any) -> None:
        assignments = ", ".join(f"{name} = %({name})s" for name in values)
        self.write(
            tracking,
            (
                f"UPDATE rm_emails SET {assignments}, updated_at = %(at)s WHERE id = %(id)s",  # type: ignore[arg-type]
                {**values, "at": at, "id": email_id},
            ),
        )

    # --- queries ----------------------------------------------------------------
    def delivery_states(self, workspace_id: UUID, email_ids: list[UUID]) -> dict[UUID, str]:
        """The delivery state of outgoing emails, for the timeline's lines."""
        if not email_ids:
            return {}
        rows = self.fetch_all(
            "SELECT id, etat_envoi FROM rm_emails WHERE workspace_id = %s AND id = ANY(%s)"
            " AND etat_envoi <> ''",
            (workspace_id, email_ids),
        )
        return {row["id"]: row["etat_envoi"] for row in rows}

    def _page(
        self, where: list[str], params: dict[str, Any], limit: int, cursor: str | None
    ) -> Page[EmailRow]:
        limit = clamp_limit(limit)
        params = {**params, "limit": limit + 1}
        total_row = self.fetch_one(
            f"SELECT count(*) AS n FROM rm_emails WHERE {' AND '.join(where)}",  # type: ignore[arg-type]
            params,
        )
        after = decode_cursor(cursor, 2)
        if after is not None:
            where = [*where, "(date_message, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid)"]
            params["after_at"], params["after_id"] = after
        rows = self.fetch_all(
            f"SELECT {_ROW_COLUMNS} FROM rm_emails WHERE {' AND '.join(where)}"  # type: ignore[arg-type]
            " ORDER BY date_message DESC, id DESC LIMIT %(limit)s",
            params,
        )
        items = [msgspec.convert(row, EmailRow) for row in rows[:limit]]
        next_cursor = (
            encode_cursor(items[-1].date_message.isoformat(), items[-1].id)
            if len(rows) > limit
            else None
        )
        return Page(items=items, next_cursor=next_cursor, total=total_row["n"] if total_row else 0)

    def for_client(
        self, workspace_id: UUID, client_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[EmailRow]:
        """The « Emails / échanges » section of a client, newest first."""
        return self._page(
            ["workspace_id = %(ws)s", "client_id = %(client)s"],
            {"ws": workspace_id, "client": client_id},
            limit,
            cursor,
        )

    def unsorted(
        self, workspace_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[EmailRow]:
        """« À trier »: received messages attached to no client yet."""
        return self._page(
            ["workspace_id = %(ws)s", "client_id IS NULL", "origine <> 'quarantaine'"],
            {"ws": workspace_id},
            limit,
            cursor,
        )

    def quarantined(
        self, workspace_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[EmailRow]:
        """Messages that could not be read, newest first (not those set aside)."""
        return self._page(
            ["workspace_id = %(ws)s", "origine = 'quarantaine'", "NOT quarantaine_ignoree"],
            {"ws": workspace_id},
            limit,
            cursor,
        )

    def attachments_of(
        self, workspace_id: UUID, email_ids: list[UUID]
    ) -> dict[UUID, list[AttachmentRow]]:
        """The files of the emails among timeline entries, for their download links."""
        if not email_ids:
            return {}
        rows = self.fetch_all(
            "SELECT id, pieces_jointes FROM rm_emails WHERE workspace_id = %s AND id = ANY(%s)"
            " AND jsonb_array_length(pieces_jointes) > 0",
            (workspace_id, email_ids),
        )
        return {
            row["id"]: msgspec.convert(row["pieces_jointes"], list[AttachmentRow]) for row in rows
        }

    def get(self, workspace_id: UUID, email_id: UUID) -> EmailDetail | None:
        row = self.fetch_one(
            f"SELECT {_DETAIL_COLUMNS} FROM rm_emails WHERE id = %s AND workspace_id = %s",  # type: ignore[arg-type]
            (email_id, workspace_id),
        )
        return msgspec.convert(row, EmailDetail) if row else None

    def thread(self, workspace_id: UUID, thread_id: UUID) -> list[EmailRow]:
        rows = self.fetch_all(
            f"SELECT {_ROW_COLUMNS} FROM rm_emails"  # type: ignore[arg-type]
            " WHERE workspace_id = %s AND thread_id = %s ORDER BY date_message, id LIMIT 500",
            (workspace_id, thread_id),
        )
        return [msgspec.convert(row, EmailRow) for row in rows]

    def rules(self, workspace_id: UUID) -> list[RuleRow]:
        rows = self.fetch_all(
            "SELECT id, critere, motif, type_ticket, priorite FROM rm_inbox_rules"
            " WHERE workspace_id = %s ORDER BY created_at, id",
            (workspace_id,),
        )
        return [msgspec.convert(row, RuleRow) for row in rows]

    # --- lookups for the mail receiver ---------------------------------------------
    def workspaces_for_domain(self, domain: str) -> list[UUID]:
        if not domain:
            return []
        rows = self.fetch_all(
            "SELECT id FROM rm_workspaces WHERE domaine_mail = %s", (domain.lower(),)
        )
        return [row["id"] for row in rows]

    def workspace_ids(self) -> list[UUID]:
        return [row["id"] for row in self.fetch_all("SELECT id FROM rm_workspaces ORDER BY id")]

    def mail_domain(self, workspace_id: UUID) -> str:
        row = self.fetch_one(
            "SELECT domaine_mail FROM rm_workspaces WHERE id = %s", (workspace_id,)
        )
        return str(row["domaine_mail"]) if row else ""

    def client_ids(self, workspace_id: UUID) -> list[UUID]:
        rows = self.fetch_all(
            "SELECT id FROM rm_clients WHERE workspace_id = %s AND NOT archived", (workspace_id,)
        )
        return [row["id"] for row in rows]

    def client_for_address(self, workspace_id: UUID, address: str) -> UUID | None:
        """The client with this email, else the client with a contact of this email.

        Emails are stored lower-case by the domain's checks. When several clients
        match, the oldest wins: a stable choice, never a random one.
        """
        address = address.strip().lower()
        if not address:
            return None
        row = self.fetch_one(
            "SELECT id FROM rm_clients WHERE workspace_id = %(ws)s AND NOT archived"
            " AND (email = %(address)s OR contacts @> %(contact)s)"
            " ORDER BY (email = %(address)s) DESC, created_at, id LIMIT 1",
            {"ws": workspace_id, "address": address, "contact": Jsonb([{"email": address}])},
        )
        return row["id"] if row else None


class InboxProjection(Projection[InboxView]):
    name = "inbox"
    topics = topics_of(
        EmailMessage.Logged,
        EmailMessage.Received,
        EmailMessage.Quarantined,
        EmailMessage.SendRequested,
        EmailMessage.AttachedToClient,
        EmailMessage.Dismissed,
        EmailMessage.Sent,
        EmailMessage.SendFailed,
        InboxRules.RuleAdded,
        InboxRules.RuleRemoved,
        Client.Erased,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: EmailMessage.Logged, tracking: Tracking) -> None:
        self.view.insert(
            _row(
                event,
                client_id=event.client_id,
                origine="manuel",
                sens=event.sens.value,
                expediteur=event.expediteur,
                destinataires=list(event.destinataires),
                sujet=event.sujet,
                texte=event.texte,
                date_message=event.date_message,
                auteur=event.auteur or event.actor,
                rattachement="manuel",
            ),
            tracking,
        )

    @process_event.register
    def _(self, event: EmailMessage.Received, tracking: Tracking) -> None:
        self.view.insert(
            _row(
                event,
                client_id=event.client_id,
                origine="recu",
                sens="entrant",
                message_id=event.message_id,
                thread_id=event.thread_id,
                expediteur=event.expediteur,
                destinataires=list(event.destinataires),
                cc=list(event.cc),
                sujet=event.sujet,
                texte=event.texte,
                html=event.html,
                date_message=event.date_message,
                auteur=event.expediteur,
                rattachement=event.rattachement,
                automatique=event.automatique,
                pieces_jointes=Jsonb(msgspec.to_builtins(event.pieces_jointes)),
                ticket_id=event.ticket_id,
                action_ticket=event.action_ticket,
                taille=event.taille,
            ),
            tracking,
        )

    @process_event.register
    def _(self, event: EmailMessage.Quarantined, tracking: Tracking) -> None:
        self.view.insert(
            _row(
                event,
                origine="quarantaine",
                sens="entrant",
                message_id=event.message_id,
                expediteur=event.expediteur,
                sujet=event.sujet,
                auteur=event.expediteur,
                quarantaine_raison=event.raison,
                quarantaine_sha256=event.sha256,
                taille=event.taille,
            ),
            tracking,
        )

    @process_event.register
    def _(self, event: EmailMessage.SendRequested, tracking: Tracking) -> None:
        self.view.insert(
            _row(
                event,
                client_id=event.client_id,
                origine="envoi",
                sens="sortant",
                message_id=event.message_id,
                thread_id=event.thread_id,
                destinataires=list(event.destinataires),
                cc=list(event.cc),
                sujet=event.sujet,
                texte=event.texte,
                auteur=event.auteur or event.actor,
                ticket_id=event.ticket_id,
                etat_envoi="en_attente",
            ),
            tracking,
        )

    @process_event.register
    def _(self, event: EmailMessage.AttachedToClient, tracking: Tracking) -> None:
        self.view.update(
            event.originator_id,
            event.timestamp,
            tracking,
            client_id=event.client_id,
            rattachement=event.rattachement,
        )

    @process_event.register
    def _(self, event: EmailMessage.Dismissed, tracking: Tracking) -> None:
        self.view.update(event.originator_id, event.timestamp, tracking, quarantaine_ignoree=True)

    @process_event.register
    def _(self, event: EmailMessage.Sent, tracking: Tracking) -> None:
        self.view.update(
            event.originator_id,
            event.timestamp,
            tracking,
            etat_envoi="envoye",
            tentatives=event.tentative,
            derniere_erreur="",
        )

    @process_event.register
    def _(self, event: EmailMessage.SendFailed, tracking: Tracking) -> None:
        self.view.update(
            event.originator_id,
            event.timestamp,
            tracking,
            etat_envoi="echec" if event.definitif else "nouvel_essai",
            tentatives=event.tentative,
            derniere_erreur=event.erreur,
        )

    @process_event.register
    def _(self, event: InboxRules.RuleAdded, tracking: Tracking) -> None:
        rule = event.regle
        self.view.write(
            tracking,
            (
                "INSERT INTO rm_inbox_rules (id, workspace_id, critere, motif, type_ticket,"
                " priorite, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                (
                    rule.id,
                    event.workspace_id,
                    rule.critere.value,
                    rule.motif,
                    rule.type_ticket.value,
                    rule.priorite.value,
                    event.timestamp,
                ),
            ),
        )

    @process_event.register
    def _(self, event: InboxRules.RuleRemoved, tracking: Tracking) -> None:
        self.view.write(tracking, ("DELETE FROM rm_inbox_rules WHERE id = %s", (event.regle_id,)))

    @process_event.register
    def _(self, event: Client.Erased, tracking: Tracking) -> None:
        # RGPD erasure: the events are shredded with the client's keys; the read
        # model forgets the same fields at once.
        self.view.write(
            tracking,
            (
                "UPDATE rm_emails SET expediteur = %(x)s, destinataires = '{}',"
                " cc = '{}', sujet = %(x)s, extrait = '', texte = '', html = '',"
                " derniere_erreur = '', updated_at = %(at)s WHERE client_id = %(id)s",
                {"x": ERASED, "at": event.timestamp, "id": event.originator_id},
            ),
        )
