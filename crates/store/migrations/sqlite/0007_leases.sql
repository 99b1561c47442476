-- Leases and fencing (RFC 0011): which node runs a task or splits a group, until when, and
-- the token every write of that run carries.
ALTER TABLE tasks ADD COLUMN lease_node TEXT;
ALTER TABLE tasks ADD COLUMN lease_until_ms BIGINT;
ALTER TABLE tasks ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;

ALTER TABLE task_groups ADD COLUMN split_node TEXT;
ALTER TABLE task_groups ADD COLUMN split_until_ms BIGINT;
ALTER TABLE task_groups ADD COLUMN split_fence BIGINT NOT NULL DEFAULT 0;

-- One row per claim of a task: where and when it ran (tern's own record).
CREATE TABLE task_runs (
    task_id    BIGINT NOT NULL,
    fence      BIGINT NOT NULL,
    node       TEXT   NOT NULL,
    started_ms BIGINT NOT NULL,
    ended_ms   BIGINT,
    PRIMARY KEY (task_id, fence)
);
