"""Outgoing mail: the MIME message and its delivery through SMTP with aiosmtplib.

`send_outgoing` is the body of the dramatiq job: it reads the request from the
email's history, sends, and records `Sent` or `SendFailed`. A passing failure
(network, 4xx) raises so the job is retried with backoff; a permanent one (5xx)
or the last attempt is recorded as final. Each message keeps its Message-ID
across attempts, so a rare double delivery after a crash is recognisable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID

import aiosmtplib

from crm_core.context import acting_as
from crm_core.inbox.application import InboxApplication, OutgoingDelivery, ServerAccess
from crm_core.inbox.domainmodel import DeliveryState, SmtpSecurity


class RetryableSendError(Exception):
    """The send failed for a passing reason: the job is retried later."""


def build_mime(delivery: OutgoingDelivery, *, expediteur: str, reply_to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = expediteur
    message["To"] = ", ".join(delivery.destinataires)
    if delivery.cc:
        message["Cc"] = ", ".join(delivery.cc)
    if reply_to:
        message["Reply-To"] = reply_to  # the client's inbox address: replies come back here
    message["Subject"] = delivery.sujet
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = delivery.message_id
    if delivery.in_reply_to:
        message["In-Reply-To"] = delivery.in_reply_to
    if delivery.references:
        message["References"] = " ".join(delivery.references)
    message["X-CRM-Message"] = str(delivery.id)  # our own mail coming back is a loop
    message.set_content(delivery.texte)
    return message


def send_now(access: ServerAccess, message: EmailMessage, *, timeout: float = 30.0) -> str:
    async def send() -> str:
        _, response = await aiosmtplib.send(
            message,
            hostname=access.hote,
            port=access.port,
            username=access.utilisateur or None,
            password=access.mot_de_passe or None,
            use_tls=access.securite is SmtpSecurity.TLS,
            start_tls=access.securite is SmtpSecurity.STARTTLS,
            timeout=timeout,
        )
        return response

    return asyncio.run(send())


def _permanent(error: Exception) -> bool:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(refusal.code >= 500 for refusal in error.recipients)
    code = getattr(error, "code", 0)
    return isinstance(code, int) and code >= 500


def send_outgoing(
    inbox: InboxApplication,
    smtp_for: Callable[[UUID], ServerAccess | None],
    reply_to_for: Callable[[UUID, UUID], str],
    workspace_id: UUID,
    email_id: UUID,
    *,
    max_attempts: int,
) -> str:
    """Send one queued email; returns its new delivery state."""
    with acting_as("mail"):
        delivery = inbox.outgoing(workspace_id, email_id)
        if delivery.etat not in (DeliveryState.EN_ATTENTE, DeliveryState.NOUVEL_ESSAI):
            return delivery.etat.value  # already sent or given up: a redelivered job
        last_attempt = delivery.tentatives + 1 >= max_attempts
        access = smtp_for(workspace_id)
        if access is None:
            error_text = "Aucun serveur SMTP configuré pour cet espace."
            inbox.record_send_failure(workspace_id, email_id, error_text, definitif=last_attempt)
            if not last_attempt:
                raise RetryableSendError(error_text)
            return DeliveryState.ECHEC.value
        message = build_mime(
            delivery,
            expediteur=access.expediteur,
            reply_to=reply_to_for(workspace_id, delivery.client_id),
        )
        try:
            response = send_now(access, message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            final = last_attempt or _permanent(error)
            inbox.record_send_failure(
                workspace_id, email_id, f"{type(error).__name__}: {error}", definitif=final
            )
            if not final:
                raise RetryableSendError(str(error)) from error
            return DeliveryState.ECHEC.value
        inbox.record_sent(workspace_id, email_id, response)
        return DeliveryState.ENVOYE.value
