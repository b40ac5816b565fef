-- Server-side web state when there is no Redis (embedded mode): staff sessions and
-- the login rate-limit counters. Not a read model: nothing here derives from events.
CREATE TABLE IF NOT EXISTS web_store (
    namespace   text NOT NULL,
    key         text NOT NULL,
    value       bytea NOT NULL,
    expires_at  timestamptz,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS web_store_expiry ON web_store (expires_at) WHERE expires_at IS NOT NULL;
