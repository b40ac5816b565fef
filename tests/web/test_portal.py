"""The client portal: secret link, cookie exchange, what the client sees and does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from crm_core.context import acting_as, user_actor
from crm_core.portal.domainmodel import hash_token
from tests.support.fake_stripe import FakeStripe, event_payload, sign
from tests.web.conftest import BASE_URL, Tenant
from web.portal.reads import PortalReads, Rendered, RenderedPages

ClientAs = Callable[[str | None], TestClient[Litestar]]


def _client_with_history(tenant: Tenant) -> UUID:
    container, ws = tenant.container, tenant.workspace_id
    with acting_as(user_actor(tenant.users["admin"])):
        client = container.sales.register_client(
            ws, nom="Boulangerie Martin", email=f"b{ws.hex[:6]}@martin.fr"
        ).id
        won = container.sales.open_opportunity(
            ws, client, titre="Site vitrine", montant_estime="1500"
        ).id
        container.sales.move_opportunity(ws, won, "gagne")
        container.sales.open_opportunity(
            ws, client, titre="Projet secret en cours", montant_estime="9000"
        )
        lost = container.sales.open_opportunity(
            ws, client, titre="Projet perdu", montant_estime="700"
        ).id
        container.sales.move_opportunity(ws, lost, "perdu", raison="Budget")
        ticket = container.support.open_ticket(
            ws, client, sujet="Question facture", description="Bonjour"
        ).id
        container.support.reply(
            ws, ticket, texte="Voici la réponse publique.", auteur="Claire Dupont"
        )
        receipt = container.support.add_internal_note(
            ws, ticket, texte="NOTE-INTERNE-42", auteur="Claire Dupont"
        )
    container.wait(receipt.position, "clients", "pipeline", "tickets")
    return client


def _link(client_as: ClientAs, client_id: UUID, role: str = "commercial") -> str:
    response = client_as(role).post(f"/api/clients/{client_id}/portail")
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    assert "/portail/" in url
    return url.rsplit("/portail/", 1)[1]


def _enter(tenant: Tenant, token: str) -> TestClient[Litestar]:
    browser = tenant.client(None)
    response = browser.get(f"/portail/{token}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/portail"
    return browser


def test_a_commercial_generates_a_link_with_256_bits_and_only_its_hash_is_stored(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = _client_with_history(tenant)
    token = _link(client_as, client_id)
    assert len(token) >= 43  # 32 bytes in URL-safe base64
    with psycopg.connect(tenant.container.conninfo) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM crm_events WHERE convert_from(state, 'UTF8') LIKE %s",
            (f"%{token}%",),
        ).fetchone()
        hashed = conn.execute(
            "SELECT count(*) FROM rm_portal_access WHERE token_hash IS NOT NULL AND client_id = %s",
            (client_id,),
        ).fetchone()
    assert stored == (0,)
    assert hashed == (1,)


def test_a_developer_may_not_generate_a_portal_link(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = _client_with_history(tenant)
    response = client_as("developpeur_nocode").post(f"/api/clients/{client_id}/portail")
    assert response.status_code == 403


def test_opening_the_link_sets_a_host_cookie_and_redirects_to_a_clean_url(
    tenant: Tenant, client_as: ClientAs
) -> None:
    token = _link(client_as, _client_with_history(tenant))
    browser = tenant.client(None)
    response = browser.get(f"/portail/{token}", follow_redirects=False)
    cookie_header = response.headers["set-cookie"]
    assert cookie_header.startswith("__Host-crm_portal=")
    for flag in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie_header.lower()
    assert "Domain" not in cookie_header
    assert "crm_session" not in cookie_header and "csrftoken" not in cookie_header
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_portal_shows_what_to_pay_and_nothing_internal(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = _enter(tenant, _link(client_as, _client_with_history(tenant)))
    page = browser.get("/portail")
    assert page.status_code == 200
    html = page.text
    assert "Boulangerie Martin" in html and "Agence Test" in html
    assert "Site vitrine" in html and "Payer" in html
    assert "Voici la réponse publique." in html
    for secret in ("NOTE-INTERNE-42", "Projet secret en cours", "Projet perdu", "@test.fr"):
        assert secret not in html
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in html.lower()  # ("description" contains the word)


def test_an_unknown_and_a_revoked_link_get_the_same_404(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = _client_with_history(tenant)
    old = _link(client_as, client_id)
    session = _enter(tenant, old)
    _link(client_as, client_id)  # regenerate: the old link and its session stop at once
    revoked = tenant.client(None).get(f"/portail/{old}")
    unknown = tenant.client(None).get("/portail/" + "x" * 43)
    assert revoked.status_code == unknown.status_code == 404
    assert revoked.text == unknown.text
    assert session.get("/portail").status_code == 404


def test_a_ticket_from_the_portal_reaches_the_staff_with_a_notification(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = _client_with_history(tenant)
    browser = _enter(tenant, _link(client_as, client_id))
    page = browser.get("/portail").text
    jeton = page.split('name="jeton" value="')[1].split('"')[0]
    response = browser.post(
        "/portail/tickets",
        data={
            "sujet": "Le site ne s'affiche plus",
            "description": "<script>alert(1)</script> aidez-moi",
            "jeton": jeton,
        },
    )
    assert response.status_code == 200
    assert "bien été envoyée" in response.text
    assert "<script>" not in response.text  # the description is stored, never echoed raw
    container = tenant.container
    tickets = container.tickets.search(tenant.workspace_id, client_id=client_id).items
    created = next(t for t in tickets if t.sujet == "Le site ne s'affiche plus")
    assert created.source == "portail"
    notes = container.notifications.latest(tenant.workspace_id)
    container.wait(container.log.recorder.max_notification_id() or 0, "notifications", "timeline")
    notes = container.notifications.latest(tenant.workspace_id)
    assert any("depuis le portail" in n.texte for n in notes)
    timeline = container.timeline.for_client(tenant.workspace_id, client_id).items
    assert any(
        e.type_evenement == "ticket_ouvert" and "portail" in e.description_texte for e in timeline
    )


def test_an_invalid_portal_ticket_shows_messages_next_to_the_fields(
    tenant: Tenant, client_as: ClientAs
) -> None:
    browser = _enter(tenant, _link(client_as, _client_with_history(tenant)))
    jeton = browser.get("/portail").text.split('name="jeton" value="')[1].split('"')[0]
    response = browser.post(
        "/portail/tickets", data={"sujet": "", "description": "x" * 5000, "jeton": jeton}
    )
    assert response.status_code == 422
    assert "Indiquez un sujet." in response.text
    assert "ne doit pas dépasser 4000 caractères" in response.text


def test_a_portal_form_without_its_token_is_refused(tenant: Tenant, client_as: ClientAs) -> None:
    browser = _enter(tenant, _link(client_as, _client_with_history(tenant)))
    response = browser.post("/portail/tickets", data={"sujet": "a", "description": "b"})
    assert response.status_code == 403


def test_the_json_api_reads_and_creates_tickets(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = _client_with_history(tenant)
    token = _link(client_as, client_id)
    api = tenant.client(None)
    data = api.get(f"/api/portail/{token}").json()
    assert data["client"]["nom"] == "Boulangerie Martin"
    assert [o["titre"] for o in data["opportunites"]] == ["Site vitrine"]
    assert data["opportunites"][0]["statutPaiement"] == "en_attente"
    replies = [r["texte"] for t in data["tickets"] for r in t["reponses"]]
    assert replies == ["Voici la réponse publique."]
    created = api.post(
        f"/api/portail/{token}/tickets", json={"sujet": "Facture", "description": "Où est-elle ?"}
    )
    assert created.status_code == 201
    assert created.json()["source"] == "portail"
    bad = api.post(f"/api/portail/{token}/tickets", json={"sujet": "", "description": ""})
    assert bad.status_code == 422
    assert bad.json()["errors"]["sujet"] == "Indiquez un sujet."
    assert api.get("/api/portail/inconnu").status_code == 404


def test_failed_lookups_are_rate_limited_per_address(tenant: Tenant) -> None:
    browser = tenant.client(None)
    statuses = [browser.get(f"/portail/faux-{n}").status_code for n in range(21)]
    assert statuses[:20] == [404] * 20
    assert statuses[20] == 429


def test_every_visit_is_an_event_without_the_token(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = _client_with_history(tenant)
    token = _link(client_as, client_id)
    _enter(tenant, token)
    _enter(tenant, token)
    container = tenant.container
    container.wait(container.log.recorder.max_notification_id() or 0, "portal")
    assert container.portal_view.visits(tenant.workspace_id, client_id) == 2
    with psycopg.connect(container.conninfo) as conn:
        rows = conn.execute(
            "SELECT convert_from(state, 'UTF8') FROM crm_events WHERE topic LIKE %s",
            ("%PortalVisit.Recorded",),
        ).fetchall()
    assert rows and all(token not in row[0] for row in rows)
    assert all(f"portal:{client_id}" in row[0] for row in rows if str(client_id) in row[0])


def test_no_staff_cookie_is_read_under_the_portal(tenant: Tenant, client_as: ClientAs) -> None:
    staff = client_as("admin")
    response = staff.get("/portail")
    assert response.status_code == 404  # a staff session is not a portal session
    assert "set-cookie" not in response.headers
    assert BASE_URL.startswith("https://")


def _jeton(browser: TestClient[Litestar]) -> str:
    return browser.get("/portail").text.split('name="jeton" value="')[1].split('"')[0]


def _won(tenant: Tenant, client_id: UUID) -> UUID:
    container, ws = tenant.container, tenant.workspace_id
    opportunities = container.pipeline.for_client(ws, client_id)
    return next(o.id for o in opportunities if o.etape == "gagne")


def test_paying_without_stripe_configured_shows_a_french_error_page(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = _client_with_history(tenant)
    browser = _enter(tenant, _link(client_as, client_id))
    response = browser.post(
        f"/portail/payer/{_won(tenant, client_id)}",
        data={"jeton": _jeton(browser)},
        follow_redirects=False,
    )
    assert response.status_code == 503
    assert "Le paiement en ligne n’est pas encore disponible" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_paying_needs_the_form_token_and_an_opportunity_of_this_client(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id = _client_with_history(tenant)
    with acting_as(user_actor(tenant.users["admin"])):
        other = tenant.container.sales.register_client(
            tenant.workspace_id, nom="Autre client", email=f"a{client_id.hex[:6]}@autre.fr"
        ).id
        foreign = tenant.container.sales.open_opportunity(
            tenant.workspace_id, other, titre="Pas à vous", montant_estime="800"
        ).id
        receipt = tenant.container.sales.move_opportunity(tenant.workspace_id, foreign, "gagne")
    tenant.container.wait(receipt.position, "pipeline")
    browser = _enter(tenant, _link(client_as, client_id))
    jeton = _jeton(browser)
    without = browser.post(f"/portail/payer/{_won(tenant, client_id)}", data={})
    assert without.status_code == 403
    stolen = browser.post(f"/portail/payer/{foreign}", data={"jeton": jeton})
    assert stolen.status_code == 404
    assert "Prestation introuvable" in stolen.text
    anonymous = tenant.client(None).post(f"/portail/payer/{foreign}", data={"jeton": jeton})
    assert anonymous.status_code == 404


def test_the_json_api_has_no_payment_url_before_a_link_exists(
    tenant: Tenant, client_as: ClientAs
) -> None:
    token = _link(client_as, _client_with_history(tenant))
    project = tenant.client(None).get(f"/api/portail/{token}").json()["opportunites"][0]
    assert project["statutPaiement"] == "en_attente"
    assert project["urlPaiement"] is None


# --- the page kept rendered (web/portal/reads.py) must never be stale ----------------


def _stripe(tenant: Tenant, fake: FakeStripe) -> str:
    hexa = tenant.workspace_id.hex
    key, webhook = f"sk_test_{hexa}Key4242", f"whsec_{hexa}Secret"
    fake.valid_keys.add(key)
    with acting_as(user_actor(tenant.users["admin"])):
        receipt = tenant.container.billing.configure_stripe(
            tenant.workspace_id, mode="test", secret_key=key, webhook_secret=webhook
        )
    tenant.container.wait(receipt.position, "payments")
    return webhook


def _settle(tenant: Tenant, *names: str) -> None:
    container = tenant.container
    container.wait(container.log.recorder.max_notification_id() or 0, *names)


def test_each_change_shows_on_the_next_load_of_a_kept_page(
    tenant: Tenant, client_as: ClientAs, stripe_fake: FakeStripe
) -> None:
    webhook = _stripe(tenant, stripe_fake)
    container, ws = tenant.container, tenant.workspace_id
    client_id = _client_with_history(tenant)
    token = _link(client_as, client_id)
    browser, api = _enter(tenant, token), tenant.client(None)
    first = browser.get("/portail").text
    assert browser.get("/portail").text == first  # kept: the same page again
    assert api.get(f"/api/portail/{token}").json() == api.get(f"/api/portail/{token}").json()
    ticket = container.tickets.search(ws, client_id=client_id).items[0].id

    # A staff reply, an internal note and a new won deal: the next load has them
    # (and still not the note).
    with acting_as(user_actor(tenant.users["admin"])):
        container.support.reply(ws, ticket, texte="Deuxième réponse.", auteur="Claire Dupont")
        container.support.add_internal_note(ws, ticket, texte="NOTE-INTERNE-43", auteur="C")
        extra = container.sales.open_opportunity(
            ws, client_id, titre="Maintenance annuelle", montant_estime="600"
        ).id
        container.sales.move_opportunity(ws, extra, "gagne")
    _settle(tenant, "tickets", "pipeline")
    page = browser.get("/portail").text
    assert "Deuxième réponse." in page and "Maintenance annuelle" in page
    assert "NOTE-INTERNE-43" not in page
    data = api.get(f"/api/portail/{token}").json()
    assert "Deuxième réponse." in [r["texte"] for t in data["tickets"] for r in t["reponses"]]
    assert "NOTE-INTERNE-43" not in json.dumps(data)

    # A payment link, then the payment: « Payer » becomes « Payé » at the next load.
    site_id = next(o.id for o in container.pipeline.for_client(ws, client_id)
                   if o.titre == "Site vitrine")  # fmt: skip
    with acting_as(user_actor(tenant.users["admin"])):
        link = container.billing.request_payment(ws, site_id)
    container.wait(link.position, "payments")
    site = next(p for p in api.get(f"/api/portail/{token}").json()["opportunites"]
                if p["titre"] == "Site vitrine")  # fmt: skip
    assert site["urlPaiement"] == link.url
    session_id = link.url.rsplit("/", 1)[1]
    payload = event_payload("checkout.session.completed", stripe_fake.complete(session_id))
    delivered = api.post(
        "/api/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": sign(payload, webhook), "Content-Type": "application/json"},
    )
    assert delivered.status_code == 200, delivered.text
    _settle(tenant, "payments")
    assert '<p class="status status-paid">Payé</p>' in browser.get("/portail").text
    site = next(p for p in api.get(f"/api/portail/{token}").json()["opportunites"]
                if p["titre"] == "Site vitrine")  # fmt: skip
    assert site["statutPaiement"] == "paye" and site["urlPaiement"] is None

    # A new ticket from the portal shows in its list right after the redirect.
    jeton = _jeton(browser)
    sent = browser.post(
        "/portail/tickets",
        data={"sujet": "Nouvelle demande", "description": "Merci", "jeton": jeton},
    )
    assert sent.status_code == 200 and "Nouvelle demande" in sent.text


def test_a_revoked_link_stops_a_kept_page_at_once(tenant: Tenant, client_as: ClientAs) -> None:
    client_id = _client_with_history(tenant)
    old = _link(client_as, client_id)
    browser, api = _enter(tenant, old), tenant.client(None)
    assert browser.get("/portail").status_code == 200
    assert api.get(f"/api/portail/{old}").status_code == 200
    kept_page, kept_json = browser.get("/portail"), api.get(f"/api/portail/{old}")
    for kept in (kept_page, kept_json):  # a kept page keeps its headers
        assert kept.status_code == 200
        assert kept.headers["cache-control"] == "no-store"
        assert kept.headers["referrer-policy"] == "no-referrer"
        assert kept.headers["x-robots-tag"].startswith("noindex")
        assert "default-src 'none'" in kept.headers["content-security-policy"]
        assert "set-cookie" not in kept.headers
    assert kept_page.headers["content-type"] == "text/html; charset=utf-8"
    assert kept_json.headers["content-type"] == "application/json"
    new = _link(client_as, client_id)  # regenerated: answered once the read model has it
    assert browser.get("/portail").status_code == 404
    assert api.get(f"/api/portail/{old}").status_code == 404
    assert api.get(f"/api/portail/{new}").status_code == 200
    fresh = _enter(tenant, new)
    assert fresh.get("/portail").status_code == 200
    with acting_as(user_actor(tenant.users["admin"])):
        receipt = tenant.container.sales.archive_client(tenant.workspace_id, client_id)
    tenant.container.wait(receipt.position, "clients")
    assert fresh.get("/portail").status_code == 404  # an archived client's page is gone too
    assert api.get(f"/api/portail/{new}").status_code == 404


def test_kept_pages_are_bounded_and_least_recently_used_go_first() -> None:
    pages = RenderedPages(size=2)
    pages.put("a", Rendered("1,1", "{}", b"A"))
    pages.put("b", Rendered("1,1", "{}", b"B"))
    assert pages.get("a") is not None  # "a" used: "b" is now the oldest
    pages.put("c", Rendered("1,1", "{}", b"C"))
    assert len(pages) == 2 and pages.get("b") is None
    pages.drop("a")
    assert pages.get("a") is None and pages.get("c") == Rendered("1,1", "{}", b"C")


def test_loads_read_in_one_batch_each_get_their_own_page_and_a_revoked_link_none(
    tenant: Tenant, client_as: ClientAs
) -> None:
    first = _client_with_history(tenant)
    with acting_as(user_actor(tenant.users["admin"])):
        receipt = tenant.container.sales.register_client(
            tenant.workspace_id, nom="Fleuriste Durand", email="fleurs@durand.fr"
        )
    tenant.container.wait(receipt.position, "clients")
    second = receipt.id
    first_token, old_token = _link(client_as, first), _link(client_as, second)
    new_token = _link(client_as, second)  # regenerated: the old one is revoked
    ws = tenant.workspace_id

    async def read_together() -> list[tuple[str, str | None] | None]:
        reads = PortalReads.for_container(tenant.container, max_connections=2)
        try:
            fetch = reads.by_session.fetch
            answers = await asyncio.gather(
                fetch(None, first, ws, hash_token(first_token)[:16]),
                fetch(None, second, ws, hash_token(old_token)[:16]),
                fetch(None, second, ws, hash_token(new_token)[:16]),
                fetch(None, first, ws, hash_token(new_token)[:16]),  # another client's link
            )
            known = answers[0][0] if answers[0] else None
            again = await asyncio.gather(
                fetch(known, first, ws, hash_token(first_token)[:16]),
                reads.by_token_hash.fetch(None, hash_token(new_token)),
                reads.by_token_hash.fetch(None, hash_token(old_token)),
            )
            return [*answers, *again]
        finally:
            await reads.close()

    # A loop of its own in a thread of its own: the browser tests' Playwright (sync API)
    # keeps a loop running in the main thread for the whole session.
    with ThreadPoolExecutor(max_workers=1) as thread:
        answers = thread.submit(asyncio.run, read_together()).result()
    first_page, revoked, second_page, mixed, unchanged, by_token, revoked_token = answers
    assert first_page is not None and first_page[1] is not None
    assert "Boulangerie Martin" in first_page[1] and "Fleuriste" not in first_page[1]
    assert second_page is not None and second_page[1] is not None
    assert "Fleuriste Durand" in second_page[1] and "Boulangerie" not in second_page[1]
    assert revoked is None and mixed is None and revoked_token is None
    assert unchanged == (first_page[0], None)  # same positions: no document built again
    assert by_token is not None and by_token[1] == second_page[1]
