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

-- A programme's terms are fixed once it has granted a voucher: the rules every voucher, every
-- subsidy and the auditor's verify are measured against cannot change underneath them. Its
-- status (open, closed) still changes.
CREATE FUNCTION programme_terms_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.name, NEW.budget_cents, NEW.coverage_pct, NEW.cap_per_beneficiary_cents,
        NEW.cap_per_year_cents, NEW.kind_caps_cents, NEW.min_eligible_cost_cents,
        NEW.valid_from, NEW.valid_until, NEW.max_duration_months, NEW.selection_mode,
        NEW.application_deadline, NEW.criteria, NEW.rna_code, NEW.eligibility, NEW.subsidises,
        NEW.accredited_space_ids, NEW.min_desks, NEW.opened_at)
       IS DISTINCT FROM
       (OLD.id, OLD.name, OLD.budget_cents, OLD.coverage_pct, OLD.cap_per_beneficiary_cents,
        OLD.cap_per_year_cents, OLD.kind_caps_cents, OLD.min_eligible_cost_cents,
        OLD.valid_from, OLD.valid_until, OLD.max_duration_months, OLD.selection_mode,
        OLD.application_deadline, OLD.criteria, OLD.rna_code, OLD.eligibility, OLD.subsidises,
        OLD.accredited_space_ids, OLD.min_desks, OLD.opened_at)
       AND EXISTS (SELECT 1 FROM vouchers v WHERE v.programme_id = OLD.id) THEN
        RAISE EXCEPTION 'programme % has vouchers: its terms are fixed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER programme_terms_immutable BEFORE UPDATE ON programmes
    FOR EACH ROW EXECUTE FUNCTION programme_terms_fixed();
-- A programme with vouchers is never deleted (the vouchers' foreign key already refuses it).
