"""The inbox: email records (logged by hand, received, sent) and the rules around them.

An `EmailMessage` is born in one of four ways, each its own creation event:
`Logged` (typed in by staff), `Received` (an inbound message, parsed by an
adapter), `Quarantined` (a message that could not be read: its raw bytes are
kept outside the events) and `SendRequested` (an outgoing message). The library
calls `__init__` with the common fields, then the creation event's `apply`,
which only assigns state (replaying never re-runs a rule).
"""

from __future__ import annotations

import fnmatch
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID, uuid4

import msgspec
from eventsourcing.domain import event

from crm_core.aggregate import CrmAggregate
from crm_core.checks import FieldErrors
from crm_core.errors import DomainError, NotFoundError
from crm_core.ids import inbox_rules_id_for, mail_settings_id_for
from crm_core.personal import PersonalData
from crm_core.values import TicketPriority, TicketType

MAX_SUBJECT = 300
MAX_TEXT = 100_000
MAX_HTML = 400_000
MAX_RULES = 50

# RGPD: an email's addresses, subject and text are encrypted with the email's own
# key, owned by its client (like a ticket): erasing the client erases them, and the
# later events of the email (which carry no client id) still find their key. Mail
# « À trier » has no client yet: its key has no owner until `AttachedToClient`
# gives it one (see event_store/RGPD.md).
_OWNED_BY_CLIENT = "client_id"


class Direction(StrEnum):
    ENTRANT = "entrant"
    SORTANT = "sortant"


class DeliveryState(StrEnum):
    """Where an outgoing message stands ('' for a received or logged one)."""

    EN_ATTENTE = "en_attente"
    ENVOYE = "envoye"
    NOUVEL_ESSAI = "nouvel_essai"
    ECHEC = "echec"


class Attachment(msgspec.Struct, frozen=True, kw_only=True):
    """A file of a message. Its bytes live in the content-addressed store under
    `sha256`; `stocke` is false when it was over the size limit and not kept."""

    nom: str
    type_contenu: str
    taille: int
    sha256: str
    stocke: bool = True


