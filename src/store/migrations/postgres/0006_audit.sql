-- The audit trail (see src/audit.rs): one row per thing that happened, appended and never
-- updated; only pruning by age (BOSUN_AUDIT_RETENTION) deletes rows.
CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    repository  TEXT NOT NULL,
    pr          BIGINT,
    project     TEXT,
    dir         TEXT,
    workspace   TEXT,
    sha         TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    run_id      BIGINT
);
CREATE INDEX audit_repository ON audit (repository, id);
CREATE INDEX audit_at ON audit (at);
