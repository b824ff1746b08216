-- What the auditor's verify (docs/vouchers-ledger.md) relies on, and the replicas it reads.

-- Booking re-publishes a resource when staff take it out of service (resource.published,
-- in_service false): such desks do not count towards a programme's min_desks.
ALTER TABLE space_resources ADD COLUMN in_service boolean NOT NULL DEFAULT true;

-- De minimis: one undertaking may be declared under several keys (a sole trader's codice
-- fiscale and partita IVA; the member's own id before they declared one). Each key linked to
-- another undertaking names that undertaking's key (its root: a key with no link); grants are
-- counted over every key of the undertaking. A member's keys are always one undertaking.
CREATE TABLE undertaking_links (
    key              text PRIMARY KEY,
    undertaking_key  text NOT NULL CHECK (undertaking_key <> key)
);
CREATE INDEX undertaking_links_by_undertaking ON undertaking_links (undertaking_key);

-- The links the applications already recorded imply, in the order they were made.
DO $$
DECLARE
    a record;
    member_root text;
    declared_root text;
BEGIN
    FOR a IN SELECT member_id, undertaking_key FROM applications ORDER BY submitted_at, id LOOP
        member_root := coalesce((SELECT l.undertaking_key FROM undertaking_links l
                                 WHERE l.key = 'member:' || a.member_id), 'member:' || a.member_id);
        declared_root := coalesce((SELECT l.undertaking_key FROM undertaking_links l
                                   WHERE l.key = a.undertaking_key), a.undertaking_key);
        IF member_root <> declared_root THEN
            UPDATE undertaking_links SET undertaking_key = declared_root
            WHERE undertaking_key = member_root;
            INSERT INTO undertaking_links (key, undertaking_key) VALUES (member_root, declared_root);
        END IF;
    END LOOP;
END $$;
