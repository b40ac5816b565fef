"""Commands of the inbox: log, receive, quarantine, attach, send; rules and mail settings."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import EventStore

from crm_core.accounts.domainmodel import Workspace
from crm_core.application import CrmApplication, Receipt, command
from crm_core.errors import ConflictError, DomainError, NotFoundError
from crm_core.group_commit import GroupCommitEventStore
from crm_core.ids import (
    email_id_for,
    inbox_rules_id_for,
    mail_settings_id_for,
    normalise_message_id,
    raw_email_id_for,
)
from crm_core.inbox.domainmodel import (
    DeliveryState,
    Direction,
    EmailMessage,
    InboundEmail,
    InboxRules,
    MailSettings,
    SmtpSecurity,
)
from crm_core.ports import SecretCipher
from crm_core.sales.domainmodel import Client
from crm_core.support.domainmodel import MAX_BODY, MAX_SUBJECT, Ticket
from crm_core.values import TicketStatus

# How many ancestors of a thread are looked up: bounds the work of a message that
# carries hundreds of References.
MAX_THREAD_LOOKUPS = 12
_QUOTE_HEADER = re.compile(
    r"^\s*(le .{0,200} a écrit\s?:|on .{0,200} wrote:|-{2,}\s*(original message|message d.origine)"
    r"\s*-{2,}|de\s?: .+|from: .+)\s*$",
    re.IGNORECASE,
)
FALLBACK_DOMAIN = "crm.invalid"


class Reception(msgspec.Struct, frozen=True):
    """What `receive` did: `nouveau` is false when the message was already recorded."""

    id: UUID
    position: int
    nouveau: bool
    client_id: UUID | None = None
    ticket_id: UUID | None = None
    action_ticket: str = ""


class OutgoingDelivery(msgspec.Struct, frozen=True):
    """What the sending job needs, read from the email's history."""

    id: UUID
    workspace_id: UUID
    client_id: UUID
    message_id: str
    destinataires: tuple[str, ...]
    cc: tuple[str, ...]
    sujet: str
    texte: str
    in_reply_to: str
    references: tuple[str, ...]
    etat: DeliveryState
    tentatives: int


class ServerAccess(msgspec.Struct, frozen=True):
    """A mail server account with its password decrypted, for an adapter only."""

    hote: str
    port: int
    utilisateur: str
    mot_de_passe: str = msgspec.field(default="")
    securite: SmtpSecurity = SmtpSecurity.STARTTLS
    expediteur: str = ""
    dossier: str = "INBOX"
    uidvalidity: int = 0
    dernier_uid: int = 0

    def __repr__(self) -> str:  # never print a password in a log or a traceback
        return f"ServerAccess({self.utilisateur}@{self.hote}:{self.port})"


