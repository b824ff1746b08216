-- Bumped on a resource by every change of it or of its space's calendar (opening hours,
-- closures, timezone). A booking is written only if the version it was decided on is still
-- the resource's (checked under a shared lock on the resource row, which every such change
-- takes exclusively), so no booking slips past a change that forbids it — and only the
-- booked resource's row is locked, never the space's, which every booking would share.
ALTER TABLE resources ADD COLUMN calendar_version bigint NOT NULL DEFAULT 0;
