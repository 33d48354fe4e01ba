-- The stored write budget of PostgreSQL's fleets (see its migration 0002). One SQLite
-- replica paces its writes in process and leaves this table empty; it is here so that both
-- backends keep the same tables.
CREATE TABLE write_budget (
    installation INTEGER PRIMARY KEY,
    tokens       REAL NOT NULL,
    refilled_at  INTEGER NOT NULL,
    granted      INTEGER NOT NULL,
    denied       INTEGER NOT NULL,
    last_granted INTEGER NOT NULL
);
