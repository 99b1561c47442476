-- SQLite 0009 where it applies (issue 14): the kind becomes a small integer (0 succeeded,
-- 1 skipped, 2 failed) and leads the primary key after the task, so pages of one kind walk
-- the primary key and `ledger_by_kind`, a second copy of every key, goes. The writer keeps
-- one row per (task, key): it looks the key up under every kind while holding the task's row
-- lock (ledger.rs). Details stay text here; PostgreSQL's rows are dominated by their tuple
-- headers and the key, not by the word.
ALTER TABLE ledger ADD COLUMN kind_code SMALLINT;
UPDATE ledger SET kind_code =
    CASE kind WHEN 'succeeded' THEN 0 WHEN 'skipped' THEN 1 WHEN 'failed' THEN 2 END;
ALTER TABLE ledger ALTER COLUMN kind_code SET NOT NULL;
DROP INDEX ledger_by_kind;
ALTER TABLE ledger DROP CONSTRAINT ledger_pkey;
ALTER TABLE ledger DROP COLUMN kind;
ALTER TABLE ledger RENAME COLUMN kind_code TO kind;
ALTER TABLE ledger ADD PRIMARY KEY (task_id, kind, key);
