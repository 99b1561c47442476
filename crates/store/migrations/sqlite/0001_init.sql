-- tern's first schema (SQLite). Written to port to PostgreSQL: BIGINT/TEXT/BOOLEAN/BLOB
-- (BYTEA there), ON CONFLICT upserts, no SQLite-only functions except in comments marked so.

-- API tokens, stored as the SHA-256 hex the caller computed; never the token itself.
CREATE TABLE tokens (
    token_sha256 TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL
);

-- AK/SK pairs for SDK-HMAC-SHA256; the SK is sealed (AEAD, see seal.rs).
CREATE TABLE credentials (
    access_key        TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    sealed_secret_key BLOB NOT NULL
);

CREATE TABLE tasks (
    -- `seq` orders tasks by insertion (ties of created_at_ms); `id` is the random public id.
    -- PostgreSQL: seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY.
    seq                      INTEGER PRIMARY KEY AUTOINCREMENT,
    id                       BIGINT  NOT NULL UNIQUE,
    project_id               TEXT    NOT NULL,
    name                     TEXT    NOT NULL,
    status                   INTEGER NOT NULL,
    priority_rank            INTEGER NOT NULL,
    group_id                 TEXT,
    -- TaskSpec without secrets, bandwidth policy, priority and group id (rows.rs StoredSpec).
    spec                     TEXT    NOT NULL,
    -- Windows as JSON (rows.rs StoredWindow); a column of its own because it changes.
    bandwidth_policy         TEXT    NOT NULL,
    -- Ledger aggregates, maintained in the same transaction as every ledger write.
    succeeded_num            BIGINT  NOT NULL DEFAULT 0,
    succeeded_size           BIGINT  NOT NULL DEFAULT 0,
    skipped_num              BIGINT  NOT NULL DEFAULT 0,
    skipped_size             BIGINT  NOT NULL DEFAULT 0,
    failed_num               BIGINT  NOT NULL DEFAULT 0,
    failed_size              BIGINT  NOT NULL DEFAULT 0,
    listed_num               BIGINT  NOT NULL DEFAULT 0,
    listed_size              BIGINT  NOT NULL DEFAULT 0,
    created_at_ms            BIGINT  NOT NULL,
    start_time_ms            BIGINT,
    total_time_ms            BIGINT  NOT NULL DEFAULT 0,
    is_query_over            BOOLEAN NOT NULL DEFAULT FALSE,
    migrate_speed            BIGINT  NOT NULL DEFAULT 0,
    left_time_ms             BIGINT  NOT NULL DEFAULT 0,
    error_code               TEXT,
    error_message            TEXT,
    -- NULL result means no failed-object record yet.
    failed_record_result     BOOLEAN,
    failed_record_key        TEXT,
    failed_record_error_code TEXT,
    failed_only              BOOLEAN NOT NULL DEFAULT FALSE,
    checkpoint               TEXT
);

CREATE INDEX tasks_by_project ON tasks (project_id, created_at_ms, seq);
CREATE INDEX tasks_by_status ON tasks (status, priority_rank, created_at_ms, seq);

-- TaskSecrets sealed as one blob; the row is deleted when the task's status erases secrets.
CREATE TABLE task_secrets (
    task_id BIGINT PRIMARY KEY,
    sealed  BLOB   NOT NULL
);

-- One outcome per key per task. Keys compare bytewise (SQLite's BINARY collation on UTF-8;
-- PostgreSQL needs COLLATE "C") so pages follow S3 listing order.
CREATE TABLE ledger (
    task_id BIGINT NOT NULL,
    key     TEXT   NOT NULL,
    size    BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    detail  TEXT   NOT NULL,
    message TEXT   NOT NULL,
    -- The u64 CRC64 stored bit-for-bit as a signed BIGINT.
    crc64   BIGINT,
    PRIMARY KEY (task_id, key)
) WITHOUT ROWID; -- SQLite only: the primary key is the table.

CREATE INDEX ledger_by_kind ON ledger (task_id, kind, key);
