-- Analytics summaries per day (projection "analytics"): what the tableau de bord sums
-- over a period instead of scanning every opportunity, stage entry and activity.
-- A period of a year reads at most 366 rows per owner and metric. Days are calendar
-- days in Europe/Paris, the same cut as the periods of `projections.metrics`.
-- The projection keeps them in step with the fact tables of 0500_analytics.sql in the
-- same transaction: every change of an opportunity row subtracts what the row counted
-- for before and adds what it counts for after (see src/projections/analytics.py).
-- Documented in README.md ("Read models").

-- Whether an opportunity has received a payment / a payment link (any of its payment
-- requests, at any time): the per-day counters of paid and unpaid wins need it.
ALTER TABLE rm_analytics_opportunities ADD COLUMN IF NOT EXISTS paid boolean NOT NULL DEFAULT false;
ALTER TABLE rm_analytics_opportunities ADD COLUMN IF NOT EXISTS linked boolean NOT NULL DEFAULT false;
UPDATE rm_analytics_opportunities o
   SET paid = p.paid, linked = p.linked
  FROM (SELECT opportunity_id, bool_or(paid_at IS NOT NULL) AS paid,
               bool_or(link_created_at IS NOT NULL) AS linked
          FROM rm_analytics_payments GROUP BY opportunity_id) p
 WHERE p.opportunity_id = o.id AND (p.paid OR p.linked);

-- Per workspace, salesperson and day: the opportunities' decisive moves (counted for
-- the opportunity's current owner, on the day of the move, while it holds: a reopened
-- opportunity leaves the day it was won) and the calls (counted for their author).
CREATE TABLE IF NOT EXISTS rm_analytics_days (
    workspace_id        uuid NOT NULL,
    owner_id            uuid,                  -- owner of the opportunities / author of the calls
    jour                date NOT NULL,         -- Paris time
    ouvertes            integer NOT NULL DEFAULT 0,  -- opportunities created that day
    gagnees             integer NOT NULL DEFAULT 0,  -- won that day (and still won)
    montant_gagne       numeric(16, 2) NOT NULL DEFAULT 0,  -- their Won amounts
    perdues             integer NOT NULL DEFAULT 0,  -- lost that day (and still lost)
    closes_payees       integer NOT NULL DEFAULT 0,  -- won or lost that day, and paid
    gagnees_non_payees  integer NOT NULL DEFAULT 0,  -- won that day, no payment yet
    montant_en_attente  numeric(16, 2) NOT NULL DEFAULT 0,  -- their Won amounts
    gagnees_avec_lien   integer NOT NULL DEFAULT 0,  -- won that day, with a payment link
    appels              integer NOT NULL DEFAULT 0,  -- activities of kind "appel" dated that day
    UNIQUE NULLS NOT DISTINCT (workspace_id, owner_id, jour)
);
CREATE INDEX IF NOT EXISTS rm_analytics_days_ws ON rm_analytics_days (workspace_id, jour);

-- Per workspace, owner, day and stage: opportunities entering the stage that day, and
-- the sum of their current estimated amounts (kept up to date when an amount changes).
CREATE TABLE IF NOT EXISTS rm_analytics_stage_days (
    workspace_id  uuid NOT NULL,
    owner_id      uuid,
    jour          date NOT NULL,
    etape         text NOT NULL,
    entrees       integer NOT NULL DEFAULT 0,
    montant       numeric(16, 2) NOT NULL DEFAULT 0,
    UNIQUE NULLS NOT DISTINCT (workspace_id, owner_id, jour, etape)
);
CREATE INDEX IF NOT EXISTS rm_analytics_stage_days_ws ON rm_analytics_stage_days (workspace_id, jour);

-- A database whose analytics projection ran before this migration: the summaries of
-- its existing facts (a fresh database has none; a rebuild computes the same).
INSERT INTO rm_analytics_days (workspace_id, owner_id, jour, ouvertes, gagnees, montant_gagne,
    perdues, closes_payees, gagnees_non_payees, montant_en_attente, gagnees_avec_lien)
SELECT o.workspace_id, o.owner_id, f.jour, sum(f.ouvertes), sum(f.gagnees), sum(f.montant_gagne),
       sum(f.perdues), sum(f.closes_payees), sum(f.non_payees), sum(f.en_attente), sum(f.avec_lien)
  FROM rm_analytics_opportunities o
 CROSS JOIN LATERAL (VALUES
    ((o.opened_at AT TIME ZONE 'Europe/Paris')::date, 1, 0, 0::numeric, 0, 0, 0, 0::numeric, 0),
    ((o.won_at AT TIME ZONE 'Europe/Paris')::date, 0, 1, COALESCE(o.won_amount, 0), 0,
        o.paid::int, (NOT o.paid)::int,
        CASE WHEN o.paid THEN 0 ELSE COALESCE(o.won_amount, 0) END, o.linked::int),
    ((o.lost_at AT TIME ZONE 'Europe/Paris')::date, 0, 0, 0, 1, o.paid::int, 0, 0, 0)
 ) AS f (jour, ouvertes, gagnees, montant_gagne, perdues, closes_payees, non_payees, en_attente,
         avec_lien)
 WHERE f.jour IS NOT NULL
 GROUP BY 1, 2, 3
ON CONFLICT (workspace_id, owner_id, jour) DO NOTHING;

INSERT INTO rm_analytics_days AS d (workspace_id, owner_id, jour, appels)
SELECT workspace_id, auteur_id, (date_activite AT TIME ZONE 'Europe/Paris')::date, count(*)
  FROM rm_analytics_activities WHERE kind = 'appel'
 GROUP BY 1, 2, 3
ON CONFLICT (workspace_id, owner_id, jour) DO UPDATE SET appels = d.appels + EXCLUDED.appels;

INSERT INTO rm_analytics_stage_days (workspace_id, owner_id, jour, etape, entrees, montant)
SELECT o.workspace_id, o.owner_id, (e.entered_at AT TIME ZONE 'Europe/Paris')::date, e.etape,
       count(*), COALESCE(sum(o.montant), 0)
  FROM rm_analytics_stage_entries e
  JOIN rm_analytics_opportunities o ON o.id = e.opportunity_id
 GROUP BY 1, 2, 3, 4
ON CONFLICT (workspace_id, owner_id, jour, etape) DO NOTHING;

-- The open pipeline today (opportunities neither won nor lost) per owner and stage:
-- a few rows instead of finding the open ones among every opportunity.
CREATE TABLE IF NOT EXISTS rm_analytics_open_pipeline (
    workspace_id  uuid NOT NULL,
    owner_id      uuid,
    etape         text NOT NULL,
    nombre        integer NOT NULL DEFAULT 0,
    montant       numeric(16, 2) NOT NULL DEFAULT 0,  -- current estimated amounts
    UNIQUE NULLS NOT DISTINCT (workspace_id, owner_id, etape)
);

INSERT INTO rm_analytics_open_pipeline (workspace_id, owner_id, etape, nombre, montant)
SELECT workspace_id, owner_id, etape, count(*), COALESCE(sum(montant), 0)
  FROM rm_analytics_opportunities WHERE won_at IS NULL AND lost_at IS NULL
 GROUP BY 1, 2, 3
ON CONFLICT (workspace_id, owner_id, etape) DO NOTHING;

-- The tableau de bord's latest open tickets (projection "tickets"): the open ones are a
-- small part of all tickets, read newest first without sorting them all.
CREATE INDEX IF NOT EXISTS rm_tickets_open_recent
    ON rm_tickets (workspace_id, updated_at DESC, id DESC) WHERE statut NOT IN ('resolu', 'ferme');
