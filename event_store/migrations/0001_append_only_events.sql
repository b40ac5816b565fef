-- The stored events are facts: the database itself refuses to change or remove them.
-- The table "crm_events" is created by the eventsourcing library (CREATE TABLE IF NOT
-- EXISTS) before the migrations run; this trigger turns UPDATE, DELETE and TRUNCATE
-- into errors for every role, the owner included.
CREATE OR REPLACE FUNCTION crm_refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'crm_events est en ajout seul : % refusé', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS crm_events_append_only ON crm_events;
CREATE TRIGGER crm_events_append_only
    BEFORE UPDATE OR DELETE ON crm_events
    FOR EACH ROW EXECUTE FUNCTION crm_refuse_event_change();

DROP TRIGGER IF EXISTS crm_events_no_truncate ON crm_events;
CREATE TRIGGER crm_events_no_truncate
    BEFORE TRUNCATE ON crm_events
    FOR EACH STATEMENT EXECUTE FUNCTION crm_refuse_event_change();
