"""The analytics read model and its metrics, on a known history written by the commands."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking

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
