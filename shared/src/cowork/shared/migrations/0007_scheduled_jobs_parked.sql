-- No scheduled job retries for ever (cowork.shared.scheduler): failures that are not the
-- database's or a lost race are counted, and the job that reaches the service's
-- SCHEDULER_MAX_ATTEMPTS is parked as failed until an operator retries it
-- (POST /v1/jobs/{id}/retry). A parked job is neither claimed nor purged by retention.
ALTER TABLE scheduled_jobs
    ADD COLUMN failures  integer     NOT NULL DEFAULT 0,
    ADD COLUMN failed_at timestamptz;

DROP INDEX scheduled_jobs_due;
CREATE INDEX scheduled_jobs_due ON scheduled_jobs (due_at)
    WHERE done_at IS NULL AND NOT cancelled AND failed_at IS NULL;
CREATE INDEX scheduled_jobs_failed ON scheduled_jobs (id)
    WHERE failed_at IS NOT NULL AND done_at IS NULL AND NOT cancelled;
