-- The opportunity table's sorts (projections/pipeline.py `table`): keyset pages
-- read these indexes in order instead of sorting the workspace's every row.
CREATE INDEX IF NOT EXISTS rm_opportunities_recent
    ON rm_opportunities (workspace_id, updated_at, id);
CREATE INDEX IF NOT EXISTS rm_opportunities_title
    ON rm_opportunities (workspace_id, lower(titre), id);
CREATE INDEX IF NOT EXISTS rm_opportunities_amount
    ON rm_opportunities (workspace_id, COALESCE(montant_estime, 0), id);
CREATE INDEX IF NOT EXISTS rm_opportunities_close_date
    ON rm_opportunities (workspace_id, COALESCE(date_cloture_prevue, DATE '9999-12-31'), id);
