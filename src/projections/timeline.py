"""The client timeline: activities, opportunities, tickets and emails, mixed and dated.

Each entry follows the seed's EvenementTimeline: `type_evenement`,
`reference_id`, `description_texte`, `date_evenement`, `auteur`.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg import Connection

from crm_core.billing.domainmodel import PaymentRequest
from crm_core.inbox.domainmodel import EmailMessage
from crm_core.sales.domainmodel import Activity, Client, Opportunity
from crm_core.support.domainmodel import Ticket
from crm_core.values import TicketStatus
from projections.formatting import format_money
from projections.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from projections.readmodel import ReadModel, Statement, jsonb, topics_of

STAGE_LABELS = {
    "prospect": "Prospect",
    "qualification": "Qualification",
    "proposition": "Proposition",
    "negociation": "Négociation",
    "gagne": "Gagné",
    "perdu": "Perdu",
}
TICKET_STATUS_LABELS = {
    "nouveau": "Nouveau",
    "en_cours": "En cours",
    "en_attente_client": "En attente client",
    "resolu": "Résolu",
    "ferme": "Fermé",
}


class TimelineEntry(msgspec.Struct, frozen=True):
    id: str
    client_id: UUID
    type_evenement: str
    reference_id: UUID | None
    description_texte: str
    date_evenement: datetime
    auteur: str
    meta: dict[str, Any] = {}


EMAIL_KIND = "email_client"
EMAIL_EXCERPT = 500
SENS_LABELS = {"entrant": "reçu", "sortant": "envoyé"}


def email_text(sens: str, sujet: str, correspondant: str, texte: str = "") -> str:
    """'Email reçu de x@y : « Sujet »' then the start of the text (seed 6.2)."""
    preposition = "de" if sens == "entrant" else "à"
    text = f"Email {SENS_LABELS.get(sens, sens)} {preposition} {correspondant} : « {sujet} »"
    flat = " ".join(texte.split())
    if flat:
        text += "\n" + (flat if len(flat) <= EMAIL_EXCERPT else flat[: EMAIL_EXCERPT - 1] + "…")
    return text


_REMEMBER = (
    "INSERT INTO rm_timeline_subjects (id, client_id, titre) VALUES (%s, %s, %s)"
    " ON CONFLICT (id) DO UPDATE SET titre = EXCLUDED.titre"
)


def _remember_all(subjects: dict[UUID, tuple[UUID, str]], conn: Connection[Any]) -> None:
    owners, titles = [c for c, _ in subjects.values()], [t for _, t in subjects.values()]
    conn.execute(_REMEMBER_ALL, (list(subjects), owners, titles))


_NO_META = jsonb({})  # most entries: one wrapper for all of them

_REMEMBER_ALL = (
    "INSERT INTO rm_timeline_subjects (id, client_id, titre)"
    " SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::text[])"
    " ON CONFLICT (id) DO UPDATE SET titre = EXCLUDED.titre"
)


class TimelineView(ReadModel):
    tables: ClassVar[tuple[str, ...]] = (
        "rm_timeline",
        "rm_timeline_subjects",
        "rm_timeline_emails",
    )

    @staticmethod
    def entry(
        event: Any,
        client_id: UUID,
        kind: str,
        text: str,
        *,
        reference_id: UUID | None = None,
        at: datetime | None = None,
        auteur: str = "",
        meta: dict[str, Any] | None = None,
    ) -> Statement:
        return (
            "INSERT INTO rm_timeline (id, workspace_id, client_id, type_evenement, reference_id,"
            " description_texte, date_evenement, auteur, meta)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                f"{event.originator_id}:{event.originator_version}",
                event.workspace_id,
                client_id,
                kind,
                reference_id,
                text,
                at or event.timestamp,
                auteur or event.actor,
                jsonb(meta) if meta else _NO_META,
            ),
        )

    #: During a replay from zero, every subject is remembered here (the replay then
    #: never waits for a lookup), and written once when the replay ends: an upsert per
    #: opportunity or ticket cannot go by COPY and cost more than its entries.
    _replayed_subjects: dict[UUID, tuple[UUID, str]] | None = None
    _unwritten_subjects: dict[UUID, tuple[UUID, str]] | None = None

    def forget_replay(self) -> None:
        super().forget_replay()
        self._replayed_subjects = None
        self._unwritten_subjects = None

    def remember(self, subject_id: UUID, client_id: UUID, titre: str) -> tuple[Statement, ...]:
        if self._replay is not None:
            if self._replayed_subjects is None or self._unwritten_subjects is None:
                self._replayed_subjects, self._unwritten_subjects = {}, {}
            self._replayed_subjects[subject_id] = (client_id, titre)
            self._unwritten_subjects[subject_id] = (client_id, titre)
            return ()
        memo = self.batch_memo()
        if memo is not None:
            memo[subject_id] = (client_id, titre)
        return ((_REMEMBER, (subject_id, client_id, titre)),)

    def finish_replay(self) -> None:
        subjects, self._unwritten_subjects = self._unwritten_subjects, {}
        pending = self._replay_pending
        if self._replay is not None and pending is not None and subjects:
            self.flush_replay()  # the deletes of erased clients, in their place before
            pending.send(functools.partial(_remember_all, subjects))
        super().finish_replay()

    def forget_client(self, client_id: UUID) -> list[Statement]:
        for remembered in (self._replayed_subjects or {}, self._unwritten_subjects or {}):
            for subject_id in [s for s, (owner, _) in remembered.items() if owner == client_id]:
                del remembered[subject_id]
        return [
            ("DELETE FROM rm_timeline WHERE client_id = %s", (client_id,)),
            ("DELETE FROM rm_timeline_subjects WHERE client_id = %s", (client_id,)),
        ]

    def subject(self, subject_id: UUID) -> tuple[UUID, str] | None:
        if self._replay is not None and self._replayed_subjects is not None:
            # A replay starts from empty tables: what it has not remembered is unknown.
            return self._replayed_subjects.get(subject_id)
        memo = self.batch_memo()
        if memo is not None and subject_id in memo:
            # Remembered earlier in this batch: no round trip in the middle of the pipeline.
            known: tuple[UUID, str] = memo[subject_id]
            return known
        row = self.fetch_one(
            "SELECT client_id, titre FROM rm_timeline_subjects WHERE id = %s", (subject_id,)
        )
        return (row["client_id"], row["titre"]) if row else None

    def add_about_subject(self, event: Any, kind: str, text_for: Any, tracking: Tracking) -> None:
        """An entry about a known opportunity or ticket; `text_for(titre)` words it."""
        found = self.subject(event.originator_id)
        if found is None:
            self.track(tracking)
            return
        client_id, titre = found
        self.write(
            tracking,
            self.entry(event, client_id, kind, text_for(titre), reference_id=event.originator_id),
        )

    # --- queries ----------------------------------------------------------------
    def for_client(
        self,
        workspace_id: UUID,
        client_id: UUID,
        *,
        kinds: list[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[TimelineEntry]:
        """Newest first; `kinds` keeps only those types (e.g. ["appel", "note"])."""
        limit = clamp_limit(limit)
        where = ["workspace_id = %(ws)s", "client_id = %(client)s"]
        params: dict[str, Any] = {"ws": workspace_id, "client": client_id, "limit": limit + 1}
        if kinds:
            where.append("type_evenement = ANY(%(kinds)s)")
            params["kinds"] = kinds
        total_row = self.fetch_one(
            f"SELECT count(*) AS n FROM rm_timeline WHERE {' AND '.join(where)}",
            params,  # type: ignore[arg-type]
        )
        after = decode_cursor(cursor, 2)
        if after is not None:
            where.append("(date_evenement, id) < (%(after_at)s::timestamptz, %(after_id)s)")
            params["after_at"], params["after_id"] = after
        rows = self.fetch_all(
            "SELECT id, client_id, type_evenement, reference_id, description_texte,"  # type: ignore[arg-type]
            f" date_evenement, auteur, meta FROM rm_timeline WHERE {' AND '.join(where)}"
            " ORDER BY date_evenement DESC, id DESC LIMIT %(limit)s",
            params,
        )
        items = [msgspec.convert(row, TimelineEntry) for row in rows[:limit]]
        next_cursor = (
            encode_cursor(items[-1].date_evenement.isoformat(), items[-1].id)
            if len(rows) > limit
            else None
        )
        return Page(items=items, next_cursor=next_cursor, total=total_row["n"] if total_row else 0)

    def get(self, workspace_id: UUID, entry_id: str) -> TimelineEntry | None:
        """One entry by its id ("<aggregate id>:<version>")."""
        row = self.fetch_one(
            "SELECT id, client_id, type_evenement, reference_id, description_texte,"
            " date_evenement, auteur FROM rm_timeline WHERE id = %s AND workspace_id = %s",
            (entry_id, workspace_id),
        )
        return msgspec.convert(row, TimelineEntry) if row else None


class TimelineProjection(Projection[TimelineView]):
    name = "timeline"
    topics = topics_of(
        Client.Registered,
        Client.Archived,
        Client.Restored,
        Activity.Logged,
        Opportunity.Opened,
        Opportunity.StageChanged,
        Opportunity.Won,
        Opportunity.Lost,
        Opportunity.Reopened,
        Opportunity.Revised,
        Ticket.Opened,
        Ticket.Replied,
        Ticket.StatusChanged,
        PaymentRequest.Requested,
        PaymentRequest.CheckoutSessionCreated,
        PaymentRequest.PaymentPending,
        PaymentRequest.Paid,
        PaymentRequest.Failed,
        PaymentRequest.Expired,
        PaymentRequest.Refunded,
        Client.Erased,
        EmailMessage.Logged,
        EmailMessage.Received,
        EmailMessage.AttachedToClient,
        EmailMessage.SendRequested,
        EmailMessage.SendFailed,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Client.Registered, tracking: Tracking) -> None:
        self.view.write(
            tracking,
            self.view.entry(
                event, event.originator_id, "client_cree", f"Fiche client « {event.nom} » créée"
            ),
        )

    @process_event.register
    def _(self, event: Client.Archived, tracking: Tracking) -> None:
        self.view.write(
            tracking,
            self.view.entry(event, event.originator_id, "client_archive", "Client archivé"),
        )

    @process_event.register
    def _(self, event: Client.Restored, tracking: Tracking) -> None:
        self.view.write(
            tracking,
            self.view.entry(event, event.originator_id, "client_restaure", "Client restauré"),
        )

    @process_event.register
    def _(self, event: Activity.Logged, tracking: Tracking) -> None:
        labels = {"note": "Note", "appel": "Appel", "reunion": "Réunion"}
        text = f"{labels[event.kind.value]} : {event.sujet}"
        if event.duree_minutes:
            text += f" ({event.duree_minutes} min)"
        if event.contenu:
            text += f"\n{event.contenu}"
        self.view.write(
            tracking,
            self.view.entry(
                event,
                event.client_id,
                event.kind.value,
                text,
                reference_id=event.originator_id,
                at=event.date_activite,
            ),
        )

    @process_event.register
    def _(self, event: Opportunity.Opened, tracking: Tracking) -> None:
        amount = (
            f" ({format_money(event.montant_estime, event.devise)})" if event.montant_estime else ""
        )
        self.view.write(
            tracking,
            *self.view.remember(event.originator_id, event.client_id, event.titre),
            self.view.entry(
                event,
                event.client_id,
                "opportunite_creee",
                f"Opportunité « {event.titre} » ouverte{amount}",
                reference_id=event.originator_id,
            ),
        )

    @process_event.register
    def _(self, event: Opportunity.Revised, tracking: Tracking) -> None:
        found = self.view.subject(event.originator_id)
        if found is None or found[1] == event.titre:
            self.view.track(tracking)
            return
        self.view.write(tracking, *self.view.remember(event.originator_id, found[0], event.titre))

    @process_event.register
    def _(self, event: Opportunity.StageChanged, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event,
            "opportunite_etape",
            lambda titre: (
                f"Opportunité « {titre} » : {STAGE_LABELS[event.de.value]} → "
                f"{STAGE_LABELS[event.vers.value]}"
            ),
            tracking,
        )

    @process_event.register
    def _(self, event: Opportunity.Won, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event,
            "opportunite_gagnee",
            lambda titre: (
                f"Opportunité « {titre} » gagnée ({format_money(event.montant, event.devise)})"
            ),
            tracking,
        )

    @process_event.register
    def _(self, event: Opportunity.Lost, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event,
            "opportunite_perdue",
            lambda titre: f"Opportunité « {titre} » perdue : {event.raison}",
            tracking,
        )

    @process_event.register
    def _(self, event: Opportunity.Reopened, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event,
            "opportunite_rouverte",
            lambda titre: f"Opportunité « {titre} » rouverte en {STAGE_LABELS[event.vers.value]}",
            tracking,
        )

    @process_event.register
    def _(self, event: Ticket.Opened, tracking: Tracking) -> None:
        sources = {"staff": "", "portail": " depuis le portail", "email": " par email"}
        self.view.write(
            tracking,
            *self.view.remember(event.originator_id, event.client_id, event.sujet),
            self.view.entry(
                event,
                event.client_id,
                "ticket_ouvert",
                f"Ticket « {event.sujet} » ouvert{sources[event.source.value]}",
                reference_id=event.originator_id,
            ),
        )

    @process_event.register
    def _(self, event: Ticket.Replied, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event, "ticket_reponse", lambda titre: f"Réponse au ticket « {titre} »", tracking
        )

    @process_event.register
    def _(self, event: Ticket.StatusChanged, tracking: Tracking) -> None:
        if event.vers not in (TicketStatus.RESOLU, TicketStatus.FERME):
            self.view.track(tracking)
            return
        self.view.add_about_subject(
            event,
            "ticket_statut",
            lambda titre: f"Ticket « {titre} » {TICKET_STATUS_LABELS[event.vers.value].lower()}",
            tracking,
        )

    # --- payments: the subject is the payment request, worded with its opportunity -----
    @process_event.register
    def _(self, event: PaymentRequest.Requested, tracking: Tracking) -> None:
        # No entry yet: the link is announced when Stripe has made it.
        self.view.write(
            tracking, *self.view.remember(event.originator_id, event.client_id, event.description)
        )

    @process_event.register
    def _(self, event: PaymentRequest.CheckoutSessionCreated, tracking: Tracking) -> None:
        amount = format_money(event.amount, event.currency)
        self.view.add_about_subject(
            event,
            "lien_paiement_cree",
            lambda titre: f"Lien de paiement créé pour « {titre} » ({amount})",
            tracking,
        )

    @process_event.register
    def _(self, event: PaymentRequest.PaymentPending, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event,
            "paiement_en_attente",
            lambda titre: f"Paiement en cours de traitement pour « {titre} »",
            tracking,
        )

    @process_event.register
    def _(self, event: PaymentRequest.Paid, tracking: Tracking) -> None:
        amount = format_money(event.amount, event.currency)
        self.view.add_about_subject(
            event,
            "paiement_recu",
            lambda titre: f"Paiement reçu : {amount} pour « {titre} »",
            tracking,
        )

    @process_event.register
    def _(self, event: PaymentRequest.Failed, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event, "paiement_echoue", lambda titre: f"Paiement échoué pour « {titre} »", tracking
        )

    @process_event.register
    def _(self, event: PaymentRequest.Expired, tracking: Tracking) -> None:
        self.view.add_about_subject(
            event,
            "paiement_expire",
            lambda titre: f"Lien de paiement expiré pour « {titre} »",
            tracking,
        )

    @process_event.register
    def _(self, event: PaymentRequest.Refunded, tracking: Tracking) -> None:
        what = "Paiement remboursé" if event.fully else "Remboursement partiel"
        self.view.add_about_subject(
            event,
            "paiement_rembourse",
            lambda titre: f"{what} pour « {titre} » ({format_money(event.amount_refunded)})",
            tracking,
        )

    @process_event.register
    def _(self, event: Client.Erased, tracking: Tracking) -> None:
        # RGPD erasure: the client's timeline quotes names, subjects and notes.
        self.view.write(tracking, *self.view.forget_client(event.originator_id))

    # --- emails (issue 6): entries `email_client`, with the direction in `meta` ----------
    @process_event.register
    def _(self, event: EmailMessage.Logged, tracking: Tracking) -> None:
        correspondant = (
            event.expediteur
            if event.sens.value == "entrant"
            else ", ".join(event.destinataires) or event.expediteur
        )
        self.view.write(
            tracking,
            self.view.entry(
                event,
                event.client_id,
                EMAIL_KIND,
                email_text(event.sens.value, event.sujet, correspondant, event.texte),
                reference_id=event.originator_id,
                at=event.date_message,
                auteur=event.auteur,
                meta={"sens": event.sens.value, "origine": "manuel"},
            ),
        )

    @process_event.register
    def _(self, event: EmailMessage.Received, tracking: Tracking) -> None:
        if event.client_id is None:  # « À trier »: remembered until attached
            self.view.write(
                tracking,
                (
                    "INSERT INTO rm_timeline_emails (id, sens, expediteur, sujet, date_message)"
                    " VALUES (%s, 'entrant', %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (event.originator_id, event.expediteur, event.sujet, event.date_message),
                ),
            )
            return
        self.view.write(
            tracking,
            self.view.entry(
                event,
                event.client_id,
                EMAIL_KIND,
                email_text("entrant", event.sujet, event.expediteur, event.texte),
                reference_id=event.originator_id,
                at=event.date_message,
                auteur=event.expediteur,
                meta={"sens": "entrant", "origine": "recu", "thread_id": str(event.thread_id)},
            ),
        )

    @process_event.register
    def _(self, event: EmailMessage.AttachedToClient, tracking: Tracking) -> None:
        row = self.view.fetch_one(
            "SELECT expediteur, sujet, date_message FROM rm_timeline_emails WHERE id = %s",
            (event.originator_id,),
        )
        if row is None:
            self.view.track(tracking)
            return
        self.view.write(
            tracking,
            self.view.entry(
                event,
                event.client_id,
                EMAIL_KIND,
                email_text("entrant", row["sujet"], row["expediteur"]),
                reference_id=event.originator_id,
                at=row["date_message"],
                auteur=row["expediteur"],
                meta={"sens": "entrant", "origine": "recu", "rattache_par": event.actor},
            ),
            ("DELETE FROM rm_timeline_emails WHERE id = %s", (event.originator_id,)),
        )

    @process_event.register
    def _(self, event: EmailMessage.SendRequested, tracking: Tracking) -> None:
        self.view.write(
            tracking,
            *self.view.remember(event.originator_id, event.client_id, event.sujet),
            self.view.entry(
                event,
                event.client_id,
                EMAIL_KIND,
                email_text("sortant", event.sujet, ", ".join(event.destinataires), event.texte),
                reference_id=event.originator_id,
                auteur=event.auteur,
                meta={"sens": "sortant", "origine": "envoi"},
            ),
        )

    @process_event.register
    def _(self, event: EmailMessage.SendFailed, tracking: Tracking) -> None:
        if not event.definitif:  # retried: only the final failure is worth a line
            self.view.track(tracking)
            return
        self.view.add_about_subject(
            event,
            "email_echec",
            lambda titre: (
                f"Échec de l’envoi de l’email « {titre} » après {event.tentative} essai(s) :"
                f" {event.erreur}"
            ),
            tracking,
        )
