-- GitHub's write budget of each installation becomes a sliding window: when each write of the
-- last minute got its turn (milliseconds since the epoch), in place of a token bucket.
ALTER TABLE write_budget ADD COLUMN sent BIGINT[] NOT NULL DEFAULT '{}';
ALTER TABLE write_budget DROP COLUMN tokens;
ALTER TABLE write_budget DROP COLUMN refilled_at;
