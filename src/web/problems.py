"""One map from errors to HTTP: RFC 9457 problem JSON, never a 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from crm_core.errors import (
    AccountDisabledError,
    AuthenticationError,
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
)
from projections.pagination import InvalidCursorError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, with the invalid fields under `errors`."""

    title: str
    status: int
    detail: str = ""
    type: str = "about:blank"
    instance: str = ""
    errors: dict[str, str] = msgspec.field(default_factory=dict)


def domain_status(error: DomainError) -> int:
    if isinstance(error, InvalidInputError):
        return HTTP_422_UNPROCESSABLE_ENTITY
    if isinstance(error, NotFoundError):
        return HTTP_404_NOT_FOUND
    if isinstance(error, ConflictError):
        return HTTP_409_CONFLICT
    if isinstance(error, AuthenticationError | AccountDisabledError):
        return 401
    return HTTP_422_UNPROCESSABLE_ENTITY


_TITLES = {
    400: "Requête invalide",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Introuvable",
    405: "Méthode non autorisée",
    409: "Conflit",
    413: "Contenu trop volumineux",
    415: "Type de contenu non pris en charge",
    422: "Saisie invalide",
    429: "Trop de tentatives",
    500: "Erreur interne",
    503: "Service indisponible",
}


def wants_page(request: Request[Any, Any, Any]) -> bool:
    """A browser navigating to a page (not the JSON API, not an htmx fragment)."""
    path = request.url.path
    return not (
        path.startswith(("/api/", "/health", "/schema"))
        or request.headers.get("hx-request") == "true"
    )


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """Problem JSON for the API and htmx; an HTML page (or the login) for a browser."""
    if wants_page(request):
        if status == 401:
            return Redirect(f"/connexion?suivant={quote(request.url.path)}", status_code=303)
        return Template(
            template_name="errors/error.html",
            status_code=status,
            headers=headers,
            context={
                "request": request,
                "title": _TITLES.get(status, "Erreur"),
                "detail": detail,
                "staff": None,
                "workspace": None,
            },
        )
    problem = Problem(
        title=_TITLES.get(status, "Erreur"),
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors or {},
    )
    return Response(problem, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    errors = exc.errors if isinstance(exc, InvalidInputError) else None
    return problem_response(request, domain_status(exc), exc.message, errors)


def cursor_error_handler(request: Request[Any, Any, Any], exc: InvalidCursorError) -> Response[Any]:
    return problem_response(request, HTTP_400_BAD_REQUEST, str(exc), {"cursor": str(exc)})


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    errors: dict[str, str] = {}
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key = str(item.get("key") or item.get("source") or "corps")
            errors[key] = "Valeur manquante ou invalide."
    return problem_response(
        request, HTTP_400_BAD_REQUEST, "La requête est mal formée ou incomplète.", errors
    )


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    detail = exc.detail if status != HTTP_500_INTERNAL_SERVER_ERROR else ""
    if isinstance(exc, NotAuthorizedException):
        detail = "Connectez-vous pour continuer."
    return problem_response(request, status, _french_detail(status, detail), headers=exc.headers)


def _french_detail(status: int, detail: str) -> str:
    if "CSRF" in detail:
        return "Jeton de sécurité absent ou expiré : rechargez la page puis réessayez."
    defaults = {
        403: "Votre rôle ne permet pas cette action.",
        404: "Cette page n’existe pas.",
        405: "Cette méthode n’est pas permise ici.",
        413: "Le contenu envoyé est trop volumineux.",
        429: "Trop de tentatives : patientez une minute.",
    }
    if status in defaults and (not detail or detail.isascii()):
        return defaults[status]
    return detail or _TITLES.get(status, "Erreur")


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("Erreur interne sur %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Une erreur inattendue est survenue ; elle a été journalisée.",
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    InvalidCursorError: cursor_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "Problem", "problem_response"]
