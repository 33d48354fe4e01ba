-- One project's workflow execution inside a job (a plan, an apply, a drift check, an import
-- or a state rm at one commit), and its log: Terraform's output, redacted, stored in chunks as
-- it is produced so any replica can serve it, live or after a restart. Kept with the runs.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL,
    repository   TEXT    NOT NULL,
    pr           INTEGER NOT NULL,
    dir          TEXT    NOT NULL,
    workspace    TEXT    NOT NULL,
    project      TEXT    NOT NULL,                     -- '' for a project without a name
    kind         TEXT    NOT NULL,                     -- plan, apply, drift, import, state_rm
    commit_sha   TEXT    NOT NULL,
    status       TEXT    NOT NULL,                     -- queued, running, succeeded, failed, interrupted
    requested_by TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX runs_of_job ON runs (job_id, dir, workspace, project, kind);

CREATE TABLE run_log (
    run_id  INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    chunk   TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);
