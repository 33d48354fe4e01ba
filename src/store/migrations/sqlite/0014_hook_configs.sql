-- The repo config files of a commit as a pull request's pre workflow hooks left them
-- (`files`: a JSON array of {path, text}); forgotten when the pull request closes.
CREATE TABLE hook_configs (
    repository  TEXT    NOT NULL,
    commit_sha  TEXT    NOT NULL,
    pr          INTEGER NOT NULL,
    files       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repository, commit_sha)
);
CREATE INDEX hook_configs_by_pr ON hook_configs (repository, pr);
