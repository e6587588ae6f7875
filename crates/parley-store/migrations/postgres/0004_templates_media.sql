-- Issue 4 (templates and media): the template an outbound entry is sent as, and Parley's copies
-- of inbound files (content-addressed on disk by SHA-256; this table maps our media id to it).
ALTER TABLE entries ADD COLUMN template JSONB;

CREATE TABLE media (
    id           UUID PRIMARY KEY,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    entry_id     UUID REFERENCES entries(id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX media_entry ON media (entry_id);
CREATE INDEX media_sha256 ON media (sha256);
