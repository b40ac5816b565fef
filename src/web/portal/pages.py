"""The portal's pages and its JSON API (`/portail/...`, `/api/portail/{token}...`)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any
from uuid import UUID

import msgspec
from anyio import to_thread
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from crm_core.billing.domainmodel import PaymentAlreadyMadeError
from crm_core.context import acting_as, portal_actor
from crm_core.errors import (
    DomainError,
    InvalidInputError,
    PaymentError,
    StripeNotConfiguredError,
)
from crm_core.portal.domainmodel import hash_token
from projections.portal import decode_page
from web.container import Container
from web.portal.access import (
    COOKIE,
    COOKIE_MAX_AGE,
    MAX_FAILED_LOOKUPS,
    MAX_TOKEN_LENGTH,
    PortalClient,
    lookup,
    request_session,
    session_cookie_value,
)
from web.portal.content import PortalContent, PortalTicket, content_of, portal_content
from web.portal.reads import PortalReads
from web.portal.security import (
    PORTAL_HEADERS,
    add_portal_headers,
    lookup_blocked,
    lookup_failed,
)
from web.problems import problem_response
from web.staff.auth import client_ip

MAX_SUBJECT = 150
MAX_DESCRIPTION = 4000
NOT_FOUND = "Ce lien n’est pas (ou plus) valide. Demandez un nouveau lien à votre prestataire."
NOT_CONFIGURED = (
    "Le paiement en ligne n’est pas encore disponible. "
    "Contactez votre prestataire pour régler cette prestation."
)
PAYMENT_FAILED = (
    "Le service de paiement ne répond pas pour le moment. Réessayez dans quelques minutes."
)
TOO_MANY = "Trop de liens invalides depuis votre connexion : réessayez dans une minute."


class TicketForm(msgspec.Struct):
    sujet: str = ""
    description: str = ""
    jeton: str = ""


class PayForm(msgspec.Struct):
    jeton: str = ""


class TicketJson(msgspec.Struct):
    sujet: str
    description: str


class CreatedTicket(msgspec.Struct, rename="camel"):
    id: UUID
    sujet: str
    statut_ticket: str
    source: str


def _container(request: Request[Any, Any, Any]) -> Container:
    container: Container = request.app.state.container
    return container


def _reads(request: Request[Any, Any, Any]) -> PortalReads:
    reads: PortalReads = request.app.state.portal_reads
    return reads


_JSON = msgspec.json.Encoder(decimal_format="string")


def _encoded_content(document: str) -> bytes | None:
    content = content_of(decode_page(document))
    return _JSON.encode(content) if content is not None else None


EXPIRED = "Session expirée : rechargez la page."


def _form_token(container: Container, request: Request[Any, Any, Any]) -> str:
    """A per-session token for the portal's own forms (its cookie is not the staff one)."""
    cookie = request.cookies.get(COOKIE, "")
    return hmac.new(
        container.settings.secret_key.encode(), f"form:{cookie}".encode(), hashlib.sha256
    ).hexdigest()


def _page(template: str, status_code: int = 200, **context: Any) -> Template:
    response = Template(template_name=template, status_code=status_code, context=context)
    add_portal_headers(response)
    return response


def _render(request: Request[Any, Any, Any], template: str, **context: Any) -> bytes:
    """A template rendered by the app's engine, as the `Template` response would."""
    engine = request.app.template_engine
    if engine is None:  # pragma: no cover  (the app is always built with its templates)
        msg = "Le moteur de gabarits n’est pas configuré."
        raise RuntimeError(msg)
    return str(engine.get_template(template).render(**context)).encode()


def _home(
    container: Container,
    request: Request[Any, Any, Any],
    content: PortalContent,
    status_code: int,
    form: TicketForm,
    errors: dict[str, str],
) -> Template:
    """The portal page again, with the ticket form as sent and what was wrong with it."""
    return _page(
        "portal/home.html",
        status_code=status_code,
        content=content,
        jeton=_form_token(container, request),
        envoye=False,
        form=form,
        errors=errors,
    )


def _not_found() -> Template:
    return _page("portal/not_found.html", status_code=404, message=NOT_FOUND)


