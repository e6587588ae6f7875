-- Named, expiring leases: at most one owner per name at a time. The outbound dispatcher holds one
-- per sender (`sender:{channel id}`), so several nodes never drive the same sender; other
-- cluster-wide roles take their own names. An owner keeps its lease by renewing it before
-- `expires_at` (milliseconds since the epoch); once it has passed, anyone may take it over.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The lease a job waits for: a job with a partition key is claimed only by a runner whose node
-- holds the lease of that name; NULL means any runner. The dispatcher sets it on outbound jobs
-- of senders leased by another node, so they wait for that node instead of being claimed again.
ALTER TABLE jobs ADD COLUMN partition_key TEXT;
CREATE INDEX jobs_ready_partition ON jobs (queue, partition_key) WHERE state = 'ready' AND partition_key IS NOT NULL;
