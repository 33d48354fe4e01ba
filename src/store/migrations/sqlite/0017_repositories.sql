-- Repositories by GitHub id. Every other table stores a repository's rows under its `key`:
-- the first name bosun saw it by (so the rows stored before this table, under names, stay
-- the repository's), kept through renames and transfers; `full_name` is its name now.
-- A new repository taking a name another one had gets `name#id` as its key.
CREATE TABLE repositories (
    github_id   INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    full_name   TEXT    NOT NULL,
    seen_at     INTEGER NOT NULL
);
CREATE INDEX repositories_by_name ON repositories (full_name);
