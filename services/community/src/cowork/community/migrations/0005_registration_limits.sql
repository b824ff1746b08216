-- Anonymous registrations counted per client (an IPv4 address, an IPv6 /64) per meeting and
-- per hour, in fixed windows (cowork.shared.registration_limits), so one script cannot hold
-- every seat of a meeting with made-up addresses. `digest` is an HMAC of the normalised
-- client (and meeting), so the table holds no IP; rows whose window has passed are deleted as
-- new attempts come in.
CREATE TABLE registration_limits (
    digest       bytea PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL
);
CREATE INDEX registration_limits_window_start ON registration_limits (window_start);
