-- A plan job's projects, one task each, claimed by any replica's task worker with a lease and
-- a fencing token (`claim`, also the count of claims) like jobs (see store/tasks.rs).
CREATE TABLE plan_tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL,
    repository  TEXT NOT NULL,
    pr          INTEGER NOT NULL,
    dir         TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    project     TEXT NOT NULL,
    spec        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'queued',
    claim       INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    claimed_by  TEXT,
    -- When the latest claim was taken (unix ms).
    claimed_at  INTEGER,
    outcome     TEXT,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (job_id, dir, workspace, project)
);
CREATE INDEX plan_tasks_open ON plan_tasks (status, id);
