-- Webhook deliveries as GitHub sent them, in order of receipt, and what became of each.
CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,           -- X-GitHub-Delivery
    event           TEXT    NOT NULL,                  -- X-GitHub-Event
    action          TEXT,
    repository      TEXT,                              -- owner/name
    installation_id INTEGER,
    received_at     INTEGER NOT NULL,                  -- unix milliseconds
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    processed_at    INTEGER,
    last_error      TEXT
);

CREATE INDEX deliveries_open ON deliveries (seq) WHERE status IN ('pending', 'processing');

-- Payloads apart from the rows the worker updates, so an update never rewrites them.
CREATE TABLE delivery_payloads (
    seq     INTEGER PRIMARY KEY REFERENCES deliveries (seq),
    payload BLOB    NOT NULL                           -- the JSON payload as GitHub sent it
);

-- One row per processed delivery, written in the same transaction that marks it done:
-- the proof that it was processed, and exactly once.
CREATE TABLE processed_events (
    delivery_id  TEXT    PRIMARY KEY REFERENCES deliveries (id),
    kind         TEXT    NOT NULL,                     -- pull_request.opened, push, …
    repository   TEXT,
    pr           INTEGER,
    disposition  TEXT    NOT NULL CHECK (disposition IN ('handled', 'ignored')),
    summary      TEXT    NOT NULL,
    processed_at INTEGER NOT NULL
);

-- Redeliveries bosun asked GitHub for, so it never asks twice for one failed attempt.
CREATE TABLE redelivery_requests (
    github_delivery_id INTEGER PRIMARY KEY,            -- the failed attempt's id at GitHub
    guid               TEXT    NOT NULL,               -- its X-GitHub-Delivery
    requested_at       INTEGER NOT NULL,
    outcome            TEXT    NOT NULL
);

CREATE INDEX redelivery_requests_guid ON redelivery_requests (guid);

-- Small pieces of server state (the redelivery scan's high-water mark, …).
CREATE TABLE server_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
