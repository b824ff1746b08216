-- What the auditor's verify (docs/vouchers-ledger.md) relies on, and the replicas it reads.

-- Booking re-publishes a resource when staff take it out of service (resource.published,
-- in_service false): such desks do not count towards a programme's min_desks.
ALTER TABLE space_resources ADD COLUMN in_service boolean NOT NULL DEFAULT true;
