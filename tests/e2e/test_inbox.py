"""The inbox in a real browser: a real email, sent with smtplib to the client's
plus-address through the SMTP receiver, shows in the client's timeline."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from uuid import UUID

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from crm_core.context import acting_as, user_actor
from tests.e2e.conftest import Server, Session
from web.mail import inbox_address

pytestmark = pytest.mark.e2e
Login = Callable[[str], Session]
DOMAIN = "studio-e2e.test"


def client_with_inbox(server: Server, *, nom: str, email: str) -> tuple[UUID, str]:
    """A client of a workspace that has a mail domain, and its plus-address."""
    container = server.container
    with acting_as(user_actor(server.users["admin"])):
        container.accounts.update_workspace(
            server.workspace_id, nom="Studio E2E", domaine_mail=DOMAIN
        )
        client_id = container.sales.register_client(server.workspace_id, nom=nom, email=email).id
    server.settle()
    container.wait(container.log.recorder.max_notification_id() or 0, "inbox")
    return client_id, inbox_address(container, server.workspace_id, client_id)


def test_a_real_email_to_the_plus_address_shows_in_the_client_timeline(
    server: Server, mail_receiver: tuple[str, int], login: Login
) -> None:
    client_id, address = client_with_inbox(
        server, nom="Ébénisterie Garnier", email="atelier@garnier.example"
    )
    assert address.endswith(f"@{DOMAIN}") and "+" in address

    commercial = login("commercial")
    page = commercial.page
    commercial.goto(f"/clients/{client_id}")
    expect(page.locator("#emails")).to_contain_text("Aucun email pour l’instant")
    expect(page.locator(f"#adresse-inbox-{client_id}")).to_have_value(address)

    message = EmailMessage()
    message["From"] = "Paul Garnier <paul@garnier.example>"
    message["To"] = address
    message["Subject"] = "Planches de chêne livrées"
    message["Message-ID"] = "<e2e-chene@garnier.example>"
    message.set_content("Bonjour,\nles planches sont arrivées ce matin.\nPaul")
    host, port = mail_receiver
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        refused = smtp.send_message(message)
    assert refused == {}

    # The page, reloaded until the projections caught up with the received mail.
    timeline = page.locator("#chronologie")
    for _ in range(40):
        commercial.goto(f"/clients/{client_id}")
        if page.locator('#chronologie [data-kind="email_client"]').count():
            break
        page.wait_for_timeout(250)
    entry = timeline.locator('[data-kind="email_client"]').first
    expect(entry).to_contain_text(
        "Email reçu de paul@garnier.example : « Planches de chêne livrées »"
    )
    expect(entry).to_contain_text("les planches sont arrivées ce matin")
    expect(entry.locator(".tl-icon")).to_have_attribute("aria-label", "Email")
    expect(entry.locator(".email-direction")).to_have_text("Reçu")
    expect(page.locator("#emails")).to_contain_text("Planches de chêne livrées")
    # Mixed with everything else, and kept by the « Emails » filter (htmx).
    expect(timeline.locator('[data-kind="client_cree"]')).to_have_count(1)
    timeline.get_by_role("link", name="Emails").click()
    expect(page).to_have_url(f"{server.base_url}/clients/{client_id}?type=emails")
    expect(timeline.locator('[data-kind="client_cree"]')).to_have_count(0)
    expect(timeline.locator('[data-kind="email_client"]')).to_have_count(1)
    commercial.shoot("client-emails")

    # The email's own page, from the timeline.
    timeline.get_by_role("link", name="Planches de chêne livrées", exact=False).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Planches de chêne livrées")
    expect(page.locator("pre.email-text")).to_contain_text("les planches sont arrivées")


def test_an_attachment_downloads_from_the_timeline_and_an_admin_handles_the_quarantine(
    server: Server, mail_receiver: tuple[str, int], login: Login
) -> None:
    client_id, address = client_with_inbox(
        server, nom="Menuiserie Roux", email="contact@roux.example"
    )
    pdf = b"%PDF-1.4 devis menuiserie\n%%EOF\n"
    message = EmailMessage()
    message["From"] = "contact@roux.example"
    message["To"] = address
    message["Subject"] = "Devis des fenêtres"
    message["Message-ID"] = "<e2e-devis@roux.example>"
    message.set_content("Ci-joint le devis.")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="devis été.pdf")
    garbage = bytes(range(128, 256)) * 4  # no header at all: quarantined
    host, port = mail_receiver
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        assert smtp.send_message(message) == {}
        smtp.sendmail("robot@ailleurs.example", [f"contact@{DOMAIN}"], garbage)

    admin = login("admin")
    page = admin.page
    link = page.locator("#chronologie .attachment-links a")
    for _ in range(40):
        admin.goto(f"/clients/{client_id}")
        if link.count():
            break
        page.wait_for_timeout(250)
    expect(link).to_contain_text("devis été.pdf")
    with page.expect_download() as downloaded:
        link.click()
    assert downloaded.value.suggested_filename == "devis été.pdf"
    assert Path(downloaded.value.path()).read_bytes() == pdf

    admin.goto("/emails/a-trier")
    page.get_by_role("link", name="Quarantaine", exact=False).click()
    row = page.locator(".quarantine-row")
    for _ in range(40):
        if row.count():
            break
        page.wait_for_timeout(250)
        admin.goto("/emails/quarantaine")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("expéditeur inconnu")
    expect(row).to_contain_text("Aucun en-tête de message reconnaissable.")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    admin.shoot("emails-quarantine")
    with page.expect_download() as raw:
        row.get_by_role("link", name="Télécharger (.eml)").click()
    assert raw.value.suggested_filename.endswith(".eml")
    assert Path(raw.value.path()).read_bytes() == garbage + b"\r\n"  # smtplib ends the data
    row.get_by_role("button", name="Ignorer").click()
    expect(page.locator("body")).to_contain_text("Message ignoré")
    expect(page.locator(".quarantine-row")).to_have_count(0)
