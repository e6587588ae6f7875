-- The audit log (issue 16 part 6): who did what to which resource, and when. Append-only: the
-- store has no statement that changes or removes a row, and this trigger refuses one written by
-- hand (TRUNCATE too). No foreign keys: an entry outlives the agent, token or channel it names.
CREATE TABLE audit_log (
    id            UUID PRIMARY KEY,
    at            BIGINT NOT NULL,
    -- agent | token | cli | system
    actor_kind    TEXT NOT NULL,
    -- The agent's or the token's id (NULL for cli and system).
    actor_id      UUID,
    -- The agent a token acted for, or the agent itself.
    agent_id      UUID,
    action        TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT,
    -- Counts and names of fields, never personal content or secrets.
    detail        JSONB NOT NULL DEFAULT '{}'
);
-- Ids are UUIDv7, so id order is time order: every list reads newest first by id.
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_resource ON audit_log (resource_kind, resource_id, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Retention policies (issue 16 part 4): how many days one kind of data is kept, on one channel or
-- on every channel without a policy of its own (channel_id NULL).
CREATE TABLE retention_policies (
    id         UUID PRIMARY KEY,
    channel_id UUID REFERENCES channels(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    days       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX retention_policies_channel ON retention_policies (kind, channel_id)
    WHERE channel_id IS NOT NULL;
CREATE UNIQUE INDEX retention_policies_all ON retention_policies (kind) WHERE channel_id IS NULL;

-- When retention removed a closed session's transcript (its entries) and kept the session.
ALTER TABLE sessions ADD COLUMN transcript_removed_at BIGINT;
-- The retention worker's reads, per channel by the time a session closed.
CREATE INDEX sessions_closed ON sessions (channel_id, status_since)
    WHERE status IN ('ended', 'error');
CREATE INDEX sessions_transcript_due ON sessions (channel_id, status_since)
    WHERE status IN ('ended', 'error') AND transcript_removed_at IS NULL;
CREATE INDEX media_created ON media (created_at);
CREATE INDEX notification_errors_channel ON notification_errors (channel_id, at);
CREATE INDEX campaign_messages_links ON campaign_messages (channel_id, created_at)
    WHERE code IS NOT NULL;
