-- The plan reviewed on a pull request, per project: a copy of its plan made at the pull
-- request's final head, taken when the merge is handled and never overwritten, so the plan of
-- the merge commit (which replaces the row in `plans`) is compared with what was reviewed,
-- also when the job is run again after a restart.
CREATE TABLE reviewed_plans (
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    project     TEXT,
    head_sha    TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,                      -- JSON: plan::Outcome
    job_id      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, pr, dir, workspace)
);
