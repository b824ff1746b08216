-- A producer restored from a backup (docs/operations.md "Restoring a database").
--
-- Per-key sequence numbers come from outbox_sequences, which a restore puts back to an earlier
-- point: the next event of a key would repeat a number the consumers already hold and be taken
-- for a late replay. So every record is sent with the *epoch* of its database beside the
-- sequence (header ce_sequenceepoch), compared before it by the consumers: a later epoch is
-- newer whatever its sequence. The epoch is drawn here, and drawn
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

-- The relay stamps each record with the epoch it reads with the batch (header
-- ce_sequenceepoch, cowork.shared.relay), not the insert trigger: nothing is added to the write
-- path. That is enough because what must hold is only that every record sent after a restore
-- is newer than any sent before it, and a restored database's epoch is redrawn before its
-- relay sends again (at start; the runbook stops every replica first). Rows already pending in
-- the backup go out in the new epoch too, ahead of the later rows of their keys (seq order).

-- Consumer side: each key's position is (epoch, sequence), compared in that order. Records
-- without an epoch (from before this migration) count as epoch 0.
ALTER TABLE consumer_sequences ADD COLUMN epoch bigint NOT NULL DEFAULT 0;
