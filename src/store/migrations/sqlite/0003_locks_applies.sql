-- Project locks: a pull request that plans a project holds its lock until it is applied,
-- merged, closed or unlocked, so two pull requests never plan over each other's state.
CREATE TABLE locks (
    repository  TEXT    NOT NULL,                      -- owner/name
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    pr          INTEGER NOT NULL,                      -- the holder
    project     TEXT,                                  -- the config's name, for display
    created_at  INTEGER NOT NULL,                      -- unix milliseconds
    PRIMARY KEY (repository, dir, workspace)
);

CREATE INDEX locks_pr ON locks (repository, pr);

-- Pull requests whose run was blocked by another's lock, one row per project that run asked
-- for: a release of any of them wakes the pull request (and removes all its rows).
CREATE TABLE lock_waits (
    repository  TEXT    NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    pr          INTEGER NOT NULL,                      -- the waiter
    project     TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, dir, workspace, pr)
);

CREATE INDEX lock_waits_pr ON lock_waits (repository, pr);

-- Every apply of a project, recorded as running before Terraform starts: a row left
-- 'running' by a crash is noticed and never re-run by itself.
CREATE TABLE applies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    project     TEXT,
    sha         TEXT    NOT NULL,                      -- the commit applied
    job_id      INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE INDEX applies_pr ON applies (repository, pr);
