"""The IMAP poller: new messages of an existing mailbox, by UID, never twice.

The position (UIDVALIDITY, last UID) is saved as an event after each batch; a
crash between a message and the save re-reads a few messages, which the
Message-ID makes harmless. The mailbox is opened read-only: nothing is marked
read or moved on the user's server.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from collections.abc import Callable

import msgspec

from crm_core.inbox.application import ServerAccess
from crm_core.inbox.domainmodel import SmtpSecurity

log = logging.getLogger(__name__)


class PollReport(msgspec.Struct, frozen=True):
    uidvalidity: int
    dernier_uid: int
    lus: int


class ImapError(Exception):
    pass


def _connect(access: ServerAccess, timeout: float) -> imaplib.IMAP4:
    if access.securite is SmtpSecurity.TLS:
        return imaplib.IMAP4_SSL(
            access.hote, access.port, ssl_context=ssl.create_default_context(), timeout=timeout
        )
    conn = imaplib.IMAP4(access.hote, access.port, timeout=timeout)
    if access.securite is SmtpSecurity.STARTTLS:
        conn.starttls(ssl.create_default_context())
    return conn


def poll_mailbox(
    access: ServerAccess,
    ingest: Callable[[bytes], object],
    *,
    batch: int = 200,
    timeout: float = 30.0,
) -> PollReport:
    """Feed each new message's raw bytes to `ingest`; return the new position.

    Stops at the first message `ingest` raises on (the database is down): the
    position returned is the last message actually recorded.
    """
    try:
        conn = _connect(access, timeout)
    except (OSError, imaplib.IMAP4.error) as error:
        raise ImapError(f"Connexion IMAP impossible : {error}") from error
    try:
        try:
            conn.login(access.utilisateur, access.mot_de_passe)
            typ, _ = conn.select(_quoted(access.dossier), readonly=True)
            if typ != "OK":
                raise ImapError(f"Dossier IMAP introuvable : {access.dossier}")
            _, values = conn.response("UIDVALIDITY")
            uidvalidity = int(values[0]) if values and values[0] else 0
        except imaplib.IMAP4.error as error:
            raise ImapError(f"Connexion IMAP refusée : {error}") from error
        last = access.dernier_uid if uidvalidity == access.uidvalidity else 0
        typ, data = conn.uid("SEARCH", "UID", f"{last + 1}:*")
        # "n:*" always matches the highest UID, even below n: filter.
        uids = sorted(uid for uid in (int(x) for x in (data[0] or b"").split()) if uid > last)[
            :batch
        ]
        read = 0
        for uid in uids:
            typ, fetched = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next(
                (part[1] for part in fetched if isinstance(part, tuple) and len(part) > 1), None
            )
            if typ == "OK" and isinstance(raw, bytes):
                ingest(raw)
                read += 1
            last = uid
        return PollReport(uidvalidity=uidvalidity, dernier_uid=last, lus=read)
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            log.debug("Déconnexion IMAP incomplète")


def _quoted(folder: str) -> str:
    escaped = folder.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
