-- Who sent an application: the member themselves, or the front desk (staff) on their behalf
-- (the caller's token subject). Applications older than this column have none.
ALTER TABLE applications ADD COLUMN submitted_by text CHECK (length(submitted_by) <= 200);
