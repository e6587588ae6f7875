-- Outgoing webhook subscriptions (issue 13): other systems learn what happens in Parley. A
-- delivery is one event for one subscription, kept with its attempts and the last answer.

CREATE TABLE webhook_subscriptions (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    -- JSON list of event type names.
    event_types TEXT NOT NULL,
    -- JSON list of channel ids, or NULL for every channel.
    channel_ids TEXT,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               UUID PRIMARY KEY,
    subscription_id  UUID NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    event_id         UUID NOT NULL,
    payload          TEXT NOT NULL,
    -- pending, succeeded, failed
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    -- When a pending delivery is next sent; while a worker holds it, the end of its lease.
    next_attempt_at  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_response    TEXT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);

-- A subscription's deliveries, newest first (ids are UUIDv7).
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
-- What the worker claims next.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
