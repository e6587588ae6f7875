-- Issue 13: cases get a human number, an owner and a closing time.
ALTER TABLE cases ADD COLUMN number INTEGER;
ALTER TABLE cases ADD COLUMN owner_agent_id BLOB REFERENCES agents(id) ON DELETE SET NULL;
ALTER TABLE cases ADD COLUMN closed_at INTEGER;

-- Existing cases are numbered in creation order from 1001, so numbers read like 00001001.
UPDATE cases SET number = 1000 + (
    SELECT COUNT(*) FROM cases c2
    WHERE c2.created_at < cases.created_at
       OR (c2.created_at = cases.created_at AND c2.id <= cases.id)
);
CREATE UNIQUE INDEX cases_number ON cases (number);
-- Subject search is a bounded scan over recent cases (ORDER BY created_at DESC LIMIT n) with a
-- case-insensitive substring filter; a B-tree cannot serve a substring, so only recency is indexed.
CREATE INDEX cases_recent ON cases (created_at DESC);
CREATE INDEX cases_owner ON cases (owner_agent_id);
CREATE INDEX IF NOT EXISTS sessions_case ON sessions (case_id);

-- One row: the next case number, taken and bumped inside the insert's transaction so concurrent
-- creates never share a number (SQLite serialises writers; PostgreSQL locks the row).
CREATE TABLE case_counter (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    next_number INTEGER NOT NULL
);
INSERT INTO case_counter (id, next_number)
SELECT 1, COALESCE(MAX(number), 1000) + 1 FROM cases;
