-- Entries whose send outcome is unknown (the provider's answer never came). They are few, and two
-- things look for them: the expiry sweep (oldest first) and a delivery receipt whose SMSC id was
-- never stored (by session, then content). A partial index keeps both off the full entries table.
CREATE INDEX entries_unknown ON entries (updated_at) WHERE status = 'unknown';

-- Dead jobs, newest first: the unknown sweep looks for dead send jobs whose entry was left
-- `queued` (a job that died with its lease, say), so that no message stays queued forever.
CREATE INDEX jobs_dead ON jobs (updated_at) WHERE state = 'dead';
