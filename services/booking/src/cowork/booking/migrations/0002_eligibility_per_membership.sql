-- A member may hold several live memberships (a stackable plan beside a base plan, e.g. a
-- meeting-room carnet beside an annual desk plan). The replica keeps one row per membership,
-- and each booking records the membership it drew on, so every plan's allowances and fair-use
-- limits count only the bookings made under it.
ALTER TABLE bookings ADD COLUMN membership_id uuid;
UPDATE bookings b SET membership_id = e.membership_id
FROM eligibility e WHERE e.member_id = b.member_id;   -- until now: one row per member

ALTER TABLE eligibility DROP CONSTRAINT eligibility_pkey;
ALTER TABLE eligibility ADD PRIMARY KEY (membership_id);
CREATE INDEX eligibility_by_member ON eligibility (member_id);

-- Bumped by every booking drawn on the membership (and every cancellation of one): a booking
-- is decided on the usage read at one version and written only if the version is unchanged,
-- so two concurrent bookings of one member cannot both pass a limit (optimistic concurrency,
-- see store.book_drawing_on).
ALTER TABLE eligibility ADD COLUMN usage_version bigint NOT NULL DEFAULT 0;