def _check_ticket(sujet: str, description: str) -> tuple[str, str]:
    errors: dict[str, str] = {}
    sujet, description = " ".join(sujet.split()), description.strip()
    if not sujet:
        errors["sujet"] = "Indiquez un sujet."
    elif len(sujet) > MAX_SUBJECT:
        errors["sujet"] = f"Le sujet ne doit pas dépasser {MAX_SUBJECT} caractères."
    if not description:
        errors["description"] = "Décrivez votre demande."
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = f"La description ne doit pas dépasser {MAX_DESCRIPTION} caractères."
    if errors:
        raise InvalidInputError(errors)
    return sujet, description


def _open_ticket(
    container: Container, who: PortalClient, sujet: str, description: str
) -> CreatedTicket:
    sujet, description = _check_ticket(sujet, description)
    with acting_as(portal_actor(who.client_id)):
        receipt = container.support.open_ticket(
            who.workspace_id,
            who.client_id,
            sujet=sujet,
            description=description,
            type_ticket="question",
            source="portail",
            ouvert_par=portal_actor(who.client_id),
        )
    container.wait(receipt.position, "tickets")
    return CreatedTicket(receipt.id, sujet, "nouveau", "portail")


class PortalPages(Controller):
    path = "/portail"
    include_in_schema = False

    @get("/{token:str}")
    async def enter(self, request: Request[Any, Any, Any], token: str) -> Response[Any]:
        """Exchange the link's token for the portal cookie, then drop it from the URL."""
        container = _container(request)
        ip = client_ip(request)
        if await lookup_blocked(request, ip, MAX_FAILED_LOOKUPS):
            return _page("portal/not_found.html", status_code=429, message=TOO_MANY)
        link = await to_thread.run_sync(lookup, container, token)
        if link is None:
            await lookup_failed(request, ip)
            return _not_found()
        await to_thread.run_sync(container.portal.record_visit, link.workspace_id, link.client_id)
        response: Response[Any] = Redirect("/portail", status_code=303)
        response.set_cookie(
            COOKIE,
            session_cookie_value(container, link, token),
            max_age=COOKIE_MAX_AGE,
            path="/",
            secure=True,
            httponly=True,
            samesite="lax",
        )
        return add_portal_headers(response)

    @get("/")
    async def home(self, request: Request[Any, Any, Any], envoye: bool = False) -> Response[Any]:
        """The client's page: asked on the loop (one statement with the loads waiting
        alongside), the HTML reused while the page's read models have not moved
        (web/portal/reads.py)."""
        container = _container(request)
        session = request_session(container, request)
        if session is None:
            return _not_found()
        jeton = _form_token(container, request)

        def render(document: str) -> bytes | None:
            content = content_of(decode_page(document))
            if content is None:
                return None
            return _render(
                request,
                "portal/home.html",
                content=content,
                jeton=jeton,
                envoye=envoye,
                errors={},
                form=TicketForm(),
            )

        reads = _reads(request)
        html = await reads.page(
            reads.pages,
            (session.client_id, jeton, envoye),
            reads.by_session,
            (session.client_id, session.workspace_id, session.hash_prefix),
            render,
        )
        if html is None:
            return _not_found()
        return Response(html, media_type=MediaType.HTML, headers=PORTAL_HEADERS)

    @post("/tickets", sync_to_thread=True)
    def create_ticket(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[TicketForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        container = _container(request)
        session = request_session(container, request)
        content = portal_content(container, session) if session else None
        if session is None or content is None:
            return _not_found()
        who = session.client
        if not hmac.compare_digest(data.jeton, _form_token(container, request)):
            return _home(container, request, content, 403, data, {"formulaire": EXPIRED})
        try:
            _open_ticket(container, who, data.sujet, data.description)
        except InvalidInputError as error:
            return _home(container, request, content, 422, data, error.errors)
        return add_portal_headers(Redirect("/portail?envoye=1#support", status_code=303))

    @post("/payer/{opportunity_id:uuid}", sync_to_thread=True)
    def pay(
        self,
        request: Request[Any, Any, Any],
        opportunity_id: UUID,
        data: Annotated[PayForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        """The client's « Payer » button: an open Checkout link again, or a new one."""
        container = _container(request)
        session = request_session(container, request)
        content = portal_content(container, session) if session else None
        if session is None or content is None:
            return _not_found()
        who = session.client
        if not hmac.compare_digest(data.jeton, _form_token(container, request)):
            return _home(container, request, content, 403, TicketForm(), {"formulaire": EXPIRED})
        if all(o.id != opportunity_id for o in content.opportunites):
            return _page(
                "portal/error.html",
                status_code=404,
                content=content,
                titre="Prestation introuvable",
                message="Cette prestation n’est pas (ou plus) à régler depuis votre espace.",
            )
        try:
            with acting_as(portal_actor(who.client_id)):
                link = container.billing.request_payment(who.workspace_id, opportunity_id)
        except PaymentAlreadyMadeError:
            return add_portal_headers(Redirect("/portail#projets", status_code=303))
        except StripeNotConfiguredError:
            return _page(
                "portal/error.html",
                status_code=503,
                content=content,
                titre="Paiement indisponible",
                message=NOT_CONFIGURED,
            )
        except PaymentError:
            return _page(
                "portal/error.html",
                status_code=502,
                content=content,
                titre="Paiement indisponible",
                message=PAYMENT_FAILED,
            )
        container.wait(link.position, "payments")
        return add_portal_headers(Redirect(link.url, status_code=303))

    @get("/merci", sync_to_thread=True)
    def thanks(self, request: Request[Any, Any, Any]) -> Template:
        container = _container(request)
        session = request_session(container, request)
        content = portal_content(container, session) if session else None
        if session is None or content is None:
            return _not_found()
        return _page("portal/merci.html", content=content)


class PortalApi(Controller):
    path = "/api/portail"
    tags = ["Portail client"]  # noqa: RUF012

    @staticmethod
    async def _link(request: Request[Any, Any, Any], token: str) -> PortalClient | Response[Any]:
        """The client of a token, or the refusal (404, or 429 after too many misses)."""
        container = _container(request)
        ip = client_ip(request)
        if await lookup_blocked(request, ip, MAX_FAILED_LOOKUPS):
            return add_portal_headers(
                problem_response(request, 429, TOO_MANY, headers={"Retry-After": "60"})
            )
        link = await to_thread.run_sync(lookup, container, token)
        if link is None:
            await lookup_failed(request, ip)
            return add_portal_headers(problem_response(request, 404, NOT_FOUND))
        return PortalClient(link.client_id, link.workspace_id)

    @get("/{token:str}", summary="Ce que le client voit sur son portail")
    async def read(self, request: Request[Any, Any, Any], token: str) -> Response[Any]:
        ip = client_ip(request)
        if await lookup_blocked(request, ip, MAX_FAILED_LOOKUPS):
            return add_portal_headers(
                problem_response(request, 429, TOO_MANY, headers={"Retry-After": "60"})
            )
        reads = _reads(request)
        token_hash = hash_token(token) if 0 < len(token) <= MAX_TOKEN_LENGTH else ""
        body = (
            await reads.page(
                reads.api,
                token_hash,
                reads.by_token_hash,
                (token_hash,),
                _encoded_content,
            )
            if token_hash
            else None
        )
        if body is None:
            await lookup_failed(request, ip)
            return add_portal_headers(problem_response(request, 404, NOT_FOUND))
        return Response(body, media_type=MediaType.JSON, headers=PORTAL_HEADERS)

    @post(
        "/{token:str}/tickets",
        summary="Le client ouvre un ticket depuis son portail",
        status_code=201,
    )
    async def create(
        self, request: Request[Any, Any, Any], token: str, data: TicketJson
    ) -> Response[Any]:
        who = await self._link(request, token)
        if isinstance(who, Response):
            return who
        try:
            created = await to_thread.run_sync(
                _open_ticket, _container(request), who, data.sujet, data.description
            )
        except DomainError as error:
            errors = error.errors if isinstance(error, InvalidInputError) else None
            return add_portal_headers(problem_response(request, 422, error.message, errors))
        return add_portal_headers(Response(created, status_code=201))


__all__ = ["PortalApi", "PortalContent", "PortalPages", "PortalTicket"]
