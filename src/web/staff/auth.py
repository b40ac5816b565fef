"""Login and logout, as pages and as JSON for scripts (`POST /api/auth/login`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.utils.scope.state import ScopeState

from crm_core.accounts.application import AuthenticatedUser
from crm_core.errors import AccountDisabledError, AuthenticationError
from web.auth.identity import SESSION_USER_KEY, staff_from_connection
from web.auth.throttle import LoginThrottle
from web.problems import problem_response
from web.ui import container_of, flash, page

TOO_MANY = "Trop de tentatives de connexion : patientez une minute avant de réessayer."


class LoginForm(msgspec.Struct):
    email: str = ""
    password: str = ""
    suivant: str = "/"


class LoginJson(msgspec.Struct):
    email: str
    password: str


class LoginResult(msgspec.Struct):
    id: str
    email: str
    nom: str
    role: str
    csrfToken: str  # noqa: N815  (the API speaks the seeds' camelCase)


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The client's address; X-Forwarded-For only when a trusted proxy sets it."""
    if container_of(request).settings.trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded.strip():
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "inconnu"


def _safe_next(url: str) -> str:
    """Only local paths: a login must not redirect to another site."""
    return url if url.startswith("/") and not url.startswith("//") else "/"


async def _authenticate(
    request: Request[Any, Any, Any], email: str, password: str
) -> AuthenticatedUser | str | None:
    """The user, or a French refusal; None when throttled."""
    throttle = LoginThrottle(request.app.stores.get("throttle"))
    ip = client_ip(request)
    if await throttle.blocked(email, ip):
        return None
    container = container_of(request)
    try:
        from anyio import to_thread  # noqa: PLC0415  (argon2 is CPU-bound: off the event loop)

        user = await to_thread.run_sync(container.accounts.authenticate, email, password)
    except (AuthenticationError, AccountDisabledError) as error:
        await throttle.failed(email, ip)
        return error.message
    await throttle.succeeded(email)
    return user


def _open_session(request: Request[Any, Any, Any], user: AuthenticatedUser) -> None:
    # A fresh session id at login defeats session fixation.
    request.clear_session()
    request.set_session({SESSION_USER_KEY: str(user.id)})


class AuthController(Controller):
    tags = ["Authentification"]  # noqa: RUF012

    @get("/connexion", include_in_schema=False)
    async def login_page(
        self, request: Request[Any, Any, Any], suivant: str = "/"
    ) -> Template | Redirect:
        if staff_from_connection(request) is not None:
            return Redirect(_safe_next(suivant))
        return page(request, "auth/login.html", next_url=_safe_next(suivant))

    @post("/connexion", include_in_schema=False)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        outcome = await _authenticate(request, data.email, data.password)
        if outcome is None or isinstance(outcome, str):
            status = 429 if outcome is None else 401
            return page(
                request,
                "auth/login.html",
                status_code=status,
                error=TOO_MANY if outcome is None else outcome,
                email=data.email,
                next_url=_safe_next(data.suivant),
            )
        _open_session(request, outcome)
        flash(request, f"Bienvenue, {outcome.nom}.")
        return Redirect(_safe_next(data.suivant), status_code=303)

    @post("/deconnexion", include_in_schema=False)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/connexion", status_code=303)

    @post(
        "/api/auth/login",
        summary="Ouvre une session (cookie) pour les scripts et les tests",
        exclude_from_csrf=True,
    )
    async def api_login(self, request: Request[Any, Any, Any], data: LoginJson) -> Response[Any]:
        outcome = await _authenticate(request, data.email, data.password)
        if outcome is None:
            return problem_response(request, 429, TOO_MANY, headers={"Retry-After": "60"})
        if isinstance(outcome, str):
            return problem_response(request, 401, outcome)
        _open_session(request, outcome)
        token = request.scope.get("_csrf_token", "") or ""
        return Response(
            LoginResult(
                str(outcome.id),
                outcome.email,
                outcome.nom,
                outcome.role.value,
                csrfToken=str(token),
            )
        )

    @post("/api/auth/logout", summary="Ferme la session", status_code=204)
    async def api_logout(self, request: Request[Any, Any, Any]) -> None:
        request.clear_session()

    @get("/api/auth/me", summary="Le compte de la session")
    async def me(self, request: Request[Any, Any, Any]) -> LoginResult:
        staff = staff_from_connection(request)
        if staff is None:
            raise NotAuthorizedException("Connectez-vous pour continuer.")
        token = ScopeState.from_scope(request.scope).csrf_token
        return LoginResult(
            str(staff.id),
            staff.email,
            staff.nom,
            staff.role.value,
            csrfToken=token if isinstance(token, str) else request.cookies.get("csrftoken", ""),
        )
