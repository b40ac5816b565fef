-- The audit journal: one row per stored event, who/when/what record, without the
-- event's payload (personal data stays in the encrypted events; "what changed" is
-- computed from them when a page is shown, and reads "[effacé]" after an erasure).
CREATE TABLE IF NOT EXISTS rm_audit (
    notification_id  bigint PRIMARY KEY,
    workspace_id     uuid NOT NULL,
    record_id        uuid NOT NULL,
    record_version   bigint NOT NULL,
    record_kind      text NOT NULL,
    client_id        uuid,
    event_type       text NOT NULL,   -- "Client.Updated"
    actor            text NOT NULL,
    correlation_id   uuid,
    occurred_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_audit_workspace ON rm_audit (workspace_id, notification_id DESC);
CREATE INDEX IF NOT EXISTS rm_audit_client ON rm_audit (client_id, notification_id DESC);
CREATE INDEX IF NOT EXISTS rm_audit_record ON rm_audit (record_id, record_version);
CREATE INDEX IF NOT EXISTS rm_audit_actor ON rm_audit (workspace_id, actor, notification_id DESC);
CREATE INDEX IF NOT EXISTS rm_audit_correlation ON rm_audit (correlation_id);

-- Which client each record belongs to, for the events that do not say it (a ticket
-- reply, a stage change) and for the RGPD export of everything about a client.
CREATE TABLE IF NOT EXISTS rm_audit_records (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL,
    client_id  uuid
);
CREATE INDEX IF NOT EXISTS rm_audit_records_client ON rm_audit_records (client_id);

-- Progress of the read-model rebuilds, polled by the admin screen.
CREATE TABLE IF NOT EXISTS crm_rebuilds (
    name          text PRIMARY KEY,
    state         text NOT NULL,
    done          bigint NOT NULL DEFAULT 0,
    total         bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    message       text NOT NULL DEFAULT ''
);
