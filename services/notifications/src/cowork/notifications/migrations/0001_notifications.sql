-- The contacts replica, from the compacted cowork.membership.contacts topic. The only personal
-- data this service keeps: where to write and in which language. A tombstone deletes the row.
CREATE TABLE contacts (
    member_id   uuid        PRIMARY KEY,
    full_name   text        NOT NULL,
    email       text        NOT NULL,
    language    text        NOT NULL CHECK (language IN ('it', 'en')),
    updated_at  timestamptz NOT NULL
);

-- Members erased (a pseudonymous id only): mail that was waiting for them is dropped, and a
-- late contact card cannot bring an erased member's address back.
CREATE TABLE erased_members (
    member_id   uuid        PRIMARY KEY,
    erased_at   timestamptz NOT NULL
);

CREATE TABLE preferences (
    member_id   uuid        PRIMARY KEY,
    opted_out   text[]      NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL
);

-- What the mails need to say about a booking (no personal data): from booking events.
CREATE TABLE resources (
    resource_id uuid        PRIMARY KEY,
    name        text        NOT NULL,
    kind        text        NOT NULL
);

CREATE TABLE bookings (
    booking_id  uuid        PRIMARY KEY,
    member_id   uuid        NOT NULL,
    resource_id uuid        NOT NULL,
    resource_kind text      NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    status      text        NOT NULL DEFAULT 'confirmed'
);
CREATE INDEX bookings_by_member ON bookings (member_id);

-- Partner webhooks. The secret is kept to sign deliveries (it cannot be a hash) and is shown
-- once, in the answer that creates the subscription.
CREATE TABLE webhook_subscriptions (
    id          uuid        PRIMARY KEY,
    owner_sub   text        NOT NULL,
    url         text        NOT NULL,
    event_types text[]      NOT NULL,
    secret      text        NOT NULL,
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL
);

-- The delivery log and the exactly-once key: one row per (cause event, channel, recipient),
-- written in the inbox transaction of the cause event (the intent), then claimed, sent and
-- settled by the dispatcher. `id` is derived from the key, and the e-mail's Message-ID (or the
-- webhook's id header) from `id`, so a resend after a crash carries the same identity.
CREATE TABLE deliveries (
    id              uuid        PRIMARY KEY,
    cause_event_id  uuid        NOT NULL,
    cause_event_type text       NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient_ref   text        NOT NULL,   -- a member id, 'officers' or a subscription id
    template        text        NOT NULL,
    subject_ref     text        NOT NULL,   -- the aggregate the cause event is about
    payload         jsonb       NOT NULL,   -- the event data (e-mail) or the CloudEvent (webhook)
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'cancelled')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    settled_at      timestamptz,
    UNIQUE (cause_event_id, channel, recipient_ref)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_by_recipient ON deliveries (recipient_ref, created_at);
CREATE INDEX deliveries_by_subject ON deliveries (subject_ref) WHERE status = 'pending';
