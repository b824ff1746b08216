-- Erasure requests' `email_digest` is now an HMAC of the normalised address under the service's
-- key (CommunitySettings.erasure_digest_key), not its plain SHA-256: with a copy of the table
-- and no key, nobody can hash a guessed address and find whether it asked.
-- The rows written before hold plain SHA-256 digests, and SQL has no key to rehash them: each
-- gets a random value instead, so no row says any more which address it was about. What that
-- costs, for at most a day (a request counts for 24 h, its link lives 24 h): an address that
-- asked in the day before the upgrade may be mailed up to 3 links more that day, and confirming
-- a link asked before the upgrade does not tombstone the other live requests' cards for the
-- same address at once; they go when their link expires (purge_expired), within 24 h.
UPDATE erasure_requests
SET email_digest = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
