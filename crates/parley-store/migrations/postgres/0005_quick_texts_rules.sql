-- Quick texts (AG-08) and routing rules (RT-01..05), PostgreSQL dialect.

-- Predefined messages agents insert in the composer, with merge fields (no folders, searchable).
CREATE TABLE quick_texts (
    id          UUID PRIMARY KEY,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- Title and body in Unicode lower case, made in Rust (parley_core::merge::search_key), so the
    -- search does not depend on the database's locale and finds the same texts as on SQLite.
    search_text TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Declarative routing: each rule's conditions and actions are JSON (their shape belongs to
-- parley_core::routing); rules are tried by position, then id. A rule without a channel applies
-- to every channel; a channel's rules go with it.
CREATE TABLE routing_rules (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    position    BIGINT NOT NULL,
    channel_id  UUID REFERENCES channels(id) ON DELETE CASCADE,
    conditions  JSONB NOT NULL DEFAULT '[]',
    actions     JSONB NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX routing_rules_channel ON routing_rules (channel_id, position);
