-- Analytics read model (projection "analytics"): one row per fact, written by its
-- projection in the same transaction as its tracking row, indexed for period queries.
-- Times are timestamptz (UTC); the views cut months in Europe/Paris. Documented in
-- README.md ("Read models") and in src/projections/analytics.py.

-- One row per opportunity: its current state and the dates of its decisive moves.
CREATE TABLE IF NOT EXISTS rm_analytics_opportunities (
    id                   uuid PRIMARY KEY,
    workspace_id         uuid NOT NULL,
    client_id            uuid NOT NULL,
    owner_id             uuid,                 -- the salesperson answerable for it
    titre                text NOT NULL,
    montant              numeric(14, 2),       -- current estimated amount
    devise               text NOT NULL DEFAULT 'EUR',
    etape                text NOT NULL,        -- current stage
    date_cloture_prevue  date,
    opened_at            timestamptz NOT NULL,
    stage_entered_at     timestamptz NOT NULL, -- when it entered its current stage
    updated_at           timestamptz NOT NULL, -- last change of any kind (staleness)
    won_at               timestamptz,          -- set while it is won (NULL after a reopening)
    won_amount           numeric(14, 2),       -- the amount of the Won event
    lost_at              timestamptz           -- set while it is lost
);
CREATE INDEX IF NOT EXISTS rm_analytics_opp_opened ON rm_analytics_opportunities (workspace_id, opened_at);
CREATE INDEX IF NOT EXISTS rm_analytics_opp_won
    ON rm_analytics_opportunities (workspace_id, won_at) WHERE won_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS rm_analytics_opp_lost
    ON rm_analytics_opportunities (workspace_id, lost_at) WHERE lost_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS rm_analytics_opp_open
    ON rm_analytics_opportunities (workspace_id, etape) WHERE won_at IS NULL AND lost_at IS NULL;
CREATE INDEX IF NOT EXISTS rm_analytics_opp_owner ON rm_analytics_opportunities (workspace_id, owner_id);

-- Every stage an opportunity entered (its opening included), in order: the history the
-- stage-by-month chart and the forecast's per-stage win rates and delays are made from.
CREATE TABLE IF NOT EXISTS rm_analytics_stage_entries (
    opportunity_id  uuid NOT NULL,
    version         integer NOT NULL,          -- the event's version in the opportunity
    workspace_id    uuid NOT NULL,
    etape           text NOT NULL,             -- stage entered
    de              text,                      -- stage left (NULL at the opening)
    entered_at      timestamptz NOT NULL,
    PRIMARY KEY (opportunity_id, version)
);
CREATE INDEX IF NOT EXISTS rm_analytics_stage_entries_ws
    ON rm_analytics_stage_entries (workspace_id, entered_at);

