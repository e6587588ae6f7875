-- Search across conversations (issue 15): a blind index. Each normalized word of a message, and
-- of a person's name, number or e-mail (parley_core::search), is stored only as a keyed hash
-- (HMAC-SHA256 under the search secret below, cut to 16 bytes): the database never holds the
-- words, and with encryption at rest the secret itself is sealed, so a copy of the database
-- cannot test guesses against the hashes.
--
-- A row with entry_id names a message (session_id is its session); a row without one describes
-- the person (messaging user), including the contact linked to them. Deleting the messaging user
-- or the entry deletes its rows (erasure, retention).
CREATE TABLE search_terms (
    term_hash         BLOB NOT NULL,
    messaging_user_id BLOB NOT NULL REFERENCES messaging_users(id) ON DELETE CASCADE,
    session_id        BLOB,
    entry_id          BLOB REFERENCES entries(id) ON DELETE CASCADE,
    created_at        INTEGER NOT NULL
);
-- The query: one word's rows, newest first.
CREATE INDEX search_terms_by_term ON search_terms (term_hash, created_at DESC);
-- The other words of the query, checked per person (and the cascade from messaging_users).
CREATE INDEX search_terms_by_user ON search_terms (messaging_user_id, term_hash);
-- The cascade from entries.
CREATE INDEX search_terms_by_entry ON search_terms (entry_id);

-- The key of the hashes: made on first use (sealed when a key is configured). It never changes,
-- so rotating the encryption key re-seals it (SEALED_COLUMNS) and the index stays valid.
CREATE TABLE search_secret (
    id        BLOB PRIMARY KEY NOT NULL,
    singleton INTEGER NOT NULL UNIQUE CHECK (singleton = 1),
    secret    TEXT NOT NULL
);

-- Where `parley search reindex` has got to (entries by id, then messaging users by id).
CREATE TABLE search_reindex (
    name    TEXT PRIMARY KEY NOT NULL,
    last_id BLOB
);

-- The agent's closed conversations, newest first.
CREATE INDEX sessions_by_owner_ended ON sessions (owner_id, ended_at DESC);
