"""Analytics: the facts the tableau de bord, the forecast and the exports are made from.

The projection keeps one row per opportunity, per stage an opportunity entered,
per payment request, per activity, per ticket, per client and per portal visit
(tables `rm_analytics_*`, see `event_store/migrations/0500_analytics.sql` and the
README). It owns its facts instead of reading the pipeline's tables, so it can be
rebuilt alone and indexed for period queries. The metrics themselves are the
query functions of `projections.metrics`.

Per-day summaries (`rm_analytics_days`, `rm_analytics_stage_days`, migration
`0700_analytics_days.sql`) let a period's figures sum at most one row per day and
owner instead of scanning every opportunity, stage entry and call. They change in the
same statement as the fact they summarise: an opportunity's row counts on the days of
its opening, win and loss (and its stage entries on theirs, with its current amount);
every change of the row subtracts what it counted for before and adds what it counts
for after (a `WITH` whose `UPDATE ... RETURNING` is the after and whose plain `SELECT`,
on the statement's snapshot, is the before). So a reopening, a new owner or a revised
amount moves the figures exactly as the facts move, and a replay from zero (rebuild)
arrives at the same rows. `rm_analytics_open_pipeline` (open opportunities per owner
and stage) moves the same way.

Payments and portal visits: the billing events (`PaymentRequest.Requested`,
`CheckoutSessionCreated`, `Paid`, `Failed`, `Expired`, `Refunded`) and the
portal's `PortalVisit.Recorded` write `rm_analytics_payments` and
`rm_analytics_portal_visits` through the methods below. (A database whose
analytics projection ran before these handlers existed gets the past payments
and visits by a rebuild of `analytics`.)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, LiteralString
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from crm_core.billing.domainmodel import PaymentRequest
from crm_core.portal.domainmodel import PortalVisit
from crm_core.sales.domainmodel import Activity, Client, Opportunity
from crm_core.support.domainmodel import Ticket
from crm_core.values import Stage, TicketStatus
from projections.readmodel import KeptSums, ReadModel, Statement, topics_of

_RESOLVED = (TicketStatus.RESOLU, TicketStatus.FERME)

_PARIS_DAY = "AT TIME ZONE 'Europe/Paris')::date"

# What one opportunity row `c` counts for per day, signed by `c.sign` (-1 before a
# change, +1 after): the same definitions as `projections.metrics`.
_DAYS_UPSERT = (
    "INSERT INTO rm_analytics_days AS d (workspace_id, owner_id, jour, ouvertes, gagnees,"
    " montant_gagne, perdues, closes_payees, gagnees_non_payees, montant_en_attente,"
    " gagnees_avec_lien)"
    " SELECT c.workspace_id, c.owner_id, f.jour, sum(c.sign * f.ouvertes),"
    " sum(c.sign * f.gagnees), sum(c.sign * f.montant_gagne), sum(c.sign * f.perdues),"
    " sum(c.sign * f.closes_payees), sum(c.sign * f.non_payees), sum(c.sign * f.en_attente),"
    " sum(c.sign * f.avec_lien)"
    " FROM changes c CROSS JOIN LATERAL (VALUES"
    " ((c.opened_at " + _PARIS_DAY + ", 1, 0, 0::numeric, 0, 0, 0, 0::numeric, 0),"
    " ((c.won_at " + _PARIS_DAY + ", 0, 1, COALESCE(c.won_amount, 0), 0, c.paid::int,"
    "  (NOT c.paid)::int, CASE WHEN c.paid THEN 0 ELSE COALESCE(c.won_amount, 0) END,"
    "  c.linked::int),"
    " ((c.lost_at " + _PARIS_DAY + ", 0, 0, 0, 1, c.paid::int, 0, 0, 0)"
    " ) AS f (jour, ouvertes, gagnees, montant_gagne, perdues, closes_payees, non_payees,"
    "  en_attente, avec_lien)"
    " WHERE f.jour IS NOT NULL GROUP BY 1, 2, 3"
    " ON CONFLICT (workspace_id, owner_id, jour) DO UPDATE SET"
    " ouvertes = d.ouvertes + EXCLUDED.ouvertes, gagnees = d.gagnees + EXCLUDED.gagnees,"
    " montant_gagne = d.montant_gagne + EXCLUDED.montant_gagne,"
    " perdues = d.perdues + EXCLUDED.perdues,"
    " closes_payees = d.closes_payees + EXCLUDED.closes_payees,"
    " gagnees_non_payees = d.gagnees_non_payees + EXCLUDED.gagnees_non_payees,"
    " montant_en_attente = d.montant_en_attente + EXCLUDED.montant_en_attente,"
    " gagnees_avec_lien = d.gagnees_avec_lien + EXCLUDED.gagnees_avec_lien"
)

# The stage entries of the changed rows, with their owner and current amount.
_STAGE_DAYS_UPSERT = (
    "INSERT INTO rm_analytics_stage_days AS s (workspace_id, owner_id, jour, etape, entrees,"
    " montant)"
    " SELECT c.workspace_id, c.owner_id, (e.entered_at " + _PARIS_DAY + ", e.etape,"
    " sum(c.sign), sum(c.sign * COALESCE(c.montant, 0))"
    " FROM changes c JOIN rm_analytics_stage_entries e ON e.opportunity_id = c.id"
    " GROUP BY 1, 2, 3, 4"
    " ON CONFLICT (workspace_id, owner_id, jour, etape) DO UPDATE SET"
    " entrees = s.entrees + EXCLUDED.entrees, montant = s.montant + EXCLUDED.montant"
)

# The open pipeline today (open: neither won nor lost), per owner and stage.
_OPEN_PIPELINE_UPSERT = (
    "INSERT INTO rm_analytics_open_pipeline AS p (workspace_id, owner_id, etape, nombre,"
    " montant)"
    " SELECT c.workspace_id, c.owner_id, c.etape, sum(c.sign), sum(c.sign * COALESCE(c.montant, 0))"
    " FROM changes c WHERE c.won_at IS NULL AND c.lost_at IS NULL GROUP BY 1, 2, 3"
    " ON CONFLICT (workspace_id, owner_id, etape) DO UPDATE SET"
    " nombre = p.nombre + EXCLUDED.nombre, montant = p.montant + EXCLUDED.montant"
)


def _change_opportunity(
    assignments: str, condition: str, *, stage_days: bool = False, pipeline: bool = False
) -> LiteralString:
    """One statement: update the opportunity rows matching `condition` and move their
    per-day counts from what they were to what they are (amounts and owners also move
    their stage entries when `stage_days`, and the open pipeline when `pipeline`)."""
    sql = (
        f"WITH after AS (UPDATE rm_analytics_opportunities SET {assignments}"
        f" WHERE {condition} RETURNING *),"
        " before AS (SELECT o.* FROM rm_analytics_opportunities o JOIN after a ON a.id = o.id),"
        " changes AS (SELECT -1 AS sign, * FROM before UNION ALL SELECT 1, * FROM after)"
    )
    if stage_days:
        sql += f", stage_days AS ({_STAGE_DAYS_UPSERT})"
    if pipeline:
        sql += f", pipeline AS ({_OPEN_PIPELINE_UPSERT})"
    return sql + " " + _DAYS_UPSERT  # type: ignore[return-value]


def _update_opportunity(assignments: str, condition: str) -> LiteralString:
    """The update alone, without the summaries: what a replay runs (it computes the
    summaries once at its end, see `ReadModel.replay_forms`)."""
    return f"UPDATE rm_analytics_opportunities SET {assignments} WHERE {condition}"  # type: ignore[return-value]


_REVISE_SET = (
    "titre = %(titre)s, montant = %(montant)s, devise = %(devise)s,"
    " date_cloture_prevue = %(cloture)s, owner_id = %(owner)s, updated_at = %(at)s"
)
_REVISE = _change_opportunity(_REVISE_SET, "id = %(id)s", stage_days=True, pipeline=True)
_MOVE_SET = (
    "etape = %(etape)s, stage_entered_at = %(at)s, updated_at = %(at)s,"
    " won_at = CASE WHEN %(etape)s = 'gagne' THEN %(at)s END,"
    " won_amount = CASE WHEN %(etape)s = 'gagne' THEN %(amount)s::numeric END,"
    " lost_at = CASE WHEN %(etape)s = 'perdu' THEN %(at)s END"
)
_MOVE = _change_opportunity(_MOVE_SET, "id = %(id)s", pipeline=True)
# A payment received / a payment link created: the opportunity becomes paid / linked
# (monotonic, as the payment's own paid_at and link_created_at are set once).
_PAID_WHERE = (
    "id = (SELECT opportunity_id FROM rm_analytics_payments WHERE id = %(payment)s"
    " AND paid_at IS NOT NULL) AND NOT paid"
)
_MARK_PAID = _change_opportunity("paid = true", _PAID_WHERE)
_LINKED_WHERE = (
    "id = (SELECT opportunity_id FROM rm_analytics_payments WHERE id = %(payment)s"
    " AND link_created_at IS NOT NULL) AND NOT linked"
)
_MARK_LINKED = _change_opportunity("linked = true", _LINKED_WHERE)
_INSERT_OPPORTUNITY = (
    "INSERT INTO rm_analytics_opportunities (id, workspace_id, client_id,"
    " owner_id, titre, montant, devise, etape, date_cloture_prevue, opened_at,"
    " stage_entered_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (id) DO NOTHING"
)
_OPEN = (
    "WITH o AS (" + _INSERT_OPPORTUNITY + " RETURNING *),"
    " changes AS (SELECT 1 AS sign, * FROM o),"
    " pipeline AS (" + _OPEN_PIPELINE_UPSERT + ") " + _DAYS_UPSERT
)
# A stage entered (the opening's included): counted on its day with the opportunity's
# owner and current amount, only when the entry is new.
_INSERT_ENTRY = (
    "INSERT INTO rm_analytics_stage_entries (opportunity_id, version,"
    " workspace_id, etape, de, entered_at) VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT DO NOTHING"
)
_ENTER = (
    "WITH e AS (" + _INSERT_ENTRY + " RETURNING *)"
    " INSERT INTO rm_analytics_stage_days AS s (workspace_id, owner_id, jour, etape, entrees,"
    " montant)"
    " SELECT o.workspace_id, o.owner_id, (e.entered_at " + _PARIS_DAY + ", e.etape, 1,"
    " COALESCE(o.montant, 0) FROM e JOIN rm_analytics_opportunities o ON o.id = e.opportunity_id"
    " ON CONFLICT (workspace_id, owner_id, jour, etape) DO UPDATE SET"
    " entrees = s.entrees + EXCLUDED.entrees, montant = s.montant + EXCLUDED.montant"
)
_INSERT_ACTIVITY = (
    "INSERT INTO rm_analytics_activities (id, workspace_id, client_id, kind,"
    " auteur_id, date_activite) VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (id) DO NOTHING"
)
_LOG_ACTIVITY = (
    "WITH a AS (" + _INSERT_ACTIVITY + " RETURNING *)"
    " INSERT INTO rm_analytics_days AS d (workspace_id, owner_id, jour, appels)"
    " SELECT workspace_id, auteur_id, (date_activite " + _PARIS_DAY + ", 1 FROM a"
    " WHERE kind = 'appel'"
    " ON CONFLICT (workspace_id, owner_id, jour) DO UPDATE SET appels = d.appels + 1"
)

# The summaries computed from the facts (a replay's end): every opportunity row counts
# once, as the statements above count a row after a change (sign +1).
_EVERY_OPPORTUNITY = "WITH changes AS (SELECT 1 AS sign, * FROM rm_analytics_opportunities) "
_DAYS = KeptSums(
    "rm_analytics_days",
    keys=("workspace_id", "owner_id", "jour"),
    sums=(
        "ouvertes",
        "gagnees",
        "montant_gagne",
        "perdues",
        "closes_payees",
        "gagnees_non_payees",
        "montant_en_attente",
        "gagnees_avec_lien",
        "appels",
    ),
    recompute=(
        _EVERY_OPPORTUNITY + _DAYS_UPSERT,
        "INSERT INTO rm_analytics_days AS d (workspace_id, owner_id, jour, appels)"
        " SELECT workspace_id, auteur_id, (date_activite " + _PARIS_DAY + ", count(*)"
        " FROM rm_analytics_activities WHERE kind = 'appel' GROUP BY 1, 2, 3"
        " ON CONFLICT (workspace_id, owner_id, jour) DO UPDATE SET appels = EXCLUDED.appels",
    ),
)
_STAGE_DAYS = KeptSums(
    "rm_analytics_stage_days",
    keys=("workspace_id", "owner_id", "jour", "etape"),
    sums=("entrees", "montant"),
    recompute=(_EVERY_OPPORTUNITY + _STAGE_DAYS_UPSERT,),
)
_OPEN_PIPELINE = KeptSums(
    "rm_analytics_open_pipeline",
    keys=("workspace_id", "owner_id", "etape"),
    sums=("nombre", "montant"),
    recompute=(_EVERY_OPPORTUNITY + _OPEN_PIPELINE_UPSERT,),
)


def user_of(actor: str) -> UUID | None:
    """The user id of an actor `user:<uuid>`, else None (system, portal, stripe...)."""
    prefix, _, rest = actor.partition(":")
    if prefix != "user":
        return None
    try:
        return UUID(rest)
    except ValueError:
        return None


_CLIENT_OWNER = "UPDATE rm_analytics_clients SET owner_id = %s WHERE id = %s"
_CLIENT_ARCHIVED = "UPDATE rm_analytics_clients SET archived = %s WHERE id = %s"
_TICKET_ASSIGNED = "UPDATE rm_analytics_tickets SET assignee_id = %s WHERE id = %s"
_TICKET_STATUS_CHANGED = (
    "UPDATE rm_analytics_tickets SET statut = %s,"
    " resolved_at = CASE WHEN %s THEN COALESCE(resolved_at, %s) END WHERE id = %s"
)


# What those statements do to a row held in memory by a replay (`ReadModel.flush_replay`).
def _revised(row: dict[str, Any], p: dict[str, Any]) -> None:
    row.update(
        titre=p["titre"],
        montant=p["montant"],
        devise=p["devise"],
        date_cloture_prevue=p["cloture"],
        owner_id=p["owner"],
        updated_at=p["at"],
    )


def _moved(row: dict[str, Any], p: dict[str, Any]) -> None:
    won, lost = p["etape"] == "gagne", p["etape"] == "perdu"
    row.update(
        etape=p["etape"],
        stage_entered_at=p["at"],
        updated_at=p["at"],
        won_at=p["at"] if won else None,
        won_amount=p["amount"] if won else None,
        lost_at=p["at"] if lost else None,
    )


def _ticket_status_changed(row: dict[str, Any], p: tuple[Any, ...]) -> None:
    resolved_at = row.get("resolved_at")
    row.update(
        statut=p[0],
        resolved_at=(resolved_at if resolved_at is not None else p[2]) if p[1] else None,
    )


_REVISE_ALONE = _update_opportunity(_REVISE_SET, "id = %(id)s")
_MOVE_ALONE = _update_opportunity(_MOVE_SET, "id = %(id)s")


class AnalyticsView(ReadModel):
    kept_sums: ClassVar[tuple[KeptSums, ...]] = (_DAYS, _STAGE_DAYS, _OPEN_PIPELINE)
    replay_forms: ClassVar[dict[str, LiteralString | None]] = {
        _OPEN: _INSERT_OPPORTUNITY,
        _ENTER: _INSERT_ENTRY,
        _REVISE: _REVISE_ALONE,
        _MOVE: _MOVE_ALONE,
        _MARK_PAID: _update_opportunity("paid = true", _PAID_WHERE),
        _MARK_LINKED: _update_opportunity("linked = true", _LINKED_WHERE),
        _LOG_ACTIVITY: _INSERT_ACTIVITY,
    }
    replay_updates: ClassVar[dict[str, Any]] = {
        _REVISE_ALONE: _revised,
        _MOVE_ALONE: _moved,
        _CLIENT_OWNER: lambda row, p: row.update(owner_id=p[0]),
        _CLIENT_ARCHIVED: lambda row, p: row.update(archived=p[0]),
        _TICKET_ASSIGNED: lambda row, p: row.update(assignee_id=p[0]),
        _TICKET_STATUS_CHANGED: _ticket_status_changed,
    }
    tables: ClassVar[tuple[str, ...]] = (
        "rm_analytics_opportunities",
        "rm_analytics_stage_entries",
        "rm_analytics_payments",
        "rm_analytics_activities",
        "rm_analytics_tickets",
        "rm_analytics_clients",
        "rm_analytics_portal_visits",
        "rm_analytics_days",
        "rm_analytics_stage_days",
        "rm_analytics_open_pipeline",
    )

    # --- opportunities ----------------------------------------------------------
    @staticmethod
    def _entry(event: Any, etape: Stage, de: Stage | None) -> Statement:
        return (
            _ENTER,
            (
                event.originator_id,
                event.originator_version,
                event.workspace_id,
                etape.value,
                de.value if de is not None else None,
                event.timestamp,
            ),
        )

    def open_opportunity(self, event: Opportunity.Opened, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                _OPEN,
                (
                    event.originator_id,
                    event.workspace_id,
                    event.client_id,
                    event.owner_id,
                    event.titre,
                    event.montant_estime,
                    event.devise,
                    event.etape.value,
                    event.date_cloture_prevue,
                    event.timestamp,
                    event.timestamp,
                    event.timestamp,
                ),
            ),
            self._entry(event, event.etape, None),
        )

    def revise_opportunity(self, event: Opportunity.Revised, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                _REVISE,
                {
                    "titre": event.titre,
                    "montant": event.montant_estime,
                    "devise": event.devise,
                    "cloture": event.date_cloture_prevue,
                    "owner": event.owner_id,
                    "at": event.timestamp,
                    "id": event.originator_id,
                },
            ),
        )

    def move_opportunity(
        self,
        event: Any,
        etape: Stage,
        de: Stage,
        tracking: Tracking,
        *,
        won_amount: Decimal | None = None,
    ) -> None:
        """A stage change: won and lost dates are kept only while the stage holds."""
        at: datetime = event.timestamp
        self.write(
            tracking,
            (
                _MOVE,
                {
                    "etape": etape.value,
                    "at": at,
                    "amount": won_amount,
                    "id": event.originator_id,
                },
            ),
            self._entry(event, etape, de),
        )

    # --- clients, activities, tickets ---------------------------------------------
    def register_client(self, event: Client.Registered, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_analytics_clients (id, workspace_id, owner_id, registered_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (event.originator_id, event.workspace_id, event.owner_id, event.timestamp),
            ),
        )

    def set_client(self, client_id: UUID, column: str, value: Any, tracking: Tracking) -> None:
        query = {"owner_id": _CLIENT_OWNER, "archived": _CLIENT_ARCHIVED}[column]
        self.write(tracking, (query, (value, client_id)))  # type: ignore[arg-type]

    def log_activity(self, event: Activity.Logged, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                _LOG_ACTIVITY,
                (
                    event.originator_id,
                    event.workspace_id,
                    event.client_id,
                    event.kind.value,
                    event.auteur_id or user_of(event.actor),
                    event.date_activite,
                ),
            ),
        )

    def open_ticket(self, event: Ticket.Opened, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_analytics_tickets (id, workspace_id, client_id, source, statut,"
                " opened_at) VALUES (%s, %s, %s, %s, 'nouveau', %s) ON CONFLICT (id) DO NOTHING",
                (
                    event.originator_id,
                    event.workspace_id,
                    event.client_id,
                    event.source.value,
                    event.timestamp,
                ),
            ),
        )

    def assign_ticket(self, event: Ticket.Assigned, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                _TICKET_ASSIGNED,
                (event.assignee_id, event.originator_id),
            ),
        )

    def change_ticket_status(self, event: Ticket.StatusChanged, tracking: Tracking) -> None:
        resolved = event.vers in _RESOLVED
        self.write(
            tracking,
            (
                _TICKET_STATUS_CHANGED,
                (event.vers.value, resolved, event.timestamp, event.originator_id),
            ),
        )

    # --- payments (billing events) and portal visits -------------------------------
    def request_payment(
        self,
        payment_id: UUID,
        *,
        workspace_id: UUID,
        opportunity_id: UUID,
        client_id: UUID,
        amount: Decimal,
        currency: str,
        at: datetime,
        tracking: Tracking,
    ) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_analytics_payments (id, workspace_id, opportunity_id, client_id,"
                " amount, currency, requested_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                (payment_id, workspace_id, opportunity_id, client_id, amount, currency, at),
            ),
        )

    def create_link(
        self, payment_id: UUID, amount: Decimal, at: datetime, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (
                "UPDATE rm_analytics_payments SET links = links + 1, amount = %s,"
                " link_created_at = COALESCE(link_created_at, %s), statut = 'en_attente'"
                " WHERE id = %s AND paid_at IS NULL",
                (amount, at, payment_id),
            ),
            (_MARK_LINKED, {"payment": payment_id}),
        )

    def record_payment(
        self, payment_id: UUID, amount: Decimal, at: datetime, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (
                "UPDATE rm_analytics_payments SET paid_at = COALESCE(paid_at, %s),"
                " paid_amount = COALESCE(paid_amount, %s), statut = 'paye' WHERE id = %s",
                (at, amount, payment_id),
            ),
            (_MARK_PAID, {"payment": payment_id}),
        )

    def set_payment_status(self, payment_id: UUID, statut: str, tracking: Tracking) -> None:
        self.write(
            tracking,
            (
                "UPDATE rm_analytics_payments SET statut = %s WHERE id = %s AND paid_at IS NULL",
                (statut, payment_id),
            ),
        )

    def record_refund(
        self, payment_id: UUID, refunded: Decimal, fully: bool, tracking: Tracking
    ) -> None:
        self.write(
            tracking,
            (
                "UPDATE rm_analytics_payments SET refunded_amount = GREATEST(refunded_amount, %s),"
                " statut = CASE WHEN %s THEN 'rembourse' ELSE statut END WHERE id = %s",
                (refunded, fully, payment_id),
            ),
        )

    def record_visit(
        self,
        visit_id: str,
        *,
        workspace_id: UUID,
        client_id: UUID,
        at: datetime,
        tracking: Tracking,
    ) -> None:
        self.write(
            tracking,
            (
                "INSERT INTO rm_analytics_portal_visits (id, workspace_id, client_id, visited_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (visit_id, workspace_id, client_id, at),
            ),
        )


class AnalyticsProjection(Projection[AnalyticsView]):
    name = "analytics"
    # Counts, amounts, stages and dates: no name or text of a person is read.
    reads_personal_data = False
    topics = topics_of(
        Opportunity.Opened,
        Opportunity.Revised,
        Opportunity.StageChanged,
        Opportunity.Won,
        Opportunity.Lost,
        Opportunity.Reopened,
        Client.Registered,
        Client.Updated,
        Client.Archived,
        Client.Restored,
        Activity.Logged,
        Ticket.Opened,
        Ticket.Assigned,
        Ticket.StatusChanged,
        PaymentRequest.Requested,
        PaymentRequest.CheckoutSessionCreated,
        PaymentRequest.Paid,
        PaymentRequest.Failed,
        PaymentRequest.Expired,
        PaymentRequest.Refunded,
        PortalVisit.Recorded,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _(self, event: Opportunity.Opened, tracking: Tracking) -> None:
        self.view.open_opportunity(event, tracking)

    @process_event.register
    def _(self, event: Opportunity.Revised, tracking: Tracking) -> None:
        self.view.revise_opportunity(event, tracking)

    @process_event.register
    def _(self, event: Opportunity.StageChanged, tracking: Tracking) -> None:
        self.view.move_opportunity(event, event.vers, event.de, tracking)

    @process_event.register
    def _(self, event: Opportunity.Reopened, tracking: Tracking) -> None:
        self.view.move_opportunity(event, event.vers, event.de, tracking)

    @process_event.register
    def _(self, event: Opportunity.Won, tracking: Tracking) -> None:
        self.view.move_opportunity(event, Stage.GAGNE, event.de, tracking, won_amount=event.montant)

    @process_event.register
    def _(self, event: Opportunity.Lost, tracking: Tracking) -> None:
        self.view.move_opportunity(event, Stage.PERDU, event.de, tracking)

    @process_event.register
    def _(self, event: Client.Registered, tracking: Tracking) -> None:
        self.view.register_client(event, tracking)

    @process_event.register
    def _(self, event: Client.Updated, tracking: Tracking) -> None:
        self.view.set_client(event.originator_id, "owner_id", event.owner_id, tracking)

    @process_event.register
    def _(self, event: Client.Archived, tracking: Tracking) -> None:
        self.view.set_client(event.originator_id, "archived", True, tracking)

    @process_event.register
    def _(self, event: Client.Restored, tracking: Tracking) -> None:
        self.view.set_client(event.originator_id, "archived", False, tracking)

    @process_event.register
    def _(self, event: Activity.Logged, tracking: Tracking) -> None:
        self.view.log_activity(event, tracking)

    @process_event.register
    def _(self, event: Ticket.Opened, tracking: Tracking) -> None:
        self.view.open_ticket(event, tracking)

    @process_event.register
    def _(self, event: Ticket.Assigned, tracking: Tracking) -> None:
        self.view.assign_ticket(event, tracking)

    @process_event.register
    def _(self, event: Ticket.StatusChanged, tracking: Tracking) -> None:
        self.view.change_ticket_status(event, tracking)

    # --- payments and portal visits -------------------------------------------------
    @process_event.register
    def _(self, event: PaymentRequest.Requested, tracking: Tracking) -> None:
        self.view.request_payment(
            event.originator_id,
            workspace_id=event.workspace_id,
            opportunity_id=event.opportunity_id,
            client_id=event.client_id,
            amount=event.amount,
            currency=event.currency,
            at=event.timestamp,
            tracking=tracking,
        )

    @process_event.register
    def _(self, event: PaymentRequest.CheckoutSessionCreated, tracking: Tracking) -> None:
        self.view.create_link(event.originator_id, event.amount, event.timestamp, tracking)

    @process_event.register
    def _(self, event: PaymentRequest.Paid, tracking: Tracking) -> None:
        self.view.record_payment(event.originator_id, event.amount, event.timestamp, tracking)

    @process_event.register
    def _(self, event: PaymentRequest.Failed, tracking: Tracking) -> None:
        self.view.set_payment_status(event.originator_id, "echoue", tracking)

    @process_event.register
    def _(self, event: PaymentRequest.Expired, tracking: Tracking) -> None:
        self.view.set_payment_status(event.originator_id, "expire", tracking)

    @process_event.register
    def _(self, event: PaymentRequest.Refunded, tracking: Tracking) -> None:
        self.view.record_refund(event.originator_id, event.amount_refunded, event.fully, tracking)

    @process_event.register
    def _(self, event: PortalVisit.Recorded, tracking: Tracking) -> None:
        self.view.record_visit(
            str(event.originator_id),
            workspace_id=event.workspace_id,
            client_id=event.client_id,
            at=event.timestamp,
            tracking=tracking,
        )
