"""The PaymentGateway port over the official Stripe SDK (StripeClient, API v1).

Every Stripe error becomes a domain error with a French message: `...Unavailable`
for what a retry may fix (network, timeout, 5xx, rate limit), plain
PaymentGatewayError for a refusal. Keys are never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe

from crm_core.billing.money import from_minor_units, to_minor_units
from crm_core.billing.ports import (
    CheckoutRequest,
    CheckoutSession,
    PaymentIntentInfo,
    payment_ref_from_metadata,
)
from crm_core.errors import PaymentGatewayError, PaymentGatewayUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_API_BASE = "https://api.stripe.com"


def translate_error(error: stripe.StripeError) -> PaymentGatewayError:
    """A French domain error for a Stripe error (the key never appears in it)."""
    log.warning(
        "Stripe a répondu %s (statut %s, code %s, requête %s)",
        type(error).__name__,
        error.http_status,
        error.code,
        error.request_id,
    )
    if isinstance(error, stripe.APIConnectionError):
        return PaymentGatewayUnavailableError(
            "Stripe ne répond pas (réseau coupé ou délai dépassé). Réessayez dans un instant : "
            "rien n’a été enregistré."
        )
    if isinstance(error, stripe.RateLimitError):
        return PaymentGatewayUnavailableError(
            "Stripe limite temporairement les demandes. Réessayez dans une minute."
        )
    if isinstance(error, stripe.AuthenticationError):
        return PaymentGatewayError(
            "Stripe refuse la clé secrète : vérifiez-la dans Paramètres › Paiements."
        )
    if isinstance(error, stripe.PermissionError):
        return PaymentGatewayError(
            "Cette clé Stripe n’a pas les droits nécessaires (clé restreinte ?)."
        )
    if isinstance(error, stripe.IdempotencyError):
        return PaymentGatewayError(
            "Stripe a reçu la même demande avec d’autres paramètres. Réessayez."
        )
    if isinstance(error, stripe.InvalidRequestError):
        detail = error.user_message or error._message or ""
        return PaymentGatewayError(f"Stripe a refusé la demande : {detail}".rstrip(" :"))
    if error.http_status is None or error.http_status >= 500:
        return PaymentGatewayUnavailableError(
            "Stripe rencontre un problème temporaire. Réessayez dans quelques instants."
        )
    return PaymentGatewayError("Stripe a renvoyé une erreur inattendue.")


def _call(action: Callable[[], T]) -> T:
    try:
        return action()
    except stripe.StripeError as error:
        raise translate_error(error) from None


def _text(value: Any) -> str:
    """An expandable field (an id or an expanded object) as its id."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value.get("id", ""))


def to_checkout_session(resource: Any) -> CheckoutSession:
    # SDK objects are not dicts (v13+): read a plain copy.
    session: dict[str, Any] = resource.to_dict()
    currency = str(session.get("currency") or "")
    amount = session.get("amount_total")
    expires_at = session.get("expires_at")
    return CheckoutSession(
        id=session["id"],
        url=session.get("url") or "",
        livemode=bool(session.get("livemode")),
        status=session.get("status") or "",
        payment_status=session.get("payment_status") or "",
        payment_intent_id=_text(session.get("payment_intent")),
        amount_total=from_minor_units(amount, currency) if amount is not None else None,
        currency=currency.upper(),
        expires_at=datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
    )


class StripeGateway:
    """One Stripe account (one secret key)."""

    def __init__(self, client: stripe.StripeClient, *, base_url: str) -> None:
        self._client = client
        self._base_url = base_url

    def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession:
        ids = {
            "workspace_id": str(request.workspace_id),
            "payment_request_id": str(request.payment_request_id),
            "opportunity_id": str(request.opportunity_id),
            "client_id": str(request.client_id),
        }
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": to_minor_units(request.amount, request.currency),
                        "product_data": {"name": request.description[:250] or "Prestation"},
                    },
                }
            ],
            "client_reference_id": str(request.payment_request_id),
            "metadata": ids,
            # The PaymentIntent carries the ids too, for charges and refunds.
            "payment_intent_data": {"metadata": ids},
            "success_url": f"{self._base_url}/portail/merci?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{self._base_url}/portail",
            "locale": "fr",
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        session = _call(
            lambda: self._client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        )
        return to_checkout_session(session)

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        return to_checkout_session(
            _call(lambda: self._client.v1.checkout.sessions.retrieve(session_id))
        )

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        return to_checkout_session(
            _call(lambda: self._client.v1.checkout.sessions.expire(session_id))
        )

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentInfo | None:
        try:
            intent: dict[str, Any] = self._client.v1.payment_intents.retrieve(
                payment_intent_id
            ).to_dict()
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:  # not on this account: not ours
                return None
            raise translate_error(error) from None
        except stripe.StripeError as error:
            raise translate_error(error) from None
        metadata = {str(k): str(v) for k, v in (intent.get("metadata") or {}).items()}
        if payment_ref_from_metadata(metadata) is None:
            # Our sessions also give the PaymentIntent our ids; one made before that
            # (or edited since) still has them on its Checkout Session.
            sessions = _call(
                lambda: self._client.v1.checkout.sessions.list(
                    {"payment_intent": payment_intent_id, "limit": 1}
                )
            )
            for session in sessions.data:
                found = session.to_dict().get("metadata") or {}
                metadata = {str(k): str(v) for k, v in found.items()}
        return PaymentIntentInfo(id=payment_intent_id, metadata=metadata)

    def account_name(self) -> str:
        account: dict[str, Any] = _call(self._client.v1.accounts.retrieve_current).to_dict()
        settings = account.get("settings") or {}
        dashboard = settings.get("dashboard") or {}
        profile = account.get("business_profile") or {}
        return str(
            dashboard.get("display_name")
            or profile.get("name")
            or account.get("email")
            or account["id"]
        )


class StripeGateways:
    """Builds a gateway per secret key, all sharing one HTTP client (and its pool)."""

    def __init__(
        self,
        *,
        api_base: str = DEFAULT_API_BASE,
        base_url: str,
        timeout_seconds: float = 10.0,
        max_network_retries: int = 2,
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._base_url = base_url.rstrip("/")
        self._retries = max_network_retries
        self._http = stripe.RequestsClient(timeout=timeout_seconds)
        self._clients: dict[str, stripe.StripeClient] = {}
        self._lock = threading.Lock()

    def connect(self, secret_key: str) -> StripeGateway:
        with self._lock:
            client = self._clients.get(secret_key)
            if client is None:
                client = stripe.StripeClient(
                    secret_key,
                    base_addresses={"api": self._api_base},
                    max_network_retries=self._retries,
                    http_client=self._http,
                )
                self._clients[secret_key] = client
        return StripeGateway(client, base_url=self._base_url)
