"""Payment requests in memory, with a hand-written fake of the PaymentGateway port."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from crm_core.billing.application import BillingApplication, NoticeResult
from crm_core.billing.domainmodel import PaymentRequest, PaymentStatus, ProcessedStripeEvent
from crm_core.billing.money import from_minor_units, to_minor_units
from crm_core.billing.ports import (
    CheckoutRequest,
    CheckoutSession,
    NoticeKind,
    PaymentIntentInfo,
    PaymentNotice,
    PaymentRef,
    StripeCredentials,
    StripeMode,
)
from crm_core.errors import (
    InvalidInputError,
    OpportunityNotWonError,
    PaymentError,
    PaymentGatewayUnavailableError,
    StripeNotConfiguredError,
)
from crm_core.ids import stripe_event_record_id
from crm_core.sales.domainmodel import Client, Opportunity

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRET_KEY = "sk_test_51FakeKeyForUnitTests4242"


class FakeGateway:
    """Answers like Stripe: the same idempotency key gives the same session."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.sessions: dict[str, CheckoutSession] = {}
        self.by_key: dict[str, str] = {}
        self.unavailable = False
        self.intents: dict[str, PaymentIntentInfo] = {}

    def _check(self) -> None:
        if self.unavailable:
            raise PaymentGatewayUnavailableError("Stripe ne répond pas.")

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession:
        self.calls.append(("create", request))
        self._check()
        if request.idempotency_key not in self.by_key:
            session_id = f"cs_test_{len(self.sessions) + 1}"
            self.sessions[session_id] = CheckoutSession(
                id=session_id,
                url=f"https://checkout.stripe.com/c/pay/{session_id}",
                livemode=False,
                status="open",
                payment_status="unpaid",
                amount_total=request.amount,
                currency=request.currency.lower(),
                expires_at=NOW + timedelta(hours=24),
            )
            self.by_key[request.idempotency_key] = session_id
        return self.sessions[self.by_key[request.idempotency_key]]

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        self.calls.append(("retrieve", session_id))
        self._check()
        return self.sessions[session_id]

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        self.calls.append(("expire", session_id))
        self._check()
        session = self.sessions[session_id]
        self.sessions[session_id] = CheckoutSession(**{**_fields(session), "status": "expired"})
        return self.sessions[session_id]

    def account_name(self) -> str:
        self.calls.append(("account", None))
        self._check()
        return "Atelier Dupont"

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentInfo | None:
        self.calls.append(("payment_intent", payment_intent_id))
        self._check()
        return self.intents.get(payment_intent_id)


def _fields(session: CheckoutSession) -> dict[str, object]:
    return {name: getattr(session, name) for name in session.__struct_fields__}


class FakeGateways:
    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway
        self.keys: list[str] = []

    def connect(self, secret_key: str) -> FakeGateway:
        self.keys.append(secret_key)
        return self.gateway


class ReversibleBox:
    """Not encryption: enough to see that the app stores what the box returns."""

    def seal(self, plaintext: str, *, context: str) -> str:
        return "sealed:" + base64.b64encode(f"{context}|{plaintext}".encode()).decode()

    def open(self, sealed: str, *, context: str) -> str:
        stored_context, plaintext = base64.b64decode(sealed[7:]).decode().split("|", 1)
        assert stored_context == context
        return plaintext


ENV = {
    "PERSISTENCE_MODULE": "event_store.factory:CrmPopoFactory",
    "TRANSCODER_TOPIC": "event_store.transcoder:MsgspecTranscoder",
    "MAPPER_TOPIC": "event_store.mapper:MsgspecMapper",
}


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def clock() -> list[datetime]:
    return [NOW]


@pytest.fixture
def billing(gateway: FakeGateway, clock: list[datetime]) -> BillingApplication:
    return BillingApplication(
        ENV,
        gateways=FakeGateways(gateway),
        secrets=ReversibleBox(),
        clock=lambda: clock[0],
    )


WORKSPACE = UUID("00000000-0000-4000-8000-000000000001")


def _opportunity(
    billing: BillingApplication, *, won: bool = True, amount: str = "1500.00"
) -> Opportunity:
    client = Client.register(workspace_id=WORKSPACE, nom="Boulangerie Martin", email="a@b.fr")
    opportunity = Opportunity.open(
        workspace_id=WORKSPACE,
        client=client,
        titre="Site vitrine",
        montant_estime=amount,
        devise="EUR",
        etape="negociation",
    )
    if won:
        opportunity.move_to("gagne", client=client)
    billing.save(client, opportunity)
    return opportunity


