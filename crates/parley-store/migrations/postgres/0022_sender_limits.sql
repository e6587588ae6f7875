-- Sender limits (issue 18): each channel's limit configuration, its usage per UTC day, the
-- customers each WhatsApp number reached with business-initiated messages, and the messages
-- held for review because their sender was at a limit.
ALTER TABLE channels ADD COLUMN sender_limits JSONB NOT NULL DEFAULT '{}';

-- Counted in the transaction that records the sends (the outbox commit) or the inbound
-- messages (the inbound commit), one upsert per sender and batch. `day` is days since
-- 1970-01-01 in UTC; the ratio's window, the month and the day are sums over these rows.
CREATE TABLE sender_usage (
    channel_id UUID NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    outbound   BIGINT NOT NULL DEFAULT 0,
    inbound    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, day)
);

-- The last business-initiated message each customer got from a sender: the messaging tier
-- counts the rows of the last 24 hours.
CREATE TABLE sender_reach (
    channel_id        UUID NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    messaging_user_id UUID NOT NULL,
    reached_at        BIGINT NOT NULL,
    PRIMARY KEY (channel_id, messaging_user_id)
);
CREATE INDEX sender_reach_recent ON sender_reach (channel_id, reached_at);

-- A message kept for an admin because its sender was at a limit with the action `hold`. Its
-- entry stays `queued`; release enqueues `payload` (its send request) again, cancel fails it.
CREATE TABLE sender_holds (
    entry_id   UUID PRIMARY KEY NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    channel_id UUID NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    limit_name TEXT NOT NULL,
    reason     TEXT NOT NULL,
    payload    TEXT NOT NULL,
    held_at    BIGINT NOT NULL
);
CREATE INDEX sender_holds_channel ON sender_holds (channel_id, held_at);

-- Why a campaign was paused by its senders' limits (every sender at a limit), shown with it;
-- removed when it resumes.
CREATE TABLE campaign_pauses (
    campaign_id UUID PRIMARY KEY NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    paused_at   BIGINT NOT NULL
);
