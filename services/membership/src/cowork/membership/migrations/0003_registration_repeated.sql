-- Issue 11: an anonymous registration that collides with a member (tax code or e-mail) is
-- answered as a success and saves nothing; the member is told by mail instead
-- (member.registration_repeated). This is when they were last told: a hostile client repeating
-- registrations gets at most one notice per member per hour. On the member's row rather than a
-- table of its own: the throttle is one conditional UPDATE of the row the attempt collided
-- with, whose row lock makes two concurrent attempts tell the member once, and it goes with
-- the member (no rows to purge).
ALTER TABLE members ADD COLUMN registration_repeated_at timestamptz;
