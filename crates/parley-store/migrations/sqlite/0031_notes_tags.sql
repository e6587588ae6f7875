-- Internal notes and supervisor whispers (issue 15), and tags on sessions and contacts.
-- Notes are their own table, not entries: nothing that sends, renders a transcript or feeds a
-- webhook reads this table, so a note cannot reach a customer by construction. They go with
-- their session (erasure and retention delete sessions; retention's transcript removal deletes
-- them beside the entries).
CREATE TABLE session_notes (
    id         BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    -- The agent who wrote it; kept as written when the agent is deleted (the name is gone).
    author_id  BLOB,
    -- Sealed text (SEALED_COLUMNS).
    body       TEXT NOT NULL,
    -- A whisper: only this agent (and supervisors and admins) may read it.
    whisper_to BLOB,
    created_at INTEGER NOT NULL
);
CREATE INDEX session_notes_session ON session_notes (session_id, id);

-- Tags are labels the business chose ("vip", "billing"), normalized (trimmed, lower case), in
-- clear so they can be suggested by prefix and looked up by value. Each table is keyed by its item
-- and indexed by tag for the reports' filters.
CREATE TABLE session_tags (
    session_id BLOB NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, tag)
);
CREATE INDEX session_tags_tag ON session_tags (tag, session_id);

CREATE TABLE contact_tags (
    contact_id BLOB NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags (tag, contact_id);

-- The vocabulary: every tag ever used, so suggestions read one small indexed table rather than
-- grouping the tags of every session.
CREATE TABLE tags (
    tag        TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);
