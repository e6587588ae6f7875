-- Sensitive-data rules (PRIV-03, issue 16). The fields' meaning and checks belong to
-- parley_core::privacy::rules; a rule without a channel applies to every channel, and a channel's
-- rules go with it. Nodes read the whole table into a cache (it holds a few rules written by
-- people), so no per-message query touches it and it needs no index beyond the key.
CREATE TABLE sensitive_data_rules (
    id                  UUID PRIMARY KEY,
    name                TEXT NOT NULL,
    channel_id          UUID REFERENCES channels(id) ON DELETE CASCADE,
    detector            TEXT NOT NULL,
    pattern             TEXT,
    national_id_format  TEXT,
    action              TEXT NOT NULL,
    replacement         TEXT,
    -- Comma-separated authors (customer, agent, supervisor, bot).
    authors             TEXT NOT NULL,
    priority            INTEGER NOT NULL,
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
