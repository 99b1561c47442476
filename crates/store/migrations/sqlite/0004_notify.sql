-- End-of-run notifications (smn_config honoured as webhooks). Same porting rules as 0001.
-- One row per subject: a task that is not in a group, or a group; each new end replaces the
-- row. The rendered message is kept so a restart redelivers the same bytes while `state` is
-- 'pending'; 'delivered' / 'failed' is what `smn_info` reports.

CREATE TABLE notifications (
    task_id       BIGINT UNIQUE REFERENCES tasks (id) ON DELETE CASCADE,
    group_id      TEXT   UNIQUE REFERENCES task_groups (id) ON DELETE CASCADE,
    ended_at_ms   BIGINT NOT NULL,
    topic_urn     TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    error_message TEXT   NOT NULL DEFAULT '',
    attempts      BIGINT NOT NULL DEFAULT 0,
    CHECK ((task_id IS NULL) <> (group_id IS NULL))
);

CREATE INDEX notifications_pending ON notifications (state);
