-- A producer restored from a backup (docs/operations.md "Restoring a database").
--
-- Per-key sequence numbers come from outbox_sequences, which a restore puts back to an earlier
-- point: the next event of a key would repeat a number the consumers already hold and be taken
-- for a late replay. So every number is drawn within an *epoch* of the database, carried on
-- the record beside the sequence (header ce_sequenceepoch) and compared before it by the
-- consumers: a later epoch is newer whatever its sequence. The epoch is drawn here, and drawn
-- again (always larger) when the database turns out not to be the one it was drawn in — its
-- identity changed: another cluster or timeline (a physical restore, a promoted replica),
-- another database, or this table recreated (pg_restore, psql of a dump) — and by the restore
-- procedure itself (`python -m cowork.<service> after-restore`). A redraw that was not needed
-- costs nothing: numbering just continues in a larger epoch.
CREATE TABLE outbox_epoch (
    singleton boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     bigint      NOT NULL,  -- microseconds since 1970 when drawn: later is larger
    identity  text        NOT NULL,  -- outbox_database_identity() when drawn
    drawn_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION outbox_database_identity() RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    cluster text;
BEGIN
    BEGIN
        SELECT s.system_identifier::text || '/' || c.timeline_id::text INTO cluster
        FROM pg_control_system() s, pg_control_checkpoint() c;
    EXCEPTION WHEN insufficient_privilege THEN
        cluster := '-';  -- the database and table parts still tell a logical restore
    END;
    RETURN cluster || '/' || (SELECT oid FROM pg_database WHERE datname = current_database())
        || '/' || 'outbox_epoch'::regclass::oid;
END $$;

CREATE FUNCTION outbox_redraw_epoch() RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO outbox_epoch AS e (singleton, epoch, identity)
    VALUES (true, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
            outbox_database_identity())
    ON CONFLICT (singleton) DO UPDATE
        SET epoch = greatest(EXCLUDED.epoch, e.epoch + 1), identity = EXCLUDED.identity,
            drawn_at = clock_timestamp()
    RETURNING epoch
$$;

-- Run at every start (after the migrations): true when the epoch had to be drawn again.
CREATE FUNCTION outbox_check_epoch() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT identity FROM outbox_epoch) IS NOT DISTINCT FROM outbox_database_identity() THEN
        RETURN false;
    END IF;
    PERFORM outbox_redraw_epoch();
    RETURN true;
END $$;

SELECT outbox_redraw_epoch();

-- The sequence first (it waits for the key's earlier writer), then the epoch, read after that
-- wait: a key's numbers never go back to an older epoch even while a redraw commits.
CREATE OR REPLACE FUNCTION outbox_assign_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_sequences AS s (aggregatetype, aggregateid, last_sequence)
    VALUES (NEW.aggregatetype, NEW.aggregateid, 1)
    ON CONFLICT (aggregatetype, aggregateid) DO UPDATE SET last_sequence = s.last_sequence + 1
    RETURNING s.last_sequence INTO NEW.aggregate_sequence;
    NEW.seq := nextval('outbox_seq_seq');
    NEW.headers := NEW.headers || jsonb_strip_nulls(jsonb_build_object(
        'ce_sequence', NEW.aggregate_sequence::text,
        'ce_sequenceepoch', (SELECT epoch FROM outbox_epoch)::text));
    RETURN NEW;
END $$;

-- Consumer side: each key's position is (epoch, sequence), compared in that order. Records
-- without an epoch (from before this migration) count as epoch 0.
ALTER TABLE consumer_sequences ADD COLUMN epoch bigint NOT NULL DEFAULT 0;
