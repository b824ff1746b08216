-- Issue 20, point 9: a suspension's or reinstatement's reason is a code (it travels on the
-- event to every webhook subscriber); the desk's free text is a note kept here, shown to
-- staff only, and cleared with the member's erasure.
ALTER TABLE memberships ADD COLUMN status_note text;
-- Reasons written as free text before: the text becomes the note, the reason `other`.
UPDATE memberships SET status_note = status_reason, status_reason = 'other'
WHERE status IN ('active', 'suspended') AND status_reason IS NOT NULL
  AND status_reason NOT IN ('non_payment', 'conduct', 'request', 'other');
