-- A consumer restored from a backup (docs/operations.md "Restoring a database"): where each
-- consumer stands in each partition, the offset of the next record to read, written in the
-- inbox's transaction. At each partition assignment the consumer seeks to it, so a restored
-- database is brought forward again from what its own data holds, not from the group's
-- offsets in Kafka (which stand ahead of it). A position the topic no longer holds (older
-- than its retention) stops that partition: cowork_consumer_position_lost.
CREATE TABLE consumer_positions (
    consumer    text    NOT NULL,
    topic       text    NOT NULL,
    "partition" integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (consumer, topic, "partition")
);
