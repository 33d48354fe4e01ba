-- One project's workflow execution inside a job (a plan, an apply, a drift check, an import
-- or a state rm at one commit), and its log: Terraform's output, redacted, stored in chunks as
-- it is produced so any replica can serve it, live or after a restart. Kept with the runs.
CREATE TABLE runs (
    id           BIGSERIAL PRIMARY KEY,
    job_id       BIGINT NOT NULL,
    repository   TEXT   NOT NULL,
    pr           BIGINT NOT NULL,
    dir          TEXT   NOT NULL,
    workspace    TEXT   NOT NULL,
    project      TEXT   NOT NULL,
    kind         TEXT   NOT NULL,
    commit_sha   TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    requested_by TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX runs_of_job ON runs (job_id, dir, workspace, project, kind);

CREATE TABLE run_log (
    run_id  BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    chunk   TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
