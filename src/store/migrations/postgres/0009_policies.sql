-- Policy checks (src/policy.rs): each policy set's result on a project's plan at a head, and
-- the owners' approvals of a failing set on a pull request at a head (a new push leaves them
-- behind: they are of another head).
CREATE TABLE policy_results (
    repository  TEXT COLLATE "C" NOT NULL,
    pr          BIGINT NOT NULL,
    dir         TEXT COLLATE "C" NOT NULL,
    workspace   TEXT COLLATE "C" NOT NULL,
    project     TEXT COLLATE "C" NOT NULL,
    head_sha    TEXT NOT NULL,
    policy_set  TEXT COLLATE "C" NOT NULL,
    passed      BOOLEAN NOT NULL,
    failures    TEXT NOT NULL,
    warnings    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (repository, pr, dir, workspace, project, head_sha, policy_set)
);

CREATE TABLE policy_approvals (
    repository  TEXT COLLATE "C" NOT NULL,
    pr          BIGINT NOT NULL,
    head_sha    TEXT NOT NULL,
    policy_set  TEXT COLLATE "C" NOT NULL,
    approver    TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (repository, pr, head_sha, policy_set, approver)
);
