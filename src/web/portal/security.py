"""Headers and limits every portal response carries."""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Request, Response

from web.auth.throttle import increment

# No script at all: the portal works without JavaScript. Stripe Checkout is reached
# by a form post that our server redirects, hence the form-action source.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'; "
    "base-uri 'none'"
)

PORTAL_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


R = TypeVar("R", bound=Response[Any])


def add_portal_headers(response: R) -> R:
    for name, value in PORTAL_HEADERS.items():
        response.headers[name] = value
    return response


async def lookup_blocked(request: Request[Any, Any, Any], ip: str, limit: int) -> bool:
    raw = await request.app.stores.get("throttle").get(f"portal:{ip}")
    return raw is not None and int(raw) >= limit


async def lookup_failed(request: Request[Any, Any, Any], ip: str) -> None:
    await increment(request.app.stores.get("throttle"), f"portal:{ip}")
