"""The analytics read model and its metrics, on a known history written by the commands."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from adapters.stripe.gateway import StripeGateways
from crm_core.billing.ports import NoticeKind, PaymentNotice
from crm_core.context import acting_as, user_actor
from projections.forecast import at_risk, stage_history
from projections.metrics import Period, Scope, key_figures, open_pipeline, salespeople, stage_months
from tests.support.fake_stripe import fake_stripe_server
from tests.support.history import Clock, KnownHistory, at, write_known_history
from web.container import Container

MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


@pytest.fixture
def known(
    container: Container, workspace: UUID, monkeypatch: pytest.MonkeyPatch
) -> tuple[UUID, dict[str, UUID], KnownHistory]:
    clock = Clock(monkeypatch)
    users: dict[str, UUID] = {}
    with acting_as("system"), clock.at(at("2026-01-01")):
        for name in ("u1", "u2"):
            users[name] = container.accounts.register_user(
                workspace,
                email=f"{name}.{workspace.hex[:8]}@test.fr",
                nom=name.upper(),
                role="commercial",
                password="mot-de-passe-de-test",
            ).id
    return workspace, users, write_known_history(container, clock, workspace, users)


def test_the_key_figures_of_a_period_match_the_hand_computed_values(
    container: Container, known: tuple[UUID, dict[str, UUID], KnownHistory]
) -> None:
    workspace, _, _ = known
    figures = key_figures(container.analytics, Scope(workspace), MARCH)
    assert figures.opportunites_ouvertes == 3  # opp2, opp3, opp4
    assert figures.opportunites_gagnees == 2  # opp1, opp3 (opp5 reopened)
    assert figures.montant_gagne == Decimal("4000.00")
    assert figures.opportunites_perdues == 1
    assert figures.taux_gain == pytest.approx(2 / 3, abs=1e-4)
    assert figures.montant_en_attente == Decimal("4000.00")
    assert figures.gagnees_non_payees == 2
    # No payment events yet: zero payments, a conversion of 0 over 3 closed.
    assert figures.paiements_stripe == 0
    assert figures.montant_encaisse == 0
    assert figures.conversion_paiement == 0
    assert figures.part_lien_paiement == 0
    assert figures.delai_paiement_moyen_jours is None
    assert figures.tickets_ouverts == 2  # t1, t2
    assert figures.tickets_resolus == 3  # t1 6 h, t2 48 h, t3 72 h
    assert figures.delai_resolution_moyen_heures == pytest.approx(42.0)
    assert figures.delai_resolution_median_heures == pytest.approx(48.0)
    assert figures.appels == 3
    assert figures.portail_clients_actifs == 2  # C is archived
    assert figures.portail_clients_ticket == 1  # B opened t2 from the portal
    assert figures.portail_clients_total == 1
    assert figures.part_portail == pytest.approx(0.5)


def test_the_previous_period_has_its_own_figures(
    container: Container, known: tuple[UUID, dict[str, UUID], KnownHistory]
) -> None:
    workspace, _, _ = known
    february = Period(date(2026, 2, 1), date(2026, 2, 28))
    assert MARCH.previous() == february
    assert Period(date(2026, 3, 10), date(2026, 3, 19)).previous() == Period(
        date(2026, 2, 28), date(2026, 3, 9)
    )
    figures = key_figures(container.analytics, Scope(workspace), february)
    assert figures.opportunites_ouvertes == 1  # opp1
    assert figures.opportunites_gagnees == 0
    assert figures.tickets_ouverts == 1  # t3
    assert figures.appels == 1


def test_a_salesperson_sees_only_their_own_figures(
    container: Container, known: tuple[UUID, dict[str, UUID], KnownHistory]
) -> None:
    workspace, users, _ = known
    figures = key_figures(container.analytics, Scope(workspace, users["u1"]), MARCH)
    assert figures.opportunites_gagnees == 1
    assert figures.montant_gagne == Decimal("1000.00")
    assert figures.opportunites_perdues == 1
    assert figures.taux_gain == pytest.approx(0.5)
    assert figures.appels == 2
    assert figures.tickets_ouverts == 1  # t1 is assigned to u1
    assert figures.portail_clients_actifs == 1  # client A


def test_per_salesperson_conversion_calls_and_revenue(
    container: Container, known: tuple[UUID, dict[str, UUID], KnownHistory]
) -> None:
    workspace, users, _ = known
    rows = {row.owner_id: row for row in salespeople(container.analytics, Scope(workspace), MARCH)}
    u1, u2 = rows[users["u1"]], rows[users["u2"]]
    assert (u1.nom, u1.opportunites_gagnees, u1.opportunites_perdues) == ("U1", 1, 1)
    assert u1.taux_conversion == pytest.approx(0.5)
    assert u1.chiffre_affaires == Decimal("1000.00")
    assert u1.appels == 2
    assert u1.pipeline_ouvert == Decimal("700.00")  # opp5, reopened
    assert (u2.opportunites_gagnees, u2.opportunites_perdues, u2.appels) == (1, 0, 1)
    assert u2.taux_conversion == 1.0
    assert u2.chiffre_affaires == Decimal("3000.00")
    assert u2.pipeline_ouvert == Decimal("500.00")


def test_stage_entries_per_month_and_the_open_pipeline(
    container: Container, known: tuple[UUID, dict[str, UUID], KnownHistory]
) -> None:
    workspace, _, _ = known
    entries = {
        row.etape: row.entrees
        for row in stage_months(container.analytics, Scope(workspace), MARCH)
        if row.mois == date(2026, 3, 1)
    }
    assert entries == {
        "prospect": 2,  # opp2, opp3
        "qualification": 1,  # opp3
        "proposition": 1,  # opp4
        "negociation": 1,  # opp5 reopened
        "gagne": 2,  # opp1, opp3
        "perdu": 1,  # opp2
    }
    pipeline = {
        row.etape: (row.nombre, row.montant)
        for row in open_pipeline(container.analytics, Scope(workspace))
    }
    assert pipeline["proposition"] == (1, Decimal("500.00"))
    assert pipeline["negociation"] == (1, Decimal("700.00"))
    assert pipeline["prospect"] == (0, Decimal(0))


def test_the_forecast_history_counts_closed_opportunities_per_stage_they_went_through(
    container: Container, known: tuple[UUID, dict[str, UUID], KnownHistory]
) -> None:
    workspace, _, ids = known
    history = {
        row.etape: row
        for row in stage_history(container.analytics, Scope(workspace), at("2026-04-01"))
    }
    # Closed now: opp1 (won, through prospect), opp2 (lost, prospect), opp3 (won, through
    # prospect and qualification).
    assert (history["prospect"].gagnees, history["prospect"].perdues) == (2, 1)
    assert (history["qualification"].gagnees, history["qualification"].perdues) == (1, 0)
    assert sorted(round(d) for d in history["prospect"].delais_jours) == [13, 17]
    assert [round(d) for d in history["qualification"].delais_jours] == [16]
    risky = at_risk(container.analytics, Scope(workspace), date(2026, 4, 1))
    assert [(row.id, row.raisons[0]) for row in risky] == [
        (ids["opp4"], "date de clôture dépassée")
    ]


def test_payment_and_portal_figures_from_payment_and_visit_facts(
    container: Container, known: tuple[UUID, dict[str, UUID], KnownHistory]
) -> None:
    """The billing and portal events are not in this branch yet: their facts are written
    through the same view methods their handlers call, under a tracking name of their own.
    """
    workspace, users, ids = known
    view = container.analytics
    positions = iter(range(1, 100))

    def tracking() -> Tracking:
        return Tracking(f"test-{workspace}", next(positions))

    pay1, pay3 = uuid4(), uuid4()
    for payment, opp, client, day in (
        (pay1, "opp1", "A", "2026-03-05"),
        (pay3, "opp3", "B", "2026-03-20"),
    ):
        view.request_payment(
            payment,
            workspace_id=workspace,
            opportunity_id=ids[opp],
            client_id=ids[client],
            amount=Decimal(1000 if opp == "opp1" else 3000),
            currency="EUR",
            at=at(day),
            tracking=tracking(),
        )
        view.create_link(payment, Decimal(1000 if opp == "opp1" else 3000), at(day, 12), tracking())
    view.record_payment(pay1, Decimal(1000), at("2026-03-08"), tracking())  # 3 days after the win
    view.record_payment(pay3, Decimal(3000), at("2026-04-02"), tracking())  # next month
    view.record_visit(
        f"visit-{workspace}",
        workspace_id=workspace,
        client_id=ids["A"],
        at=at("2026-03-09"),
        tracking=tracking(),
    )
    figures = key_figures(view, Scope(workspace), MARCH)
    assert figures.paiements_stripe == 1
    assert figures.montant_encaisse == Decimal("1000.00")
    assert figures.delai_paiement_moyen_jours == pytest.approx(3.0)
    assert figures.delai_paiement_median_jours == pytest.approx(3.0)
    assert figures.part_lien_paiement == 1.0  # opp1 and opp3 both got a link
    assert figures.conversion_paiement == pytest.approx(2 / 3, abs=1e-4)  # opp2 lost
    assert figures.montant_en_attente == 0
    assert figures.gagnees_non_payees == 0
    assert figures.portail_clients_visite == 1
    assert figures.portail_clients_paiement == 1  # A in March (B paid in April)
    assert figures.portail_clients_total == 2  # A (visit, payment), B (portal ticket)
    assert figures.part_portail == 1.0
    april = key_figures(view, Scope(workspace), Period(date(2026, 4, 1), date(2026, 4, 30)))
    assert (april.paiements_stripe, april.montant_encaisse) == (1, Decimal("3000.00"))
    assert april.delai_paiement_moyen_jours == pytest.approx(13.0)
    people = {row.owner_id: row for row in salespeople(view, Scope(workspace), MARCH)}
    assert people[users["u1"]].montant_encaisse == Decimal("1000.00")
    assert people[users["u2"]].montant_encaisse == 0


def test_a_real_portal_visit_event_counts_as_a_portal_use(
    container: Container,
    known: tuple[UUID, dict[str, UUID], KnownHistory],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace, _, ids = known
    clock = Clock(monkeypatch)
    with clock.at(at("2026-03-10")):
        container.portal.record_visit(workspace, ids["A"])
        receipt = container.portal.record_visit(workspace, ids["A"])  # twice: one client
    with clock.at(at("2026-04-02")):
        later = container.portal.record_visit(workspace, ids["B"])
    container.wait(max(receipt.position, later.position), "analytics")
    figures = key_figures(container.analytics, Scope(workspace), MARCH)
    assert figures.portail_clients_visite == 1
    assert figures.portail_clients_total == 2  # A (visits), B (portal ticket)
    april = key_figures(
        container.analytics, Scope(workspace), Period(date(2026, 4, 1), date(2026, 4, 30))
    )
    assert april.portail_clients_visite == 1


def test_payment_and_portal_figures_come_from_the_billing_and_portal_events(
    container: Container,
    known: tuple[UUID, dict[str, UUID], KnownHistory],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same figures as above, now written by the real commands: links made at a
    Stripe-like server, payments told by Stripe's notices, a visit of the portal."""
    workspace, users, ids = known
    clock = Clock(monkeypatch)
    key = f"sk_test_{workspace.hex}Analytics"
    with fake_stripe_server(key) as fake:
        # The session's container talks to api.stripe.com; this test's Stripe is local.
        monkeypatch.setattr(
            container.billing,
            "gateways",
            StripeGateways(
                api_base=fake.url,
                base_url="https://crm.test",
                timeout_seconds=2.0,
                max_network_retries=0,
            ),
        )
        with acting_as(user_actor(users["u1"])):
            with clock.at(at("2026-03-01")):
                container.billing.configure_stripe(workspace, mode="test", secret_key=key)
            links = {}
            for opp, day in (("opp1", "2026-03-05"), ("opp3", "2026-03-20")):
                with clock.at(at(day, 12)):
                    links[opp] = container.billing.request_payment(workspace, ids[opp])
        sessions = {opp: link.url.rsplit("/", 1)[-1] for opp, link in links.items()}
        with acting_as("stripe"):
            for opp, day, amount in (("opp1", "2026-03-08", 1000), ("opp3", "2026-04-02", 3000)):
                with clock.at(at(day)):
                    container.billing.record_notice(
                        PaymentNotice(
                            kind=NoticeKind.PAID,
                            source_event_id=f"evt_{opp}_{workspace.hex}",
                            workspace_id=workspace,
                            payment_request_id=links[opp].id,
                            session_id=sessions[opp],
                            payment_intent_id=f"pi_{opp}",
                            amount=Decimal(amount),
                            currency="EUR",
                        ),
                        event_type="checkout.session.completed",
                    )
    with clock.at(at("2026-03-09")):
        container.portal.record_visit(workspace, ids["A"])
    container.wait(container.log.recorder.max_notification_id() or 0, "analytics")
    view = container.analytics
    figures = key_figures(view, Scope(workspace), MARCH)
    assert figures.paiements_stripe == 1
    assert figures.montant_encaisse == Decimal("1000.00")
    assert figures.delai_paiement_moyen_jours == pytest.approx(3.0)
    assert figures.part_lien_paiement == 1.0  # opp1 and opp3 both got a link
    assert figures.conversion_paiement == pytest.approx(2 / 3, abs=1e-4)  # opp2 lost
    assert figures.montant_en_attente == 0
    assert figures.gagnees_non_payees == 0
    assert figures.portail_clients_visite == 1
    assert figures.portail_clients_paiement == 1
    april = key_figures(view, Scope(workspace), Period(date(2026, 4, 1), date(2026, 4, 30)))
    assert (april.paiements_stripe, april.montant_encaisse) == (1, Decimal("3000.00"))
    assert april.delai_paiement_moyen_jours == pytest.approx(13.0)
    people = {row.owner_id: row for row in salespeople(view, Scope(workspace), MARCH)}
    assert people[users["u1"]].montant_encaisse == Decimal("1000.00")


