-- What a member actually pays (issue 8). The replica keeps what each plan includes free of
-- charge (NULL: every kind it may book) and the kinds charged at the tariff beyond an
-- allowance (overage); a resource may be open to pay-per-use by members whose plan does not
-- cover it; `bookings.charged_cents` (already there) is now the booking's charge from its
-- confirmation on (0 when included), and what a cancellation leaves owed after it.
ALTER TABLE eligibility ADD COLUMN included_kinds text[];
ALTER TABLE eligibility ADD COLUMN overage_kinds text[] NOT NULL DEFAULT '{}';
ALTER TABLE resources ADD COLUMN pay_per_use boolean NOT NULL DEFAULT false;

-- Members the service has heard of (member.registered; removed on member.erased): only they
-- may book pay-per-use without a plan. Ids only.
CREATE TABLE known_members (
    member_id      uuid        PRIMARY KEY,
    registered_at  timestamptz NOT NULL
);
