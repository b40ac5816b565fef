-- Tamper evidence: every stored event is chained to the previous one by a SHA-256
-- hash, written by the database in the same transaction as the event. A superuser
-- can disable the append-only triggers and edit, delete or reorder events; `crm
-- events verify` then recomputes the chain and names the first broken position.
--
-- hash(n) = sha256(hash(n-1) || n || originator_id || originator_version
--                  || length(topic) || topic || state)      (binary encodings)
-- The library takes an EXCLUSIVE lock on crm_events for every insert, so the events
-- are chained in notification order. Rolled-back inserts leave sequence gaps but no
-- chain rows: a gap is not tampering, a chained event that vanished is.

CREATE TABLE IF NOT EXISTS crm_event_chain (
    notification_id  bigint PRIMARY KEY,
    hash             bytea NOT NULL
);

-- The last chained position: deleting the tail of the log and of the chain still
-- leaves the head pointing past it.
CREATE TABLE IF NOT EXISTS crm_event_chain_head (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    notification_id  bigint NOT NULL,
    hash             bytea NOT NULL
);

CREATE OR REPLACE FUNCTION crm_event_hash(
    previous bytea, notification_id bigint, originator_id uuid, originator_version bigint,
    topic text, state bytea
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        coalesce(previous, ''::bytea)
        || int8send(notification_id)
        || uuid_send(originator_id)
        || int8send(originator_version)
        || int4send(octet_length(convert_to(topic, 'UTF8')))
        || convert_to(topic, 'UTF8')
        || state
    )
$$;

CREATE OR REPLACE FUNCTION crm_chain_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
    last_id bigint;
    item record;
BEGIN
    SELECT h.hash, h.notification_id INTO previous, last_id FROM crm_event_chain_head h;
    FOR item IN
        SELECT i.notification_id, i.originator_id, i.originator_version, i.topic, i.state
        FROM inserted i ORDER BY i.notification_id
    LOOP
        previous := crm_event_hash(previous, item.notification_id, item.originator_id,
                                   item.originator_version, item.topic, item.state);
        last_id := item.notification_id;
        INSERT INTO crm_event_chain (notification_id, hash) VALUES (last_id, previous);
    END LOOP;
    IF last_id IS NOT NULL THEN
        INSERT INTO crm_event_chain_head (singleton, notification_id, hash)
        VALUES (true, last_id, previous)
        ON CONFLICT (singleton) DO UPDATE
            SET notification_id = EXCLUDED.notification_id, hash = EXCLUDED.hash;
    END IF;
    RETURN NULL;
END;
$$;

-- Chain what was stored before this migration, with writers kept out meanwhile.
LOCK TABLE crm_events IN EXCLUSIVE MODE;
DO $$
DECLARE
    previous bytea;
    last_id bigint;
    item record;
BEGIN
    SELECT h.hash, h.notification_id INTO previous, last_id FROM crm_event_chain_head h;
    FOR item IN
        SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state
        FROM crm_events e WHERE e.notification_id > coalesce(last_id, 0)
        ORDER BY e.notification_id
    LOOP
        previous := crm_event_hash(previous, item.notification_id, item.originator_id,
                                   item.originator_version, item.topic, item.state);
        last_id := item.notification_id;
        INSERT INTO crm_event_chain (notification_id, hash) VALUES (last_id, previous);
    END LOOP;
    IF last_id IS NOT NULL THEN
        INSERT INTO crm_event_chain_head (singleton, notification_id, hash)
        VALUES (true, last_id, previous)
        ON CONFLICT (singleton) DO UPDATE
            SET notification_id = EXCLUDED.notification_id, hash = EXCLUDED.hash;
    END IF;
END;
$$;

DROP TRIGGER IF EXISTS crm_events_chain ON crm_events;
CREATE TRIGGER crm_events_chain
    AFTER INSERT ON crm_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION crm_chain_events();

-- The chain is as append-only as the events (the head alone moves, by the trigger).
DROP TRIGGER IF EXISTS crm_event_chain_append_only ON crm_event_chain;
CREATE TRIGGER crm_event_chain_append_only
    BEFORE UPDATE OR DELETE ON crm_event_chain
    FOR EACH ROW EXECUTE FUNCTION crm_refuse_event_change();
DROP TRIGGER IF EXISTS crm_event_chain_no_truncate ON crm_event_chain;
CREATE TRIGGER crm_event_chain_no_truncate
    BEFORE TRUNCATE ON crm_event_chain
    FOR EACH STATEMENT EXECUTE FUNCTION crm_refuse_event_change();
