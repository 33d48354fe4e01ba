-- The global apply lock (`POST /api/apply-lock`, Atlantis's "Disable apply commands"): while
-- its one row is here, every apply is refused. Kept here so it holds across restarts.
CREATE TABLE apply_lock (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    locked_at  INTEGER NOT NULL
);
