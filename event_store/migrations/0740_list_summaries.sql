-- Summaries the list screens read instead of aggregating a workspace per request.

-- The board's column totals (count and amount per stage), kept by the pipeline
-- projection in the same transaction as rm_opportunities: the board reads a few
-- rows here instead of aggregating the workspace's every opportunity per request.
-- One row per (workspace, stage, owner): the board filtered by owner reads its own;
-- `owner_key` is the nil UUID for opportunities without an owner.
CREATE TABLE IF NOT EXISTS rm_pipeline_totals (
    workspace_id  uuid NOT NULL,
    etape         text NOT NULL,
    owner_key     uuid NOT NULL,
    nombre        bigint NOT NULL DEFAULT 0,
    total         numeric(18, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, etape, owner_key)
);

-- Existing opportunities: counted once, with the projection's writes held back
-- until this migration commits (a runner elsewhere would otherwise count twice).
LOCK TABLE rm_opportunities IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO rm_pipeline_totals (workspace_id, etape, owner_key, nombre, total)
SELECT workspace_id, etape, COALESCE(owner_id, '00000000-0000-0000-0000-000000000000'),
       count(*), COALESCE(sum(montant_estime), 0)
FROM rm_opportunities
GROUP BY 1, 2, 3
ON CONFLICT DO NOTHING;

-- The board's newest-first cards (updated_at DESC, id DESC): the same order as the
-- table's "maj" sort, so a column's cursor pages on in /api/opportunites.
CREATE INDEX IF NOT EXISTS rm_opportunities_stage_recent
    ON rm_opportunities (workspace_id, etape, updated_at, id);
-- It replaces the board index of 0002 (updated_at DESC, id ASC), which no query
-- reads any more.
DROP INDEX IF EXISTS rm_opportunities_board;

-- The client list's tag filter: each workspace's tags with the number of clients
-- carrying them, kept by the clients projection (the list page read them with a
-- DISTINCT over every client's tags at each request).
CREATE TABLE IF NOT EXISTS rm_client_tags (
    workspace_id  uuid NOT NULL,
    tag           text NOT NULL,
    nombre        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, tag)
);
LOCK TABLE rm_clients IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO rm_client_tags (workspace_id, tag, nombre)
SELECT c.workspace_id, t.tag, count(DISTINCT c.id)
FROM rm_clients c CROSS JOIN LATERAL unnest(c.tags) AS t(tag)
GROUP BY 1, 2
ON CONFLICT DO NOTHING;

-- The client list's total without filters: clients per workspace, archived or not,
-- kept by the clients projection (a count(*) over the workspace per page before).
CREATE TABLE IF NOT EXISTS rm_client_counts (
    workspace_id  uuid NOT NULL,
    archived      boolean NOT NULL,
    nombre        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, archived)
);
INSERT INTO rm_client_counts (workspace_id, archived, nombre)
SELECT workspace_id, archived, count(*) FROM rm_clients GROUP BY 1, 2
ON CONFLICT DO NOTHING;
