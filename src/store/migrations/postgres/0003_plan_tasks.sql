-- A plan job's projects, one task each, claimed by any replica's task worker with a lease and
-- a fencing token (`claim`, also the count of claims) like jobs (see store/tasks.rs).
CREATE TABLE plan_tasks (
    id          BIGSERIAL PRIMARY KEY,
    job_id      BIGINT NOT NULL,
    repository  TEXT NOT NULL,
    pr          BIGINT NOT NULL,
    dir         TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    project     TEXT NOT NULL,
    spec        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'queued',
    claim       BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    claimed_by  TEXT,
    -- When the latest claim was taken (unix ms).
    claimed_at  BIGINT,
    outcome     TEXT,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (job_id, dir, workspace, project)
);
CREATE INDEX plan_tasks_open ON plan_tasks (status, id);
