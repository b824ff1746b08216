-- Retention (cowork.shared.retention): each purge picks its small batches through an index
-- instead of scanning the whole table.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_parked ON outbox (created_at)
    WHERE published_at IS NULL AND parked_reason IS NOT NULL;
CREATE INDEX inbox_received ON inbox (received_at);
CREATE INDEX scheduled_jobs_finished ON scheduled_jobs ((coalesce(done_at, created_at)))
    WHERE done_at IS NOT NULL OR cancelled;
