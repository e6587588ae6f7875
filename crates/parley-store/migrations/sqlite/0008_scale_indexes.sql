-- Indexes the per-message queries need so their cost stays flat as data grows (issue 10). Each is
-- checked by the engine's query-plan test, which explains every statement the inbound and outbound
-- pipelines run and fails on a full scan of a large table.

-- A customer's sessions, newest last: finding the conversation to continue and the open session
-- (sessions_one_open is partial, so it cannot answer "the last session, open or not").
CREATE INDEX sessions_user ON sessions (messaging_user_id, id);
