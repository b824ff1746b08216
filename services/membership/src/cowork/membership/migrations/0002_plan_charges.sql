-- What a member actually pays (issue 8): a plan says which of the kinds it may book it
-- includes free of charge (NULL: all of them; the others are charged at the resource's
-- tariff), and for which kinds use beyond an allowance (carnet days, meeting-room minutes) is
-- charged at the tariff (overage) instead of refused.
ALTER TABLE plans ADD COLUMN included_kinds text[];
ALTER TABLE plans ADD COLUMN overage_kinds text[] NOT NULL DEFAULT '{}';
