-- Drift runs: each plan of every project of a repository's default branch, kept as history
-- (the drift issue, the API and the metrics read it).
CREATE TABLE drift_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repository  TEXT    NOT NULL,                      -- owner/name
    sha         TEXT    NOT NULL,                      -- the default branch's head planned
    trigger     TEXT    NOT NULL CHECK (trigger IN ('schedule', 'api')),
    started_at  INTEGER NOT NULL,                      -- unix milliseconds
    finished_at INTEGER,                               -- NULL while it runs (or if bosun stopped)
    summary     TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX drift_runs_repo ON drift_runs (repository, id);

-- One row per project of a finished run.
CREATE TABLE drift_results (
    run_id      INTEGER NOT NULL REFERENCES drift_runs (id) ON DELETE CASCADE,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    name        TEXT,                                  -- the config's name, for display
    status      TEXT    NOT NULL
                CHECK (status IN ('in_sync', 'drifted', 'error', 'skipped')),
    locked_by   INTEGER,                               -- the pull request, when skipped
    summary     TEXT    NOT NULL,
    detail      TEXT    NOT NULL                       -- at most 64 KiB (its end)
);

CREATE INDEX drift_results_run ON drift_results (run_id, dir, workspace, name);

-- The latest result of each project: by project, then newest run first.
CREATE INDEX drift_results_project ON drift_results (dir, workspace, name, run_id DESC);

-- The drift issue of each repository, once opened or found.
CREATE TABLE drift_issues (
    repository  TEXT    PRIMARY KEY,
    number      INTEGER NOT NULL
);
