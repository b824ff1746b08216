-- Issue 20: partner webhooks that cannot be turned against the town, and a delivery log that
-- forgets.

-- Signing secrets are stored encrypted (Fernet, keys from NOTIFICATIONS_WEBHOOK_SECRET_KEYS);
-- rows written before this migration hold the plain secret and are encrypted by the service
-- at start (commands.seal_secrets_at_rest). A rotation keeps the previous secret, which also
-- signs, until `previous_secret_until`; a deleted subscription keeps no secret at all.
ALTER TABLE webhook_subscriptions ALTER COLUMN secret DROP NOT NULL;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret text;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_until timestamptz;
UPDATE webhook_subscriptions SET secret = NULL WHERE NOT active;
CREATE INDEX webhook_subscriptions_by_owner ON webhook_subscriptions (owner_sub) WHERE active;

-- Retention (NOTIFICATIONS_DELIVERIES_RETENTION_DAYS) deletes settled deliveries by age.
CREATE INDEX deliveries_settled ON deliveries (settled_at) WHERE settled_at IS NOT NULL;
-- Erasure deletes the webhook deliveries about a member (the CloudEvent's data.member_id).
CREATE INDEX deliveries_by_member_in_payload ON deliveries ((payload -> 'data' ->> 'member_id'))
    WHERE channel = 'webhook';
-- Webhook claims count what each subscription has in flight.
CREATE INDEX deliveries_webhook_in_flight ON deliveries (recipient_ref)
    WHERE channel = 'webhook' AND status = 'sending';
