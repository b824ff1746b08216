-- A row Kafka will never accept (too large for the broker) is parked with the reason instead of
-- blocking every later event of the service: the relay skips it, counts it
-- (cowork_outbox_parked_total) and logs it; an operator fixes the cause and sets
-- parked_reason back to NULL to publish it (docs/operations.md).
ALTER TABLE outbox ADD COLUMN parked_reason text;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL AND parked_reason IS NULL;
