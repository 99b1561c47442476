-- The ledger at 10^8 keys (issue 14, bench/RESULTS.md "Ledger cost per key"): one row per key
-- with nothing repeated but the key.
--
-- * The primary key leads with the kind, so pages of one kind walk the table itself and the
--   `ledger_by_kind` index, a second copy of every key, goes. One outcome per (task, key) is
--   kept by the writer (ledger.rs reads the key under all three kinds in the write transaction
--   that inserts it), not by a constraint that would need that copy back.
-- * The kind is a small integer (0 succeeded, 1 skipped, 2 failed): 0 and 1 cost SQLite no
--   byte at all.
-- * Details (a verification word, a skip reason, a failure code) are interned in
--   `ledger_words` and referred to by id: one byte a row instead of up to 46.
CREATE TABLE ledger_words (
    id   INTEGER PRIMARY KEY,
    word TEXT    NOT NULL UNIQUE
);

INSERT INTO ledger_words (word) SELECT DISTINCT detail FROM ledger;

CREATE TABLE ledger_compact (
    task_id   BIGINT  NOT NULL,
    kind      INTEGER NOT NULL,
    key       TEXT    NOT NULL,
    size      BIGINT  NOT NULL,
    detail_id INTEGER NOT NULL,
    message   TEXT    NOT NULL,
    -- The u64 CRC64 stored bit-for-bit as a signed BIGINT.
    crc64     BIGINT,
    PRIMARY KEY (task_id, kind, key)
) WITHOUT ROWID; -- SQLite only: the primary key is the table.

INSERT INTO ledger_compact (task_id, kind, key, size, detail_id, message, crc64)
SELECT l.task_id,
       CASE l.kind WHEN 'succeeded' THEN 0 WHEN 'skipped' THEN 1 WHEN 'failed' THEN 2 END,
       l.key, l.size, w.id, l.message, l.crc64
FROM ledger l JOIN ledger_words w ON w.word = l.detail;

DROP TABLE ledger;
ALTER TABLE ledger_compact RENAME TO ledger;