def _configure(billing: BillingApplication) -> None:
    billing.configure_stripe(
        WORKSPACE, mode="test", secret_key=SECRET_KEY, webhook_secret="whsec_unit1234567890"
    )


def _notice(
    billing: BillingApplication,
    request_id: UUID,
    kind: NoticeKind,
    event_id: str | None = None,
    **fields: object,
) -> NoticeResult:
    request = billing.repository.get(request_id)
    notice = PaymentNotice(
        kind=kind,
        source_event_id=event_id or f"evt_{uuid4().hex}",
        workspace_id=WORKSPACE,
        payment_request_id=request_id,
        session_id=str(fields.pop("session_id", request.current_session_id)),
        **fields,  # type: ignore[arg-type]
    )
    return billing.record_notice(notice, event_type=kind.value).result


def _status(billing: BillingApplication, request_id: UUID) -> PaymentStatus:
    request: PaymentRequest = billing.repository.get(request_id)
    return request.status


def test_a_won_opportunity_gets_a_checkout_link_in_minor_units(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    assert link.created and link.url.startswith("https://checkout.stripe.com/")
    assert link.status is PaymentStatus.EN_ATTENTE
    (kind, request), *_ = gateway.calls
    assert kind == "create" and isinstance(request, CheckoutRequest)
    assert request.amount == Decimal("1500.00") and request.currency == "EUR"
    assert request.customer_email == "a@b.fr"
    assert str(link.id) in request.idempotency_key


def test_a_double_click_returns_the_same_link_and_calls_stripe_once(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    first = billing.request_payment(WORKSPACE, opportunity.id)
    second = billing.request_payment(WORKSPACE, opportunity.id)
    assert (second.id, second.url, second.created) == (first.id, first.url, False)
    assert [kind for kind, _ in gateway.calls] == ["create"]


def test_an_opportunity_not_won_is_refused_without_calling_stripe(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing, won=False)
    _configure(billing)
    with pytest.raises(OpportunityNotWonError, match="gagnée"):
        billing.request_payment(WORKSPACE, opportunity.id)
    assert gateway.calls == []


def test_without_stripe_keys_the_request_is_refused_without_calling_stripe(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing)
    with pytest.raises(StripeNotConfiguredError, match="Stripe n’est pas configuré"):
        billing.request_payment(WORKSPACE, opportunity.id)
    assert gateway.calls == []
    assert not billing._exists(PaymentRequest.create_id(WORKSPACE, opportunity.id, "total"))  # type: ignore[arg-type]


def test_stripe_unreachable_records_nothing_and_the_retry_reuses_the_key(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    gateway.unavailable = True
    with pytest.raises(PaymentGatewayUnavailableError):
        billing.request_payment(WORKSPACE, opportunity.id)
    request_id = PaymentRequest.create_id(WORKSPACE, opportunity.id, "total")
    assert not billing._exists(request_id)
    gateway.unavailable = False
    billing.request_payment(WORKSPACE, opportunity.id)
    keys = [request.idempotency_key for kind, request in gateway.calls if kind == "create"]  # type: ignore[attr-defined]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_a_late_expiry_after_the_payment_does_not_unpay(billing: BillingApplication) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    assert _notice(billing, link.id, NoticeKind.PAID) is NoticeResult.APPLIED
    assert _notice(billing, link.id, NoticeKind.EXPIRED) is NoticeResult.UNCHANGED
    assert _status(billing, link.id) is PaymentStatus.PAYE


def test_a_duplicate_stripe_event_takes_effect_once(billing: BillingApplication) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    assert _notice(billing, link.id, NoticeKind.PAID, "evt_1") is NoticeResult.APPLIED
    assert _notice(billing, link.id, NoticeKind.PAID, "evt_1") is NoticeResult.DUPLICATE
    events = list(billing.repository.event_store.get(link.id))
    assert sum(isinstance(e, PaymentRequest.Paid) for e in events) == 1
    record = billing.repository.get(ProcessedStripeEvent.create_id("evt_1"))
    assert record.stripe_event_id == "evt_1"


def test_a_delayed_payment_is_pending_then_paid_in_either_order(
    billing: BillingApplication,
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    assert _notice(billing, link.id, NoticeKind.PENDING, payment_intent_id="pi_1") is (
        NoticeResult.APPLIED
    )
    assert _status(billing, link.id) is PaymentStatus.EN_ATTENTE
    assert _notice(billing, link.id, NoticeKind.PAID) is NoticeResult.APPLIED
    assert _status(billing, link.id) is PaymentStatus.PAYE
    # The "completed, unpaid" webhook arriving after the success changes nothing.
    assert _notice(billing, link.id, NoticeKind.PENDING) is NoticeResult.UNCHANGED
    assert _status(billing, link.id) is PaymentStatus.PAYE


def test_a_pending_payment_is_not_expired_and_keeps_its_link(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    _notice(billing, link.id, NoticeKind.PENDING)
    assert _notice(billing, link.id, NoticeKind.EXPIRED) is NoticeResult.UNCHANGED
    again = billing.request_payment(WORKSPACE, opportunity.id)
    assert again.url == link.url and not again.created
    assert [kind for kind, _ in gateway.calls] == ["create"]


def test_a_failed_delayed_payment_is_echoue_then_a_new_link_can_be_made(
    billing: BillingApplication,
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    _notice(billing, link.id, NoticeKind.PENDING)
    assert _notice(billing, link.id, NoticeKind.FAILED) is NoticeResult.APPLIED
    assert _status(billing, link.id) is PaymentStatus.ECHOUE
    retry = billing.request_payment(WORKSPACE, opportunity.id)
    assert retry.created and retry.url != link.url


def test_a_refund_before_the_payment_webhook_ends_refunded(billing: BillingApplication) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    refund = {
        "payment_intent_id": "pi_1",
        "amount_refunded": Decimal("1500.00"),
        "fully_refunded": True,
    }
    assert _notice(billing, link.id, NoticeKind.REFUNDED, **refund) is NoticeResult.APPLIED
    assert _status(billing, link.id) is PaymentStatus.REMBOURSE
    assert _notice(billing, link.id, NoticeKind.PAID) is NoticeResult.UNCHANGED
    assert _status(billing, link.id) is PaymentStatus.REMBOURSE
    kinds = [type(e).__name__ for e in billing.repository.event_store.get(link.id)]
    assert kinds[-2:] == ["Paid", "Refunded"]


def test_a_partial_refund_keeps_the_request_paid(billing: BillingApplication) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    _notice(billing, link.id, NoticeKind.PAID)
    _notice(billing, link.id, NoticeKind.REFUNDED, amount_refunded=Decimal("500.00"))
    assert _status(billing, link.id) is PaymentStatus.PAYE
    request: PaymentRequest = billing.repository.get(link.id)
    assert request.amount_refunded == Decimal("500.00")


def test_an_expired_link_is_replaced_and_its_old_session_cannot_expire_the_new_one(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    old_session = billing.repository.get(link.id).current_session_id
    assert _notice(billing, link.id, NoticeKind.EXPIRED) is NoticeResult.APPLIED
    assert _status(billing, link.id) is PaymentStatus.EXPIRE
    renewed = billing.request_payment(WORKSPACE, opportunity.id)
    assert renewed.created and renewed.url != link.url
    assert renewed.status is PaymentStatus.EN_ATTENTE
    late = _notice(billing, link.id, NoticeKind.EXPIRED, session_id=old_session)
    assert late is NoticeResult.UNCHANGED
    assert _status(billing, link.id) is PaymentStatus.EN_ATTENTE


def test_a_link_past_its_expiry_time_is_replaced_without_waiting_for_the_webhook(
    billing: BillingApplication, clock: list[datetime]
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    clock[0] = NOW + timedelta(hours=25)
    assert billing.request_payment(WORKSPACE, opportunity.id).url != link.url


def test_a_paid_opportunity_gets_no_new_link(billing: BillingApplication) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    _notice(billing, link.id, NoticeKind.PAID)
    with pytest.raises(PaymentError, match="déjà payée"):
        billing.request_payment(WORKSPACE, opportunity.id)


def test_a_notice_about_an_unknown_request_or_session_is_unknown(
    billing: BillingApplication,
) -> None:
    unknown = PaymentNotice(
        kind=NoticeKind.PAID,
        source_event_id="evt_x",
        workspace_id=WORKSPACE,
        payment_request_id=uuid4(),
        session_id="cs_nope",
    )
    assert billing.record_notice(unknown, event_type="x").result is NoticeResult.UNKNOWN
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    result = _notice(billing, link.id, NoticeKind.PAID, session_id="cs_other_account")
    assert result is NoticeResult.UNKNOWN
    assert _status(billing, link.id) is PaymentStatus.EN_ATTENTE


def test_reconciliation_applies_what_stripe_says_about_the_session(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    opportunity = _opportunity(billing)
    _configure(billing)
    link = billing.request_payment(WORKSPACE, opportunity.id)
    assert billing.reconcile(WORKSPACE, link.id).result is NoticeResult.UNCHANGED  # still open
    session_id = billing.repository.get(link.id).current_session_id
    gateway.sessions[session_id] = CheckoutSession(
        **{**_fields(gateway.sessions[session_id]), "status": "complete", "payment_status": "paid"}
    )
    assert billing.reconcile(WORKSPACE, link.id).result is NoticeResult.APPLIED
    assert _status(billing, link.id) is PaymentStatus.PAYE
    # The webhook arriving afterwards counts nothing twice.
    assert _notice(billing, link.id, NoticeKind.PAID) is NoticeResult.UNCHANGED


def test_keys_are_stored_sealed_and_shown_masked(billing: BillingApplication) -> None:
    receipt = billing.configure_stripe(
        WORKSPACE, mode="test", secret_key=SECRET_KEY, webhook_secret="whsec_abcdefgh12345678"
    )
    stored = b"".join(
        item.state
        for item in billing.recorder.select_events(receipt.id)  # type: ignore[attr-defined]
    )
    assert SECRET_KEY.encode() not in stored and b"whsec_abcdefgh12345678" not in stored
    summary = billing.stripe_summary(WORKSPACE)
    assert summary.secret_key_hints == {"test": "sk_test_…4242"}
    assert summary.webhook_secret_hints == {"test": "whsec_…5678"}
    credentials = billing.credentials(WORKSPACE)
    assert credentials is not None and credentials.secret_key == SECRET_KEY
    assert SECRET_KEY not in repr(credentials)
    # An empty webhook secret on a later save keeps the stored one.
    billing.configure_stripe(WORKSPACE, mode="test", secret_key=SECRET_KEY + "x")
    kept = billing.credentials(WORKSPACE)
    assert kept is not None and kept.webhook_secret == "whsec_abcdefgh12345678"


def test_a_key_of_the_wrong_mode_or_shape_is_refused(billing: BillingApplication) -> None:
    with pytest.raises(InvalidInputError) as refused:
        billing.configure_stripe(WORKSPACE, mode="live", secret_key=SECRET_KEY)
    assert "clé test" in refused.value.errors["cle_secrete"]
    with pytest.raises(InvalidInputError):
        billing.configure_stripe(WORKSPACE, mode="test", secret_key="pk_test_123456789")
    with pytest.raises(InvalidInputError):
        billing.configure_stripe(
            WORKSPACE, mode="test", secret_key=SECRET_KEY, webhook_secret="nope"
        )
    with pytest.raises(PaymentError, match="live"):
        _configure(billing)
        billing.choose_stripe_mode(WORKSPACE, "live")


def test_environment_keys_win_over_stored_ones(gateway: FakeGateway) -> None:
    gateways = FakeGateways(gateway)
    billing = BillingApplication(
        ENV,
        gateways=gateways,
        secrets=ReversibleBox(),
        override=StripeCredentials(StripeMode.TEST, "sk_test_fromenvironment1"),
    )
    assert billing.test_stripe_connection(WORKSPACE) == "Atelier Dupont"
    assert gateways.keys == ["sk_test_fromenvironment1"]


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1500.00", "EUR", 150000),
        ("0.07", "EUR", 7),
        ("1234.56", "usd", 123456),
        ("500", "JPY", 500),
    ],
)
def test_amounts_go_to_stripe_in_integer_minor_units(
    amount: str, currency: str, minor: int
) -> None:
    assert to_minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)


def test_a_fraction_of_a_zero_decimal_currency_is_refused() -> None:
    with pytest.raises(PaymentError, match="entier en JPY"):
        to_minor_units(Decimal("10.50"), "JPY")


def test_a_payment_intent_unknown_to_the_read_side_is_asked_of_stripe(
    billing: BillingApplication, gateway: FakeGateway
) -> None:
    _configure(billing)
    request_id = uuid4()
    gateway.intents["pi_ours"] = PaymentIntentInfo(
        id="pi_ours",
        metadata={"workspace_id": str(WORKSPACE), "payment_request_id": str(request_id)},
    )
    gateway.intents["pi_foreign"] = PaymentIntentInfo(id="pi_foreign", metadata={})
    assert billing.payment_for_intent(WORKSPACE, StripeMode.TEST, "pi_ours") == PaymentRef(
        WORKSPACE, request_id
    )
    assert billing.payment_for_intent(WORKSPACE, StripeMode.TEST, "pi_foreign") is None
    assert billing.payment_for_intent(WORKSPACE, StripeMode.TEST, "pi_missing") is None
    # No live key stored, and no key from the environment: nobody to ask.
    calls = len(gateway.calls)
    assert billing.payment_for_intent(WORKSPACE, StripeMode.LIVE, "pi_ours") is None
    assert billing.payment_for_intent(None, StripeMode.TEST, "pi_ours") is None
    assert len(gateway.calls) == calls
    gateway.unavailable = True
    with pytest.raises(PaymentGatewayUnavailableError):
        billing.payment_for_intent(WORKSPACE, StripeMode.TEST, "pi_ours")


class SlowDiskBilling(BillingApplication):
    """Each save takes as long as a flush to a busy disk, so that concurrent
    commands queue behind it as they do on PostgreSQL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.saves: list[int] = []
        super().__init__(*args, **kwargs)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.saves.append(len(objs))
        time.sleep(0.02)
        return super().save(*objs, **kwargs)


def test_concurrent_webhooks_each_take_effect_once(gateway: FakeGateway) -> None:
    """Saves that arrive together share transactions; a shared one that conflicts
    (two events about one request) is saved one by one, and the loser retries."""
    billing = SlowDiskBilling(ENV, gateways=FakeGateways(gateway), secrets=ReversibleBox())
    _configure(billing)
    client = Client.register(workspace_id=WORKSPACE, nom="Boulangerie Martin", email="a@b.fr")
    opportunities = []
    for number in range(12):
        opportunity = Opportunity.open(
            workspace_id=WORKSPACE,
            client=client,
            titre=f"Mission {number}",
            montant_estime="1500.00",
            devise="EUR",
            etape="negociation",
        )
        opportunity.move_to("gagne", client=client)
        opportunities.append(opportunity)
    billing.save(client, *opportunities)
    requests = [billing.request_payment(WORKSPACE, o.id).id for o in opportunities]
    deliveries: list[tuple[UUID, NoticeKind, str]] = []
    for index, request_id in enumerate(requests):
        deliveries += [(request_id, NoticeKind.PAID, f"evt_paid_{index}")] * 3  # two redeliveries
        if index % 3 == 0:  # and an event about the same request at the same time
            deliveries.append((request_id, NoticeKind.PENDING, f"evt_pending_{index}"))
    start = threading.Barrier(len(deliveries))
    billing.saves = []

    def deliver(delivery: tuple[UUID, NoticeKind, str]) -> NoticeResult:
        start.wait()
        return _notice(billing, delivery[0], delivery[1], delivery[2])

    with ThreadPoolExecutor(len(deliveries)) as pool:
        results = list(pool.map(deliver, deliveries))
    assert results.count(NoticeResult.APPLIED) >= len(requests)
    assert results.count(NoticeResult.DUPLICATE) == 2 * len(requests)
    for request_id in requests:
        assert _status(billing, request_id) is PaymentStatus.PAYE
        kinds = [type(event).__name__ for event in billing.events.get(request_id)]
        assert kinds.count("Paid") == 1, kinds
    # Some saves carried several commands' events (2 per command), and fewer saves
    # than commands were needed.
    assert max(billing.saves) > 2
    for _, _, event_id in set(deliveries):
        record: ProcessedStripeEvent = billing.repository.get(stripe_event_record_id(event_id))
        assert record.stripe_event_id == event_id
