-- GitHub's write budget of each installation, shared by every replica: a token bucket
-- refilled and spent in one statement, with its accounting.
CREATE TABLE write_budget (
    installation BIGINT PRIMARY KEY,
    tokens       DOUBLE PRECISION NOT NULL,
    refilled_at  BIGINT NOT NULL,
    granted      BIGINT NOT NULL,
    denied       BIGINT NOT NULL,
    last_granted BOOLEAN NOT NULL
);
