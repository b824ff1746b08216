-- Who cancelled a booking and, when the system did, why: the agenda and the member's booking
-- show it (the same as booking.cancelled carries).
ALTER TABLE bookings ADD COLUMN cancelled_by text;
ALTER TABLE bookings ADD COLUMN cancel_reason text;
