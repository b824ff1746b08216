CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE spaces (
    id              uuid        PRIMARY KEY,
    name            text        NOT NULL,
    address         text        NOT NULL,
    timezone        text        NOT NULL,
    opening_hours   jsonb       NOT NULL,   -- {"mon": [["08:00", "19:00"]], ...}
    closures        text[]      NOT NULL DEFAULT '{}',  -- 'YYYY-MM-DD' once, 'MM-DD' every year
    created_at      timestamptz NOT NULL
);

CREATE TABLE resources (
    id                    uuid        PRIMARY KEY,
    space_id              uuid        NOT NULL REFERENCES spaces (id),
    name                  text        NOT NULL,
    kind                  text        NOT NULL
        CHECK (kind IN ('hot_desk', 'fixed_desk', 'meeting_room', 'phone_booth', 'event_room')),
    seats                 integer     NOT NULL CHECK (seats >= 1),
    price_per_hour_cents  integer     NOT NULL CHECK (price_per_hour_cents >= 0),
    price_per_day_cents   integer     CHECK (price_per_day_cents >= 0),
    slot_minutes          integer     NOT NULL CHECK (slot_minutes BETWEEN 5 AND 1440),
    min_minutes           integer     NOT NULL CHECK (min_minutes > 0),
    max_minutes           integer     NOT NULL CHECK (max_minutes >= min_minutes),
    advance_days          integer     NOT NULL CHECK (advance_days >= 0),
    buffer_minutes        integer     NOT NULL DEFAULT 0 CHECK (buffer_minutes >= 0),
    created_at            timestamptz NOT NULL,
    UNIQUE (space_id, name)
);
CREATE INDEX resources_by_space_kind ON resources (space_id, kind, name);

-- Who may book what: a replica built from cowork.membership.events (member ids only).
CREATE TABLE eligibility (
    member_id                       uuid        PRIMARY KEY,
    membership_id                   uuid        NOT NULL,
    status                          text        NOT NULL,
    plan_code                       text        NOT NULL,
    plan_kind                       text        NOT NULL,
    resource_kinds                  text[]      NOT NULL,
    period_start                    date        NOT NULL,
    period_end                      date        NOT NULL,
    max_bookings_per_day            integer,
    max_bookings_per_week           integer,
    carnet_days                     integer,
    meeting_room_minutes_per_month  integer,
    updated_at                      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bookings (
    id             uuid        PRIMARY KEY,
    member_id      uuid        NOT NULL,
    resource_id    uuid        NOT NULL REFERENCES resources (id),
    space_id       uuid        NOT NULL REFERENCES spaces (id),
    resource_kind  text        NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL CHECK (ends_at > starts_at),
    local_day      date        NOT NULL,   -- the day in the space's timezone, for allowances
    minutes        integer     NOT NULL,
    -- The interval no other booking of the resource may touch: the booking plus the buffer.
    blocked        tstzrange   NOT NULL,
    status         text        NOT NULL
        CHECK (status IN ('confirmed', 'checked_in', 'completed', 'cancelled', 'no_show')),
    price_cents    integer     NOT NULL CHECK (price_cents >= 0),
    charged_cents  integer     NOT NULL DEFAULT 0,
    series_id      uuid,
    via_waitlist   boolean     NOT NULL DEFAULT false,
    booked_by      text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    -- No two active bookings of one resource overlap, whatever the concurrency: PostgreSQL
    -- itself refuses the second, so no read-then-write race exists.
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (resource_id WITH =, blocked WITH &&)
        WHERE (status IN ('confirmed', 'checked_in'))
);
CREATE INDEX bookings_by_member_day ON bookings (member_id, local_day);
CREATE INDEX bookings_by_resource_time ON bookings (resource_id, starts_at);

CREATE TABLE waitlist (
    id           uuid        PRIMARY KEY,
    member_id    uuid        NOT NULL,
    resource_id  uuid        NOT NULL REFERENCES resources (id),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    status       text        NOT NULL CHECK (status IN ('waiting', 'promoted', 'withdrawn')),
    booking_id   uuid        REFERENCES bookings (id),
    created_at   timestamptz NOT NULL
);
CREATE INDEX waitlist_waiting ON waitlist (resource_id, created_at) WHERE status = 'waiting';
