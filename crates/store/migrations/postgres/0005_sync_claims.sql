-- Sync event claims name their node and expire; see SQLite's 0010_sync_claims.sql.
ALTER TABLE sync_events ADD COLUMN claimed_by TEXT;
ALTER TABLE sync_events ADD COLUMN claimed_until_ms BIGINT NOT NULL DEFAULT 0;
