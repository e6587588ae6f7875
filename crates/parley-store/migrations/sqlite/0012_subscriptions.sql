-- Outgoing webhook subscriptions (issue 13): other systems learn what happens in Parley. A
-- delivery is one event for one subscription, kept with its attempts and the last answer.

CREATE TABLE webhook_subscriptions (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    -- JSON list of event type names.
    event_types TEXT NOT NULL,
    -- JSON list of channel ids, or NULL for every channel.
    channel_ids TEXT,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY NOT NULL,
    subscription_id  BLOB NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    event_id         BLOB NOT NULL,
    payload          TEXT NOT NULL,
    -- pending, succeeded, failed
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- When a pending delivery is next sent; while a worker holds it, the end of its lease.
    next_attempt_at  INTEGER NOT NULL,
    last_status_code INTEGER,
    last_response    TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);

-- A subscription's deliveries, newest first (ids are UUIDv7).
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
-- What the worker claims next.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
