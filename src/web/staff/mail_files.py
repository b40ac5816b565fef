"""The files of the inbox on the staff screens (issue 6).

- A received message's attachments, for every member of staff of its workspace.
- The quarantine, for administrators: the messages that could not be read, their
  raw bytes as an `.eml` file, and « Ignorer » (an event) to set one aside.

Files are served as downloads only (`Content-Disposition: attachment`, `nosniff`,
a sandboxing CSP): an attachment is whatever a stranger mailed us, it must never
run as a page of the CRM. Each file is read back from the content-addressed store
and checked against the sha256 its event recorded before it is served.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any
from urllib.parse import quote
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from adapters.mail.store import AlteredContentError, ContentStore
from crm_core.errors import ConflictError, DomainError, NotFoundError
from projections.inbox import EmailDetail
from web.auth.identity import Staff, requires, staff_guard
from web.auth.permissions import Permission
from web.mail import attachment_store, quarantine_store
from web.staff.forms import Pager, query
from web.templating import PARIS
from web.ui import container_of, done, page, refused

QUARANTINE = "/emails/quarantaine"
# A media type as RFC 6838 spells it; anything else is served as bytes.
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')
_ASCII_KEEP = re.compile(r"[^A-Za-z0-9._ ()+-]+")
MAX_NAME = 150

log = logging.getLogger(__name__)


def safe_filename(name: str, fallback: str) -> str:
    """The name a download is saved under: no folder, no control character, no
    quote, never empty nor hidden (`../../.bashrc` -> `bashrc`)."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = _UNSAFE_IN_NAME.sub("_", unicodedata.normalize("NFC", base)).strip(" ._")
    return cleaned[:MAX_NAME] or fallback


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII name for old clients and the UTF-8 one (RFC 6266)."""
    ascii_name = _ASCII_KEEP.sub(
        "_", unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ).strip(" ._")
    return (
        f'attachment; filename="{ascii_name or "fichier"}";'
        f" filename*=UTF-8''{quote(filename, safe='')}"
    )


def media_type(declared: str) -> str:
    declared = declared.strip().lower()
    return declared if _MEDIA_TYPE.match(declared) else "application/octet-stream"


def download(data: bytes, *, filename: str, content_type: str) -> Response[bytes]:
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
            # Opened directly anyway (a pasted link): no script, no style, no frame.
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def verified_bytes(store: ContentStore, sha256: str) -> bytes:
    """The stored file, only if it still has the hash its event recorded."""
    try:
        return store.get(sha256)
    except AlteredContentError:
        # No traceback to log: the file was edited on disk, the code did nothing wrong.
        log.error("Fichier %s altéré : son contenu ne correspond plus à son empreinte", sha256)  # noqa: TRY400
        raise ConflictError(
            "Ce fichier ne correspond plus à son empreinte enregistrée : il n’est pas servi."
        ) from None
    except (OSError, ValueError):
        raise NotFoundError("Fichier introuvable : il a peut-être été purgé.") from None


def _email(request: Request[Any, Any, Any], staff: Staff, email_id: UUID) -> EmailDetail:
    """An email of the staff member's workspace; any other one is 'not found'."""
    email = container_of(request).inbox_view.get(staff.workspace_id, email_id)
    if email is None:
        raise NotFoundError("Email introuvable.")
    return email


def _quarantined(request: Request[Any, Any, Any], staff: Staff, email_id: UUID) -> EmailDetail:
    email = _email(request, staff, email_id)
    if email.origine != "quarantaine":
        raise NotFoundError("Ce message n’est pas en quarantaine.")
    return email


class MailFilesController(Controller):
    guards = [staff_guard]  # noqa: RUF012
    include_in_schema = False

    @get("/emails/{email_id:uuid}/pieces-jointes/{sha256:str}", sync_to_thread=True)
    def attachment(
        self, request: Request[Any, Any, Any], staff: Staff, email_id: UUID, sha256: str
    ) -> Response[bytes]:
        email = _email(request, staff, email_id)
        found = next((p for p in email.pieces_jointes if p.sha256 == sha256), None)
        if found is None:
            raise NotFoundError("Pièce jointe introuvable.")
        if not found.stocke:
            raise NotFoundError("Pièce jointe non conservée : elle dépassait la taille permise.")
        data = verified_bytes(attachment_store(container_of(request)), sha256)
        return download(
            data,
            filename=safe_filename(found.nom, "piece-jointe"),
            content_type=media_type(found.type_contenu),
        )

    # --- the quarantine (administrators) ----------------------------------------------
    @get(QUARANTINE, sync_to_thread=True, guards=[requires(Permission.ADMIN)])
    def quarantine(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        messages = container_of(request).inbox_view.quarantined(
            staff.workspace_id, limit=30, cursor=query(request, "curseur") or None
        )
        return page(
            request,
            "staff/emails/quarantine.html",
            messages=messages,
            pager=Pager(request, messages, QUARANTINE),
        )

    @get(
        f"{QUARANTINE}/{{email_id:uuid}}/brut",
        sync_to_thread=True,
        guards=[requires(Permission.ADMIN)],
    )
    def raw(self, request: Request[Any, Any, Any], staff: Staff, email_id: UUID) -> Response[bytes]:
        email = _quarantined(request, staff, email_id)
        data = verified_bytes(quarantine_store(container_of(request)), email.quarantaine_sha256)
        stamp = email.date_message.astimezone(PARIS).strftime("%Y%m%d-%H%M")
        return download(
            data,
            filename=f"quarantaine-{stamp}-{email.id.hex[:8]}.eml",
            content_type="message/rfc822",
        )

    @post(
        f"{QUARANTINE}/{{email_id:uuid}}/ignorer",
        sync_to_thread=True,
        guards=[requires(Permission.ADMIN)],
    )
    def dismiss(
        self, request: Request[Any, Any, Any], staff: Staff, email_id: UUID
    ) -> Response[Any]:
        container = container_of(request)
        _quarantined(request, staff, email_id)
        try:
            with staff.acting():
                receipt = container.inbox.dismiss_quarantined(staff.workspace_id, email_id)
        except NotFoundError:
            raise
        except DomainError as error:
            return refused(request, error, QUARANTINE)
        container.wait(receipt.position, "inbox")
        return done(request, "Message ignoré : il quitte la quarantaine.", QUARANTINE)
