-- Expressions of interest ("manifestazione di interesse") and erasure requests by e-mail link.

CREATE TABLE interest_expressions (
    id                 uuid PRIMARY KEY,
    who                text NOT NULL CHECK (who IN ('citizen', 'professional', 'partita_iva',
                                                    'association', 'company')),
    residence_istat    text CHECK (residence_istat ~ '^[0-9]{6}$'),
    desk_kinds         text[] NOT NULL CHECK (cardinality(desk_kinds) BETWEEN 1 AND 5),
    weekdays           text[] NOT NULL CHECK (cardinality(weekdays) BETWEEN 1 AND 7),
    time_bands         text[] NOT NULL CHECK (cardinality(time_bands) BETWEEN 1 AND 3),
    frequency          text NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly',
                                                          'occasional')),
    would_help_run     boolean NOT NULL,
    -- Stored lower-cased, so an erasure request finds it whatever the capitals; NULL once erased.
    email              text CHECK (email = lower(email) AND length(email) <= 254),
    email_erased_at    timestamptz,
    privacy_consent_at timestamptz NOT NULL,
    expressed_at       timestamptz NOT NULL
);
CREATE INDEX interest_expressions_email ON interest_expressions (email) WHERE email IS NOT NULL;
CREATE INDEX interest_expressions_expressed_at ON interest_expressions (expressed_at);

-- One row per request, known address or not: the digest counts requests per address (the rate
-- limit) without the address. The address itself is kept only while a mailed link may still
-- be used (until confirmation or expiry), for the erasure it then performs.
CREATE TABLE erasure_requests (
    id             uuid PRIMARY KEY,
    email_digest   text NOT NULL CHECK (email_digest ~ '^[0-9a-f]{64}$'),
    email          text CHECK (email = lower(email) AND length(email) <= 254),
    language       text NOT NULL CHECK (language IN ('it', 'en')),
    token_digest   text UNIQUE CHECK (token_digest ~ '^[0-9a-f]{64}$'),
    requested_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    erased_count   integer,
    purged_at      timestamptz,
    CHECK (email IS NULL OR token_digest IS NOT NULL)
);
CREATE INDEX erasure_requests_by_digest ON erasure_requests (email_digest, requested_at);
CREATE INDEX erasure_requests_live ON erasure_requests (expires_at) WHERE email IS NOT NULL;
