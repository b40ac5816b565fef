"""Raw RFC 5322 bytes -> `InboundEmail`, with the standard library's `email` package.

Lenient by design: an unknown charset decodes with replacement characters, a
broken header keeps its raw text, a missing Date becomes "now". Only bytes that
do not look like a message at all raise `UnreadableMessageError` (the caller
quarantines them). HTML is sanitised with nh3 (ammonia); a text version is
always kept, derived from the HTML when the message has no text part.
Attachments go to a content-addressed store; the event keeps name, type, size
and sha256.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import partial
from html.parser import HTMLParser
from typing import Any

import nh3

from adapters.mail.store import ContentStore
from crm_core.inbox.domainmodel import Attachment, InboundEmail

MAX_RECEIVED_HOPS = 25  # more relays than this is a mail loop, not a route
MAX_DEPTH = 12  # nested multiparts deeper than this are not walked (zip-bomb style)
MAX_REFERENCES = 50
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,500}>")
_AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_DAEMONS = {"mailer-daemon", "postmaster", "noreply", "no-reply"}
_SAFE_TAGS = set(nh3.ALLOWED_TAGS) - {"img"}  # no remote images: they are trackers
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f/\\:]")


class UnreadableMessageError(Exception):
    """The bytes are not an email we can read; `hints` says what little we know."""

    def __init__(self, reason: str, *, expediteur: str = "", sujet: str = "", message_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.expediteur = expediteur
        self.sujet = sujet
        self.message_id = message_id

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Raised in a parsing process and pickled to the receiver: the hints too.
        hints = partial(
            UnreadableMessageError,
            expediteur=self.expediteur,
            sujet=self.sujet,
            message_id=self.message_id,
        )
        return hints, (self.reason,)


@dataclass
class _Body:
    text: list[str] = field(default_factory=list)
    html: str = ""
    calendar: str = ""
    forwarded: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


class _TextFromHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextFromHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=_SAFE_TAGS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def _clean(value: str) -> str:
    """Unfolded, and raw 8-bit bytes (kept by the parser as surrogates) read as UTF-8."""
    text = " ".join(value.split())
    if any("\udc80" <= char <= "\udcff" for char in text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _raw_values(msg: Message, name: str) -> list[str]:
    # The raw header text, without the policy's header registry: it is the slowest
    # part of parsing, and the one that raises on malformed headers.
    wanted = name.lower()
    return [_clean(str(value)) for key, value in msg.raw_items() if key.lower() == wanted]


def _raw_header(msg: Message, name: str) -> str:
    values = _raw_values(msg, name)
    return values[0] if values else ""


def _decoded_header(msg: Message, name: str) -> str:
    """An RFC 2047 header (Subject) as text; an unknown charset reads as UTF-8."""
    return _decode_words(_raw_header(msg, name))


def _decode_words(raw: str) -> str:
    """RFC 2047 encoded words (`=?utf-8?q?...?=`) as text."""
    if "=?" not in raw:
        return raw
    try:
        chunks = decode_header(raw)
    except (ValueError, IndexError, binascii.Error):
        return raw
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        if charset is None:  # the unencoded text between encoded words, as decode_header gives it
            parts.append(chunk.decode("raw-unicode-escape", errors="replace"))
            continue
        try:
            parts.append(chunk.decode(charset, errors="replace"))
        except LookupError:
            parts.append(chunk.decode("utf-8", errors="replace"))
    return _clean("".join(parts))


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for _, spec in getaddresses(_raw_values(msg, name)):
        address = spec.strip().strip("<>").lower()
        if "@" in address and address not in found and len(address) <= 320:
            found.append(address)
    return tuple(found[:100])


def _message_ids(value: str) -> list[str]:
    return _MESSAGE_ID.findall(value)


def _date(msg: Message) -> datetime:
    raw = _raw_header(msg, "Date")
    try:
        parsed = parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        return datetime.now(UTC)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _decode_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "utf-8"
    try:
        if not codecs.lookup(charset)._is_text_encoding:  # e.g. "rot13", "base64"
            charset = "utf-8"
        return data.decode(charset, errors="replace")
    except (LookupError, UnicodeError, TypeError, ValueError):
        # An unknown charset: read it as UTF-8 and show replacement characters.
        return data.decode("utf-8", errors="replace")


def _file_name(part: Message, content_type: str, index: int) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001  (an RFC 2231 parameter the parser chokes on)
        name = ""
    # RFC 2231 (`filename*=`) is decoded by the parser; encoded words, which many
    # mailers put in a quoted name although RFC 2047 forbids it, are decoded here.
    name = _decode_words(name)
    name = _NAME_FORBIDDEN.sub("_", _clean(name)).strip(" .")[:200]
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"piece-jointe-{index}{extension}"
    return name


def _as_bytes(part: Message) -> bytes:
    try:
        return part.as_bytes(policy=policy.SMTP)
    except Exception:  # noqa: BLE001  (a part too broken to re-serialise: keep what decodes)
        payload = part.get_payload(decode=True)
        return payload if isinstance(payload, bytes) else b""


def _calendar_summary(text: str) -> str:
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    fields: dict[str, str] = {}
    for line in unfolded.splitlines():
        key, _, value = line.partition(":")
        key = key.split(";", 1)[0].upper()
        if key in ("SUMMARY", "DTSTART", "LOCATION") and key not in fields:
            fields[key] = value.strip()
    summary = fields.get("SUMMARY", "(sans titre)")
    extra = ", ".join(v for k, v in fields.items() if k != "SUMMARY")
    return f"Invitation : {summary}" + (f" ({extra})" if extra else "")


class _Walker:
    def __init__(self, store: ContentStore, max_attachment_bytes: int) -> None:
        self.store = store
        self.max_attachment_bytes = max_attachment_bytes
        self.body = _Body()

    def attach(self, data: bytes, name: str, content_type: str) -> None:
        if len(data) > self.max_attachment_bytes:
            digest = hashlib.sha256(data).hexdigest()
            stored = False
        else:
            digest = self.store.put(data)
            stored = True
        self.body.attachments.append(
            Attachment(
                nom=name,
                type_contenu=content_type,
                taille=len(data),
                sha256=digest,
                stocke=stored,
            )
        )

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > MAX_DEPTH or len(self.body.attachments) >= 100:
            return
        content_type = part.get_content_type()
        index = len(self.body.attachments) + 1
        if content_type == "message/rfc822":
            self._forwarded(part, index)
            return
        if content_type.startswith("message/"):  # delivery-status, headers: kept as files
            self.attach(_as_bytes(part), _file_name(part, content_type, index), content_type)
            return
        payload = part.get_payload()
        if content_type.startswith("multipart/") and not isinstance(payload, list):
            # A broken multipart (its boundary never appears): its body is all we have.
            self.body.text.append(_decode_text(part) if payload else "")
            return
        if part.is_multipart():
            for sub in payload if isinstance(payload, list) else []:
                if isinstance(sub, Message):
                    self.walk(sub, depth + 1)
            return
        disposition = part.get_content_disposition()
        if disposition == "attachment" or not content_type.startswith("text/"):
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            self.attach(data, _file_name(part, content_type, index), content_type)
        elif content_type == "text/calendar":
            text = _decode_text(part)
            self.body.calendar = self.body.calendar or _calendar_summary(text)
            self.attach(text.encode("utf-8"), _file_name(part, content_type, index), content_type)
        elif content_type == "text/html" and not self.body.html:
            self.body.html = _decode_text(part)
        elif content_type == "text/plain":
            self.body.text.append(_decode_text(part))
        else:
            data = _decode_text(part).encode("utf-8")
            self.attach(data, _file_name(part, content_type, index), content_type)

    def _forwarded(self, part: Message, index: int) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            return
        try:
            data = inner.as_bytes(policy=policy.SMTP)
        except Exception:  # noqa: BLE001  (a forwarded message too broken to re-serialise)
            data = b""
        self.attach(
            data, _file_name(part, "message/rfc822", index) or "message.eml", "message/rfc822"
        )
        nested = _Walker(self.store, self.max_attachment_bytes)
        nested.walk(inner, 1)
        text = "\n".join(nested.body.text).strip() or html_to_text(nested.body.html)
        self.body.forwarded.append(
            "---------- Message transféré ----------\n"
            f"De : {_raw_header(inner, 'From')}\n"
            f"Objet : {_decoded_header(inner, 'Subject')}\n\n{text}"
        )
        self.body.attachments.extend(nested.body.attachments)


def is_automatic(msg: Message) -> bool:
    """Auto-replies, bounces, mailing lists and loops: recorded, never a ticket."""
    auto_submitted = _raw_header(msg, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if _raw_header(msg, "Precedence").lower() in _AUTOMATIC_PRECEDENCE:
        return True
    if any(
        _raw_header(msg, name)
        for name in ("X-Autoreply", "X-Autorespond", "List-Id", "X-CRM-Message")
    ):
        return True
    if msg.get_content_type() == "multipart/report":
        return True
    sender = _addresses(msg, "From")
    if not sender or sender[0].split("@", 1)[0] in _DAEMONS:
        return True
    return len(msg.get_all("Received") or []) > MAX_RECEIVED_HOPS


def parse_message(raw: bytes, *, store: ContentStore, max_attachment_bytes: int) -> InboundEmail:
    # The compat32 policy: headers stay strings, read raw by the helpers above. The
    # default policy builds a structured header object at every access (the parser
    # itself asks for Content-Type a dozen times per message): half the parsing CPU.
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    if not any(_raw_header(msg, name) for name in ("From", "Subject", "Message-ID", "Date", "To")):
        raise UnreadableMessageError("Aucun en-tête de message reconnaissable.")
    sender = _addresses(msg, "From")
    message_ids = _message_ids(_raw_header(msg, "Message-ID"))
    subject = _decoded_header(msg, "Subject")
    try:
        walker = _Walker(store, max_attachment_bytes)
        walker.walk(msg)
    except (LookupError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise UnreadableMessageError(
            f"Structure MIME illisible ({type(error).__name__}).",
            expediteur=sender[0] if sender else "",
            sujet=subject,
            message_id=message_ids[0] if message_ids else "",
        ) from error
    body = walker.body
    html = sanitize_html(body.html) if body.html else ""
    text = "\n\n".join(t.strip() for t in body.text if t.strip())
    text = text or (html_to_text(html) if html else "") or body.calendar
    if body.forwarded:
        text = "\n\n".join([text, *body.forwarded]).strip()
    return InboundEmail(
        message_id=message_ids[0] if message_ids else "",
        expediteur=sender[0] if sender else "",
        destinataires=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        sujet=subject,
        texte=text,
        html=html,
        date_message=_date(msg),
        pieces_jointes=tuple(body.attachments),
        in_reply_to=next(iter(_message_ids(_raw_header(msg, "In-Reply-To"))), ""),
        references=tuple(_message_ids(_raw_header(msg, "References"))[-MAX_REFERENCES:]),
        automatique=is_automatic(msg),
        taille=len(raw),
    )
