-- Issue 4 (templates and media): the template an outbound entry is sent as, and Parley's copies
-- of inbound files (content-addressed on disk by SHA-256; this table maps our media id to it).
ALTER TABLE entries ADD COLUMN template TEXT;

CREATE TABLE media (
    id           BLOB PRIMARY KEY NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    entry_id     BLOB REFERENCES entries(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX media_entry ON media (entry_id);
CREATE INDEX media_sha256 ON media (sha256);