# The per-day summaries recomputed from the facts at the end, set-wise: the projection
# builds them incrementally (subtract before a change, add after), a different path.
_DAYS_FROM_FACTS = """
SELECT owner_id, jour, sum(ouvertes) AS ouvertes, sum(gagnees) AS gagnees,
       sum(montant_gagne) AS montant_gagne, sum(perdues) AS perdues,
       sum(closes_payees) AS closes_payees, sum(non_payees) AS gagnees_non_payees,
       sum(en_attente) AS montant_en_attente, sum(avec_lien) AS gagnees_avec_lien,
       sum(appels) AS appels
  FROM (
    SELECT o.owner_id, f.jour, f.ouvertes, f.gagnees, f.montant_gagne, f.perdues,
           f.closes_payees, f.non_payees, f.en_attente, f.avec_lien, 0 AS appels
      FROM rm_analytics_opportunities o
      LEFT JOIN (SELECT opportunity_id, bool_or(paid_at IS NOT NULL) AS paid,
                        bool_or(link_created_at IS NOT NULL) AS linked
                   FROM rm_analytics_payments GROUP BY opportunity_id) p
        ON p.opportunity_id = o.id
     CROSS JOIN LATERAL (VALUES
        ((o.opened_at AT TIME ZONE 'Europe/Paris')::date, 1, 0, 0::numeric, 0, 0, 0,
         0::numeric, 0),
        ((o.won_at AT TIME ZONE 'Europe/Paris')::date, 0, 1, COALESCE(o.won_amount, 0), 0,
         COALESCE(p.paid, false)::int, (NOT COALESCE(p.paid, false))::int,
         CASE WHEN COALESCE(p.paid, false) THEN 0 ELSE COALESCE(o.won_amount, 0) END,
         COALESCE(p.linked, false)::int),
        ((o.lost_at AT TIME ZONE 'Europe/Paris')::date, 0, 0, 0, 1,
         COALESCE(p.paid, false)::int, 0, 0, 0)
     ) AS f (jour, ouvertes, gagnees, montant_gagne, perdues, closes_payees, non_payees,
             en_attente, avec_lien)
     WHERE o.workspace_id = %(ws)s AND f.jour IS NOT NULL
    UNION ALL
    SELECT auteur_id, (date_activite AT TIME ZONE 'Europe/Paris')::date, 0, 0, 0, 0, 0, 0, 0,
           0, 1
      FROM rm_analytics_activities WHERE workspace_id = %(ws)s AND kind = 'appel'
  ) facts
 GROUP BY 1, 2
"""
_DAYS_LIVE = """
SELECT owner_id, jour, ouvertes, gagnees, montant_gagne, perdues, closes_payees,
       gagnees_non_payees, montant_en_attente, gagnees_avec_lien, appels
  FROM rm_analytics_days WHERE workspace_id = %(ws)s
"""
_STAGE_DAYS_FROM_FACTS = """
SELECT o.owner_id, (e.entered_at AT TIME ZONE 'Europe/Paris')::date AS jour, e.etape,
       count(*) AS entrees, COALESCE(sum(o.montant), 0) AS montant
  FROM rm_analytics_stage_entries e JOIN rm_analytics_opportunities o ON o.id = e.opportunity_id
 WHERE o.workspace_id = %(ws)s GROUP BY 1, 2, 3
"""
_STAGE_DAYS_LIVE = """
SELECT owner_id, jour, etape, entrees, montant FROM rm_analytics_stage_days
 WHERE workspace_id = %(ws)s
"""
_OPEN_FROM_FACTS = """
SELECT owner_id, etape, count(*) AS nombre, COALESCE(sum(montant), 0) AS montant
  FROM rm_analytics_opportunities
 WHERE workspace_id = %(ws)s AND won_at IS NULL AND lost_at IS NULL GROUP BY 1, 2
"""
_OPEN_LIVE = """
SELECT owner_id, etape, nombre, montant FROM rm_analytics_open_pipeline
 WHERE workspace_id = %(ws)s
"""


