"""A local HTTP server that answers like Stripe's API, for the endpoints the CRM calls.

Shapes follow Stripe's documentation: form-encoded requests with bracketed keys,
JSON objects with `object` and `livemode`, errors as
`{"error": {"type", "message", "code", "param"}}` with Stripe's status codes,
`Idempotency-Key` replays (and `idempotency_error` on a key reused with other
parameters). Webhook payloads are signed with Stripe's scheme:
`Stripe-Signature: t=<unix>,v1=hex(HMAC-SHA256(secret, f"{t}.{payload}"))`.

The test controls it: `delay` (a slow Stripe), `drop` (connection closed: Stripe
unreachable), `fail_next(...)`, and the customer's side (`complete`, `expire`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ACCOUNT_NAME = "Atelier Dupont (test)"
MINIMUM_MINOR = {"eur": 50, "usd": 50, "gbp": 30, "chf": 50, "jpy": 50}


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's bracket encoding (`a[b][0][c]=1`) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            container: Any = [] if following is not None and following.isdigit() else {}
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append(None)
                if last:
                    node[position] = value
                else:
                    node[position] = node[position] if node[position] is not None else container
                    node = node[position]
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, container)
    return root


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for this payload."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event_payload(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    """A snapshot event as Stripe delivers it to a webhook endpoint."""
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": bool(obj.get("livemode", False)),
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
    ).encode()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]


@dataclass
class FakeStripe:
    valid_keys: set[str] = field(default_factory=set)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per session, the `payment_intent_data[metadata]` it was created with.
    intent_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    delay: float = 0.0
    drop: bool = False
    url: str = ""
    _failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _idempotent: dict[str, tuple[str, int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- test controls ------------------------------------------------------------
    def fail_next(self, status: int, error_type: str, message: str, code: str = "") -> None:
        error = {"type": error_type, "message": message}
        if code:
            error["code"] = code
        self._failures.append((status, error))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self.delay = 0.0
            self.drop = False

    def calls(self, method: str = "", path_prefix: str = "") -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (not method or r.method == method) and r.path.startswith(path_prefix)
        ]

    def complete(self, session_id: str, *, paid: bool = True) -> dict[str, Any]:
        """The customer finished Checkout (paid by card, or a delayed method: unpaid)."""
        session = self.sessions[session_id]
        session["status"] = "complete"
        session["payment_status"] = "paid" if paid else "unpaid"
        session["payment_intent"] = session["payment_intent"] or f"pi_{secrets.token_hex(12)}"
        session["url"] = None
        self.payment_intents[session["payment_intent"]] = {
            "id": session["payment_intent"],
            "object": "payment_intent",
            "amount": session["amount_total"],
            "currency": session["currency"],
            "livemode": session["livemode"],
            "status": "succeeded" if paid else "processing",
            "metadata": dict(self.intent_metadata.get(session_id, {})),
        }
        return dict(session)

    def expire(self, session_id: str) -> dict[str, Any]:
        session = self.sessions[session_id]
        session["status"] = "expired"
        session["url"] = None
        return dict(session)

    def charge_for(
        self, session_id: str, *, refunded_minor: int, with_metadata: bool = True
    ) -> dict[str, Any]:
        """The session's charge, refunded by `refunded_minor`.

        Stripe copies the PaymentIntent's metadata to the charge when it confirms the
        payment (once: a later change to one is not copied to the other);
        `with_metadata=False` gives a charge without it (metadata edited since, or a
        PaymentIntent that got its metadata after the charge).
        """
        session = self.sessions[session_id]
        intent = self.payment_intents.get(session["payment_intent"] or "", {})
        return {
            "id": f"ch_{secrets.token_hex(12)}",
            "object": "charge",
            "amount": session["amount_total"],
            "amount_captured": session["amount_total"],
            "amount_refunded": refunded_minor,
            "currency": session["currency"],
            "livemode": session["livemode"],
            "paid": True,
            "payment_intent": session["payment_intent"],
            "refunded": refunded_minor >= session["amount_total"],
            "metadata": dict(intent.get("metadata", {})) if with_metadata else {},
        }

    # --- the API ------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: str) -> tuple[int, Any]:
        params = parse_form(body) if body else {}
        with self._lock:
            self.requests.append(Recorded(method, path, headers, params))
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure[0], {"error": failure[1]}
        key = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key not in self.valid_keys:
            masked = f"{key[:8]}{'*' * 4}{key[-4:]}" if key else ""
            return 401, {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Invalid API Key provided: {masked}",
                }
            }
        livemode = key.startswith(("sk_live_", "rk_live_"))
        parts = [p for p in urlsplit(path).path.split("/") if p]
        if method == "GET" and parts == ["v1", "account"]:
            return 200, {
                "id": "acct_1FakeCrm",
                "object": "account",
                "business_profile": {"name": ACCOUNT_NAME},
                "settings": {"dashboard": {"display_name": ACCOUNT_NAME}},
                "email": "compta@atelier-dupont.fr",
            }
        if method == "POST" and parts == ["v1", "checkout", "sessions"]:
            return self._create_session(params, livemode)
        if method == "GET" and parts == ["v1", "checkout", "sessions"]:
            query = dict(parse_qsl(urlsplit(path).query))
            found = [
                session
                for session in self.sessions.values()
                if query.get("payment_intent") in (None, session["payment_intent"])
            ]
            limit = int(query.get("limit", 10))
            return 200, {
                "object": "list",
                "url": "/v1/checkout/sessions",
                "has_more": len(found) > limit,
                "data": found[:limit],
            }
        if method == "GET" and parts[:2] == ["v1", "payment_intents"] and len(parts) == 3:
            intent = self.payment_intents.get(parts[2])
            if intent is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "param": "intent",
                        "message": f"No such payment_intent: '{parts[2]}'",
                    }
                }
            return 200, intent
        if parts[:3] == ["v1", "checkout", "sessions"] and len(parts) >= 4:
            session = self.sessions.get(parts[3])
            if session is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "param": "session",
                        "message": f"No such checkout.session: '{parts[3]}'",
                    }
                }
            if method == "GET" and len(parts) == 4:
                return 200, session
            if method == "POST" and parts[4:] == ["expire"]:
                if session["status"] != "open":
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "message": 'Only Checkout Sessions with a status in ["open"] can be '
                            "expired.",
                        }
                    }
                return 200, self.expire(session["id"])
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            }
        }

    def _create_session(self, params: dict[str, Any], livemode: bool) -> tuple[int, Any]:
        line = params["line_items"][0]
        price = line["price_data"]
        amount = int(price["unit_amount"]) * int(line.get("quantity", 1))
        currency = price["currency"]
        if amount < MINIMUM_MINOR.get(currency, 50):
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "amount_too_small",
                    "param": "line_items[0][price_data][unit_amount]",
                    "message": "The Checkout Session's total amount due must add up to at least "
                    f"0.50 {currency}.",
                }
            }
        session_id = f"cs_{'live' if livemode else 'test'}_{secrets.token_hex(16)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "livemode": livemode,
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata", {}),
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "expires_at": int(time.time()) + 24 * 3600,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "line_items_name": price["product_data"]["name"],
        }
        self.sessions[session_id] = session
        self.intent_metadata[session_id] = params.get("payment_intent_data", {}).get("metadata", {})
        return 200, session

    def respond(
        self, method: str, path: str, headers: dict[str, str], body: str
    ) -> tuple[int, bytes, dict[str, str]]:
        key = headers.get("idempotency-key")
        fingerprint = f"{method} {path} {body}"
        if key and method == "POST":
            with self._lock:
                stored = self._idempotent.get(key)
            if stored is not None:
                if stored[0] != fingerprint:
                    status, payload = (
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the "
                                "same parameters they were first used with.",
                            }
                        },
                    )
                    return status, json.dumps(payload).encode(), {}
                with self._lock:
                    self.requests.append(Recorded(method, path, headers, parse_form(body)))
                return stored[1], stored[2], {"Idempotent-Replayed": "true"}
        status, payload = self.handle(method, path, headers, body)
        raw = json.dumps(payload).encode()
        if key and method == "POST" and status < 500:
            with self._lock:
                self._idempotent[key] = (fingerprint, status, raw)
        return status, raw, {}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if fake.drop:
                self.close_connection = True
                self.connection.close()
                return
            if fake.delay:
                time.sleep(fake.delay)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, raw, extra = fake.respond(self.command, self.path, headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): as with a slow Stripe

        do_GET = _serve  # noqa: N815
        do_POST = _serve  # noqa: N815
        do_DELETE = _serve  # noqa: N815

    return Handler


@contextmanager
def fake_stripe_server(*keys: str) -> Iterator[FakeStripe]:
    fake = FakeStripe(valid_keys=set(keys))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-stripe", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
