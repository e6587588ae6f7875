-- API tokens that end (issue 17): an optional expiry, and the agent an agent-role token acts as, so
-- it writes into that agent's sessions only and reads what the agent reads in the console.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN agent_id BLOB REFERENCES agents(id) ON DELETE CASCADE;
