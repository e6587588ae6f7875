-- The web chat widget's visitors (issue 14): one row per visitor token, stored by the SHA-256 of
-- the token only. An anonymous visitor's messaging user is theirs alone (`anon:<uuid>`); a verified
-- visitor shares the messaging user of their `sub` (`uid:<sub>`) with their other devices.
CREATE TABLE web_visitors (
    id                BLOB PRIMARY KEY NOT NULL,
    deployment_id     BLOB NOT NULL REFERENCES web_deployments (id) ON DELETE CASCADE,
    messaging_user_id BLOB NOT NULL REFERENCES messaging_users (id) ON DELETE CASCADE,
    token_hash        TEXT NOT NULL UNIQUE,
    verified          INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    revoked_at        INTEGER,
    last_seen_at      INTEGER
);
CREATE INDEX web_visitors_user ON web_visitors (messaging_user_id);
CREATE INDEX web_visitors_expiry ON web_visitors (expires_at);

-- What the widget told about a web session when it opened: written by the inbound pipeline in
-- the transaction that opens the session; the console shows it, routing and flows read the
-- pre-chat values as `prechat.<name>`.
CREATE TABLE web_session_data (
    session_id    BLOB PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    deployment_id BLOB NOT NULL REFERENCES web_deployments (id) ON DELETE CASCADE,
    visitor_id    BLOB NOT NULL,
    prechat       TEXT NOT NULL DEFAULT '{}',
    page_url      TEXT,
    identity      TEXT,
    user_agent    TEXT,
    created_at    INTEGER NOT NULL
);

-- Files a visitor uploaded, so only they (and the conversation they attach them to) can read
-- them back.
CREATE TABLE web_uploads (
    media_id   BLOB PRIMARY KEY NOT NULL,
    visitor_id BLOB NOT NULL REFERENCES web_visitors (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX web_uploads_visitor ON web_uploads (visitor_id);
