-- One notification per entry: concurrent requests with one Idempotency-Key share one entry, and
-- the first to record the notification wins; the others read it back.
DROP INDEX notifications_entry;
CREATE UNIQUE INDEX notifications_entry ON notifications (entry_id);
