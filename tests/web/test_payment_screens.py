"""Stripe on the staff screens: Paramètres › Paiements, « Générer lien de paiement », badges.

The app talks to a local Stripe-like server (tests/support/fake_stripe.py); the
webhooks are signed as Stripe signs them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from crm_core.context import acting_as, user_actor
from tests.support.fake_stripe import ACCOUNT_NAME, FakeStripe, event_payload, sign
from tests.web.conftest import Tenant
from tests.web.screens import HTMX, field_error, is_fragment, make_client, make_opportunity, settle

ClientAs = Callable[..., TestClient[Litestar]]


def _keys(tenant: Tenant) -> tuple[str, str]:
    hexa = tenant.workspace_id.hex
    return f"sk_test_{hexa}Key4242", f"whsec_{hexa}Secret"


@pytest.fixture
def fake(stripe_fake: FakeStripe) -> Iterator[FakeStripe]:
    stripe_fake.reset()
    yield stripe_fake
    stripe_fake.reset()


def configure(tenant: Tenant, fake: FakeStripe) -> tuple[str, str]:
    key, webhook = _keys(tenant)
    fake.valid_keys.add(key)
    with acting_as(user_actor(tenant.users["admin"])):
        receipt = tenant.container.billing.configure_stripe(
            tenant.workspace_id, mode="test", secret_key=key, webhook_secret=webhook
        )
    tenant.container.wait(receipt.position, "payments")
    return key, webhook


def won_opportunity(
    tenant: Tenant, titre: str = "Site vitrine", montant: str | None = "1500"
) -> tuple[UUID, UUID]:
    client_id = make_client(tenant, "Boulangerie Martin")
    opportunity_id = make_opportunity(
        tenant,
        client_id,
        titre,
        montant_estime=Decimal(montant) if montant else None,
        etape="negociation",
    )
    with acting_as(user_actor(tenant.users["admin"])):
        tenant.container.sales.move_opportunity(tenant.workspace_id, opportunity_id, "gagne")
    settle(tenant)
    return client_id, opportunity_id


def checkout_calls(fake: FakeStripe) -> int:
    return len(fake.calls("POST", "/v1/checkout/sessions"))


# --- Paramètres › Paiements ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["commercial", "developpeur_nocode", "developpeur_automatisme"])
def test_only_an_administrator_reaches_the_payment_settings(
    tenant: Tenant, client_as: ClientAs, role: str
) -> None:
    other = client_as(role)
    assert other.get("/parametres/paiements").status_code == 403
    key, _ = _keys(tenant)
    refused = other.post("/parametres/paiements/cles", data={"mode": "test", "cle_secrete": key})
    assert refused.status_code == 403
    assert other.post("/parametres/paiements/test", data={}).status_code == 403
    assert other.post("/parametres/paiements/mode", data={"mode": "live"}).status_code == 403
    assert other.post("/api/parametres/stripe/test").status_code == 403
    assert other.get("/api/parametres/stripe").status_code == 403
    assert tenant.container.billing.stripe_summary(tenant.workspace_id).secret_key_hints == {}


def test_the_settings_page_links_from_parametres_and_shows_the_webhook_url(
    client_as: ClientAs,
) -> None:
    admin = client_as("admin")
    assert 'href="/parametres/paiements"' in admin.get("/parametres").text
    shown = admin.get("/parametres/paiements")
    assert shown.status_code == 200
    assert "Tester la connexion" in shown.text
    url = f"{admin.app.state.container.settings.base_url}/api/webhooks/stripe"
    assert f'value="{url}"' in shown.text
    assert "checkout.session.completed" in shown.text
    assert "Clés du mode test" in shown.text and "Clés du mode production (live)" in shown.text


def test_saved_keys_are_shown_masked_and_never_sent_back_to_the_browser(
    tenant: Tenant, client_as: ClientAs
) -> None:
    admin = client_as("admin")
    key, webhook = _keys(tenant)
    saved = admin.post(
        "/parametres/paiements/cles",
        data={"mode": "test", "cle_secrete": key, "secret_webhook": webhook},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    shown = admin.get("/parametres/paiements")
    assert "Clés Stripe du mode test enregistrées." in shown.text
    assert "sk_test_…4242" in shown.text and "whsec_…cret" in shown.text
    assert key not in shown.text and webhook not in shown.text
    for password in re.findall(r'<input[^>]*type="password"[^>]*>', shown.text):
        assert 'value=""' in password, password
    assert len(re.findall(r'type="password"', shown.text)) == 4
    api = admin.get("/api/parametres/stripe")
    assert key not in api.text and webhook not in api.text


def test_a_key_of_the_wrong_mode_is_refused_beside_the_field_and_not_echoed(
    tenant: Tenant, client_as: ClientAs
) -> None:
    key, _ = _keys(tenant)
    refused = client_as("admin").post(
        "/parametres/paiements/cles", data={"mode": "live", "cle_secrete": key}, headers=HTMX
    )
    assert refused.status_code == 422
    assert "clé test, pas live" in html.unescape(field_error(refused.text, "live-cle_secrete"))
    assert key not in refused.text


def test_the_connection_test_shows_the_account_name_or_the_french_error(
    tenant: Tenant, client_as: ClientAs, fake: FakeStripe
) -> None:
    admin = client_as("admin")
    missing = admin.post("/parametres/paiements/test", data={}, headers=HTMX)
    assert missing.status_code == 200 and is_fragment(missing.text)
    assert "Stripe n’est pas configuré" in missing.text
    assert json.loads(missing.headers["hx-trigger"])["toast"]["kind"] == "error"
    configure(tenant, fake)
    tested = admin.post("/parametres/paiements/test", data={}, headers=HTMX)
    toast = json.loads(tested.headers["hx-trigger"])["toast"]
    assert toast == {
        "kind": "success",
        "text": f"Connexion à Stripe réussie : compte « {ACCOUNT_NAME} ».",
    }
    assert html.escape(ACCOUNT_NAME) in tested.text
    fake.drop = True
    down = admin.post("/parametres/paiements/test", data={}, headers=HTMX)
    assert "Stripe ne répond pas" in json.loads(down.headers["hx-trigger"])["toast"]["text"]


def test_the_active_mode_is_chosen_by_an_administrator_once_its_key_is_saved(
    tenant: Tenant, client_as: ClientAs, fake: FakeStripe
) -> None:
    configure(tenant, fake)
    admin = client_as("admin")
    early = admin.post("/parametres/paiements/mode", data={"mode": "live"})
    assert "Enregistrez d’abord une clé secrète live" in html.unescape(early.text)
    live_key = f"sk_live_{tenant.workspace_id.hex}Live9999"
    saved = admin.post(
        "/parametres/paiements/cles",
        data={"mode": "live", "cle_secrete": live_key},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    chosen = admin.post("/parametres/paiements/mode", data={"mode": "live"}, follow_redirects=False)
    assert chosen.status_code == 303
    assert tenant.container.billing.stripe_summary(tenant.workspace_id).mode.value == "live"
    shown = admin.get("/parametres/paiements").text
    assert 'value="live" checked' in shown and "sk_live_…9999" in shown
    assert live_key not in shown


# --- « Générer lien de paiement » -------------------------------------------------------


def test_a_won_opportunity_gets_its_link_with_copy_and_open_buttons(
    tenant: Tenant, client_as: ClientAs, fake: FakeStripe
) -> None:
    configure(tenant, fake)
    client_id, opportunity_id = won_opportunity(tenant)
    commercial = client_as("commercial")
    page = commercial.get(f"/opportunites/{opportunity_id}")
    assert "Générer lien de paiement" in page.text
    assert 'src="/static/payments.js"' in page.text
    made = commercial.post(f"/opportunites/{opportunity_id}/lien-paiement", data={}, headers=HTMX)
    assert made.status_code == 200, made.text
    assert is_fragment(made.text)
    url = re.search(r'class="payment-url" type="text" readonly value="([^"]+)"', made.text)
    assert url and url.group(1).startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert f'data-copy-link="#lien-{opportunity_id}"' in made.text
    assert f'href="{url.group(1)}" target="_blank" rel="noopener"' in made.text
    assert ">En attente</span>" in made.text
    toast = json.loads(made.headers["hx-trigger"])["toast"]
    assert toast["text"].startswith("Lien de paiement créé pour « Site vitrine »")
    assert checkout_calls(fake) == 1
    again = commercial.post(f"/opportunites/{opportunity_id}/lien-paiement", data={}, headers=HTMX)
    assert url.group(1) in again.text and checkout_calls(fake) == 1
    client_page = commercial.get(f"/clients/{client_id}")
    assert 'id="paiements"' in client_page.text and url.group(1) in client_page.text
    assert "Lien de paiement créé pour « Site vitrine »" in client_page.text
    assert js_served(commercial)


def js_served(client: TestClient[Litestar]) -> bool:
    script = client.get("/static/payments.js")
    return script.status_code == 200 and "navigator.clipboard" in script.text


def test_without_javascript_the_link_comes_back_on_the_page_with_a_flash(
    tenant: Tenant, client_as: ClientAs, fake: FakeStripe
) -> None:
    configure(tenant, fake)
    client_id, opportunity_id = won_opportunity(tenant)
    admin = client_as("admin")
    made = admin.post(
        f"/opportunites/{opportunity_id}/lien-paiement",
        data={"suivant": f"/clients/{client_id}"},
        follow_redirects=False,
    )
    assert (made.status_code, made.headers["location"]) == (303, f"/clients/{client_id}")
    page = admin.get(f"/clients/{client_id}")
    assert "Lien de paiement créé pour « Site vitrine »" in page.text
    assert "https://checkout.stripe.com/c/pay/cs_test_" in page.text


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_won", "Seule une opportunité gagnée peut recevoir un lien de paiement."),
        ("not_configured", "Stripe n’est pas configuré"),
    ],
)
def test_a_link_is_refused_in_french_without_calling_stripe(
    tenant: Tenant, client_as: ClientAs, fake: FakeStripe, case: str, message: str
) -> None:
    if case != "not_configured":
        configure(tenant, fake)
    if case == "not_won":
        client_id = make_client(tenant)
        opportunity_id = make_opportunity(tenant, client_id, etape="negociation")
    else:
        _, opportunity_id = won_opportunity(tenant, montant="900")
    admin = client_as("admin")
    refused = admin.post(f"/opportunites/{opportunity_id}/lien-paiement", data={}, headers=HTMX)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert message in refused.json()["detail"]
    assert fake.requests == []
    page = admin.get(f"/opportunites/{opportunity_id}").text
    if case == "not_won":
        assert "Générer lien de paiement" not in page
        assert "une fois l’opportunité gagnée" in page
    plain = admin.post(f"/opportunites/{opportunity_id}/lien-paiement", data={})
    assert message in html.unescape(plain.text)  # the flash on the page it went back to


@pytest.mark.parametrize("role", ["developpeur_nocode", "developpeur_automatisme"])
def test_roles_that_only_view_the_pipeline_get_no_button_and_a_403(
    tenant: Tenant, client_as: ClientAs, fake: FakeStripe, role: str
) -> None:
    configure(tenant, fake)
    client_id, opportunity_id = won_opportunity(tenant)
    viewer = client_as(role)
    assert "Générer lien de paiement" not in viewer.get(f"/opportunites/{opportunity_id}").text
    assert "Générer lien de paiement" not in viewer.get(f"/clients/{client_id}").text
    made = viewer.post(f"/opportunites/{opportunity_id}/lien-paiement", data={}, headers=HTMX)
    assert made.status_code == 403
    assert fake.requests == []


# --- badges and timeline ---------------------------------------------------------------


def badge_of(page: str, opportunity_id: UUID) -> str:
    pattern = rf'<span class="payment-badge[^"]*" data-opportunity="{opportunity_id}"[^>]*>'
    found = re.search(pattern + "([^<]*)</span>", page)
    assert found, "badge absent"
    return found.group(1)


def test_badges_follow_the_payment_on_board_table_opportunity_and_client_page(
    tenant: Tenant, client_as: ClientAs, fake: FakeStripe
) -> None:
    _, webhook = configure(tenant, fake)
    client_id, opportunity_id = won_opportunity(tenant)
    admin = client_as("admin")
    pages = ("/opportunites", "/opportunites/tableau", f"/opportunites/{opportunity_id}",
             f"/clients/{client_id}")  # fmt: skip
    for path in pages:
        assert badge_of(admin.get(path).text, opportunity_id) == ""
    made = admin.post(f"/opportunites/{opportunity_id}/lien-paiement", data={}, headers=HTMX)
    session_id = re.search(r"/c/pay/(cs_test_[A-Za-z0-9]+)", made.text)
    assert session_id
    for path in pages:
        assert badge_of(admin.get(path).text, opportunity_id) == "En attente", path
    payload = event_payload("checkout.session.completed", fake.complete(session_id.group(1)))
    anonymous = client_as(None)
    delivered = anonymous.post(
        "/api/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": sign(payload, webhook), "Content-Type": "application/json"},
    )
    assert delivered.status_code == 200, delivered.text
    last = tenant.container.log.recorder.max_notification_id() or 0
    tenant.container.wait(last, "payments", "timeline")
    for path in pages:
        assert badge_of(admin.get(path).text, opportunity_id) == "Payé", path
    client_page = admin.get(f"/clients/{client_id}").text
    assert 'data-kind="paiement_recu"' in client_page
    assert 'aria-label="Paiement reçu"' in client_page
    assert "Paiement reçu : 1\u202f500,00\u00a0€ pour « Site vitrine »" in client_page
    assert "Générer lien de paiement" not in client_page  # paid: no new link
    only_payments = admin.get(f"/clients/{client_id}/chronologie?type=paiements", headers=HTMX)
    assert 'data-kind="paiement_recu"' in only_payments.text
    assert 'data-kind="opportunite_gagnee"' not in only_payments.text


@pytest.mark.parametrize(
    ("outcome", "libelle", "new_link"),
    [("echoue", "Échoué", True), ("expire", "Expiré", True), ("rembourse", "Remboursé", False)],
)
def test_every_payment_status_has_its_badge_and_timeline_entry(
    tenant: Tenant,
    client_as: ClientAs,
    fake: FakeStripe,
    outcome: str,
    libelle: str,
    new_link: bool,
) -> None:
    _, webhook = configure(tenant, fake)
    client_id, opportunity_id = won_opportunity(tenant)
    admin = client_as("admin")
    made = admin.post(f"/opportunites/{opportunity_id}/lien-paiement", data={}, headers=HTMX)
    found = re.search(r"/c/pay/(cs_test_[A-Za-z0-9]+)", made.text)
    assert found
    session_id = found.group(1)
    anonymous = client_as(None)

    def deliver(event_type: str, obj: dict[str, object]) -> None:
        payload = event_payload(event_type, obj)
        response = anonymous.post(
            "/api/webhooks/stripe",
            content=payload,
            headers={
                "Stripe-Signature": sign(payload, webhook),
                "Content-Type": "application/json",
            },
        )
        assert response.status_code == 200, response.text

    if outcome == "echoue":
        unpaid = fake.complete(session_id, paid=False)
        deliver("checkout.session.completed", unpaid)
        tenant.container.wait(tenant.container.log.recorder.max_notification_id() or 0, "payments")
        pending = admin.get(f"/opportunites/{opportunity_id}").text
        assert badge_of(pending, opportunity_id) == "En attente"
        assert "en cours de traitement chez Stripe" in pending
        deliver("checkout.session.async_payment_failed", unpaid)
    elif outcome == "expire":
        deliver("checkout.session.expired", fake.expire(session_id))
    else:
        deliver("checkout.session.completed", fake.complete(session_id))
        # At once, before the read model has seen the payment: the charge names it.
        deliver("charge.refunded", fake.charge_for(session_id, refunded_minor=150000))
    last = tenant.container.log.recorder.max_notification_id() or 0
    tenant.container.wait(last, "payments", "timeline")
    for path in ("/opportunites", "/opportunites/tableau", f"/clients/{client_id}"):
        assert badge_of(admin.get(path).text, opportunity_id) == libelle, path
    detail = admin.get(f"/opportunites/{opportunity_id}").text
    assert f'class="payment-badge badge pay-{outcome}"' in detail
    assert ("Générer lien de paiement" in detail) is new_link
    client_page = admin.get(f"/clients/{client_id}").text
    assert f'data-kind="paiement_{outcome}"' in client_page
