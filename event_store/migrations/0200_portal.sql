-- The client portal: the one valid link per client (by its hash), visits, and the
-- staff's in-app notifications.
CREATE TABLE IF NOT EXISTS rm_portal_access (
    id            uuid PRIMARY KEY,     -- the PortalAccess aggregate
    client_id     uuid NOT NULL UNIQUE,
    workspace_id  uuid NOT NULL,
    token_hash    text UNIQUE,          -- NULL once revoked
    issued_at     timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS rm_portal_visits (
    client_id     uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    visits        integer NOT NULL,
    first_visit   timestamptz NOT NULL,
    last_visit    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_portal_visits_workspace ON rm_portal_visits (workspace_id);

CREATE TABLE IF NOT EXISTS rm_notifications (
    id            text PRIMARY KEY,     -- "<aggregate id>:<version>" of the event
    workspace_id  uuid NOT NULL,
    kind          text NOT NULL,
    texte         text NOT NULL,
    lien          text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_notifications_workspace ON rm_notifications (workspace_id, created_at DESC);
