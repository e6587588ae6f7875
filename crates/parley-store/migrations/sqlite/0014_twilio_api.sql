-- The Twilio-compatible Messages API (issue 13): accounts Parley issues to programs written for
-- Twilio, their messaging services (pools of channels) and the messages they sent.
CREATE TABLE twilio_accounts (
    sid         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    -- Kept in clear: status callbacks are signed with it, as Twilio does (issue 16 encrypts
    -- secrets at rest).
    auth_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE twilio_messaging_services (
    sid          TEXT PRIMARY KEY NOT NULL,
    account_sid  TEXT NOT NULL REFERENCES twilio_accounts (sid),
    name         TEXT NOT NULL,
    -- The pool: a JSON array of channel ids.
    channel_ids  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX twilio_messaging_services_account ON twilio_messaging_services (account_sid);

CREATE TABLE twilio_messages (
    entry_id              BLOB PRIMARY KEY NOT NULL,
    account_sid           TEXT NOT NULL REFERENCES twilio_accounts (sid),
    messaging_service_sid TEXT,
    status_callback       TEXT,
    created_at            INTEGER NOT NULL
);
-- The list, newest first, paged by (created_at, entry_id).
CREATE INDEX twilio_messages_account ON twilio_messages (account_sid, created_at, entry_id);
