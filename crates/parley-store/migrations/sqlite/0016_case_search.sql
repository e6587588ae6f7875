-- Issue 13: the case search pages newest first by (created_at, id). With the id in the index, the
-- order and the cursor are both read from it, so a page stops after its LIMIT rows instead of
-- sorting every case that shares a creation time.
DROP INDEX cases_recent;
CREATE INDEX cases_recent ON cases (created_at DESC, id DESC);
