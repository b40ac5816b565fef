"""The SMTP receiver's DATA reader (read by chunks, not by lines) against smtplib on
loopback: the bytes handed to the handler are the bytes the client sent."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.mail.smtp_server import InboxController, free_port

LIMIT = 200_000


class Recorder:
    """An aiosmtpd handler that keeps what it is given (the ingestor is not needed)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.original_content)
        return "250 2.0.0 Message accepté"


@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port("127.0.0.1")
    controller = InboxController(
        recorder, hostname="127.0.0.1", port=port, data_size_limit=LIMIT, decode_data=False
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


BODIES = [
    b"Subject: points\r\n\r\n.ligne qui commence par un point\r\n..deux points\r\nFin.\r\n",
    b"Subject: une ligne\r\n\r\nseule ligne\r\n",
    b"Subject: vide\r\n\r\n",
    b"Subject: point final\r\n\r\nLe texte.\r\n.\r\nencore apres un point seul\r\n",
    b"Subject: long\r\n\r\n" + (b"x" * 5000 + b".\r\n") * 30,
    b"Subject: binaire\r\n\r\n"
    + bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"")
    + b"\r\n",
]


def test_every_message_arrives_byte_for_byte_over_one_connection(
    server: tuple[Recorder, int],
) -> None:
    recorder, port = server
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for body in BODIES:
            smtp.sendmail("a@exemple.fr", ["b@exemple.fr"], body)
    # smtplib stuffs the dots and ends each message with CRLF; the reader undoes it.
    expected = [body if body.endswith(b"\r\n") else body + b"\r\n" for body in BODIES]
    assert recorder.messages == expected


def test_a_message_over_the_limit_gets_552_and_the_session_goes_on(
    server: tuple[Recorder, int],
) -> None:
    recorder, port = server
    big = b"Subject: gros\r\n\r\n" + (b"A" * 76 + b"\r\n") * (LIMIT // 78 + 10)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        # No SIZE announced (as a careless client does): the limit is met during DATA.
        smtp.ehlo()
        assert smtp.mail("a@exemple.fr")[0] == 250
        assert smtp.rcpt("b@exemple.fr")[0] == 250
        code, _ = smtp.data(big)
        assert code == 552
        smtp.sendmail("a@exemple.fr", ["b@exemple.fr"], BODIES[1])
    assert recorder.messages == [BODIES[1]]
