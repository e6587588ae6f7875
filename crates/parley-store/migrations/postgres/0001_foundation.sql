-- Parley foundation schema, PostgreSQL dialect. Ids are UUIDv7 made in Rust (native uuid); times are
-- milliseconds since the Unix epoch; enums are their lowercase wire names; JSON is jsonb.

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE queues (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    routing_model TEXT NOT NULL,
    priority      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE skills (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE channels (
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    provider       TEXT NOT NULL,
    address        TEXT NOT NULL,
    number_type    TEXT,
    -- The program's keyword on a shared short code ("baby" in "baby stop").
    provider_keyword TEXT,
    country        TEXT,
    consent_level  TEXT NOT NULL,
    queue_id       UUID REFERENCES queues(id) ON DELETE SET NULL,
    throughput_mps BIGINT,
    settings       JSONB NOT NULL DEFAULT '{}',
    secrets        JSONB NOT NULL DEFAULT '{}',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX channels_address ON channels (kind, address, COALESCE(provider_keyword, ''));

CREATE TABLE agents (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    capacity      BIGINT NOT NULL,
    presence      TEXT NOT NULL,
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE queue_members (
    queue_id UUID NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    agent_id UUID NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    PRIMARY KEY (queue_id, agent_id)
);
CREATE INDEX queue_members_agent ON queue_members (agent_id);

CREATE TABLE agent_skills (
    agent_id UUID NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    skill_id UUID NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    level    BIGINT NOT NULL,
    PRIMARY KEY (agent_id, skill_id)
);
CREATE INDEX agent_skills_skill ON agent_skills (skill_id);

CREATE TABLE contacts (
    id         UUID PRIMARY KEY,
    first_name TEXT NOT NULL DEFAULT '',
    last_name  TEXT NOT NULL DEFAULT '',
    phone      TEXT,
    email      TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX contacts_email ON contacts (email);

CREATE TABLE cases (
    id         UUID PRIMARY KEY,
    contact_id UUID NOT NULL REFERENCES contacts(id),
    channel_id UUID REFERENCES channels(id) ON DELETE SET NULL,
    subject    TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cases_contact ON cases (contact_id);

CREATE TABLE messaging_users (
    id             UUID PRIMARY KEY,
    channel_id     UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    platform_key   TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    locale         TEXT,
    -- NULL: never consented on this channel (not the same as opted out).
    consent_status TEXT,
    contact_id     UUID REFERENCES contacts(id) ON DELETE SET NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (channel_id, platform_key)
);
CREATE INDEX messaging_users_contact ON messaging_users (contact_id);

CREATE TABLE consent_events (
    id                UUID PRIMARY KEY,
    messaging_user_id UUID NOT NULL REFERENCES messaging_users(id) ON DELETE CASCADE,
    from_status       TEXT,
    to_status         TEXT NOT NULL,
    source            TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    entry_id          UUID,
    at                BIGINT NOT NULL
);
CREATE INDEX consent_events_user ON consent_events (messaging_user_id, at);

CREATE TABLE sessions (
    id                UUID PRIMARY KEY,
    conversation_id   UUID NOT NULL,
    channel_id        UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    messaging_user_id UUID NOT NULL REFERENCES messaging_users(id) ON DELETE CASCADE,
    status            TEXT NOT NULL,
    context           TEXT NOT NULL,
    owner_kind        TEXT,
    owner_id          UUID,
    queue_id          UUID REFERENCES queues(id) ON DELETE SET NULL,
    case_id           UUID REFERENCES cases(id) ON DELETE SET NULL,
    error_reason      TEXT,
    agent_messages    BIGINT NOT NULL DEFAULT 0,
    customer_messages BIGINT NOT NULL DEFAULT 0,
    started_at        BIGINT NOT NULL,
    accepted_at       BIGINT,
    ended_at          BIGINT,
    last_customer_at  BIGINT,
    last_agent_at     BIGINT,
    initiated_by      TEXT NOT NULL DEFAULT 'customer',
    status_since      BIGINT NOT NULL,
    pending_inquiry   BOOLEAN NOT NULL DEFAULT FALSE,
    session_opt_in    BOOLEAN NOT NULL DEFAULT FALSE,
    end_reason        TEXT,
    ended_by          TEXT,
    updated_at        BIGINT NOT NULL
);
-- One open session per messaging user (and so per channel): DESIGN.md section 5.
CREATE UNIQUE INDEX sessions_one_open ON sessions (messaging_user_id)
    WHERE status NOT IN ('ended', 'error');
CREATE INDEX sessions_conversation ON sessions (conversation_id);
CREATE INDEX sessions_status ON sessions (status, id);

CREATE TABLE entries (
    id                  UUID PRIMARY KEY,
    session_id          UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    direction           TEXT NOT NULL,
    actor               TEXT NOT NULL,
    actor_id            UUID,
    body                TEXT NOT NULL DEFAULT '',
    media               JSONB NOT NULL DEFAULT '[]',
    provider_message_id TEXT,
    status              TEXT NOT NULL,
    error_code          TEXT,
    provider_error      TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX entries_session ON entries (session_id, id);
CREATE INDEX entries_provider_id ON entries (provider_message_id);

CREATE TABLE templates (
    id         UUID PRIMARY KEY,
    channel_id UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    language   TEXT NOT NULL,
    category   TEXT NOT NULL,
    status     TEXT NOT NULL,
    body       TEXT NOT NULL,
    components JSONB NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (channel_id, name, language)
);

CREATE TABLE keyword_sets (
    id         UUID PRIMARY KEY,
    channel_id UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    language   TEXT NOT NULL,
    config     JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (channel_id, language)
);

-- The durable job queue: timers, inbound processing and the outbox all run through it.
CREATE TABLE jobs (
    id           UUID PRIMARY KEY,
    queue        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL,
    priority     BIGINT NOT NULL DEFAULT 0,
    due_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_until  BIGINT,
    leased_by    TEXT,
    dedupe_key   TEXT UNIQUE,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, due_at) WHERE state = 'ready';
CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE state = 'done';

-- What the simulator provider "delivered" or received, for GET /simulator/messages.
CREATE TABLE simulator_messages (
    id         UUID PRIMARY KEY,
    channel_id UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    direction  TEXT NOT NULL,
    from_addr  TEXT NOT NULL,
    to_addr    TEXT NOT NULL,
    body       TEXT NOT NULL,
    status     TEXT NOT NULL,
    -- The entry this message delivers: the idempotency key that keeps a retried send single.
    entry_id   UUID UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX simulator_messages_to ON simulator_messages (to_addr, id);
CREATE INDEX simulator_messages_from ON simulator_messages (from_addr, id);

-- SMS keyword processes (KP): per inbound number and provider keyword, at most one Unsubscribe and
-- one Help process.
CREATE TABLE sms_processes (
    id               UUID PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    inbound_number   TEXT NOT NULL,
    provider_keyword TEXT,
    custom_keywords  JSONB NOT NULL DEFAULT '[]',
    message          TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX sms_processes_one_per_kind
    ON sms_processes (inbound_number, COALESCE(provider_keyword, ''), kind);
