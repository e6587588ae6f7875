-- Issue 15 (admin area): a template's review. Each placeholder may carry a name and an example
-- (JSON array of {"name", "example"} in placeholder order; NULL: none given), so agents fill
-- "Order number" rather than "1" and Meta's review sees sample values. A refused template keeps
-- the reviewer's reason until it is submitted again.
ALTER TABLE templates ADD COLUMN variables TEXT;
ALTER TABLE templates ADD COLUMN rejection_reason TEXT;
ALTER TABLE templates ADD COLUMN submitted_at BIGINT;
ALTER TABLE templates ADD COLUMN reviewed_at BIGINT;
