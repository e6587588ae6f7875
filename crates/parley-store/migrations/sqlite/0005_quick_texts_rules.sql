-- Quick texts (AG-08) and routing rules (RT-01..05), SQLite dialect.

-- Predefined messages agents insert in the composer, with merge fields (no folders, searchable).
CREATE TABLE quick_texts (
    id          BLOB PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- Title and body in Unicode lower case, made in Rust (parley_core::merge::search_key): SQLite's
    -- lower() folds ASCII only, so searching this column finds the same texts on both databases.
    search_text TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Declarative routing: each rule's conditions and actions are JSON (their shape belongs to
-- parley_core::routing); rules are tried by position, then id. A rule without a channel applies
-- to every channel; a channel's rules go with it.
CREATE TABLE routing_rules (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    channel_id  BLOB REFERENCES channels(id) ON DELETE CASCADE,
    conditions  TEXT NOT NULL DEFAULT '[]',
    actions     TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX routing_rules_channel ON routing_rules (channel_id, position);
