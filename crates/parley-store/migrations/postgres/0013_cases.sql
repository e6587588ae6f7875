-- Issue 13: cases get a human number, an owner and a closing time.
ALTER TABLE cases ADD COLUMN number BIGINT;
ALTER TABLE cases ADD COLUMN owner_agent_id UUID REFERENCES agents(id) ON DELETE SET NULL;
ALTER TABLE cases ADD COLUMN closed_at BIGINT;

-- Existing cases are numbered in creation order from 1001, so numbers read like 00001001.
UPDATE cases SET number = numbered.n
FROM (SELECT id, 1000 + row_number() OVER (ORDER BY created_at, id) AS n FROM cases) AS numbered
WHERE cases.id = numbered.id;
CREATE UNIQUE INDEX cases_number ON cases (number);
-- Subject search is a bounded scan over recent cases (ORDER BY created_at DESC LIMIT n) with a
-- `lower(subject) LIKE` filter; a B-tree cannot serve a substring and pg_trgm is not assumed to
-- be installed, so only recency is indexed.
CREATE INDEX cases_recent ON cases (created_at DESC);
CREATE INDEX cases_owner ON cases (owner_agent_id);
CREATE INDEX IF NOT EXISTS sessions_case ON sessions (case_id);

-- One row: the next case number, taken with UPDATE ... RETURNING inside the insert's transaction,
-- so the row lock makes concurrent creates wait instead of sharing a number.
CREATE TABLE case_counter (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next_number BIGINT NOT NULL
);
INSERT INTO case_counter (id, next_number)
SELECT 1, COALESCE(MAX(number), 1000) + 1 FROM cases;
