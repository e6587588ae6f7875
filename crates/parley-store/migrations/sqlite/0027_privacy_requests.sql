-- Access, restriction and erasure requests (issue 16, PRIV-02, PRIV-04..06, PRIV-09, SE-11).

-- Restriction of processing: the user's data stays, but nothing is sent to it and no flow runs
-- for it (NULL: not restricted).
ALTER TABLE messaging_users ADD COLUMN restricted_at INTEGER;

-- A phone number's messaging users on every channel (an erasure or export by number).
CREATE INDEX messaging_users_key ON messaging_users (platform_key);

-- The per-deployment key of the opt-out proofs' one-way hash, made once here so every node
-- hashes alike. Never leaves the database; without it a proof cannot be matched to a number.
CREATE TABLE privacy_secret (
    id     INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    secret TEXT NOT NULL
);
INSERT INTO privacy_secret (id, secret) VALUES (1, lower(hex(randomblob(32))));

-- What erasure keeps of an opted-out person: HMAC-SHA256 of the platform key (E.164 number,
-- page-scoped id...) under the secret above, and when and how they opted out. Never the key.
CREATE TABLE opt_out_proofs (
    key_hash     TEXT PRIMARY KEY NOT NULL,
    opted_out_at INTEGER NOT NULL,
    source       TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL
);

-- One erasure request: its subject while it runs (cleared when done), its status and what it
-- removed. The work itself is a job on the durable queue (queue 'privacy').
CREATE TABLE erasure_requests (
    id            BLOB PRIMARY KEY NOT NULL,
    subject_kind  TEXT NOT NULL,
    subject       TEXT,
    status        TEXT NOT NULL,
    report        TEXT NOT NULL DEFAULT '{}',
    error         TEXT,
    requested_by  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX erasure_requests_recent ON erasure_requests (created_at DESC);
