-- Multipart uploads in progress and their finished parts (RFC 0012): a crash or stop in the
-- middle of a large object costs the parts in flight, not the object.
CREATE TABLE multipart_uploads (
    task_id            BIGINT NOT NULL,
    key                TEXT   COLLATE "C" NOT NULL,
    upload_id          TEXT   NOT NULL,
    dst_key            TEXT   NOT NULL,
    part_size          BIGINT NOT NULL,
    source_etag        TEXT,
    source_size        BIGINT NOT NULL,
    source_modified_ms BIGINT,
    PRIMARY KEY (task_id, key)
);

CREATE TABLE multipart_parts (
    task_id     BIGINT  NOT NULL,
    key         TEXT    COLLATE "C" NOT NULL,
    part_number BIGINT  NOT NULL,
    etag        TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    crc64       BIGINT  NOT NULL,
    PRIMARY KEY (task_id, key, part_number)
);
