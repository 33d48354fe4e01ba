-- The audit trail (see src/audit.rs): one row per thing that happened, appended and never
-- updated; only pruning by age (BOSUN_AUDIT_RETENTION) deletes rows.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    repository  TEXT NOT NULL,
    pr          INTEGER,
    project     TEXT,
    dir         TEXT,
    workspace   TEXT,
    sha         TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    run_id      INTEGER
);
CREATE INDEX audit_repository ON audit (repository, id);
CREATE INDEX audit_at ON audit (at);
