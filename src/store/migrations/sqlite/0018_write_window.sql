-- As PostgreSQL's migration 0011: the stored write budget becomes a sliding window (`sent`,
-- the instants of the last minute's writes). The table stays empty in SQLite; it is here so
-- that both backends keep the same tables.
ALTER TABLE write_budget ADD COLUMN sent TEXT NOT NULL DEFAULT '[]';
ALTER TABLE write_budget DROP COLUMN tokens;
ALTER TABLE write_budget DROP COLUMN refilled_at;
