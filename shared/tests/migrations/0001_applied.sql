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
