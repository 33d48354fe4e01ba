-- Work for pull requests: one row per thing to do (plan, command, close), made from a
-- delivery exactly once (`source` is the delivery id, with a suffix when one delivery makes
-- several jobs), claimed by a worker with a lease.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    source          TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,                  -- autoplan | comment | closed
    repository      TEXT    NOT NULL,                  -- owner/name
    installation_id INTEGER NOT NULL,
    pr              INTEGER NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 0,        -- higher first
    spec            TEXT    NOT NULL,                  -- JSON: what the job is
    status          TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'done', 'failed', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    summary         TEXT                               -- what came of it, or the error
);

CREATE INDEX jobs_open ON jobs (priority DESC, id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_pr ON jobs (repository, pr);

-- The latest plan of each project of each pull request: what feedback shows and apply uses.
CREATE TABLE plans (
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    project     TEXT,                                  -- the config's name, if any
    head_sha    TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,                      -- JSON: plan::Outcome
    planfile    BLOB,                                  -- Terraform's planfile, when it planned
    job_id      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, pr, dir, workspace)
);

-- bosun's own summary comments on a pull request, in order, to edit in place.
CREATE TABLE pr_comments (
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    part        INTEGER NOT NULL,
    comment_id  INTEGER NOT NULL,
    node_id     TEXT    NOT NULL,
    PRIMARY KEY (repository, pr, part)
);
