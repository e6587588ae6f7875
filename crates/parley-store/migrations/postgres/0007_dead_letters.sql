-- Dead letters (issue 10): an inbound message the pipeline could not process stays as its dead
-- job, with the raw event as the payload, the error as last_error, and the kind of reason here
-- (parley_core::dead_letter::DeadLetterReason's names; NULL for jobs that died without one).
ALTER TABLE jobs ADD COLUMN dead_reason TEXT;

-- The dead-letter list reads only dead jobs of the inbound queue, newest first by id (ids are
-- time-ordered): this index holds just those rows, so listing them never scans the job table.
CREATE INDEX jobs_dead_letters ON jobs (id) WHERE state = 'dead' AND queue = 'inbound';
