"""Parsing the message corpus with the standard library (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.mail.parsing import UnreadableMessageError, html_to_text, parse_message
from adapters.mail.store import ContentStore
from tests.support.mail import corpus

VALUES = {"FROM": "alice@client.example", "TO": "contact@agence.test", "PARENT": "<p@x>"}


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path)


def parse(name: str, store: ContentStore, limit: int = 1_000_000):  # type: ignore[no-untyped-def]
    return parse_message(corpus(name, **VALUES), store=store, max_attachment_bytes=limit)


def test_html_is_sanitised_and_the_text_part_kept(store: ContentStore) -> None:
    email = parse("alternative.eml", store)
    assert email.texte.startswith("Bonjour,")
    assert "<script" not in email.html and "<img" not in email.html
    assert "javascript" not in email.html and "<b>devis</b>" in email.html
    assert (email.expediteur, email.destinataires) == (
        "alice@client.example",
        ("contact@agence.test",),
    )


def test_an_html_only_message_gets_a_text_version(store: ContentStore) -> None:
    email = parse("html_only.eml", store)
    assert email.texte.splitlines()[0] == "Titre"
    assert "Premier paragraphe avec style." in email.texte
    assert "document.cookie" not in email.texte


def test_charsets_decode_and_an_unknown_one_never_crashes(store: ContentStore) -> None:
    assert parse("latin1.eml", store).sujet == "Réunion de démarrage"
    assert "café compris" in parse("latin1.eml", store).texte
    unknown = parse("unknown_charset.eml", store)
    assert "\ufffd" in unknown.texte and "la suite lisible" in unknown.texte


def test_attachments_are_stored_by_hash_outside_the_message(store: ContentStore) -> None:
    (attachment,) = parse("attachment.eml", store).pieces_jointes
    assert (attachment.nom, attachment.type_contenu) == ("contrat.pdf", "application/pdf")
    assert store.get(attachment.sha256).startswith(b"%PDF-1.4")
    (too_big,) = parse("attachment.eml", store, limit=10).pieces_jointes
    assert not too_big.stocke and too_big.sha256 == attachment.sha256


def test_a_forwarded_message_and_an_invitation_are_readable(store: ContentStore) -> None:
    forwarded = parse("forwarded.eml", store)
    assert "Message transféré" in forwarded.texte and "1 200 EUR" in forwarded.texte
    assert forwarded.pieces_jointes[0].type_contenu == "message/rfc822"
    invitation = parse("invitation.eml", store)
    assert invitation.texte.startswith("Invitation : Point projet")
    assert invitation.pieces_jointes[0].type_contenu == "text/calendar"


def test_bounces_and_auto_replies_are_automatic(store: ContentStore) -> None:
    assert parse("bounce.eml", store).automatique
    assert parse("loop.eml", store).automatique
    assert not parse("alternative.eml", store).automatique


def test_threads_come_from_in_reply_to_and_references(store: ContentStore) -> None:
    email = parse("reply.eml", store)
    assert (email.in_reply_to, email.references) == ("<p@x>", ("<p@x>",))
    assert parse("no_message_id.eml", store).message_id == ""


def test_bytes_that_are_no_message_are_unreadable(store: ContentStore) -> None:
    with pytest.raises(UnreadableMessageError):
        parse("garbage.bin", store)


def test_html_to_text_keeps_blocks_apart() -> None:
    assert html_to_text("<p>un</p><p>deux<br>trois</p>") == "un\n\ndeux\ntrois"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("attachment; filename*=utf-8''caf%C3%A9%20cr%C3%A8me.pdf", "café crème.pdf"),
        ('attachment; filename="=?utf-8?q?r=C3=A9sum=C3=A9.pdf?="', "résumé.pdf"),
        ('attachment; filename="=?iso-8859-1?b?ZOl2aXMucGRm?="', "dévis.pdf"),
        ('attachment; filename="../../etc/passwd"', "_.._etc_passwd"),
        ("attachment", "piece-jointe-1.pdf"),
    ],
)
def test_attachment_names_are_decoded_and_made_safe(
    store: ContentStore, disposition: str, expected: str
) -> None:
    raw = (
        "From: a@client.example\r\nTo: b@agence.test\r\nSubject: Nom\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\ntexte\r\n"
        f"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n"
    ).encode()
    email = parse_message(raw, store=store, max_attachment_bytes=1000)
    assert [p.nom for p in email.pieces_jointes] == [expected]
