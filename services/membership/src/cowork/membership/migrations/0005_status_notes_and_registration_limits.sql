-- Issue 20, point 9: a suspension's or reinstatement's reason is a code (it travels on the
-- event to every webhook subscriber); the desk's free text is a note kept here, shown to
-- staff only, and cleared with the member's erasure.
ALTER TABLE memberships ADD COLUMN status_note text;
-- Reasons written as free text before: the text becomes the note, the reason `other`.
UPDATE memberships SET status_note = status_reason, status_reason = 'other'
WHERE status IN ('active', 'suspended') AND status_reason IS NOT NULL
  AND status_reason NOT IN ('non_payment', 'conduct', 'request', 'other');

-- Issue 20, point 6: anonymous self-registrations counted per e-mail inbox and per client in a
-- fixed window. `digest` is an HMAC of the normalised address or client (its kind inside), so
-- the table holds no address and no IP; rows whose window has passed are deleted as new
-- attempts come in.
CREATE TABLE registration_limits (
    digest       bytea PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL
);
CREATE INDEX registration_limits_window_start ON registration_limits (window_start);
