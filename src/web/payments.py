"""Payment routes: the Stripe webhook (public, signed) and the staff JSON API.

- POST /api/webhooks/stripe: raw body, Stripe-Signature checked by the SDK. A bad
  or missing signature is a 400 problem and changes nothing; an event that is not
  ours or of an unhandled type is acknowledged (200) with a log line, so Stripe
  does not retry it for days.
- POST /api/paiements/stripe/session and the Stripe settings routes take the
  staff member from `current_staff` (see web/current_staff.py).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, RawBody

from adapters.stripe.webhooks import WebhookRejectedError
from crm_core.context import acting_as, user_actor
from projections.payments import PaymentBadge, StripeSettingsRow
from web.container import Container
from web.current_staff import (
    StaffMember,
    current_staff,
    require_admin,
    require_pipeline_writer,
)
from web.problems import problem_response

log = logging.getLogger(__name__)
STRIPE_ACTOR = "stripe"


class StripeWebhookController(Controller):
    path = "/api/webhooks/stripe"
    tags = ["Paiements"]  # noqa: RUF012

    @post(
        sync_to_thread=True,
        status_code=200,
        summary="Webhook Stripe (signé) : met à jour le statut des paiements",
    )
    def receive(
        self,
        request: Request[Any, Any, Any],
        state: State,
        body: RawBody,
        stripe_signature: Annotated[
            str | None, HeaderParameter(name="Stripe-Signature", required=False)
        ] = None,
    ) -> Response[Any]:
        container: Container = state.container
        try:
            with acting_as(STRIPE_ACTOR):
                result = container.stripe_webhooks.handle(body, stripe_signature)
        except WebhookRejectedError as rejected:
            log.warning("Webhook Stripe refusé : %s", rejected)
            return problem_response(request, 400, str(rejected))
        return Response(result)


class PaymentSessionInput(msgspec.Struct, frozen=True):
    opportuniteId: UUID  # noqa: N815  (the JSON field name of the API contract)


class PaymentSessionOutput(msgspec.Struct, frozen=True):
    urlPaiement: str  # noqa: N815
    statutPaiementInitial: str  # noqa: N815
    paiementId: UUID  # noqa: N815
    nouveauLien: bool  # noqa: N815


class StripeKeysInput(msgspec.Struct, frozen=True):
    mode: str
    cleSecrete: str  # noqa: N815
    secretWebhook: str = ""  # noqa: N815


class StripeModeInput(msgspec.Struct, frozen=True):
    mode: str


class StripeConnectionOutput(msgspec.Struct, frozen=True):
    compte: str


class StripeSettingsOutput(msgspec.Struct, frozen=True):
    mode: str
    clesSecretes: dict[str, str]  # noqa: N815  (masked: sk_test_…4242)
    secretsWebhook: dict[str, str]  # noqa: N815
    depuisEnvironnement: bool  # noqa: N815
    urlWebhook: str  # noqa: N815


class PaymentsController(Controller):
    """Staff routes. Every one takes the workspace from `current_staff`."""

    path = "/api"
    tags = ["Paiements"]  # noqa: RUF012
    dependencies = {"staff": Provide(current_staff, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/paiements/stripe/session",
        sync_to_thread=True,
        summary="Crée (ou renvoie) le lien de paiement Stripe d’une opportunité gagnée",
    )
    def create_session(
        self, state: State, staff: NamedDependency[StaffMember], data: JSONBody[PaymentSessionInput]
    ) -> Response[PaymentSessionOutput]:
        require_pipeline_writer(staff)
        container: Container = state.container
        with acting_as(user_actor(staff.user_id)):
            link = container.billing.request_payment(staff.workspace_id, data.opportuniteId)
        # Read-your-writes: the badge and the timeline show the link once we answer.
        container.wait(link.position, "payments", "timeline")
        return Response(
            PaymentSessionOutput(
                urlPaiement=link.url,
                statutPaiementInitial=link.status.value,
                paiementId=link.id,
                nouveauLien=link.created,
            ),
            status_code=201 if link.created else 200,
        )

    @get(
        "/paiements/opportunites/{opportunity_id:uuid}",
        sync_to_thread=True,
        summary="Dernier statut de paiement d’une opportunité (badge Payé / En attente)",
    )
    def opportunity_payment(
        self, state: State, staff: NamedDependency[StaffMember], opportunity_id: FromPath[UUID]
    ) -> Response[PaymentBadge | None]:
        container: Container = state.container
        return Response(container.payments.for_opportunity(staff.workspace_id, opportunity_id))

    @get("/parametres/stripe", sync_to_thread=True, summary="Réglages Stripe (clés masquées)")
    def stripe_settings(
        self, state: State, staff: NamedDependency[StaffMember]
    ) -> StripeSettingsOutput:
        require_admin(staff)
        container: Container = state.container
        summary = container.billing.stripe_summary(staff.workspace_id)
        return StripeSettingsOutput(
            mode=summary.mode.value,
            clesSecretes=summary.secret_key_hints,
            secretsWebhook=summary.webhook_secret_hints,
            depuisEnvironnement=summary.from_environment,
            urlWebhook=f"{container.settings.base_url}/api/webhooks/stripe",
        )

    @put("/parametres/stripe", sync_to_thread=True, summary="Enregistre les clés Stripe d’un mode")
    def save_stripe_keys(
        self, state: State, staff: NamedDependency[StaffMember], data: JSONBody[StripeKeysInput]
    ) -> StripeSettingsRow | None:
        require_admin(staff)
        container: Container = state.container
        with acting_as(user_actor(staff.user_id)):
            receipt = container.billing.configure_stripe(
                staff.workspace_id,
                mode=data.mode,
                secret_key=data.cleSecrete,
                webhook_secret=data.secretWebhook,
            )
        container.wait(receipt.position, "payments")
        return container.payments.stripe_settings(staff.workspace_id)

    @put("/parametres/stripe/mode", sync_to_thread=True, summary="Choisit le mode test ou live")
    def choose_stripe_mode(
        self, state: State, staff: NamedDependency[StaffMember], data: JSONBody[StripeModeInput]
    ) -> StripeSettingsRow | None:
        require_admin(staff)
        container: Container = state.container
        with acting_as(user_actor(staff.user_id)):
            receipt = container.billing.choose_stripe_mode(staff.workspace_id, data.mode)
        container.wait(receipt.position, "payments")
        return container.payments.stripe_settings(staff.workspace_id)

    @post(
        "/parametres/stripe/test",
        sync_to_thread=True,
        status_code=200,
        summary="Teste la connexion à Stripe ; renvoie le nom du compte",
    )
    def test_stripe(
        self, state: State, staff: NamedDependency[StaffMember], mode: FromQuery[str | None] = None
    ) -> StripeConnectionOutput:
        require_admin(staff)
        container: Container = state.container
        return StripeConnectionOutput(
            compte=container.billing.test_stripe_connection(staff.workspace_id, mode)
        )
