-- Issue 21: community's mails. The replica of the compacted cowork.community.contacts topic,
-- keyed by the registration id (or the erasure request's id): the registrant's address and
-- language, and what their mails show that only the card carries (the code, the meeting's
-- title, start and place, the personal confirm/cancel/erase links). A tombstone deletes the
-- row; nothing else here holds it.
CREATE TABLE community_contacts (
    registration_id uuid        PRIMARY KEY,
    full_name       text,
    email           text        NOT NULL,
    language        text        NOT NULL CHECK (language IN ('it', 'en')),
    code            text,
    meeting_title   text,
    meeting_start   timestamptz,
    meeting_place   text,
    links           jsonb       NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL
);

-- Registrations (or erasure requests) whose card was tombstoned (a pseudonymous id only): a
-- mail whose event comes after the tombstone is not recorded, and one queued is not sent.
CREATE TABLE community_forgotten (
    registration_id uuid        PRIMARY KEY,
    forgotten_at    timestamptz NOT NULL
);
