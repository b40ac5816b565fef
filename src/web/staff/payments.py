"""Stripe on the staff screens: payment links, « Payé » badges, Paramètres › Paiements.

- `payment_badges` gives the pages the latest payment of each opportunity they
  show, in one query (`PaymentsView.latest_for_opportunities`); the macro
  `payment_badge(o)` of staff/macros.html reads it from the `payments` context.
- POST /opportunites/{id}/lien-paiement: the Checkout link of a won opportunity
  (the roles that may write the pipeline). Refusals (not won, no amount, Stripe
  not configured) come from the domain before any call to Stripe.
- /parametres/paiements (administrators): the keys of each mode, shown masked and
  never sent back, the active mode, the connection test and the webhook URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from crm_core.errors import DomainError, InvalidInputError, NotFoundError
from projections.payments import PaymentBadge
from projections.pipeline import OpportunityRow
from web.auth.identity import Staff, requires
from web.auth.permissions import Permission
from web.container import Container
from web.staff.forms import Form, FormData, is_fragment, safe_next, text
from web.ui import container_of, done, flash, fragment, page, refused

MODES = (("test", "Test"), ("live", "Production (live)"))
WEBHOOK_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
)


def payment_badges(
    container: Container, workspace_id: UUID, opportunities: Iterable[Any]
) -> dict[UUID, PaymentBadge]:
    """The latest payment of each opportunity shown (one query for the whole page)."""
    ids = list({o.id for o in opportunities})
    if not ids:
        return {}
    return container.payments.latest_for_opportunities(workspace_id, ids)


def _opportunity(container: Container, staff: Staff, opportunity_id: UUID) -> OpportunityRow:
    found = container.pipeline.get(staff.workspace_id, opportunity_id)
    if found is None:
        raise NotFoundError("Opportunité introuvable.")
    return found


class PaymentLinksController(Controller):
    path = "/opportunites"
    guards = [requires(Permission.WRITE_PIPELINE)]  # noqa: RUF012
    include_in_schema = False

    @post("/{opportunity_id:uuid}/lien-paiement", sync_to_thread=True)
    def create_link(
        self, request: Request[Any, Any, Any], staff: Staff, opportunity_id: UUID, data: FormData
    ) -> Template | Response[Any]:
        """« Générer lien de paiement »: the link (with Copier / Ouvrir) and a toast."""
        container = container_of(request)
        o = _opportunity(container, staff, opportunity_id)
        back = safe_next(text(data, "suivant"), f"/opportunites/{opportunity_id}")
        try:
            with staff.acting():
                link = container.billing.request_payment(staff.workspace_id, opportunity_id)
        except DomainError as error:
            return refused(request, error, back)
        container.wait(link.position, "payments", "timeline")
        message = (
            f"Lien de paiement créé pour « {o.titre} » : copiez-le ou ouvrez-le."
            if link.created
            else f"Le lien de paiement en cours de « {o.titre} » est toujours valable."
        )
        if is_fragment(request):
            return fragment(
                request,
                "staff/partials/payment_link.html",
                toast=message,
                o=o,
                payments=payment_badges(container, staff.workspace_id, [o]),
                new_url=link.url,
                back=back,
            )
        return done(request, message, back)


class PaymentSettingsController(Controller):
    path = "/parametres/paiements"
    guards = [requires(Permission.ADMIN)]  # noqa: RUF012
    include_in_schema = False

    def _page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        failed: Form | None = None,
        status_code: int = 200,
    ) -> Template:
        container = container_of(request)
        summary = container.billing.stripe_summary(staff.workspace_id)
        forms = {mode: Form({"mode": mode}, prefix=f"{mode}-") for mode, _ in MODES}
        if failed is not None:
            forms[failed.get("mode")] = failed
        return page(
            request,
            "staff/settings/payments.html",
            status_code=status_code,
            summary=summary,
            modes=MODES,
            forms=forms,
            webhook_url=f"{container.settings.base_url}/api/webhooks/stripe",
            webhook_events=WEBHOOK_EVENTS,
        )

    @get("/", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], staff: Staff) -> Template:
        return self._page(request, staff)

    @post("/cles", sync_to_thread=True)
    def save_keys(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        container = container_of(request)
        mode = text(data, "mode")
        try:
            with staff.acting():
                receipt = container.billing.configure_stripe(
                    staff.workspace_id,
                    mode=mode,
                    secret_key=text(data, "cle_secrete"),
                    webhook_secret=text(data, "secret_webhook"),
                )
        except DomainError as error:
            # The keys typed are never sent back: the form comes back empty.
            chosen = mode if mode in dict(MODES) else "test"
            form = Form({"mode": chosen}, prefix=f"{chosen}-").fail(error)
            if isinstance(error, InvalidInputError) and "mode" in error.errors:
                form.error = error.errors["mode"]
            return self._page(request, staff, form, status_code=422)
        container.wait(receipt.position, "payments")
        label = dict(MODES)[mode].lower()
        return done(request, f"Clés Stripe du mode {label} enregistrées.", "/parametres/paiements")

    @post("/mode", sync_to_thread=True)
    def choose_mode(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Response[Any]:
        container = container_of(request)
        mode = text(data, "mode")
        try:
            with staff.acting():
                receipt = container.billing.choose_stripe_mode(staff.workspace_id, mode)
        except DomainError as error:
            return refused(request, error, "/parametres/paiements")
        container.wait(receipt.position, "payments")
        label = dict(MODES).get(mode, mode).lower()
        return done(request, f"Mode Stripe actif : {label}.", "/parametres/paiements")

    @post("/test", sync_to_thread=True)
    def test_connection(
        self, request: Request[Any, Any, Any], staff: Staff, data: FormData
    ) -> Template | Response[Any]:
        """« Tester la connexion »: the account's name, or Stripe's answer in French."""
        container = container_of(request)
        mode = text(data, "mode") or None
        account, error = "", ""
        try:
            account = container.billing.test_stripe_connection(staff.workspace_id, mode)
        except DomainError as refusal:
            error = refusal.message
        message = error or f"Connexion à Stripe réussie : compte « {account} »."
        if is_fragment(request):
            return fragment(
                request,
                "staff/partials/stripe_test_result.html",
                toast=message,
                toast_kind="error" if error else "success",
                message=message,
                ok=not error,
            )
        if error:
            flash(request, message, "error")
            return Redirect("/parametres/paiements", status_code=303)
        return done(request, message, "/parametres/paiements")
