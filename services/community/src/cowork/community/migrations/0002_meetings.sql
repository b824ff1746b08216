-- Public meetings and their registrations (docs/community-meetings.md).
--
-- The seats a meeting holds are counted on its own row (`seats_held`), changed only by a
-- transaction that has locked that row (SELECT ... FOR UPDATE): the CHECK below makes
-- over-booking impossible even for a bug, whatever the concurrency.
CREATE TABLE meetings (
    id                  uuid PRIMARY KEY,
    title_it            text NOT NULL CHECK (length(title_it) BETWEEN 1 AND 200),
    title_en            text CHECK (length(title_en) BETWEEN 1 AND 200),
    description_it      text NOT NULL CHECK (length(description_it) BETWEEN 1 AND 5000),
    description_en      text CHECK (length(description_en) BETWEEN 1 AND 5000),
    space_id            uuid,
    address             text CHECK (length(address) BETWEEN 1 AND 300),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL,
    capacity            integer NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    seats_held          integer NOT NULL DEFAULT 0,
    registration_opens  timestamptz,
    registration_closes timestamptz,
    open_to             text NOT NULL CHECK (open_to IN ('everyone', 'members')),
    status              text NOT NULL DEFAULT 'published'
                        CHECK (status IN ('published', 'cancelled', 'closed')),
    minutes_it          text CHECK (length(minutes_it) BETWEEN 1 AND 20000),
    attendance          integer CHECK (attendance BETWEEN 0 AND 100000),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    closed_at           timestamptz,
    cancelled_at        timestamptz,
    CHECK (ends_at > starts_at),
    CHECK (seats_held BETWEEN 0 AND capacity),
    CHECK (space_id IS NOT NULL OR address IS NOT NULL)
);
CREATE INDEX meetings_by_start ON meetings (starts_at, id);

-- A registration's personal data (full_name, email) is nulled on erasure; the row stays for
-- the counts. Links are kept only as SHA-256 digests of the mailed tokens.
CREATE TABLE meeting_registrations (
    id                 uuid PRIMARY KEY,
    meeting_id         uuid NOT NULL REFERENCES meetings (id),
    full_name          text CHECK (length(full_name) BETWEEN 1 AND 200),
    email              text CHECK (length(email) BETWEEN 3 AND 320),
    language           text NOT NULL CHECK (language IN ('it', 'en')),
    profile            jsonb,
    status             text NOT NULL CHECK (status IN ('pending_confirmation', 'confirmed',
                                                       'waitlisted', 'cancelled')),
    holds_seat         boolean NOT NULL,
    address_confirmed  boolean NOT NULL DEFAULT false,
    waitlist_seq       bigint,
    code               text NOT NULL CHECK (code ~ '^[A-Z2-9]{8}$'),
    confirm_digest     bytea NOT NULL UNIQUE,
    cancel_digest      bytea NOT NULL UNIQUE,
    requested_at       timestamptz NOT NULL,
    hold_until         timestamptz,
    confirmed_at       timestamptz,
    cancelled_at       timestamptz,
    cancelled_by       text,
    checked_in_at      timestamptz,
    reminded_at        timestamptz,
    contact_removed_at timestamptz,
    erased_at          timestamptz,
    CHECK (holds_seat = (status IN ('pending_confirmation', 'confirmed'))),
    CHECK ((status = 'waitlisted') = (waitlist_seq IS NOT NULL))
);
-- One live registration per address and meeting (lower-cased): a second request finds it.
CREATE UNIQUE INDEX meeting_registrations_one_per_email
    ON meeting_registrations (meeting_id, lower(email))
    WHERE status <> 'cancelled' AND email IS NOT NULL;
CREATE UNIQUE INDEX meeting_registrations_code ON meeting_registrations (meeting_id, code);
CREATE INDEX meeting_registrations_waitlist
    ON meeting_registrations (meeting_id, waitlist_seq) WHERE status = 'waitlisted';
CREATE INDEX meeting_registrations_by_email
    ON meeting_registrations (lower(email)) WHERE email IS NOT NULL;
CREATE SEQUENCE meeting_waitlist_seq;
