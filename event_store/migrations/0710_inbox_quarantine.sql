-- Quarantine screen (issue 6): a quarantined message an admin set aside
-- (`EmailMessage.Dismissed`) leaves the list; the history keeps it.
ALTER TABLE rm_emails ADD COLUMN IF NOT EXISTS quarantaine_ignoree boolean NOT NULL DEFAULT false;
DROP INDEX IF EXISTS rm_emails_quarantine;
CREATE INDEX IF NOT EXISTS rm_emails_quarantine_open ON rm_emails (workspace_id, date_message DESC, id)
    WHERE origine = 'quarantaine' AND NOT quarantaine_ignoree;
