-- Deliberately no unique constraint: an event applied twice shows up as two rows.
CREATE TABLE applied (
    id        bigserial PRIMARY KEY,
    event_id  uuid    NOT NULL,
    key       text    NOT NULL,
    seq       integer NOT NULL
);
CREATE TABLE emitted (
    key  text    NOT NULL,
    seq  integer NOT NULL,
    PRIMARY KEY (key, seq)
);
-- A stream listed here cannot be applied yet (a missing prerequisite): its events fail until
-- the row is removed, which lets the DLQ replay test fix the cause and replay.
CREATE TABLE blocked_streams (stream text PRIMARY KEY);
