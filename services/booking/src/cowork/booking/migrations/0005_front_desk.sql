-- The front desk (issue 12): resources can be taken out of service; ad-hoc closures of a space
-- keep their reason (their days are also added to spaces.closures, which the rules read);
-- bookings are found per space and day for closures, agendas and reports.
ALTER TABLE resources ADD COLUMN in_service boolean NOT NULL DEFAULT true;

CREATE TABLE space_closures (
    id          uuid        PRIMARY KEY,
    space_id    uuid        NOT NULL REFERENCES spaces (id),
    from_day    date        NOT NULL,
    to_day      date        NOT NULL CHECK (to_day >= from_day),
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX space_closures_by_space ON space_closures (space_id, from_day);

CREATE INDEX bookings_by_space_day ON bookings (space_id, local_day);
