-- Flows (issue 12): versioned definitions, and the run of a flow in a conversation, kept durable
-- so a restart resumes every waiting conversation where it was.

-- A flow's current version; every version ever saved is in flow_versions, since a run finishes
-- on the version it started with.
CREATE TABLE flows (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    context     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE flow_versions (
    flow_id    BLOB NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (flow_id, version)
);

-- One run of a flow in a session. state is parley_core::flow::RunState as JSON; seq counts the
-- run's writes, so two workers advancing the same run cannot both win.
CREATE TABLE flow_runs (
    id         BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL,
    flow_id    BLOB NOT NULL,
    version    INTEGER NOT NULL,
    trigger    TEXT NOT NULL,
    status     TEXT NOT NULL,
    step       TEXT NOT NULL,
    state      TEXT NOT NULL,
    -- The last event applied (an entry id, 'start', 'timeout'): a job that runs again after a
    -- crash finds its event applied and does nothing.
    last_event TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ended_at   INTEGER
);
-- At most one open run per session: a second start is refused by the database.
CREATE UNIQUE INDEX flow_runs_open ON flow_runs (session_id) WHERE ended_at IS NULL;
-- A session's runs, newest last (the agent's side panel, the timeline).
CREATE INDEX flow_runs_session ON flow_runs (session_id, id);
-- Open runs per flow (the flows page's "waiting" count), without reading ended ones.
CREATE INDEX flow_runs_flow_open ON flow_runs (flow_id) WHERE ended_at IS NULL;

-- A component an outbound entry was sent as (parley_core::component::Component as JSON); the
-- body holds its text fallback, for people and for SMS.
ALTER TABLE entries ADD COLUMN component TEXT;