def _nonzero(rows: list[dict[str, object]], keys: int) -> set[tuple[object, ...]]:
    """Rows as tuples, without the all-zero ones (an owner change leaves its old days
    at zero) and with numbers compared by value."""
    out: set[tuple[object, ...]] = set()
    for row in rows:
        values = list(row.values())
        measures = [Decimal(str(v)) for v in values[keys:]]
        if any(measures):
            out.add((*values[:keys], *measures))
    return out


def assert_summaries_match_facts(container: Container, workspace: UUID) -> None:
    view = container.analytics
    params = {"ws": workspace}
    assert _nonzero(view.fetch_all(_DAYS_LIVE, params), 2) == _nonzero(
        view.fetch_all(_DAYS_FROM_FACTS, params), 2
    )
    assert _nonzero(view.fetch_all(_STAGE_DAYS_LIVE, params), 3) == _nonzero(
        view.fetch_all(_STAGE_DAYS_FROM_FACTS, params), 3
    )
    assert _nonzero(view.fetch_all(_OPEN_LIVE, params), 2) == _nonzero(
        view.fetch_all(_OPEN_FROM_FACTS, params), 2
    )


def test_the_per_day_summaries_equal_the_facts_after_reopenings_revisions_and_payments(
    container: Container,
    known: tuple[UUID, dict[str, UUID], KnownHistory],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Owner and amount changes, a reopening, a won opportunity paid then reopened and won
    again: the summaries the dashboard sums stay equal to the facts they summarise."""
    workspace, users, ids = known
    assert_summaries_match_facts(container, workspace)
    view = container.analytics
    positions = iter(range(1, 100))

    def tracking() -> Tracking:
        return Tracking(f"test-{workspace}", next(positions))

    payment = uuid4()
    view.request_payment(
        payment,
        workspace_id=workspace,
        opportunity_id=ids["opp1"],
        client_id=ids["A"],
        amount=Decimal(1000),
        currency="EUR",
        at=at("2026-03-05"),
        tracking=tracking(),
    )
    view.create_link(payment, Decimal(1000), at("2026-03-05", 12), tracking())
    assert_summaries_match_facts(container, workspace)
    view.record_payment(payment, Decimal(1000), at("2026-03-08"), tracking())
    assert_summaries_match_facts(container, workspace)
    before = key_figures(view, Scope(workspace), MARCH)
    clock = Clock(monkeypatch)
    with acting_as(user_actor(users["u1"])):
        with clock.at(at("2026-03-10")):
            container.sales.reopen_opportunity(workspace, ids["opp1"], "negociation")
        container.wait(container.log.recorder.max_notification_id() or 0, "analytics")
        assert_summaries_match_facts(container, workspace)
        after_reopening = key_figures(view, Scope(workspace), MARCH)
        assert after_reopening.opportunites_gagnees == before.opportunites_gagnees - 1
        assert after_reopening.conversion_paiement is not None
        with clock.at(at("2026-03-12")):
            container.sales.move_opportunity(workspace, ids["opp1"], "gagne")
        container.wait(container.log.recorder.max_notification_id() or 0, "analytics")
    assert_summaries_match_facts(container, workspace)
    again = key_figures(view, Scope(workspace), MARCH)
    assert again.opportunites_gagnees == before.opportunites_gagnees
    assert again.gagnees_non_payees == before.gagnees_non_payees  # opp1 is still paid

    assert_migration_backfill_matches(container, workspace)


MIGRATION = Path(__file__).resolve().parents[2] / "event_store/migrations/0700_analytics_days.sql"


def assert_migration_backfill_matches(container: Container, workspace: UUID) -> None:
    """A database upgraded by migration 0700 (summaries computed from the existing facts)
    gets the rows the projection wrote: the workspace's summaries and flags are emptied
    and the migration run again, in a transaction rolled back afterwards."""
    params = {"ws": workspace}
    with psycopg.connect(container.conninfo, row_factory=dict_row) as conn:
        live_days = _nonzero(conn.execute(_DAYS_LIVE, params).fetchall(), 2)
        live_stages = _nonzero(conn.execute(_STAGE_DAYS_LIVE, params).fetchall(), 3)
        live_open = _nonzero(conn.execute(_OPEN_LIVE, params).fetchall(), 2)
        flags = conn.execute(
            "SELECT id, paid, linked FROM rm_analytics_opportunities WHERE workspace_id = %(ws)s"
            " ORDER BY id",
            params,
        ).fetchall()
        assert any(row["paid"] for row in flags)
        for table in ("rm_analytics_days", "rm_analytics_stage_days", "rm_analytics_open_pipeline"):
            conn.execute(
                SQL("DELETE FROM {} WHERE workspace_id = %(ws)s").format(Identifier(table)), params
            )
        conn.execute(
            "UPDATE rm_analytics_opportunities SET paid = false, linked = false"
            " WHERE workspace_id = %(ws)s",
            params,
        )
        conn.execute(MIGRATION.read_text(encoding="utf-8"))  # type: ignore[call-overload]
        assert _nonzero(conn.execute(_DAYS_LIVE, params).fetchall(), 2) == live_days
        assert _nonzero(conn.execute(_STAGE_DAYS_LIVE, params).fetchall(), 3) == live_stages
        assert _nonzero(conn.execute(_OPEN_LIVE, params).fetchall(), 2) == live_open
        assert (
            conn.execute(
                "SELECT id, paid, linked FROM rm_analytics_opportunities"
                " WHERE workspace_id = %(ws)s ORDER BY id",
                params,
            ).fetchall()
            == flags
        )
        conn.rollback()
