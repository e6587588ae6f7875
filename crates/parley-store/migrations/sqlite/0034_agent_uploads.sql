-- Files an agent uploaded from the console's composer (issue 15, AG-06). The bytes are a media
-- row like a customer's file; this row says whose upload it is (one session, one agent), the
-- unguessable token of the public link the provider fetches it from, and the entry it went out
-- with once sent (the media row's entry_id is set then too, so erasure and reads follow the entry).
CREATE TABLE agent_uploads (
    media_id    BLOB PRIMARY KEY NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    session_id  BLOB NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    agent_id    BLOB,
    token       TEXT NOT NULL UNIQUE,
    entry_id    BLOB REFERENCES entries(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX agent_uploads_session ON agent_uploads (session_id);
CREATE INDEX agent_uploads_entry ON agent_uploads (entry_id);
