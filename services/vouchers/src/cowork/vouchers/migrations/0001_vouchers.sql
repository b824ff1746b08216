-- The vouchers service: programmes, applications, vouchers, an append-only double-entry ledger,
-- replicas of members and spaces (from events), statements and the de minimis register.
-- Money is integer euro cents (bigint); see docs/vouchers.md and docs/vouchers-ledger.md.

CREATE TABLE programmes (
    id                         uuid        PRIMARY KEY,
    name                       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    budget_cents               bigint      NOT NULL CHECK (budget_cents > 0),
    coverage_pct               integer     NOT NULL CHECK (coverage_pct BETWEEN 1 AND 100),
    cap_per_beneficiary_cents  bigint      NOT NULL CHECK (cap_per_beneficiary_cents > 0),
    cap_per_year_cents         bigint      CHECK (cap_per_year_cents > 0),
    kind_caps_cents            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    min_eligible_cost_cents    bigint      NOT NULL DEFAULT 0 CHECK (min_eligible_cost_cents >= 0),
    valid_from                 date        NOT NULL,
    valid_until                date        NOT NULL CHECK (valid_until >= valid_from),
    max_duration_months        integer     CHECK (max_duration_months BETWEEN 1 AND 120),
    selection_mode             text        NOT NULL CHECK (selection_mode IN ('first_come', 'ranked')),
    application_deadline       date,
    criteria                   text[]      NOT NULL DEFAULT '{}',
    rna_code                   text,
    eligibility                jsonb       NOT NULL DEFAULT '{}'::jsonb,
    subsidises                 jsonb       NOT NULL,
    accredited_space_ids       uuid[],     -- NULL: every accredited space counts
    min_desks                  integer     NOT NULL DEFAULT 0 CHECK (min_desks >= 0),
    status                     text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at                  timestamptz NOT NULL,
    closed_at                  timestamptz,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- Balances of a programme's accounts: the row every movement locks FOR UPDATE, so that no
-- commitment goes above what is available whatever runs at the same time. The ledger is the
-- truth; this row is its running sum, kept in the same transaction as each ledger entry.
CREATE TABLE programme_balances (
    programme_id     uuid   PRIMARY KEY REFERENCES programmes (id),
    budget_cents     bigint NOT NULL CHECK (budget_cents > 0),
    available_cents  bigint NOT NULL CHECK (available_cents >= 0),
    committed_cents  bigint NOT NULL CHECK (committed_cents >= 0),
    disbursed_cents  bigint NOT NULL CHECK (disbursed_cents >= 0),
    CHECK (available_cents + committed_cents + disbursed_cents = budget_cents)
);

CREATE TABLE ledger_transactions (
    seq              bigserial   UNIQUE,
    id               uuid        PRIMARY KEY,
    programme_id     uuid        NOT NULL REFERENCES programmes (id),
    movement         text        NOT NULL CHECK (movement IN ('open', 'grant', 'redeem', 'reverse', 'release')),
    amount_cents     bigint      NOT NULL CHECK (amount_cents > 0),
    recorded_at      timestamptz NOT NULL,
    voucher_id       uuid,
    member_id        uuid,
    reason           text,
    source_type      text        CHECK (source_type IN ('booking', 'membership')),
    source_id        uuid,
    source_event_id  uuid,
    space_id         uuid,
    price_cents      bigint,
    -- The monthly statement (YYYY-MM, Europe/Rome) this entry belongs to, fixed when it is
    -- recorded: its own month, or the next one not yet issued (a late event). Redemptions and
    -- reversals only.
    statement_period text        CHECK (statement_period ~ '^\d{4}-(0[1-9]|1[0-2])$')
);
CREATE INDEX ledger_by_programme ON ledger_transactions (programme_id, seq);
CREATE INDEX ledger_by_statement ON ledger_transactions (programme_id, statement_period)
    WHERE statement_period IS NOT NULL;

CREATE TABLE ledger_postings (
    transaction_id  uuid   NOT NULL REFERENCES ledger_transactions (id),
    account         text   NOT NULL CHECK (account IN ('funding', 'available', 'committed', 'disbursed')),
    amount_cents    bigint NOT NULL CHECK (amount_cents <> 0),
    PRIMARY KEY (transaction_id, account)
);

-- Append-only: a correction is a new reversing entry, never an UPDATE or a DELETE.
CREATE FUNCTION vouchers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION vouchers_append_only();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION vouchers_append_only();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION vouchers_append_only();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION vouchers_append_only();

-- Every transaction has at least two postings and they sum to zero: checked at COMMIT
-- (deferred), once the transaction's postings are all written.
CREATE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- a posting names its transaction; a transaction is its own id
    tx uuid := coalesce(to_jsonb(NEW) ->> 'transaction_id', to_jsonb(NEW) ->> 'id')::uuid;
    n integer;
    total bigint;
BEGIN
    SELECT count(*), coalesce(sum(amount_cents), 0) INTO n, total
    FROM ledger_postings WHERE transaction_id = tx;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (% postings, sum %)', tx, n, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();
CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();

-- Replicas (member ids and non-personal attributes only), from cowork.membership.events.
CREATE TABLE members (
    member_id        uuid        PRIMARY KEY,
    kind             text,
    residence_istat  text,
    erased_at        timestamptz,
    updated_at       timestamptz NOT NULL
);

-- From cowork.booking.events resource.published: which resources (of which kind) a space has.
CREATE TABLE space_resources (
    resource_id  uuid PRIMARY KEY,
    space_id     uuid NOT NULL,
    kind         text NOT NULL
);
CREATE INDEX space_resources_by_space ON space_resources (space_id);

-- The municipality's register of spaces whose costs count; ended, never deleted.
CREATE TABLE accredited_spaces (
    id           uuid        PRIMARY KEY,
    space_id     uuid        NOT NULL,
    from_date    date        NOT NULL,
    until_date   date,       -- exclusive; NULL while the accreditation lasts
    reason       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    CHECK (until_date IS NULL OR until_date >= from_date)
);
CREATE UNIQUE INDEX one_open_accreditation ON accredited_spaces (space_id) WHERE until_date IS NULL;

CREATE TABLE applications (
    id                uuid        PRIMARY KEY,
    programme_id      uuid        NOT NULL REFERENCES programmes (id),
    member_id         uuid        NOT NULL,
    submitted_at      timestamptz NOT NULL,
    status            text        NOT NULL CHECK (status IN ('pending', 'granted', 'rejected', 'waitlisted')),
    reasons           text[]      NOT NULL DEFAULT '{}',
    -- Self-declarations (personal: birth date, tax code); emptied on GDPR erasure.
    declarations      jsonb       NOT NULL,
    undertaking_key   text        NOT NULL,
    condition_deadline date,      -- admitted on condition (a partita IVA opened by then)
    voucher_id        uuid,
    rank_position     integer,
    decided_at        timestamptz
);
-- One live application (so one voucher) per beneficiary per programme; a rejected applicant
-- may apply again.
CREATE UNIQUE INDEX one_application_per_beneficiary ON applications (programme_id, member_id)
    WHERE status <> 'rejected';
CREATE INDEX applications_by_member ON applications (member_id);
CREATE INDEX applications_waiting ON applications (programme_id, rank_position) WHERE status = 'waitlisted';

CREATE TABLE vouchers (
    id                     uuid        PRIMARY KEY,
    programme_id           uuid        NOT NULL REFERENCES programmes (id),
    member_id              uuid        NOT NULL,
    application_id         uuid        NOT NULL UNIQUE REFERENCES applications (id),
    amount_cents           bigint      NOT NULL CHECK (amount_cents > 0),
    remaining_cents        bigint      NOT NULL CHECK (remaining_cents >= 0 AND remaining_cents <= amount_cents),
    released_cents         bigint      NOT NULL DEFAULT 0 CHECK (released_cents >= 0),
    status                 text        NOT NULL CHECK (status IN ('active', 'expired', 'revoked')),
    granted_at             timestamptz NOT NULL,
    valid_from             date        NOT NULL,
    valid_until            date        NOT NULL CHECK (valid_until >= valid_from),
    condition_deadline     date,       -- conditional grant: partita IVA to be opened by then
    partita_iva_opened_on  date,
    ended_at               timestamptz,
    end_reason             text,
    UNIQUE (programme_id, member_id)
);
CREATE INDEX active_vouchers_by_member ON vouchers (member_id) WHERE status = 'active';

CREATE TABLE redemptions (
    id               uuid        PRIMARY KEY,
    voucher_id       uuid        NOT NULL REFERENCES vouchers (id),
    programme_id     uuid        NOT NULL REFERENCES programmes (id),
    member_id        uuid        NOT NULL,
    source_type      text        NOT NULL CHECK (source_type IN ('booking', 'membership')),
    source_id        uuid        NOT NULL,
    source_event_id  uuid        NOT NULL UNIQUE,   -- recorded once however often it arrives
    space_id         uuid,
    resource_kind    text,
    used_on          date        NOT NULL,
    price_cents      bigint      NOT NULL CHECK (price_cents >= 0),
    charged_cents    bigint      NOT NULL CHECK (charged_cents >= 0),
    subsidy_cents    bigint      NOT NULL CHECK (subsidy_cents > 0),
    reversed_cents   bigint      NOT NULL DEFAULT 0 CHECK (reversed_cents BETWEEN 0 AND subsidy_cents),
    recorded_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX one_redemption_per_booking ON redemptions (source_id) WHERE source_type = 'booking';
CREATE INDEX redemptions_by_voucher ON redemptions (voucher_id);

-- Bookings a voucher would have covered but that cost the member nothing (their plan includes
-- them): if such a booking is cancelled late, the late-cancellation charge is what the member
-- pays, and that charge is subsidised. (booking.cancelled carries no space or kind.)
CREATE TABLE unsubsidised_bookings (
    booking_id     uuid PRIMARY KEY,
    member_id      uuid NOT NULL,
    space_id       uuid NOT NULL,
    resource_kind  text NOT NULL,
    used_on        date NOT NULL
);

-- Thresholds (budget 80/100 %, voucher 80 %, voucher expiring) emitted exactly once each.
CREATE TABLE thresholds_emitted (
    subject_id  uuid        NOT NULL,
    threshold   text        NOT NULL,
    emitted_at  timestamptz NOT NULL,
    PRIMARY KEY (subject_id, threshold)
);

-- De minimis register (Regulation (EU) 2023/2831) per undertaking: the key is a SHA-256 of
-- the declared tax code (or the member id when none was declared), never the code itself.
CREATE TABLE de_minimis_grants (
    voucher_id       uuid        PRIMARY KEY REFERENCES vouchers (id),
    undertaking_key  text        NOT NULL,
    programme_id     uuid        NOT NULL REFERENCES programmes (id),
    granted_on       date        NOT NULL,
    amount_cents     bigint      NOT NULL CHECK (amount_cents > 0),
    rna_code         text
);
CREATE INDEX de_minimis_by_undertaking ON de_minimis_grants (undertaking_key, granted_on);

CREATE TABLE statements (
    id               uuid        PRIMARY KEY,
    programme_id     uuid        NOT NULL REFERENCES programmes (id),
    period           text        NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    json_bytes       bytea       NOT NULL,
    csv_bytes        bytea       NOT NULL,
    sha256           text        NOT NULL,
    redeemed_cents   bigint      NOT NULL,
    reversed_cents   bigint      NOT NULL,
    net_cents        bigint      NOT NULL,
    lines            integer     NOT NULL,
    issued_at        timestamptz NOT NULL,
    UNIQUE (programme_id, period)
);
CREATE TRIGGER statements_append_only BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION vouchers_append_only();
