-- Payments read model (projection "payments"): one row per payment request, and the
-- workspace's Stripe settings as the settings screen and the webhook endpoint need
-- them (masked hints; webhook secrets still sealed, never in clear).

CREATE TABLE IF NOT EXISTS rm_payment_requests (
    id                  uuid PRIMARY KEY,
    workspace_id        uuid NOT NULL,
    opportunity_id      uuid NOT NULL,
    client_id           uuid NOT NULL,
    kind                text NOT NULL,
    amount              numeric(14, 2) NOT NULL,
    currency            text NOT NULL,
    -- en_attente | paye | echoue | expire | rembourse
    status              text NOT NULL,
    -- true while a delayed method (SEPA debit...) is being settled
    processing          boolean NOT NULL DEFAULT false,
    url                 text NOT NULL DEFAULT '',
    session_id          text NOT NULL DEFAULT '',
    mode                text NOT NULL DEFAULT 'test',
    payment_intent_id   text NOT NULL DEFAULT '',
    amount_paid         numeric(14, 2),
    amount_refunded     numeric(14, 2) NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    session_created_at  timestamptz,
    session_expires_at  timestamptz,
    paid_at             timestamptz,
    failed_at           timestamptz,
    expired_at          timestamptz,
    refunded_at         timestamptz
);
CREATE INDEX IF NOT EXISTS rm_payment_requests_opportunity
    ON rm_payment_requests (workspace_id, opportunity_id, created_at DESC);
CREATE INDEX IF NOT EXISTS rm_payment_requests_pending
    ON rm_payment_requests (session_created_at) WHERE status = 'en_attente' AND NOT processing;
CREATE INDEX IF NOT EXISTS rm_payment_requests_intent
    ON rm_payment_requests (payment_intent_id) WHERE payment_intent_id <> '';

CREATE TABLE IF NOT EXISTS rm_stripe_settings (
    workspace_id            uuid PRIMARY KEY,
    mode                    text NOT NULL,
    test_secret_key_hint    text NOT NULL DEFAULT '',
    test_webhook_hint       text NOT NULL DEFAULT '',
    test_webhook_sealed     text NOT NULL DEFAULT '',
    live_secret_key_hint    text NOT NULL DEFAULT '',
    live_webhook_hint       text NOT NULL DEFAULT '',
    live_webhook_sealed     text NOT NULL DEFAULT '',
    updated_at              timestamptz NOT NULL
);
