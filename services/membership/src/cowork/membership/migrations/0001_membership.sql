-- Members: personal data lives only here (and on the compacted contacts topic). Erasure nulls
-- it and keeps the pseudonymous row so that memberships (accounting facts) stay referable.
CREATE TABLE members (
    id                    uuid        PRIMARY KEY,
    kind                  text        NOT NULL CHECK (kind IN ('person', 'organisation')),
    full_name             text,
    email                 text,
    phone                 text,
    language              text        NOT NULL CHECK (language IN ('it', 'en')),
    tax_code              text,
    residence_istat       text,
    privacy_consent_at    timestamptz,
    marketing_consent     boolean     NOT NULL DEFAULT false,
    marketing_consent_at  timestamptz,
    registered_at         timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    erased_at             timestamptz,
    CHECK (erased_at IS NOT NULL OR (full_name IS NOT NULL AND email IS NOT NULL
                                     AND tax_code IS NOT NULL AND privacy_consent_at IS NOT NULL))
);
CREATE UNIQUE INDEX members_tax_code_unique ON members (tax_code) WHERE erased_at IS NULL;
CREATE UNIQUE INDEX members_email_unique ON members (lower(email)) WHERE erased_at IS NULL;

-- Named people of an organisation: they book in the organisation's name.
CREATE TABLE member_people (
    id          uuid        PRIMARY KEY,
    member_id   uuid        NOT NULL REFERENCES members (id),
    full_name   text        NOT NULL,
    email       text        NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX member_people_by_member ON member_people (member_id);

CREATE TABLE plans (
    code                            text        PRIMARY KEY,
    name                            text        NOT NULL,
    kind                            text        NOT NULL
        CHECK (kind IN ('day_pass', 'carnet', 'monthly', 'quarterly', 'annual')),
    price_cents                     integer     NOT NULL CHECK (price_cents >= 0),
    resource_kinds                  text[]      NOT NULL,
    carnet_days                     integer     CHECK (carnet_days > 0),
    max_bookings_per_day            integer     CHECK (max_bookings_per_day > 0),
    max_bookings_per_week           integer     CHECK (max_bookings_per_week > 0),
    meeting_room_minutes_per_month  integer     CHECK (meeting_room_minutes_per_month >= 0),
    stackable                       boolean     NOT NULL DEFAULT false,
    created_at                      timestamptz NOT NULL,
    retired_at                      timestamptz,
    CHECK ((kind = 'carnet') = (carnet_days IS NOT NULL))
);

CREATE TABLE memberships (
    id             uuid        PRIMARY KEY,
    member_id      uuid        NOT NULL REFERENCES members (id),
    plan_code      text        NOT NULL REFERENCES plans (code),   -- a used plan cannot be deleted
    stackable      boolean     NOT NULL,
    status         text        NOT NULL CHECK (status IN ('active', 'suspended', 'expired', 'cancelled')),
    period_start   date        NOT NULL,
    period_end     date        NOT NULL CHECK (period_end >= period_start),
    price_cents    integer     NOT NULL CHECK (price_cents >= 0),
    status_reason  text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX memberships_by_member ON memberships (member_id);
-- One live membership per member, unless its plan is stackable: PostgreSQL enforces it, so two
-- concurrent purchases cannot both succeed.
CREATE UNIQUE INDEX memberships_one_live_per_member ON memberships (member_id)
    WHERE status IN ('active', 'suspended') AND NOT stackable;
