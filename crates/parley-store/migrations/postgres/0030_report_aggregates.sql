-- Report aggregates (issue 15): daily rollups the reports read instead of the entries. Keys only
-- (ids, wire names, UTC day numbers) and counts: no platform key, no name, no text, so erasure
-- has nothing to remove here and retention leaves them. "None" (no queue, no agent, no channel)
-- is the nil id, so every key column is NOT NULL and the upserts' ON CONFLICT always matches.
-- `day` is days since 1970-01-01 UTC.

-- Where each rollup has read up to: sessions by (ended_at, id), the others by id (UUIDv7).
CREATE TABLE report_cursors (
    name    TEXT PRIMARY KEY,
    at      BIGINT NOT NULL,
    last_id UUID NOT NULL
);

-- Finished sessions (ended or error) by the day they started.
CREATE TABLE report_sessions (
    day               BIGINT NOT NULL,
    channel_id        UUID NOT NULL,
    queue_id          UUID NOT NULL,
    agent_id          UUID NOT NULL,
    context           TEXT NOT NULL,
    status            TEXT NOT NULL,
    -- 0: no bot took part; 1: a bot answered and nobody took over (contained); 2: handed off.
    bot               BIGINT NOT NULL,
    sessions          BIGINT NOT NULL,
    accepted          BIGINT NOT NULL,
    responded         BIGINT NOT NULL,
    wait_ms           BIGINT NOT NULL,
    first_response_ms BIGINT NOT NULL,
    handle_ms         BIGINT NOT NULL,
    messages          BIGINT NOT NULL,
    PRIMARY KEY (day, channel_id, queue_id, agent_id, context, status, bot)
);

-- Log-spaced histograms of the sessions' durations and message counts (parley_core::reports::
-- bucket_of): metric 0 wait, 1 first response, 2 handle, 3 messages. Kept by one dimension at a
-- time (`dim` all, channel, queue, agent or context; `value` the id's text or the context, '' for
-- all), not by their combination: a year of one grouping stays a few hundred thousand rows at
-- most whatever the traffic, where every combination would grow with it.
CREATE TABLE report_session_hist (
    dim    TEXT NOT NULL,
    day    BIGINT NOT NULL,
    value  TEXT NOT NULL,
    metric BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (dim, day, value, metric, bucket)
);

CREATE TABLE report_consent (
    day        BIGINT NOT NULL,
    channel_id UUID NOT NULL,
    to_status  TEXT NOT NULL,
    source     TEXT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (day, channel_id, to_status, source)
);

CREATE TABLE report_delivery_errors (
    day           BIGINT NOT NULL,
    channel_id    UUID NOT NULL,
    code          TEXT NOT NULL,
    provider_code TEXT NOT NULL,
    direction     TEXT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (day, channel_id, code, provider_code, direction)
);

-- Milliseconds each agent spent in each presence, split at UTC midnight; written with the
-- presence change itself.
CREATE TABLE report_presence (
    day      BIGINT NOT NULL,
    agent_id UUID NOT NULL,
    presence TEXT NOT NULL,
    ms       BIGINT NOT NULL,
    PRIMARY KEY (day, agent_id, presence)
);

-- The sessions rollup reads finished sessions in the order they finished; the raw export and the
-- open sessions' live count read by start.
CREATE INDEX sessions_ended ON sessions (ended_at, id) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_started ON sessions (started_at, id);
