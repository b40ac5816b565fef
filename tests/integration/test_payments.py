"""Stripe payments end to end below the browser: the HTTP routes of the real app, a real
PostgreSQL with projections, and a local server that answers like Stripe's API."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.secrets import new_key_text
from adapters.stripe.reconcile import ReconcileIncompleteError, reconcile_pending
from crm_core.context import acting_as
from tests.conftest import settings_for
from tests.support.fake_stripe import FakeStripe, event_payload, fake_stripe_server, sign
from tests.support.services import create_database, drop_database
from web.app import create_app
from web.container import RECONCILE_ACTOR, Container, running_container

TEST_KEY = "sk_test_51CrmIntegrationKey00000000004242"


@pytest.fixture(scope="module")
def stripe_fake() -> Iterator[FakeStripe]:
    with fake_stripe_server(TEST_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def stripe_container(
    pg_admin: str, stripe_fake: FakeStripe, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    # Its own database: a second set of projection runners must not share tracking rows.
    conninfo = create_database(pg_admin)
    settings = dataclasses.replace(
        settings_for(conninfo, tmp_path_factory.mktemp("stripe")),
        encryption_key=new_key_text(),
        stripe_secret_key="",
        stripe_webhook_secret="",
        stripe_api_base=stripe_fake.url,
        stripe_timeout_seconds=1.0,
        stripe_max_network_retries=0,
        stripe_reconcile_every_minutes=0,
        stripe_reconcile_after_minutes=0,
        base_url="https://crm.example.fr",
    )
    with running_container(settings, projections=True, worker=True) as container:
        yield container
    drop_database(pg_admin, conninfo)


PASSWORD = "mot-de-passe-de-test"
BASE_URL = "https://crm.test"  # the session cookie is Secure


@pytest.fixture(scope="module")
def app(stripe_container: Container) -> Litestar:
    return create_app(stripe_container.settings, container=stripe_container)


@pytest.fixture(scope="module")
def http(app: Litestar) -> Iterator[TestClient[Any]]:
    """An anonymous client (webhooks come without a session)."""
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def _logged_in(container: Container, email: str) -> TestClient[Any]:
    # One app per open client: Litestar keeps lifespan state per app, and two open
    # clients sharing one would hang when the first closes.
    client: TestClient[Any] = TestClient(
        create_app(container.settings, container=container), base_url=BASE_URL
    )
    client.__enter__()
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    client.headers["x-csrftoken"] = client.get("/api/auth/me").json()["csrfToken"]
    return client


@pytest.fixture
def fake(stripe_fake: FakeStripe) -> Iterator[FakeStripe]:
    stripe_fake.reset()
    yield stripe_fake
    stripe_fake.reset()


class Workspace:
    def __init__(self, container: Container, _: object = None) -> None:
        self.container = container
        with acting_as("system"):
            self.id = container.accounts.create_workspace(nom="Atelier").id
            self.client_id = container.sales.register_client(
                self.id, nom="Boulangerie Martin", email=f"{uuid4().hex[:8]}@martin.fr"
            ).id
            emails = {
                role: f"{role}.{self.id.hex[:8]}@atelier.fr" for role in ("admin", "commercial")
            }
            for role, email in emails.items():
                receipt = container.accounts.register_user(
                    self.id, email=email, nom=role.title(), role=role, password=PASSWORD
                )
        container.wait(receipt.position, "accounts")
        self.http = _logged_in(container, emails["admin"])
        self.as_commercial = _logged_in(container, emails["commercial"])
        self.headers: dict[str, str] = {}
        self.webhook_secret = f"whsec_{uuid4().hex}"

    def configure(self) -> None:
        response = self.http.put(
            "/api/parametres/stripe",
            json={"mode": "test", "cleSecrete": TEST_KEY, "secretWebhook": self.webhook_secret},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text

    def won(self, amount: str = "1500.00", *, win: bool = True) -> UUID:
        with acting_as("system"):
            receipt = self.container.sales.open_opportunity(
                self.id,
                self.client_id,
                titre="Site vitrine",
                montant_estime=amount,
                etape="negociation",
            )
            if win:
                self.container.sales.move_opportunity(self.id, receipt.id, "gagne")
        return receipt.id

    def link(self, opportunity_id: UUID) -> Any:
        return self.http.post(
            "/api/paiements/stripe/session",
            json={"opportuniteId": str(opportunity_id)},
            headers=self.headers,
        )

    def deliver(self, payload: bytes, *, secret: str | None = None, at: int | None = None) -> Any:
        signature = sign(payload, secret or self.webhook_secret, at)
        return self.http.post(
            "/api/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )

    def badge(self, opportunity_id: UUID) -> Any:
        self.container.wait(self.container.log.recorder.max_notification_id() or 0, "payments")
        return self.container.payments.for_opportunity(self.id, opportunity_id)

    def timeline_kinds(self) -> list[str]:
        last = self.container.log.recorder.max_notification_id() or 0
        self.container.wait(last, "timeline")
        page = self.container.timeline.for_client(self.id, self.client_id, limit=100)
        return [entry.type_evenement for entry in page.items]


@pytest.fixture
def ws(stripe_container: Container, app: Litestar) -> Iterator[Workspace]:
    workspace = Workspace(stripe_container, app)
    workspace.configure()
    yield workspace
    for client in (workspace.http, workspace.as_commercial):
        client.__exit__(None, None, None)


def _session_id(fake: FakeStripe, url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _count_events(container: Container, topic_suffix: str, originator: UUID) -> int:
    with psycopg.connect(container.conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM crm_events WHERE originator_id = %s AND topic LIKE %s",
            (originator, f"%{topic_suffix}"),
        ).fetchone()
    return int(row[0]) if row else 0


# --- payment links ---------------------------------------------------------------------


def test_a_won_opportunity_gets_a_checkout_link_in_minor_units(
    ws: Workspace, fake: FakeStripe
) -> None:
    opportunity = ws.won("1234.56")
    response = ws.link(opportunity)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["statutPaiementInitial"] == "en_attente"
    assert body["urlPaiement"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    (created,) = fake.calls("POST", "/v1/checkout/sessions")
    price = created.params["line_items"][0]["price_data"]
    assert (price["unit_amount"], price["currency"]) == ("123456", "eur")
    assert created.params["metadata"]["opportunity_id"] == str(opportunity)
    assert created.params["metadata"]["workspace_id"] == str(ws.id)
    assert created.params["client_reference_id"] == body["paiementId"]
    assert created.params["success_url"] == (
        "https://crm.example.fr/portail/merci?session_id={CHECKOUT_SESSION_ID}"
    )
    assert created.params["cancel_url"] == "https://crm.example.fr/portail"
    assert body["paiementId"] in created.headers["idempotency-key"]
    badge = ws.badge(opportunity)
    assert (badge.status, badge.libelle, badge.url) == (
        "en_attente",
        "En attente",
        body["urlPaiement"],
    )
    assert "lien_paiement_cree" in ws.timeline_kinds()


def test_a_double_click_gives_one_session(ws: Workspace, fake: FakeStripe) -> None:
    opportunity = ws.won()
    first = ws.link(opportunity)
    second = ws.link(opportunity)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["urlPaiement"] == first.json()["urlPaiement"]
    assert len(fake.calls("POST", "/v1/checkout/sessions")) == 1


def test_two_simultaneous_clicks_give_one_session(ws: Workspace, fake: FakeStripe) -> None:
    opportunity = ws.won()
    fake.delay = 0.2  # both requests are at Stripe at the same time
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(ws.link(opportunity))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.status_code for r in results} <= {200, 201}
    assert len({r.json()["urlPaiement"] for r in results}) == 1
    keys = {c.headers["idempotency-key"] for c in fake.calls("POST", "/v1/checkout/sessions")}
    assert len(keys) == 1  # the same key: Stripe replays one session


def test_an_opportunity_not_won_is_refused_without_calling_stripe(
    ws: Workspace, fake: FakeStripe
) -> None:
    response = ws.link(ws.won(win=False))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "gagnée" in response.json()["detail"]
    assert fake.requests == []


def test_a_workspace_without_stripe_keys_is_refused_without_calling_stripe(
    stripe_container: Container, http: TestClient[Any], fake: FakeStripe
) -> None:
    unconfigured = Workspace(stripe_container, http)
    response = unconfigured.link(unconfigured.won())
    assert response.status_code == 422
    assert "Stripe n’est pas configuré" in response.json()["detail"]
    assert fake.requests == []


def test_an_unknown_opportunity_or_no_staff_session_is_refused(
    ws: Workspace, http: TestClient[Any], fake: FakeStripe
) -> None:
    assert ws.link(uuid4()).status_code == 404
    forged = http.post("/api/paiements/stripe/session", json={"opportuniteId": str(uuid4())})
    assert forged.status_code == 403  # no CSRF token: refused before anything else
    http.get("/api/auth/me")  # a safe request hands out the CSRF cookie
    anonymous = http.post(
        "/api/paiements/stripe/session",
        json={"opportuniteId": str(uuid4())},
        headers={"x-csrftoken": http.cookies["csrftoken"]},
    )
    assert anonymous.status_code == 401
    malformed = ws.http.post("/api/paiements/stripe/session", json={})
    assert malformed.status_code == 400
    assert fake.requests == []


@pytest.mark.parametrize("failure", ["drop", "slow"])
def test_stripe_unreachable_or_slow_records_nothing_and_a_retry_works(
    ws: Workspace, fake: FakeStripe, failure: str
) -> None:
    opportunity = ws.won()
    if failure == "drop":
        fake.drop = True
    else:
        fake.delay = 1.5  # above the 1 s timeout
    response = ws.link(opportunity)
    assert response.status_code == 503
    assert "Stripe ne répond pas" in response.json()["detail"]
    assert ws.badge(opportunity) is None
    fake.reset()
    retry = ws.link(opportunity)
    assert retry.status_code == 201
    assert ws.badge(opportunity).url == retry.json()["urlPaiement"]


def test_stripe_refusals_come_back_in_french(ws: Workspace, fake: FakeStripe) -> None:
    too_small = ws.link(ws.won("0.20"))
    assert too_small.status_code == 502
    assert too_small.json()["detail"].startswith("Stripe a refusé la demande")
    fake.valid_keys.discard(TEST_KEY)
    try:
        refused = ws.link(ws.won())
    finally:
        fake.valid_keys.add(TEST_KEY)
    assert refused.status_code == 502
    assert "Stripe refuse la clé secrète" in refused.json()["detail"]
    assert TEST_KEY not in refused.text


# --- webhooks --------------------------------------------------------------------------


def _open_session(ws: Workspace, fake: FakeStripe) -> tuple[UUID, str]:
    opportunity = ws.won()
    response = ws.link(opportunity)
    assert response.status_code == 201, response.text
    return opportunity, _session_id(fake, response.json()["urlPaiement"])


def test_a_completed_checkout_marks_the_opportunity_paid_once(
    ws: Workspace, fake: FakeStripe
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    payload = event_payload("checkout.session.completed", fake.complete(session_id))
    first = ws.deliver(payload)
    assert (first.status_code, first.json().get("result")) == (200, "applied"), first.text
    again = ws.deliver(payload)
    assert (again.status_code, again.json()["result"]) == (200, "duplicate")
    badge = ws.badge(opportunity)
    assert (badge.status, badge.libelle) == ("paye", "Payé")
    assert _count_events(ws.container, "PaymentRequest.Paid", badge.payment_request_id) == 1
    assert ws.timeline_kinds().count("paiement_recu") == 1


def test_bad_missing_or_stale_signatures_are_refused_and_change_nothing(
    ws: Workspace, fake: FakeStripe
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    payload = event_payload("checkout.session.completed", fake.complete(session_id))
    forged = ws.deliver(payload, secret="whsec_notthesecret000000000")
    assert forged.status_code == 400
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert "Signature Stripe invalide" in forged.json()["detail"]
    stale = ws.deliver(payload, at=int(time.time()) - 301)  # beyond the 300 s tolerance
    assert stale.status_code == 400
    missing = ws.http.post("/api/webhooks/stripe", content=payload)
    assert missing.status_code == 400
    assert "Stripe-Signature manquant" in missing.json()["detail"]
    tampered = ws.http.post(
        "/api/webhooks/stripe",
        content=payload.replace(b'"paid"', b'"unpaid"'),
        headers={"Stripe-Signature": sign(payload, ws.webhook_secret)},
    )
    assert tampered.status_code == 400
    assert ws.badge(opportunity).status == "en_attente"


def test_unknown_sessions_and_unhandled_types_are_acknowledged(
    ws: Workspace, fake: FakeStripe
) -> None:
    foreign = {"id": "cs_test_foreign", "object": "checkout.session", "payment_status": "paid"}
    response = ws.deliver(event_payload("checkout.session.completed", foreign))
    assert (response.status_code, response.json()["result"]) == (200, "ignored")
    other = ws.deliver(event_payload("invoice.paid", {"id": "in_1", "object": "invoice"}))
    assert (other.status_code, other.json()["result"]) == (200, "ignored")
    forged_ids = {
        "id": "cs_test_forged",
        "object": "checkout.session",
        "payment_status": "paid",
        "metadata": {"workspace_id": str(ws.id), "payment_request_id": str(uuid4())},
    }
    unknown = ws.deliver(event_payload("checkout.session.completed", forged_ids))
    assert (unknown.status_code, unknown.json()["result"]) == (200, "ignored")


def test_an_event_signed_by_another_workspace_is_ignored(
    ws: Workspace, stripe_container: Container, http: TestClient[Any], fake: FakeStripe
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    other = Workspace(stripe_container, http)
    other.configure()
    payload = event_payload("checkout.session.completed", fake.complete(session_id))
    response = ws.deliver(payload, secret=other.webhook_secret)
    assert (response.status_code, response.json()["result"]) == (200, "ignored")
    assert ws.badge(opportunity).status == "en_attente"


def test_an_expiry_arriving_after_the_payment_does_not_unpay(
    ws: Workspace, fake: FakeStripe
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    paid = fake.complete(session_id)
    ws.deliver(event_payload("checkout.session.completed", paid))
    late = ws.deliver(event_payload("checkout.session.expired", {**paid, "status": "expired"}))
    assert late.json()["result"] == "unchanged"
    assert ws.badge(opportunity).status == "paye"


def test_a_delayed_payment_succeeding_before_its_completion_event_ends_paid(
    ws: Workspace, fake: FakeStripe
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    unpaid = fake.complete(session_id, paid=False)
    succeeded = {**unpaid, "payment_status": "paid"}
    ws.deliver(event_payload("checkout.session.async_payment_succeeded", succeeded))
    assert ws.deliver(event_payload("checkout.session.completed", unpaid)).json()["result"] == (
        "unchanged"
    )
    assert ws.badge(opportunity).status == "paye"


def test_a_delayed_payment_is_pending_then_paid(ws: Workspace, fake: FakeStripe) -> None:
    opportunity, session_id = _open_session(ws, fake)
    unpaid = fake.complete(session_id, paid=False)
    ws.deliver(event_payload("checkout.session.completed", unpaid))
    badge = ws.badge(opportunity)
    assert (badge.status, badge.processing) == ("en_attente", True)
    assert "paiement_en_attente" in ws.timeline_kinds()
    succeeded = {**unpaid, "payment_status": "paid"}
    ws.deliver(event_payload("checkout.session.async_payment_succeeded", succeeded))
    assert ws.badge(opportunity).status == "paye"


def test_a_failed_then_expired_link_shows_its_status(ws: Workspace, fake: FakeStripe) -> None:
    opportunity, session_id = _open_session(ws, fake)
    unpaid = fake.complete(session_id, paid=False)
    ws.deliver(event_payload("checkout.session.completed", unpaid))
    ws.deliver(event_payload("checkout.session.async_payment_failed", unpaid))
    assert ws.badge(opportunity).libelle == "Échoué"
    other, other_session = _open_session(ws, fake)
    ws.deliver(event_payload("checkout.session.expired", fake.expire(other_session)))
    assert ws.badge(other).libelle == "Expiré"
    assert {"paiement_echoue", "paiement_expire"} <= set(ws.timeline_kinds())


def test_a_refund_is_found_by_its_payment_intent(ws: Workspace, fake: FakeStripe) -> None:
    opportunity, session_id = _open_session(ws, fake)
    ws.deliver(event_payload("checkout.session.completed", fake.complete(session_id)))
    # A refund comes minutes or days later: the read side knows the PaymentIntent by then.
    assert ws.badge(opportunity).status == "paye"
    charge = fake.charge_for(session_id, refunded_minor=150000, with_metadata=False)
    assert ws.deliver(event_payload("charge.refunded", charge)).json()["result"] == "applied"
    assert not fake.calls("GET", "/v1/payment_intents")  # the read side knew it
    assert ws.badge(opportunity).libelle == "Remboursé"
    assert "paiement_rembourse" in ws.timeline_kinds()
    foreign = {**charge, "id": "ch_other", "payment_intent": "pi_not_ours"}
    assert ws.deliver(event_payload("charge.refunded", foreign)).json()["result"] == "ignored"


def test_a_refund_arriving_before_the_completed_event_ends_refunded(
    ws: Workspace, fake: FakeStripe
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    completed = event_payload("checkout.session.completed", fake.complete(session_id))
    # Stripe copies the PaymentIntent's metadata (our ids) to the charge.
    charge = fake.charge_for(session_id, refunded_minor=150000)
    assert ws.deliver(event_payload("charge.refunded", charge)).json()["result"] == "applied"
    assert ws.deliver(completed).json()["result"] == "unchanged"
    badge = ws.badge(opportunity)
    assert badge.status == "rembourse"
    assert _count_events(ws.container, "PaymentRequest.Paid", badge.payment_request_id) == 1
    assert {"paiement_recu", "paiement_rembourse"} <= set(ws.timeline_kinds())
    assert not fake.calls("GET", "/v1/payment_intents")  # the charge said whose it was


@pytest.mark.parametrize("intent_has_our_ids", [True, False])
def test_an_early_refund_without_our_ids_is_matched_by_asking_stripe(
    ws: Workspace, fake: FakeStripe, intent_has_our_ids: bool
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    completed = event_payload("checkout.session.completed", fake.complete(session_id))
    charge = fake.charge_for(session_id, refunded_minor=150000, with_metadata=False)
    if not intent_has_our_ids:  # then only its Checkout Session has them
        fake.payment_intents[charge["payment_intent"]]["metadata"] = {}
    response = ws.deliver(event_payload("charge.refunded", charge))
    assert (response.status_code, response.json()["result"]) == (200, "applied")
    assert [call.path for call in fake.calls("GET", "/v1/payment_intents")] == [
        f"/v1/payment_intents/{charge['payment_intent']}"
    ]
    assert bool(fake.calls("GET", "/v1/checkout/sessions?")) is not intent_has_our_ids
    ws.deliver(completed)
    assert ws.badge(opportunity).status == "rembourse"


def test_an_early_refund_while_stripe_is_unreachable_is_retried_by_stripe(
    ws: Workspace, fake: FakeStripe
) -> None:
    opportunity, session_id = _open_session(ws, fake)
    fake.complete(session_id)
    charge = fake.charge_for(session_id, refunded_minor=150000, with_metadata=False)
    payload = event_payload("charge.refunded", charge)
    fake.drop = True
    refused = ws.deliver(payload)
    # A 5xx: Stripe delivers the event again later; nothing was recorded meanwhile.
    assert refused.status_code == 503, refused.text
    assert "Stripe" in refused.json()["detail"]
    assert ws.badge(opportunity).status == "en_attente"
    fake.drop = False
    assert ws.deliver(payload).json()["result"] == "applied"
    assert ws.badge(opportunity).status == "rembourse"


def test_a_refund_of_a_payment_intent_stripe_does_not_know_is_acknowledged(
    ws: Workspace, fake: FakeStripe
) -> None:
    _, session_id = _open_session(ws, fake)
    fake.complete(session_id)
    charge = fake.charge_for(session_id, refunded_minor=150000, with_metadata=False)
    foreign = {**charge, "id": "ch_elsewhere", "payment_intent": "pi_unknown_at_stripe"}
    response = ws.deliver(event_payload("charge.refunded", foreign))
    assert (response.status_code, response.json()["result"]) == (200, "ignored")


# --- reconciliation --------------------------------------------------------------------


def test_a_lost_webhook_is_recovered_by_reconciliation(ws: Workspace, fake: FakeStripe) -> None:
    opportunity, session_id = _open_session(ws, fake)
    fake.complete(session_id)  # paid at Stripe; the webhook never arrives
    ws.badge(opportunity)
    fake.drop = True
    with pytest.raises(ReconcileIncompleteError, match="Stripe injoignable"):
        reconcile_pending(
            ws.container.billing,
            ws.container.payments,
            older_than=timedelta(0),
            now=datetime.now(UTC),
        )
    assert ws.badge(opportunity).status == "en_attente"
    fake.drop = False
    report = reconcile_pending(
        ws.container.billing,
        ws.container.payments,
        older_than=timedelta(0),
        now=datetime.now(UTC),
    )
    assert report.applied >= 1
    assert ws.badge(opportunity).status == "paye"
    assert fake.calls("GET", f"/v1/checkout/sessions/{session_id}")


def test_the_reconciliation_job_runs_on_the_worker(ws: Workspace, fake: FakeStripe) -> None:
    opportunity, session_id = _open_session(ws, fake)
    fake.complete(session_id)
    ws.badge(opportunity)
    ws.container.jobs.send(RECONCILE_ACTOR)
    ws.container.jobs.broker.join("crm", timeout=10_000)
    assert ws.badge(opportunity).status == "paye"


def test_pending_sessions_younger_than_the_delay_are_left_alone(
    ws: Workspace, fake: FakeStripe
) -> None:
    _open_session(ws, fake)
    fake.reset()
    reconcile_pending(
        ws.container.billing,
        ws.container.payments,
        older_than=timedelta(hours=1),
        now=datetime.now(UTC),
    )
    assert fake.requests == []


# --- settings --------------------------------------------------------------------------


def test_stripe_settings_are_shown_masked_and_the_connection_can_be_tested(
    ws: Workspace, fake: FakeStripe
) -> None:
    shown = ws.http.get("/api/parametres/stripe", headers=ws.headers)
    assert shown.status_code == 200
    assert shown.json()["clesSecretes"] == {"test": "sk_test_…4242"}
    assert TEST_KEY not in shown.text and ws.webhook_secret not in shown.text
    assert shown.json()["urlWebhook"] == "https://crm.example.fr/api/webhooks/stripe"
    tested = ws.http.post("/api/parametres/stripe/test", headers=ws.headers)
    assert (tested.status_code, tested.json()) == (200, {"compte": "Atelier Dupont (test)"})
    with psycopg.connect(ws.container.conninfo) as conn:
        stored = conn.execute("SELECT string_agg(state::text, '') FROM crm_events").fetchone()
    assert stored is not None and TEST_KEY not in stored[0]
    assert ws.webhook_secret not in stored[0]


def test_only_an_admin_changes_the_keys_and_bad_keys_are_refused(
    ws: Workspace, fake: FakeStripe
) -> None:
    body = {"mode": "test", "cleSecrete": TEST_KEY}
    assert ws.as_commercial.put("/api/parametres/stripe", json=body).status_code == 403
    wrong = ws.http.put("/api/parametres/stripe", json={**body, "mode": "live"}, headers=ws.headers)
    assert wrong.status_code == 422
    assert "clé test" in wrong.json()["errors"]["cle_secrete"]
    fake.drop = True
    down = ws.http.post("/api/parametres/stripe/test", headers=ws.headers)
    assert down.status_code == 503
    assert fake.calls("POST", "/v1/checkout") == []
    assert json.loads(down.text)["detail"].startswith("Stripe ne répond pas")
