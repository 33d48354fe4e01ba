-- Locks announced as held too long (BOSUN_NOTIFY_LOCK_AGE), once each: a lock is its
-- holder's taking of a project, identified by the time it was taken.
CREATE TABLE lock_notices (
    repository   TEXT    NOT NULL,
    dir          TEXT    NOT NULL,
    workspace    TEXT    NOT NULL,
    pr           INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,                     -- the lock's, unix milliseconds
    announced_at INTEGER NOT NULL,
    PRIMARY KEY (repository, dir, workspace, pr, created_at)
);
