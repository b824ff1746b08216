-- When and by whom a booking was checked in (the member themself, or staff at the desk): the
-- agenda shows it, and reports count check-ins from it.
ALTER TABLE bookings ADD COLUMN checked_in_at timestamptz;
ALTER TABLE bookings ADD COLUMN checked_in_by text;
UPDATE bookings SET checked_in_at = updated_at WHERE status IN ('checked_in', 'completed');
-- No-shows and cancellations per member, for staff.
CREATE INDEX bookings_by_member_status ON bookings (member_id, status, starts_at);
-- A member's own cancellation after the cut-off (charged or not: an included booking's late
-- cancellation costs nothing, yet staff count it).
ALTER TABLE bookings ADD COLUMN cancelled_late boolean NOT NULL DEFAULT false;
UPDATE bookings SET cancelled_late = true WHERE status = 'cancelled' AND charged_cents > 0;
