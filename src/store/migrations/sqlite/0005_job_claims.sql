-- Fencing: every claim of a job gets the next `claim` number, and only the current claim may
-- renew the job's lease, finish it, or start and end its applies. A worker whose lease was
-- taken over (it stalled past the lease) finds each of its writes refused.
ALTER TABLE jobs ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;

-- The claim of its job an apply was started under.
ALTER TABLE applies ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;

-- A job put back in the queue after a transient failure waits until then (unix ms).
ALTER TABLE jobs ADD COLUMN not_before INTEGER;
