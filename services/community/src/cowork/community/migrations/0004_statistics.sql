-- Statistics: what community keeps from the events it consumes to count (never a name, an
-- e-mail or a birth date), and the open-data releases frozen month by month.

-- One row per member who joined: the month, residence municipality and age band they joined
-- with, and the status they declared when granted a voucher. The member id is an opaque key
-- (it links a voucher to the member's row), not personal data.
CREATE TABLE stats_members (
    member_id       uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    joined_at       timestamptz NOT NULL,
    residence_istat text,
    age_band        text,
    status          text
);
CREATE INDEX stats_members_joined ON stats_members (joined_at);

-- Bookable resources (the seats give the available hours) and the bookings' hours, no member.
CREATE TABLE stats_resources (
    resource_id uuid    PRIMARY KEY,
    space_id    uuid    NOT NULL,
    kind        text    NOT NULL,
    seats       integer NOT NULL,
    in_service  boolean NOT NULL DEFAULT true
);
CREATE TABLE stats_bookings (
    booking_id  uuid        PRIMARY KEY,
    space_id    uuid        NOT NULL,
    kind        text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    cancelled   boolean     NOT NULL DEFAULT false
);
CREATE INDEX stats_bookings_start ON stats_bookings (starts_at);

-- Programmes (budget for the burn-down), vouchers and the money they moved, by day.
CREATE TABLE stats_programmes (
    programme_id uuid   PRIMARY KEY,
    name         text   NOT NULL,
    budget_cents bigint NOT NULL,
    valid_from   date   NOT NULL,
    valid_until  date   NOT NULL
);
CREATE TABLE stats_vouchers (
    voucher_id             uuid        PRIMARY KEY,
    programme_id           uuid        NOT NULL,
    member_id              uuid        NOT NULL,
    amount_cents           bigint      NOT NULL,
    granted_at             timestamptz NOT NULL,
    status                 text,
    age_band               text,
    partita_iva_declared_at timestamptz
);
CREATE TABLE stats_voucher_flows (
    event_id     uuid        PRIMARY KEY,
    voucher_id   uuid        NOT NULL,
    at           timestamptz NOT NULL,
    cents        bigint      NOT NULL  -- a redemption adds, a reversal takes back
);

-- Meetings and their attendance; the expressions of interest as counted (no e-mail).
CREATE TABLE stats_meetings (
    meeting_id  uuid        PRIMARY KEY,
    title       text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    capacity    integer     NOT NULL,
    cancelled   boolean     NOT NULL DEFAULT false,
    registered  integer,
    attendance  integer,
    checked_in  integer     NOT NULL DEFAULT 0
);
CREATE TABLE stats_interest (
    interest_id    uuid        PRIMARY KEY,
    at             timestamptz NOT NULL,
    who            text        NOT NULL,
    desk_kinds     text[]      NOT NULL,
    weekdays       text[]      NOT NULL,
    time_bands     text[]      NOT NULL,
    would_help_run boolean     NOT NULL
);

-- A dataset's month, frozen once built: the CSV bytes and their hash never change after.
CREATE TABLE open_data_releases (
    dataset  text        NOT NULL,
    period   text        NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    csv      bytea       NOT NULL,
    sha256   text        NOT NULL,
    built_at timestamptz NOT NULL,
    PRIMARY KEY (dataset, period)
);

-- The monthly build: the job for the current month, due on the next month's first night; each
-- run schedules the next one.
INSERT INTO scheduled_jobs (kind, key, due_at)
VALUES ('community.open_data_build',
        to_char(now() AT TIME ZONE 'Europe/Rome', 'YYYY-MM'),
        (date_trunc('month', now() AT TIME ZONE 'Europe/Rome') + interval '1 month 2 hours')
            AT TIME ZONE 'Europe/Rome')
ON CONFLICT (kind, key) DO NOTHING;
