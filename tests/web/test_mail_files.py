"""The inbox's files on the staff screens (issue 6): attachments to download from the
timeline and the email page, and the administrators' quarantine screen.

One logged-in test client per test (more hang on main's session-store pool).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.mail.ingest import IngestResult
from crm_core.context import user_actor
from tests.support.mail import corpus
from tests.web.conftest import Tenant
from tests.web.screens import make_client, settle
from web.container import Container
from web.mail import attachment_store, build_ingestor, quarantine_store
from web.staff.mail_files import content_disposition, media_type, safe_filename

ClientAs = Callable[..., TestClient[Litestar]]
PDF = b"%PDF-1.4 contrat de test\n%%EOF\n"  # the attachment of attachment.eml


def _received(tenant: Tenant, raw: bytes) -> IngestResult:
    result = build_ingestor(tenant.container).ingest(tenant.workspace_id, raw)
    tenant.container.wait(result.position, "inbox", "timeline")
    return result


def _client_with_mail(tenant: Tenant) -> tuple[UUID, IngestResult]:
    client_id = make_client(tenant, "Atelier Dupont", email="direction@dupont.example")
    raw = corpus("attachment.eml", FROM="direction@dupont.example", TO="contact@agence.example")
    result = _received(tenant, raw)
    assert result.client_id == client_id
    return client_id, result


def _garbage(tenant: Tenant) -> IngestResult:
    result = _received(tenant, corpus("garbage.bin"))
    assert result.statut == "quarantaine"
    return result


# --- attachments ----------------------------------------------------------------------
def test_an_attachment_is_downloaded_from_the_timeline_with_safe_headers(
    tenant: Tenant, client_as: ClientAs
) -> None:
    client_id, result = _client_with_mail(tenant)
    digest = hashlib.sha256(PDF).hexdigest()
    browser = client_as("developpeur_automatisme")  # read-only roles read mail too
    link = f"/emails/{result.email_id}/pieces-jointes/{digest}"
    assert link in browser.get(f"/clients/{client_id}").text  # on the timeline entry
    assert link in browser.get(f"/emails/{result.email_id}").text  # and the email page
    response = browser.get(link)
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"contrat.pdf\"; filename*=UTF-8''contrat.pdf"
    )
    assert "sandbox" in response.headers["content-security-policy"]


def test_an_attachment_of_another_workspace_or_email_is_not_found(
    tenant: Tenant, client_as: ClientAs, web_container: Container, app: Litestar
) -> None:
    _, result = _client_with_mail(tenant)
    digest = hashlib.sha256(PDF).hexdigest()
    other = Tenant(web_container, app)
    _, other_result = _client_with_mail(other)
    browser = client_as("admin")
    # The other workspace's email, even with a hash stored in this data folder.
    assert (
        browser.get(f"/emails/{other_result.email_id}/pieces-jointes/{digest}").status_code == 404
    )
    # A hash the email does not list (a file of someone else's mail) is not served.
    foreign = hashlib.sha256(b"autre fichier").hexdigest()
    attachment_store(tenant.container).put(b"autre fichier")
    missing = browser.get(f"/emails/{result.email_id}/pieces-jointes/{foreign}")
    assert missing.status_code == 404
    assert "introuvable" in missing.text
    assert browser.get(f"/emails/{result.email_id}/pieces-jointes/..%2F..%2Fetc").status_code == 404


def test_a_tampered_attachment_is_refused_not_served(tenant: Tenant, client_as: ClientAs) -> None:
    content = b"%PDF-1.4 fichier unique pour ce test " + tenant.workspace_id.bytes + b"\n"
    raw = corpus("attachment.eml", FROM="direction@dupont.example", TO="contact@agence.example")
    raw = raw.replace(b"JVBERi0xLjQgY29udHJhdCBkZSB0ZXN0CiUlRU9GCg==", base64.b64encode(content))
    raw = raw.replace(b"<attach-0001@", b"<attach-" + tenant.workspace_id.hex.encode() + b"@")
    make_client(tenant, "Atelier Dupont", email="direction@dupont.example")
    result = _received(tenant, raw)
    digest = hashlib.sha256(content).hexdigest()
    attachment_store(tenant.container).path_of(digest).write_bytes(b"autre chose")
    response = client_as("commercial").get(f"/emails/{result.email_id}/pieces-jointes/{digest}")
    assert response.status_code == 409
    assert "empreinte" in response.text
    assert b"autre chose" not in response.content


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("contrat.pdf", "contrat.pdf"),
        ("../../.bashrc", "bashrc"),
        ("C:\\Users\\x\\devis final.pdf", "devis final.pdf"),
        ('a"b;c\r\n.pdf', "a_b_c_.pdf"),
        ("", "piece-jointe"),
        ("...", "piece-jointe"),
    ],
)
def test_a_download_name_never_carries_a_folder_a_quote_or_a_control_character(
    name: str, expected: str
) -> None:
    assert safe_filename(name, "piece-jointe") == expected


def test_a_non_ascii_name_has_an_ascii_fallback_and_its_utf8_form() -> None:
    header = content_disposition("Facture été.pdf")
    assert header == (
        "attachment; filename=\"Facture ete.pdf\"; filename*=UTF-8''Facture%20%C3%A9t%C3%A9.pdf"
    )


def test_a_declared_content_type_is_kept_only_when_well_formed() -> None:
    assert media_type("Application/PDF") == "application/pdf"
    assert media_type("text/html\r\nSet-Cookie: x=1") == "application/octet-stream"
    assert media_type("") == "application/octet-stream"


# --- quarantine -----------------------------------------------------------------------
def test_an_admin_lists_downloads_and_ignores_quarantined_mail(
    tenant: Tenant, client_as: ClientAs
) -> None:
    result = _garbage(tenant)
    raw = corpus("garbage.bin")
    browser = client_as("admin")
    trier = browser.get("/emails/a-trier")
    assert 'href="/emails/quarantaine"' in trier.text and "Quarantaine (1)" in trier.text
    page = browser.get("/emails/quarantaine")
    assert page.status_code == 200
    assert f'data-email="{result.email_id}"' in page.text
    assert "De expéditeur inconnu" in page.text and "(sujet illisible)" in page.text
    assert "Raison : " in page.text
    size = f"{len(raw)} o" if len(raw) < 1000 else f"{len(raw) / 1000:.1f} Ko".replace(".", ",")
    assert size in page.text
    download = browser.get(f"/emails/quarantaine/{result.email_id}/brut")
    assert download.status_code == 200
    assert download.content == raw
    assert download.headers["content-type"].startswith("message/rfc822")
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="quarantaine-')
    assert f"-{result.email_id.hex[:8]}.eml" in disposition

    ignored = browser.post(f"/emails/quarantaine/{result.email_id}/ignorer", follow_redirects=False)
    assert ignored.status_code == 303
    after = browser.get("/emails/quarantaine")
    assert "Message ignoré" in after.text
    assert f'data-email="{result.email_id}"' not in after.text
    assert "Aucun message en quarantaine" in after.text
    # An event, by the admin: the history keeps the message and who set it aside.
    history = tenant.container.inbox.repository.get(result.email_id)
    assert history.ecarte is True
    events = list(tenant.container.inbox.events.get(result.email_id))
    assert type(events[-1]).__name__ == "Dismissed"
    assert events[-1].actor == user_actor(tenant.users["admin"])
    # Still downloadable for an admin who kept the link.
    assert browser.get(f"/emails/quarantaine/{result.email_id}/brut").content == raw


@pytest.mark.parametrize("role", ["commercial", "developpeur_nocode", "developpeur_automatisme"])
def test_the_quarantine_is_for_administrators_only(
    tenant: Tenant, client_as: ClientAs, role: str
) -> None:
    result = _garbage(tenant)
    browser = client_as(role)
    assert browser.get("/emails/quarantaine").status_code == 403
    assert browser.get(f"/emails/quarantaine/{result.email_id}/brut").status_code == 403
    refused = browser.post(f"/emails/quarantaine/{result.email_id}/ignorer")
    assert refused.status_code == 403
    assert "Quarantaine" not in browser.get("/emails/a-trier").text
    settle(tenant)
    assert tenant.container.inbox_view.quarantined(tenant.workspace_id).total == 1


def test_another_workspace_quarantine_and_a_normal_email_are_not_found(
    tenant: Tenant, client_as: ClientAs, web_container: Container, app: Litestar
) -> None:
    other = Tenant(web_container, app)
    foreign = _garbage(other)
    _, received = _client_with_mail(tenant)
    browser = client_as("admin")
    assert browser.get(f"/emails/quarantaine/{foreign.email_id}/brut").status_code == 404
    assert browser.post(f"/emails/quarantaine/{foreign.email_id}/ignorer").status_code == 404
    assert browser.get(f"/emails/quarantaine/{received.email_id}/brut").status_code == 404
    other.container.wait(foreign.position, "inbox")
    assert other.container.inbox_view.quarantined(other.workspace_id).total == 1


def test_a_purged_raw_message_is_a_french_404_not_a_crash(
    tenant: Tenant, client_as: ClientAs
) -> None:
    raw = corpus("garbage.bin") + tenant.workspace_id.bytes  # bytes of this test only
    result = _received(tenant, raw)
    assert result.statut == "quarantaine"
    detail = tenant.container.inbox_view.get(tenant.workspace_id, result.email_id)
    assert detail is not None
    quarantine_store(tenant.container).path_of(detail.quarantaine_sha256).unlink()
    response = client_as("admin").get(f"/emails/quarantaine/{result.email_id}/brut")
    assert response.status_code == 404
    assert "purgé" in response.text
