"""The portal's pages and its JSON API (`/portail/...`, `/api/portail/{token}...`)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any
from uuid import UUID

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, get, post
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
from web.container import Container
from web.portal.access import (
    COOKIE,
    COOKIE_MAX_AGE,
    MAX_FAILED_LOOKUPS,
    PortalClient,
    client_from_cookie,
    lookup,
    session_cookie_value,
)
from web.portal.content import (
    PortalContent,
    PortalTicket,
    payable_opportunities,
    portal_content,
)
from web.portal.security import add_portal_headers, lookup_blocked, lookup_failed
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

    @get("/", sync_to_thread=True)
    def home(self, request: Request[Any, Any, Any], envoye: bool = False) -> Template:
        container = _container(request)
        who = client_from_cookie(container, request)
        content = portal_content(container, who) if who else None
        if who is None or content is None:
            return _not_found()
        return _page(
            "portal/home.html",
            content=content,
            jeton=_form_token(container, request),
            envoye=envoye,
            errors={},
            form=TicketForm(),
        )

    @post("/tickets", sync_to_thread=True)
    def create_ticket(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[TicketForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        container = _container(request)
        who = client_from_cookie(container, request)
        content = portal_content(container, who) if who else None
        if who is None or content is None:
            return _not_found()
        if not hmac.compare_digest(data.jeton, _form_token(container, request)):
            return _page(
                "portal/home.html",
                status_code=403,
                content=content,
                jeton=_form_token(container, request),
                envoye=False,
                form=data,
                errors={"formulaire": "Session expirée : rechargez la page."},
            )
        try:
            _open_ticket(container, who, data.sujet, data.description)
        except InvalidInputError as error:
            return _page(
                "portal/home.html",
                status_code=422,
                content=content,
                jeton=_form_token(container, request),
                envoye=False,
                form=data,
                errors=error.errors,
            )
        redirect: Redirect = Redirect("/portail?envoye=1#support", status_code=303)
        add_portal_headers(redirect)
        return redirect

    @post("/payer/{opportunity_id:uuid}", sync_to_thread=True)
    def pay(
        self,
        request: Request[Any, Any, Any],
        opportunity_id: UUID,
        data: Annotated[PayForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        """The client's « Payer » button: an open Checkout link again, or a new one."""
        container = _container(request)
        who = client_from_cookie(container, request)
        content = portal_content(container, who) if who else None
        if who is None or content is None:
            return _not_found()
        if not hmac.compare_digest(data.jeton, _form_token(container, request)):
            return _page(
                "portal/home.html",
                status_code=403,
                content=content,
                jeton=_form_token(container, request),
                envoye=False,
                form=TicketForm(),
                errors={"formulaire": "Session expirée : rechargez la page."},
            )
        if all(o.id != opportunity_id for o in payable_opportunities(container, who)):
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
            paid: Redirect = Redirect("/portail#projets", status_code=303)
            add_portal_headers(paid)
            return paid
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
        redirect: Redirect = Redirect(link.url, status_code=303)
        add_portal_headers(redirect)
        return redirect

    @get("/merci", sync_to_thread=True)
    def thanks(self, request: Request[Any, Any, Any]) -> Template:
        container = _container(request)
        who = client_from_cookie(container, request)
        content = portal_content(container, who) if who else None
        if who is None or content is None:
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
        who = await self._link(request, token)
        if isinstance(who, Response):
            return who
        content = await to_thread.run_sync(portal_content, _container(request), who)
        if content is None:
            return add_portal_headers(problem_response(request, 404, NOT_FOUND))
        return add_portal_headers(Response(content))

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
