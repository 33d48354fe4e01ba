-- Locks announced as held too long (BOSUN_NOTIFY_LOCK_AGE), once each: a lock is its
-- holder's taking of a project, identified by the time it was taken.
CREATE TABLE lock_notices (
    repository   TEXT COLLATE "C" NOT NULL,
    dir          TEXT COLLATE "C" NOT NULL,
    workspace    TEXT COLLATE "C" NOT NULL,
    pr           BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    announced_at BIGINT NOT NULL,
    PRIMARY KEY (repository, dir, workspace, pr, created_at)
);
