-- Agents at work: console sign-in, presence and connection, push routing (offers), read markers,
-- and the console's event log (SSE resume with Last-Event-ID, and the way events cross nodes).

ALTER TABLE agents ADD COLUMN presence_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN last_assigned_at BIGINT;
-- A console holding an SSE stream renews this; past it the agent counts as disconnected (RT-06,
-- RT-08: after the grace period their sessions are routed again).
ALTER TABLE agents ADD COLUMN connected_until BIGINT;

CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    agent_id     UUID NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX console_sessions_agent ON console_sessions (agent_id);

-- One row per session that waits for an agent: where it should go and who it is offered to.
CREATE TABLE routing_work (
    session_id       UUID PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    target           TEXT NOT NULL,
    priority         BIGINT NOT NULL DEFAULT 0,
    waiting_since    BIGINT NOT NULL,
    offered_agent_id UUID REFERENCES agents(id) ON DELETE SET NULL,
    offered_at       BIGINT,
    offer_expires_at BIGINT,
    declined_by      TEXT NOT NULL DEFAULT '[]',
    -- The agent who transferred it; they leave when the next one accepts (RT-09).
    transfer_from    UUID,
    created_at       BIGINT NOT NULL
);
CREATE INDEX routing_work_offered ON routing_work (offered_agent_id);

-- Accepted sessions per queue, for the estimated wait time (RT-10).
CREATE TABLE routing_accepts (
    queue_id    UUID NOT NULL,
    accepted_at BIGINT NOT NULL,
    waited_ms   BIGINT NOT NULL
);
CREATE INDEX routing_accepts_queue ON routing_accepts (queue_id, accepted_at);

CREATE TABLE session_reads (
    session_id    UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    agent_id      UUID NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    last_entry_id UUID NOT NULL,
    PRIMARY KEY (session_id, agent_id)
);

CREATE INDEX sessions_owner ON sessions (owner_id, status);
CREATE INDEX entries_session_dir ON entries (session_id, direction, id);

CREATE TABLE console_events (
    id         BIGSERIAL PRIMARY KEY,
    -- The agent it concerns; supervisors see every event.
    agent_id   UUID,
    kind       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX console_events_created ON console_events (created_at);
