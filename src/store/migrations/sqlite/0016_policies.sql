-- Policy checks (src/policy.rs): each policy set's result on a project's plan at a head, and
-- the owners' approvals of a failing set on a pull request at a head (a new push leaves them
-- behind: they are of another head).
CREATE TABLE policy_results (
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    dir         TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    project     TEXT    NOT NULL,                      -- the config's name, '' for none
    head_sha    TEXT    NOT NULL,
    policy_set  TEXT    NOT NULL,
    passed      INTEGER NOT NULL,                      -- 0 or 1
    failures    TEXT    NOT NULL,                      -- a JSON array of messages
    warnings    TEXT    NOT NULL,                      -- a JSON array of messages
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, pr, dir, workspace, project, head_sha, policy_set)
);

CREATE TABLE policy_approvals (
    repository  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    head_sha    TEXT    NOT NULL,
    policy_set  TEXT    NOT NULL,
    approver    TEXT    NOT NULL,                      -- a GitHub login, lowercased
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, pr, head_sha, policy_set, approver)
);
