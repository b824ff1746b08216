-- Per-key order, by construction (docs/architecture.md "Per-key order").
--
-- Producer side: every outbox row gets the next sequence number of its aggregate (topic, key),
-- carried on the record as the CloudEvents `sequence` extension (header ce_sequence). Taking
-- the number locks the aggregate's counter row until commit, so two transactions writing
-- events of one key are serialized whatever else they lock; `seq` is drawn again after that
-- lock, so one key's rows are in `seq` order exactly as they are in commit order, which is
-- the order the relay publishes.
CREATE TABLE outbox_sequences (
    aggregatetype text   NOT NULL,
    aggregateid   text   NOT NULL,
    last_sequence bigint NOT NULL,
    PRIMARY KEY (aggregatetype, aggregateid)
);
ALTER TABLE outbox ADD COLUMN aggregate_sequence bigint;

CREATE FUNCTION outbox_assign_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_sequences AS s (aggregatetype, aggregateid, last_sequence)
    VALUES (NEW.aggregatetype, NEW.aggregateid, 1)
    ON CONFLICT (aggregatetype, aggregateid) DO UPDATE SET last_sequence = s.last_sequence + 1
    RETURNING s.last_sequence INTO NEW.aggregate_sequence;
    NEW.seq := nextval('outbox_seq_seq');
    NEW.headers := NEW.headers || jsonb_build_object('ce_sequence', NEW.aggregate_sequence::text);
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_assign_sequence BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_assign_sequence();

-- Consumer side: the newest sequence each consumer applied per (topic, key); an event that is
-- not newer (a late replay) is recorded in the inbox but not applied.
CREATE TABLE consumer_sequences (
    consumer      text   NOT NULL,
    topic         text   NOT NULL,
    key           text   NOT NULL,
    last_sequence bigint NOT NULL,
    PRIMARY KEY (consumer, topic, key)
);

-- A key with a record in the dead-letter topic is held: its later records are parked here,
-- not applied, until the dead letter is replayed (and applies) or discarded (`cowork dlq`).
-- state 'dead': waiting for the operator; 'released': discarded, the consumer applies the
-- parked records and removes the row.
CREATE TABLE dead_lettered_keys (
    consumer         text        NOT NULL,
    topic            text        NOT NULL,
    key              text        NOT NULL,
    event_id         uuid,                   -- NULL for a record that could not be decoded
    event_type       text,
    error_type       text        NOT NULL,
    state            text        NOT NULL DEFAULT 'dead' CHECK (state IN ('dead', 'released')),
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, key)
);

CREATE TABLE parked_records (
    id          bigserial   PRIMARY KEY,
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    key         text        NOT NULL,
    "partition" integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    headers     jsonb       NOT NULL,   -- the record's text headers (CloudEvents attributes)
    value       bytea,
    parked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_records_by_key ON parked_records (consumer, topic, key, id);
