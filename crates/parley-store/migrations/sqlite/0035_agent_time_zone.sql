-- The agent's time zone (issue 15, part 5), SQLite dialect.

-- An IANA name (America/Toronto), checked by the server against the bundled time zone database
-- before it is written. NULL until the agent's browser first tells it (or the agent picks one):
-- pages then show times in the deployment's default zone, else the browser's.
ALTER TABLE agents ADD COLUMN time_zone TEXT;