def reply_text(texte: str) -> str:
    """The new part of a reply: the quoted history below it is dropped."""
    kept: list[str] = []
    for line in texte.splitlines():
        if _QUOTE_HEADER.match(line) and kept:
            break
        if not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept).strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class InboxApplication(CrmApplication):
    def __init__(self, env: Any = None, *, cipher: SecretCipher) -> None:
        super().__init__(env)
        self.cipher = cipher

    def construct_event_store(self) -> EventStore[UUID]:
        # A mail server delivers over several connections at once: the messages
        # recorded at the same moment share one transaction (see group_commit).
        return GroupCommitEventStore(mapper=self.mapper, recorder=self.recorder)

    # --- helpers ----------------------------------------------------------------
    def _email(self, workspace_id: UUID, email_id: UUID) -> EmailMessage:
        return self._load(EmailMessage, email_id, workspace_id, "Message")

    def _find_email(self, workspace_id: UUID, message_id: str) -> EmailMessage | None:
        if not message_id:
            return None
        try:
            found: object = self.repository.get(email_id_for(workspace_id, message_id))
        except AggregateNotFoundError:
            return None
        if isinstance(found, EmailMessage) and found.workspace_id == workspace_id:
            return found
        return None

    def _active_client(self, workspace_id: UUID, client_id: UUID | None) -> Client | None:
        """The client if it is this workspace's, else None (never someone else's)."""
        if client_id is None:
            return None
        try:
            return self._load(Client, client_id, workspace_id, "Client")
        except NotFoundError:
            return None

    def _position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def _domain(self, workspace_id: UUID) -> str:
        workspace = self._load(Workspace, workspace_id, workspace_id, "Espace de travail")
        return workspace.domaine_mail or FALLBACK_DOMAIN

    # --- manual entries -----------------------------------------------------------
    @command
    def log_email(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        expediteur: str,
        sujet: str,
        texte: str,
        sens: str,
        date_message: datetime,
        auteur: str,
        destinataires: tuple[str, ...] | list[str] = (),
    ) -> Receipt:
        """FR-INBOX-2: an email received or sent elsewhere, typed in by staff."""
        client = self._load(Client, client_id, workspace_id, "Client")
        client.ensure_active()
        email = EmailMessage.log(
            workspace_id=workspace_id,
            client_id=client.id,
            expediteur=expediteur,
            destinataires=destinataires,
            sujet=sujet,
            texte=texte,
            sens=sens,
            date_message=date_message,
            auteur=auteur,
        )
        return Receipt(email.id, self._commit(email))

    # --- inbound ------------------------------------------------------------------
    @command
    def receive(
        self,
        workspace_id: UUID,
        email: InboundEmail,
        *,
        empreinte: str,
        client_id: UUID | None = None,
        rattachement: str = "",
    ) -> Reception:
        """Record an inbound message once, in its thread, attached if we know to whom.

        `empreinte` is the sha256 of the raw bytes: the identity of a message
        without a Message-ID. A known Message-ID changes nothing (idempotent).
        """
        message_id = normalise_message_id(email.message_id)
        email = msgspec.structs.replace(
            email,
            message_id=message_id,
            in_reply_to=normalise_message_id(email.in_reply_to),
            references=tuple(
                ref for ref in (normalise_message_id(r) for r in email.references) if ref
            ),
        )
        email_id = (
            email_id_for(workspace_id, message_id)
            if message_id
            else raw_email_id_for(workspace_id, empreinte)
        )
        # No look-up first: a message already recorded makes the save conflict (the
        # id comes from its Message-ID), which rolls back anything decided with it.

        parent = self._parent(workspace_id, email)
        root = email.references[0] if email.references else email.in_reply_to
        thread_id = (
            parent.thread_id
            if parent is not None and parent.thread_id is not None
            else email_id_for(workspace_id, root)
            if root
            else email_id
        )
        client = self._active_client(workspace_id, client_id)
        if client is None and parent is not None and parent.client_id is not None:
            client = self._active_client(workspace_id, parent.client_id)
            rattachement = "fil"
        if client is None:
            rattachement = ""

        to_save: list[Any] = []
        ticket_id, action = self._ticket_effect(workspace_id, email, parent, client, to_save)
        record = EmailMessage.receive(
            email_id=email_id,
            workspace_id=workspace_id,
            email=email,
            thread_id=thread_id,
            client_id=client.id if client else None,
            rattachement=rattachement,
            ticket_id=ticket_id,
            action_ticket=action,
        )
        try:
            position = self._commit(record, *to_save)
        except ConflictError:
            # The same message delivered twice at once: the other delivery recorded it.
            if self._exists(email_id):
                return Reception(email_id, self._position(), nouveau=False)
            raise
        return Reception(
            email_id,
            position,
            nouveau=True,
            client_id=client.id if client else None,
            ticket_id=ticket_id,
            action_ticket=action,
        )

    def _parent(self, workspace_id: UUID, email: InboundEmail) -> EmailMessage | None:
        """The nearest known ancestor: In-Reply-To first, then References from the end."""
        candidates = [email.in_reply_to, *reversed(email.references)]
        seen: set[str] = set()
        for message_id in candidates:
            if not message_id or message_id in seen or message_id == email.message_id:
                continue
            seen.add(message_id)
            if len(seen) > MAX_THREAD_LOOKUPS:
                break
            found = self._find_email(workspace_id, message_id)
            if found is not None:
                return found
        return None

    def _ticket_effect(
        self,
        workspace_id: UUID,
        email: InboundEmail,
        parent: EmailMessage | None,
        client: Client | None,
        to_save: list[Any],
    ) -> tuple[UUID | None, str]:
        """A reply in a ticket's thread answers that ticket; else a rule may open one.

        Automatic messages (auto-replies, bounces, lists, loops) never touch tickets:
        two systems answering each other would otherwise fill the board.
        """
        if email.automatique or client is None or client.archived:
            return None, ""
        if parent is not None and parent.ticket_id is not None:
            ticket = self._load(Ticket, parent.ticket_id, workspace_id, "Ticket")
            if ticket.statut is not TicketStatus.FERME:
                text = reply_text(email.texte) or email.texte.strip() or "(message sans texte)"
                ticket.reply(texte=_clip(text, MAX_BODY), auteur=email.expediteur)
                to_save.append(ticket)
                return ticket.id, "reponse"
        rules_id = inbox_rules_id_for(workspace_id)
        if not self._exists(rules_id):
            return None, ""
        rules = self._load(InboxRules, rules_id, workspace_id, "Règles")
        rule = rules.match(email.destinataires + email.cc, email.sujet)
        if rule is None:
            return None, ""
        ticket = Ticket.open(
            workspace_id=workspace_id,
            client=client,
            sujet=_clip(" ".join(email.sujet.split()) or "(sans objet)", MAX_SUBJECT),
            description=_clip(email.texte.strip() or "(message sans texte)", MAX_BODY),
            type_ticket=rule.type_ticket.value,
            priorite=rule.priorite.value,
            source="email",
            ouvert_par=email.expediteur,
        )
        to_save.append(ticket)
        return ticket.id, "ouvert"

    @command
    def quarantine(
        self,
        workspace_id: UUID,
        *,
        raison: str,
        empreinte: str,
        taille: int,
        expediteur: str = "",
        sujet: str = "",
        message_id: str = "",
    ) -> Receipt:
        """A message we could not read: the event points at its raw bytes, kept aside."""
        email_id = raw_email_id_for(workspace_id, empreinte)
        if self._exists(email_id):
            return Receipt(email_id, self._position())
        record = EmailMessage.quarantine(
            email_id=email_id,
            workspace_id=workspace_id,
            raison=raison,
            sha256=empreinte,
            taille=taille,
            expediteur=expediteur,
            sujet=sujet,
            message_id=message_id,
        )
        try:
            return Receipt(email_id, self._commit(record))
        except ConflictError:
            if self._exists(email_id):  # quarantined by a concurrent delivery
                return Receipt(email_id, self._position())
            raise

    @command
    def dismiss_quarantined(self, workspace_id: UUID, email_id: UUID) -> Receipt:
        """An admin sets a quarantined message aside (« Ignorer »)."""
        email = self._email(workspace_id, email_id)
        email.dismiss()
        return Receipt(email.id, self._commit(email))

    @command
    def attach_to_client(self, workspace_id: UUID, email_id: UUID, client_id: UUID) -> Receipt:
        """Move a message from « À trier » to a client's file."""
        email = self._email(workspace_id, email_id)
        client = self._load(Client, client_id, workspace_id, "Client")
        client.ensure_active()
        email.attach_to(client.id)
        return Receipt(email.id, self._commit(email))

    # --- outbound -----------------------------------------------------------------
    @command
    def request_send(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        destinataires: tuple[str, ...] | list[str],
        sujet: str,
        texte: str,
        auteur: str,
        cc: tuple[str, ...] | list[str] = (),
        ticket_id: UUID | None = None,
        en_reponse_a: UUID | None = None,
    ) -> Receipt:
        """Queue an email to a client (a job sends it; see `record_sent`).

        A ticket's messages share one thread whose root is a Message-ID naming the
        ticket, so the client's reply comes back to that ticket.
        """
        client = self._load(Client, client_id, workspace_id, "Client")
        client.ensure_active()
        domain = self._domain(workspace_id)
        message_id = f"<{uuid4().hex}@{domain}>"
        email_id = email_id_for(workspace_id, message_id)
        in_reply_to, thread_id = "", email_id
        references: tuple[str, ...] = ()
        if en_reponse_a is not None:
            parent = self._email(workspace_id, en_reponse_a)
            in_reply_to = parent.message_id
            references = (*parent.references, parent.message_id)[-20:]
            thread_id = parent.thread_id or parent.id
        elif ticket_id is not None:
            ticket = self._load(Ticket, ticket_id, workspace_id, "Ticket")
            if ticket.client_id != client.id:
                raise DomainError("Ce ticket concerne un autre client.")
            root = f"<ticket.{ticket_id}@{domain}>"
            in_reply_to, references = root, (root,)
            thread_id = email_id_for(workspace_id, root)
        email = EmailMessage.request_send(
            email_id=email_id,
            workspace_id=workspace_id,
            client_id=client.id,
            message_id=message_id,
            destinataires=destinataires,
            cc=cc,
            sujet=sujet,
            texte=texte,
            auteur=auteur,
            thread_id=thread_id,
            ticket_id=ticket_id,
            in_reply_to=in_reply_to,
            references=references,
        )
        return Receipt(email.id, self._commit(email))

    def outgoing(self, workspace_id: UUID, email_id: UUID) -> OutgoingDelivery:
        email = self._email(workspace_id, email_id)
        request = email.outgoing
        if request is None or email.etat_envoi is None or email.client_id is None:
            raise NotFoundError("Envoi introuvable.")
        return OutgoingDelivery(
            id=email.id,
            workspace_id=workspace_id,
            client_id=email.client_id,
            message_id=request.message_id,
            destinataires=request.destinataires,
            cc=request.cc,
            sujet=request.sujet,
            texte=request.texte,
            in_reply_to=request.in_reply_to,
            references=request.references,
            etat=email.etat_envoi,
            tentatives=email.tentatives,
        )

    @command
    def record_sent(self, workspace_id: UUID, email_id: UUID, reponse_serveur: str) -> Receipt:
        email = self._email(workspace_id, email_id)
        email.mark_sent(reponse_serveur)
        return Receipt(email.id, self._commit(email))

    @command
    def record_send_failure(
        self, workspace_id: UUID, email_id: UUID, erreur: str, *, definitif: bool
    ) -> Receipt:
        email = self._email(workspace_id, email_id)
        email.record_failure(erreur, definitif=definitif)
        return Receipt(email.id, self._commit(email))

    # --- rules --------------------------------------------------------------------
    def _rules(self, workspace_id: UUID) -> InboxRules:
        rules_id = inbox_rules_id_for(workspace_id)
        if self._exists(rules_id):
            return self._load(InboxRules, rules_id, workspace_id, "Règles")
        self._load(Workspace, workspace_id, workspace_id, "Espace de travail")
        return InboxRules(workspace_id=workspace_id)

    @command
    def add_ticket_rule(
        self,
        workspace_id: UUID,
        *,
        critere: str,
        motif: str,
        type_ticket: str = "question",
        priorite: str = "normale",
    ) -> Receipt:
        rules = self._rules(workspace_id)
        rule_id = rules.add_rule(
            critere=critere, motif=motif, type_ticket=type_ticket, priorite=priorite
        )
        return Receipt(rule_id, self._commit(rules))

    @command
    def remove_ticket_rule(self, workspace_id: UUID, rule_id: UUID) -> Receipt:
        rules = self._rules(workspace_id)
        rules.remove_rule(rule_id)
        return Receipt(rule_id, self._commit(rules))

    # --- mail settings ------------------------------------------------------------
    def _settings(self, workspace_id: UUID) -> MailSettings:
        settings_id = mail_settings_id_for(workspace_id)
        if self._exists(settings_id):
            return self._load(MailSettings, settings_id, workspace_id, "Réglages mail")
        self._load(Workspace, workspace_id, workspace_id, "Espace de travail")
        return MailSettings(workspace_id=workspace_id)

    @command
    def configure_smtp(
        self,
        workspace_id: UUID,
        *,
        hote: str,
        port: int,
        utilisateur: str,
        mot_de_passe: str,
        expediteur: str,
        securite: str = "starttls",
    ) -> Receipt:
        """A blank password keeps the one stored; the stored one is encrypted."""
        settings = self._settings(workspace_id)
        settings.configure_smtp(
            hote=hote,
            port=port,
            utilisateur=utilisateur,
            mot_de_passe_chiffre=self.cipher.encrypt(mot_de_passe) if mot_de_passe else "",
            expediteur=expediteur,
            securite=securite,
        )
        return Receipt(settings.id, self._commit(settings))

    @command
    def configure_imap(
        self,
        workspace_id: UUID,
        *,
        hote: str,
        port: int,
        utilisateur: str,
        mot_de_passe: str,
        dossier: str = "INBOX",
        securite: str = "tls",
    ) -> Receipt:
        settings = self._settings(workspace_id)
        settings.configure_imap(
            hote=hote,
            port=port,
            utilisateur=utilisateur,
            mot_de_passe_chiffre=self.cipher.encrypt(mot_de_passe) if mot_de_passe else "",
            dossier=dossier,
            securite=securite,
        )
        return Receipt(settings.id, self._commit(settings))

    def _decrypt(self, token: str) -> str:
        if not token:
            return ""
        try:
            return self.cipher.decrypt(token)
        except ValueError:
            raise DomainError(
                "Le mot de passe enregistré ne peut plus être déchiffré (clé changée) :"
                " saisissez-le à nouveau dans les réglages mail."
            ) from None

    def smtp_access(self, workspace_id: UUID) -> ServerAccess | None:
        """The workspace's SMTP account with its password, for the sending adapter."""
        settings_id = mail_settings_id_for(workspace_id)
        if not self._exists(settings_id):
            return None
        account = self._load(MailSettings, settings_id, workspace_id, "Réglages mail").smtp
        if account is None:
            return None
        return ServerAccess(
            hote=account.hote,
            port=account.port,
            utilisateur=account.utilisateur,
            mot_de_passe=self._decrypt(account.mot_de_passe_chiffre),
            securite=account.securite,
            expediteur=account.expediteur,
        )

    def imap_access(self, workspace_id: UUID) -> ServerAccess | None:
        settings_id = mail_settings_id_for(workspace_id)
        if not self._exists(settings_id):
            return None
        settings = self._load(MailSettings, settings_id, workspace_id, "Réglages mail")
        account = settings.imap
        if account is None:
            return None
        return ServerAccess(
            hote=account.hote,
            port=account.port,
            utilisateur=account.utilisateur,
            mot_de_passe=self._decrypt(account.mot_de_passe_chiffre),
            securite=account.securite,
            dossier=account.dossier,
            uidvalidity=settings.uidvalidity,
            dernier_uid=settings.dernier_uid,
        )

    @command
    def advance_imap(self, workspace_id: UUID, uidvalidity: int, dernier_uid: int) -> Receipt:
        settings = self._settings(workspace_id)
        settings.advance_imap(uidvalidity, dernier_uid)
        return Receipt(settings.id, self._commit(settings))


__all__ = [
    "Direction",
    "InboxApplication",
    "OutgoingDelivery",
    "Reception",
    "ServerAccess",
    "reply_text",
]
