-- Entries whose send outcome is unknown (the provider's answer never came). They are few, and two
-- things look for them: the expiry sweep (oldest first) and a delivery receipt whose SMSC id was
-- never stored (by session, then content). A partial index keeps both off the full entries table.
CREATE INDEX entries_unknown ON entries (updated_at) WHERE status = 'unknown';
