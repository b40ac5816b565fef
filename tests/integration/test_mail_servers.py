"""The mail adapters against real servers on loopback: our aiosmtpd receiver fed by
smtplib, a capturing SMTP server for our sends, and a Dovecot IMAP server."""

from __future__ import annotations

import dataclasses
import imaplib
import re
import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.conftest import settings_for
from tests.support.mail import (
    MailSpace,
    capturing_smtp_server,
    corpus,
    dovecot_server,
    new_client,
    new_mail_space,
    wait_until,
)
from web.container import Container, running_container
from web.mail import inbox_address, poll_imap_once, running_mail_receiver

CLIENT_EMAIL = "alice@client.example"


@pytest.fixture(scope="module")
def receiver(container: Container) -> Iterator[tuple[str, int]]:
    with running_mail_receiver(container, host="127.0.0.1", port=0) as address:
        yield address


@pytest.fixture
def space(container: Container) -> MailSpace:
    return new_mail_space(container)


def _send(receiver: tuple[str, int], sender: str, recipients: list[str], raw: bytes) -> None:
    # On the wire lines end with CRLF (smtplib converts only str messages).
    wire = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    with smtplib.SMTP(*receiver, timeout=30) as smtp:
        smtp.sendmail(sender, recipients, wire)


def test_a_message_sent_over_smtp_reaches_the_client_timeline(
    container: Container, space: MailSpace, receiver: tuple[str, int]
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    address = inbox_address(container, space.workspace_id, client_id)
    _send(
        receiver,
        "x@ailleurs.example",
        [address],
        corpus("alternative.eml", FROM=CLIENT_EMAIL, TO=address),
    )
    entries = wait_until(
        lambda: (
            container.timeline.for_client(
                space.workspace_id, client_id, kinds=["email_client"]
            ).items
        )
    )
    assert (
        entries[0].meta["sens"] == "entrant"
        and "Devis site vitrine" in entries[0].description_texte
    )


def test_a_domain_no_workspace_owns_is_refused_at_rcpt(receiver: tuple[str, int]) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(receiver, "x@a.example", ["quelquun@domaine-inconnu.example"], b"Subject: x\r\n\r\nx")


def test_a_25_mb_message_is_refused_by_the_size_limit_and_the_receiver_keeps_going(
    container: Container, space: MailSpace, receiver: tuple[str, int]
) -> None:
    line = b"A" * 76 + b"\r\n"
    big = (
        b"From: x@a.example\r\nTo: contact@" + space.domain.encode() + b"\r\n"
        b"Subject: Enorme\r\nMessage-ID: <big-1@a.example>\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + line
        * (25 * 1024 * 1024 // len(line))
    )
    assert len(big) > 25 * 1024 * 1024
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
        _send(receiver, "x@a.example", [f"contact@{space.domain}"], big)
    assert "552" in str(refused.value) or getattr(refused.value, "smtp_code", 0) == 552
    _send(
        receiver,
        "x@a.example",
        [f"contact@{space.domain}"],
        corpus("latin1.eml", FROM="x@a.example", TO=f"contact@{space.domain}"),
    )
    wait_until(lambda: container.inbox_view.unsorted(space.workspace_id).total == 1)


def test_garbage_over_smtp_is_quarantined_not_dropped(
    container: Container, space: MailSpace, receiver: tuple[str, int]
) -> None:
    _send(receiver, "x@a.example", [f"contact@{space.domain}"], corpus("garbage.bin"))
    wait_until(lambda: container.inbox_view.quarantined(space.workspace_id).total == 1)


def test_an_email_to_a_client_is_sent_through_the_workspace_smtp_server(
    container: Container, space: MailSpace
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    with capturing_smtp_server() as (port, captured):
        container.inbox.configure_smtp(
            space.workspace_id,
            hote="127.0.0.1",
            port=port,
            utilisateur="",
            mot_de_passe="",
            expediteur=f"contact@{space.domain}",
            securite="aucune",
        )
        receipt = container.inbox.request_send(
            space.workspace_id,
            client_id,
            destinataires=[CLIENT_EMAIL],
            sujet="Votre devis",
            texte="Bonjour,\nvoici le devis.",
            auteur="user:staff",
        )
        wait_until(lambda: captured.messages)
        row = wait_until(
            lambda: (
                (r := container.inbox_view.get(space.workspace_id, receipt.id))
                and r.etat_envoi == "envoye"
                and r
            )
        )
    sender, recipients, raw = captured.messages[0]
    message = message_from_bytes(raw, policy=policy.default)
    assert (sender, recipients) == (f"contact@{space.domain}", [CLIENT_EMAIL])
    assert message["Message-ID"] == row.message_id
    assert message["Reply-To"] == inbox_address(container, space.workspace_id, client_id)
    assert "voici le devis" in message.get_content()
    assert row.tentatives == 1


def test_a_failing_send_is_retried_then_recorded_as_failed(
    fresh_database: str, tmp_path: Path
) -> None:
    settings = settings_for(fresh_database, tmp_path)
    settings = dataclasses.replace(
        settings,
        mail=dataclasses.replace(settings.mail, max_send_attempts=3, retry_min_backoff_ms=50),
    )
    with running_container(settings, projections=True, worker=True) as container:
        space = new_mail_space(container)
        client_id = new_client(container, space, CLIENT_EMAIL)
        with capturing_smtp_server() as (port, _):
            closed_port = port  # the server stops below: nothing listens there any more
        container.inbox.configure_smtp(
            space.workspace_id,
            hote="127.0.0.1",
            port=closed_port,
            utilisateur="",
            mot_de_passe="",
            expediteur=f"contact@{space.domain}",
            securite="aucune",
        )
        receipt = container.inbox.request_send(
            space.workspace_id,
            client_id,
            destinataires=[CLIENT_EMAIL],
            sujet="Relance",
            texte="Bonjour",
            auteur="user:staff",
        )
        row = wait_until(
            lambda: (
                (r := container.inbox_view.get(space.workspace_id, receipt.id))
                and r.etat_envoi == "echec"
                and r
            ),
            timeout=30,
        )
        assert row.tentatives == 3 and "Connect" in row.derniere_erreur
        entries = wait_until(
            lambda: (
                container.timeline.for_client(
                    space.workspace_id, client_id, kinds=["email_echec"]
                ).items
            )
        )
        assert "Relance" in entries[0].description_texte


def test_the_imap_poller_reads_new_messages_once_by_uid(
    container: Container, space: MailSpace
) -> None:
    client_id = new_client(container, space, CLIENT_EMAIL)
    with dovecot_server() as dovecot:
        imap = imaplib.IMAP4("127.0.0.1", dovecot.port)
        imap.login(dovecot.user, dovecot.password)
        for name in ("alternative.eml", "latin1.eml", "no_message_id.eml"):
            imap.append(
                "INBOX", None, None, corpus(name, FROM=CLIENT_EMAIL, TO="moi@gmail.example")
            )
        container.inbox.configure_imap(
            space.workspace_id,
            hote="127.0.0.1",
            port=dovecot.port,
            utilisateur=dovecot.user,
            mot_de_passe=dovecot.password,
            securite="aucune",
        )
        first = poll_imap_once(container)[space.workspace_id]
        assert (first.lus, first.dernier_uid) == (3, 3)
        again = poll_imap_once(container)[space.workspace_id]
        assert again.lus == 0
        imap.append(
            "INBOX", None, None, corpus("invitation.eml", FROM=CLIENT_EMAIL, TO="m@x.example")
        )
        imap.logout()
        third = poll_imap_once(container)[space.workspace_id]
        assert (third.lus, third.dernier_uid) == (1, 4)
    emails = wait_until(
        lambda: (
            (page := container.inbox_view.for_client(space.workspace_id, client_id)).total == 4
            and page.items
        )
    )
    assert {e.sujet for e in emails} >= {"Devis site vitrine", "Invitation: Point projet"}