class InboundEmail(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed inbound message, as an adapter hands it to the `receive` command."""

    message_id: str
    expediteur: str
    destinataires: tuple[str, ...]
    cc: tuple[str, ...] = ()
    sujet: str = ""
    texte: str = ""
    html: str = ""
    date_message: datetime
    pieces_jointes: tuple[Attachment, ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    automatique: bool = False
    taille: int = 0


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EmailMessage(CrmAggregate):
    """One email of the workspace: logged, received, quarantined or sent."""

    class Logged(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = PersonalData(
            fields=("expediteur", "destinataires", "sujet", "texte"), owner=_OWNED_BY_CLIENT
        )
        client_id: UUID
        expediteur: str
        destinataires: tuple[str, ...]
        sujet: str
        texte: str
        sens: Direction
        date_message: datetime
        auteur: str

        def apply(self, aggregate: Any) -> None:
            aggregate.client_id = self.client_id
            aggregate.sens = self.sens
            aggregate.sujet = self.sujet

    class Received(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = PersonalData(
            fields=("expediteur", "destinataires", "cc", "sujet", "texte", "html"),
            owner=_OWNED_BY_CLIENT,
        )
        message_id: str
        expediteur: str
        destinataires: tuple[str, ...]
        cc: tuple[str, ...]
        sujet: str
        texte: str
        html: str
        date_message: datetime
        pieces_jointes: tuple[Attachment, ...]
        in_reply_to: str
        references: tuple[str, ...]
        thread_id: UUID
        client_id: UUID | None
        rattachement: str
        automatique: bool
        taille: int
        ticket_id: UUID | None
        action_ticket: str

        def apply(self, aggregate: Any) -> None:
            aggregate.client_id = self.client_id
            aggregate.sens = Direction.ENTRANT
            aggregate.sujet = self.sujet
            aggregate.message_id = self.message_id
            aggregate.thread_id = self.thread_id
            aggregate.ticket_id = self.ticket_id
            aggregate.references = self.references

    class Quarantined(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = PersonalData(fields=("expediteur", "sujet"))
        raison: str
        sha256: str
        taille: int
        expediteur: str
        sujet: str
        message_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.sens = Direction.ENTRANT
            aggregate.sujet = self.sujet
            aggregate.quarantaine = True

    class SendRequested(CrmAggregate.Created):
        personal_data: ClassVar[PersonalData] = PersonalData(
            fields=("destinataires", "cc", "sujet", "texte"), owner=_OWNED_BY_CLIENT
        )
        client_id: UUID
        ticket_id: UUID | None
        message_id: str
        destinataires: tuple[str, ...]
        cc: tuple[str, ...]
        sujet: str
        texte: str
        in_reply_to: str
        references: tuple[str, ...]
        thread_id: UUID
        auteur: str

        def apply(self, aggregate: Any) -> None:
            aggregate.client_id = self.client_id
            aggregate.sens = Direction.SORTANT
            aggregate.sujet = self.sujet
            aggregate.message_id = self.message_id
            aggregate.thread_id = self.thread_id
            aggregate.ticket_id = self.ticket_id
            aggregate.references = self.references
            aggregate.etat_envoi = DeliveryState.EN_ATTENTE
            aggregate.outgoing = self

    class Dismissed(CrmAggregate.Event):
        """An admin set a quarantined message aside: it leaves the quarantine list
        (its raw bytes stay where they are, the history keeps it)."""

    class AttachedToClient(CrmAggregate.Event):
        # No personal field: it hands the email's key to its client (the owner).
        personal_data: ClassVar[PersonalData] = PersonalData(fields=(), owner=_OWNED_BY_CLIENT)
        client_id: UUID
        rattachement: str

    class Sent(CrmAggregate.Event):
        # A server's answer may quote the recipient's address.
        personal_data: ClassVar[PersonalData] = PersonalData(fields=("reponse_serveur",))
        tentative: int
        reponse_serveur: str

    class SendFailed(CrmAggregate.Event):
        personal_data: ClassVar[PersonalData] = PersonalData(fields=("erreur",))
        tentative: int
        erreur: str
        definitif: bool

    def __init__(self, workspace_id: UUID) -> None:
        self.workspace_id = workspace_id
        self.client_id: UUID | None = None
        self.sens = Direction.ENTRANT
        self.sujet = ""
        self.message_id = ""
        self.thread_id: UUID | None = None
        self.references: tuple[str, ...] = ()
        self.ticket_id: UUID | None = None
        self.quarantaine = False
        self.ecarte = False
        self.etat_envoi: DeliveryState | None = None
        self.tentatives = 0
        self.outgoing: EmailMessage.SendRequested | None = None

    # --- births -------------------------------------------------------------------
    @classmethod
    def log(
        cls,
        *,
        workspace_id: UUID,
        client_id: UUID,
        expediteur: str,
        destinataires: tuple[str, ...] | list[str],
        sujet: str,
        texte: str,
        sens: str,
        date_message: datetime,
        auteur: str,
    ) -> EmailMessage:
        """An email typed in (or pasted, or summarised) by a member of staff."""
        with FieldErrors() as check:
            expediteur = check.email("expediteur", expediteur, required=True)
            recipients = tuple(
                check.email("destinataires", address) for address in destinataires if address
            )
            sujet = check.text("sujet", sujet, label="Le sujet", required=True, max_length=300)
            texte = check.text("texte", texte, label="Le texte", max_length=MAX_TEXT)
            direction = check.choice("sens", sens, Direction, label="Le sens")
            if date_message.tzinfo is None:
                check.add("date", "La date doit préciser son fuseau horaire.")
        created: EmailMessage = cls._create(
            cls.Logged,
            id=uuid4(),
            workspace_id=workspace_id,
            client_id=client_id,
            expediteur=expediteur,
            destinataires=recipients,
            sujet=sujet,
            texte=texte,
            sens=direction,
            date_message=date_message,
            auteur=auteur,
        )
        return created

    @classmethod
    def receive(
        cls,
        *,
        email_id: UUID,
        workspace_id: UUID,
        email: InboundEmail,
        thread_id: UUID,
        client_id: UUID | None,
        rattachement: str,
        ticket_id: UUID | None = None,
        action_ticket: str = "",
    ) -> EmailMessage:
        created: EmailMessage = cls._create(
            cls.Received,
            id=email_id,
            workspace_id=workspace_id,
            message_id=email.message_id,
            expediteur=email.expediteur,
            destinataires=email.destinataires,
            cc=email.cc,
            sujet=_clip(email.sujet, MAX_SUBJECT),
            texte=_clip(email.texte, MAX_TEXT),
            html=email.html if len(email.html) <= MAX_HTML else "",
            date_message=email.date_message,
            pieces_jointes=email.pieces_jointes,
            in_reply_to=email.in_reply_to,
            references=email.references,
            thread_id=thread_id,
            client_id=client_id,
            rattachement=rattachement,
            automatique=email.automatique,
            taille=email.taille,
            ticket_id=ticket_id,
            action_ticket=action_ticket,
        )
        return created

    @classmethod
    def quarantine(
        cls,
        *,
        email_id: UUID,
        workspace_id: UUID,
        raison: str,
        sha256: str,
        taille: int,
        expediteur: str = "",
        sujet: str = "",
        message_id: str = "",
    ) -> EmailMessage:
        created: EmailMessage = cls._create(
            cls.Quarantined,
            id=email_id,
            workspace_id=workspace_id,
            raison=_clip(raison, 500),
            sha256=sha256,
            taille=taille,
            expediteur=_clip(expediteur, 320),
            sujet=_clip(sujet, MAX_SUBJECT),
            message_id=_clip(message_id, 500),
        )
        return created

    @classmethod
    def request_send(
        cls,
        *,
        email_id: UUID,
        workspace_id: UUID,
        client_id: UUID,
        message_id: str,
        destinataires: tuple[str, ...] | list[str],
        cc: tuple[str, ...] | list[str] = (),
        sujet: str,
        texte: str,
        auteur: str,
        thread_id: UUID,
        ticket_id: UUID | None = None,
        in_reply_to: str = "",
        references: tuple[str, ...] = (),
    ) -> EmailMessage:
        with FieldErrors() as check:
            recipients = tuple(
                check.email("destinataires", address, required=True)
                for address in destinataires
                if address.strip()
            )
            if not recipients:
                check.add("destinataires", "Indiquez au moins un destinataire.")
            copies = tuple(check.email("cc", address) for address in cc if address.strip())
            sujet = check.text("sujet", sujet, label="Le sujet", required=True, max_length=300)
            texte = check.text(
                "texte", texte, label="Le message", required=True, max_length=MAX_TEXT
            )
        created: EmailMessage = cls._create(
            cls.SendRequested,
            id=email_id,
            workspace_id=workspace_id,
            client_id=client_id,
            ticket_id=ticket_id,
            message_id=message_id,
            destinataires=recipients,
            cc=copies,
            sujet=sujet,
            texte=texte,
            in_reply_to=in_reply_to,
            references=references,
            thread_id=thread_id,
            auteur=auteur,
        )
        return created

    # --- later facts ------------------------------------------------------------------
    def attach_to(self, client_id: UUID, *, rattachement: str = "manuel") -> None:
        if self.quarantaine:
            raise DomainError("Un message en quarantaine ne peut pas être rattaché.")
        if self.client_id == client_id:
            return
        if self.client_id is not None:
            raise DomainError("Ce message est déjà rattaché à un client.")
        self._attach(client_id=client_id, rattachement=rattachement)

    @event(AttachedToClient)
    def _attach(self, client_id: UUID, rattachement: str) -> None:
        self.client_id = client_id

    def dismiss(self) -> None:
        """Set a quarantined message aside (once: a second time changes nothing)."""
        if not self.quarantaine:
            raise DomainError("Seul un message en quarantaine peut être ignoré.")
        if not self.ecarte:
            self._dismiss()

    @event(Dismissed)
    def _dismiss(self) -> None:
        self.ecarte = True

    def _ensure_outgoing(self) -> None:
        if self.etat_envoi is None:
            raise NotFoundError("Envoi introuvable.")

    @property
    def awaiting_delivery(self) -> bool:
        return self.etat_envoi in (DeliveryState.EN_ATTENTE, DeliveryState.NOUVEL_ESSAI)

    def mark_sent(self, reponse_serveur: str) -> None:
        self._ensure_outgoing()
        if self.awaiting_delivery:
            self._sent(tentative=self.tentatives + 1, reponse_serveur=_clip(reponse_serveur, 500))

    @event(Sent)
    def _sent(self, tentative: int, reponse_serveur: str) -> None:
        self.tentatives = tentative
        self.etat_envoi = DeliveryState.ENVOYE

    def record_failure(self, erreur: str, *, definitif: bool) -> None:
        self._ensure_outgoing()
        if self.awaiting_delivery:
            self._failed(
                tentative=self.tentatives + 1, erreur=_clip(erreur, 500), definitif=definitif
            )

    @event(SendFailed)
    def _failed(self, tentative: int, erreur: str, definitif: bool) -> None:
        self.tentatives = tentative
        self.etat_envoi = DeliveryState.ECHEC if definitif else DeliveryState.NOUVEL_ESSAI


class RuleCriterion(StrEnum):
    DESTINATAIRE = "destinataire"
    SUJET = "sujet"


class TicketRule(msgspec.Struct, frozen=True, kw_only=True):
    """'A message to support@… (or whose subject matches "*urgent*") opens a ticket'."""

    id: UUID
    critere: RuleCriterion
    motif: str
    type_ticket: TicketType = TicketType.QUESTION
    priorite: TicketPriority = TicketPriority.NORMALE

    def matches(self, destinataires: tuple[str, ...], sujet: str) -> bool:
        if self.critere is RuleCriterion.DESTINATAIRE:
            return self.motif in (address.lower() for address in destinataires)
        # A glob (`*` and `?`), never a regular expression: an admin's pattern
        # cannot make the receiver backtrack for minutes.
        return fnmatch.fnmatchcase(" ".join(sujet.lower().split()), self.motif)


class InboxRules(CrmAggregate):
    """The workspace's 'email → ticket' rules, set by an admin."""

    class Created(CrmAggregate.Created):
        pass

    class RuleAdded(CrmAggregate.Event):
        regle: TicketRule

    class RuleRemoved(CrmAggregate.Event):
        regle_id: UUID

    @staticmethod
    def create_id(workspace_id: UUID, **_: Any) -> UUID:
        return inbox_rules_id_for(workspace_id)

    @event(Created)
    def __init__(self, workspace_id: UUID) -> None:
        self.workspace_id = workspace_id
        self.regles: dict[UUID, TicketRule] = {}

    def add_rule(
        self,
        *,
        critere: str,
        motif: str,
        type_ticket: str = "question",
        priorite: str = "normale",
    ) -> UUID:
        with FieldErrors() as check:
            criterion = check.choice("critere", critere, RuleCriterion, label="Le critère")
            motif = " ".join(motif.lower().split())
            if not motif:
                check.add("motif", "Le motif est obligatoire.")
            elif len(motif) > 200:
                check.add("motif", "Le motif ne doit pas dépasser 200 caractères.")
            elif criterion is RuleCriterion.DESTINATAIRE:
                motif = check.email("motif", motif, required=True)
            kind = check.choice("typeTicket", type_ticket, TicketType, label="Type de ticket")
            priority = check.choice("priorite", priorite, TicketPriority, label="Priorité")
        if len(self.regles) >= MAX_RULES:
            raise DomainError(f"{MAX_RULES} règles au plus.")
        if any(r.critere is criterion and r.motif == motif for r in self.regles.values()):
            raise DomainError("Cette règle existe déjà.")
        rule = TicketRule(
            id=uuid4(), critere=criterion, motif=motif, type_ticket=kind, priorite=priority
        )
        self._add_rule(regle=rule)
        return rule.id

    @event(RuleAdded)
    def _add_rule(self, regle: TicketRule) -> None:
        self.regles[regle.id] = regle

    def remove_rule(self, regle_id: UUID) -> None:
        if regle_id not in self.regles:
            raise NotFoundError("Cette règle n’existe pas.")
        self._remove_rule(regle_id=regle_id)

    @event(RuleRemoved)
    def _remove_rule(self, regle_id: UUID) -> None:
        del self.regles[regle_id]

    def match(self, destinataires: tuple[str, ...], sujet: str) -> TicketRule | None:
        return next(
            (rule for rule in self.regles.values() if rule.matches(destinataires, sujet)), None
        )


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    AUCUNE = "aucune"


class SmtpAccount(msgspec.Struct, frozen=True, kw_only=True):
    hote: str
    port: int
    utilisateur: str
    mot_de_passe_chiffre: str = ""
    expediteur: str
    securite: SmtpSecurity


class ImapAccount(msgspec.Struct, frozen=True, kw_only=True):
    hote: str
    port: int
    utilisateur: str
    mot_de_passe_chiffre: str = ""
    dossier: str = "INBOX"
    securite: SmtpSecurity


def _check_server(
    hote: str, port: int, utilisateur: str, securite: str, check: FieldErrors
) -> tuple[str, int, str, SmtpSecurity]:
    hote = check.text("hote", hote, label="Le serveur", required=True, max_length=253)
    if not 0 < port < 65536:
        check.add("port", "Le port doit être compris entre 1 et 65 535.")
    utilisateur = check.text("utilisateur", utilisateur, label="L’identifiant", max_length=320)
    security = check.choice("securite", securite, SmtpSecurity, label="La sécurité")
    return hote, port, utilisateur, security


class MailSettings(CrmAggregate):
    """The workspace's mail accounts: outgoing SMTP and an optional IMAP mailbox.

    Passwords are stored encrypted (the `SecretCipher` port): the events hold the
    ciphertext only, never the password.
    """

    class Created(CrmAggregate.Created):
        pass

    class SmtpConfigured(CrmAggregate.Event):
        compte: SmtpAccount

    class ImapConfigured(CrmAggregate.Event):
        compte: ImapAccount

    class ImapPositionAdvanced(CrmAggregate.Event):
        uidvalidity: int
        dernier_uid: int

    @staticmethod
    def create_id(workspace_id: UUID, **_: Any) -> UUID:
        return mail_settings_id_for(workspace_id)

    @event(Created)
    def __init__(self, workspace_id: UUID) -> None:
        self.workspace_id = workspace_id
        self.smtp: SmtpAccount | None = None
        self.imap: ImapAccount | None = None
        self.uidvalidity = 0
        self.dernier_uid = 0

    def configure_smtp(
        self,
        *,
        hote: str,
        port: int,
        utilisateur: str,
        mot_de_passe_chiffre: str,
        expediteur: str,
        securite: str,
    ) -> None:
        """A blank password keeps the stored one (the screen never shows it back)."""
        with FieldErrors() as check:
            hote, port, utilisateur, security = _check_server(
                hote, port, utilisateur, securite, check
            )
            expediteur = check.email("expediteur", expediteur, required=True)
        if not mot_de_passe_chiffre and self.smtp is not None:
            mot_de_passe_chiffre = self.smtp.mot_de_passe_chiffre
        account = SmtpAccount(
            hote=hote,
            port=port,
            utilisateur=utilisateur,
            mot_de_passe_chiffre=mot_de_passe_chiffre,
            expediteur=expediteur,
            securite=security,
        )
        if account != self.smtp:
            self._configure_smtp(compte=account)

    @event(SmtpConfigured)
    def _configure_smtp(self, compte: SmtpAccount) -> None:
        self.smtp = compte

    def configure_imap(
        self,
        *,
        hote: str,
        port: int,
        utilisateur: str,
        mot_de_passe_chiffre: str,
        dossier: str,
        securite: str,
    ) -> None:
        with FieldErrors() as check:
            hote, port, utilisateur, security = _check_server(
                hote, port, utilisateur, securite, check
            )
            dossier = check.text("dossier", dossier or "INBOX", label="Le dossier", max_length=200)
        if not mot_de_passe_chiffre and self.imap is not None:
            mot_de_passe_chiffre = self.imap.mot_de_passe_chiffre
        account = ImapAccount(
            hote=hote,
            port=port,
            utilisateur=utilisateur,
            mot_de_passe_chiffre=mot_de_passe_chiffre,
            dossier=dossier,
            securite=security,
        )
        if account != self.imap:
            self._configure_imap(compte=account)

    @event(ImapConfigured)
    def _configure_imap(self, compte: ImapAccount) -> None:
        previous = self.imap
        self.imap = compte
        if previous is None or (previous.hote, previous.utilisateur, previous.dossier) != (
            compte.hote,
            compte.utilisateur,
            compte.dossier,
        ):
            # Another mailbox: the UIDs seen so far mean nothing there.
            self.uidvalidity = 0
            self.dernier_uid = 0

    def advance_imap(self, uidvalidity: int, dernier_uid: int) -> None:
        if (uidvalidity, dernier_uid) != (self.uidvalidity, self.dernier_uid):
            self._advance_imap(uidvalidity=uidvalidity, dernier_uid=dernier_uid)

    @event(ImapPositionAdvanced)
    def _advance_imap(self, uidvalidity: int, dernier_uid: int) -> None:
        self.uidvalidity = uidvalidity
        self.dernier_uid = dernier_uid
