-- A project is its (repository, dir, workspace, name): two named projects may share a dir and
-- workspace (one dir, a var file per environment), so their plans, reviewed plans and lock
-- waits are kept apart by name, '' for an unnamed project. Locks stay per (repository, dir,
-- workspace): the projects there share one state dir, and the pull request's lock.
-- SQLite cannot change a primary key in place: each table is rebuilt, its rows kept.

CREATE TABLE plans_new (
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    project     TEXT    NOT NULL DEFAULT '',           -- the config's name, '' for none
    head_sha    TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,                      -- JSON: plan::Outcome
    planfile    BLOB,                                  -- Terraform's planfile, when it planned
    job_id      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, pr, dir, workspace, project)
);
INSERT INTO plans_new
    (repository, pr, dir, workspace, project, head_sha, outcome, planfile, job_id, created_at)
SELECT repository, pr, dir, workspace, COALESCE(project, ''), head_sha, outcome, planfile,
       job_id, created_at
FROM plans;
DROP TABLE plans;
ALTER TABLE plans_new RENAME TO plans;

CREATE TABLE reviewed_plans_new (
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    project     TEXT    NOT NULL DEFAULT '',
    head_sha    TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,                      -- JSON: plan::Outcome
    job_id      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, pr, dir, workspace, project)
);
INSERT INTO reviewed_plans_new
    (repository, pr, dir, workspace, project, head_sha, outcome, job_id, created_at)
SELECT repository, pr, dir, workspace, COALESCE(project, ''), head_sha, outcome, job_id,
       created_at
FROM reviewed_plans;
DROP TABLE reviewed_plans;
ALTER TABLE reviewed_plans_new RENAME TO reviewed_plans;

-- A blocked run asks for every project it plans, two named ones on one lock included: each is
-- planned when the pull request is woken.
CREATE TABLE lock_waits_new (
    repository  TEXT    NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    pr          INTEGER NOT NULL,                      -- the waiter
    project     TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, dir, workspace, pr, project)
);
INSERT INTO lock_waits_new (repository, dir, workspace, pr, project, created_at)
SELECT repository, dir, workspace, pr, COALESCE(project, ''), created_at FROM lock_waits;
DROP TABLE lock_waits;
ALTER TABLE lock_waits_new RENAME TO lock_waits;
CREATE INDEX lock_waits_pr ON lock_waits (repository, pr);
