-- Messages a program sends to a person outside a conversation (issue 13): notifications and the
-- Twilio-compatible API. An idempotency key names one such send per caller, so a caller that
-- retries after a timeout never reaches the customer twice. Keys are kept for a day.
CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    -- A digest of the request: the same key with a different request is refused, not replayed.
    fingerprint TEXT NOT NULL,
    entry_id    UUID NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