-- One row per payment request (Stripe), keyed by its id and pointing at its opportunity.
-- Filled by the billing events (PaymentRequest.*) when they exist in the event log.
CREATE TABLE IF NOT EXISTS rm_analytics_payments (
    id               uuid PRIMARY KEY,         -- the payment request
    workspace_id     uuid NOT NULL,
    opportunity_id   uuid NOT NULL,
    client_id        uuid NOT NULL,
    amount           numeric(14, 2) NOT NULL,  -- amount asked
    currency         text NOT NULL,
    requested_at     timestamptz NOT NULL,
    link_created_at  timestamptz,              -- first Checkout link
    links            integer NOT NULL DEFAULT 0, -- Checkout links created
    paid_at          timestamptz,              -- money received
    paid_amount      numeric(14, 2),
    refunded_amount  numeric(14, 2) NOT NULL DEFAULT 0,
    statut           text NOT NULL DEFAULT 'en_attente'
);
CREATE INDEX IF NOT EXISTS rm_analytics_payments_paid
    ON rm_analytics_payments (workspace_id, paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS rm_analytics_payments_opportunity
    ON rm_analytics_payments (opportunity_id);

-- Activities (notes, calls, meetings) with their author: calls per salesperson.
CREATE TABLE IF NOT EXISTS rm_analytics_activities (
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL,
    client_id      uuid NOT NULL,
    kind           text NOT NULL,              -- note | appel | reunion
    auteur_id      uuid,                       -- the author, else the user who logged it
    date_activite  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_analytics_activities_ws
    ON rm_analytics_activities (workspace_id, kind, date_activite);

-- Tickets: opening, resolution and origin (portal or not).
CREATE TABLE IF NOT EXISTS rm_analytics_tickets (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    client_id     uuid NOT NULL,
    source        text NOT NULL,               -- staff | portail | email
    assignee_id   uuid,
    statut        text NOT NULL,
    opened_at     timestamptz NOT NULL,
    resolved_at   timestamptz                  -- first move to resolu/ferme; NULL when reopened
);
CREATE INDEX IF NOT EXISTS rm_analytics_tickets_opened ON rm_analytics_tickets (workspace_id, opened_at);
CREATE INDEX IF NOT EXISTS rm_analytics_tickets_resolved
    ON rm_analytics_tickets (workspace_id, resolved_at) WHERE resolved_at IS NOT NULL;

-- Clients, for the share of active clients using the portal and the personal scope.
CREATE TABLE IF NOT EXISTS rm_analytics_clients (
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL,
    owner_id       uuid,
    archived       boolean NOT NULL DEFAULT false,
    registered_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_analytics_clients_ws ON rm_analytics_clients (workspace_id, owner_id);

-- Portal visits by clients (filled by the portal's visit events when they exist).
CREATE TABLE IF NOT EXISTS rm_analytics_portal_visits (
    id            text PRIMARY KEY,            -- "<aggregate id>:<version>" of the event
    workspace_id  uuid NOT NULL,
    client_id     uuid NOT NULL,
    visited_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_analytics_portal_visits_ws
    ON rm_analytics_portal_visits (workspace_id, visited_at);

-- Opportunities entering each stage, per month (Paris time), with their current amounts.
CREATE OR REPLACE VIEW rm_analytics_stage_month AS
SELECT e.workspace_id,
       date_trunc('month', e.entered_at AT TIME ZONE 'Europe/Paris')::date AS mois,
       e.etape,
       count(*) AS entrees,
       COALESCE(sum(o.montant), 0) AS montant
  FROM rm_analytics_stage_entries e
  JOIN rm_analytics_opportunities o ON o.id = e.opportunity_id
 GROUP BY 1, 2, 3;

-- Per month (Paris time): opened, won (count, amount), lost, Stripe payments received.
CREATE OR REPLACE VIEW rm_analytics_monthly AS
WITH facts AS (
    SELECT workspace_id, opened_at AS at, 1 AS ouvertes, 0 AS gagnees, 0::numeric AS montant_gagne,
           0 AS perdues, 0 AS paiements, 0::numeric AS montant_encaisse
      FROM rm_analytics_opportunities
    UNION ALL
    SELECT workspace_id, won_at, 0, 1, won_amount, 0, 0, 0
      FROM rm_analytics_opportunities WHERE won_at IS NOT NULL
    UNION ALL
    SELECT workspace_id, lost_at, 0, 0, 0, 1, 0, 0
      FROM rm_analytics_opportunities WHERE lost_at IS NOT NULL
    UNION ALL
    SELECT workspace_id, paid_at, 0, 0, 0, 0, 1, paid_amount
      FROM rm_analytics_payments WHERE paid_at IS NOT NULL
)
SELECT workspace_id,
       date_trunc('month', at AT TIME ZONE 'Europe/Paris')::date AS mois,
       sum(ouvertes) AS ouvertes,
       sum(gagnees) AS gagnees,
       sum(montant_gagne) AS montant_gagne,
       sum(perdues) AS perdues,
       sum(paiements) AS paiements,
       sum(montant_encaisse) AS montant_encaisse
  FROM facts
 GROUP BY 1, 2;
