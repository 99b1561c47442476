-- Sync event claims name their node and expire (several serve nodes on one database): a node
-- releases, resolves and requeues only its own claims, and a claim whose node stopped renewing
-- it (claimed_until_ms passed) may be taken by another node. Claims made before this migration
-- have no owner and an expiry of 0: any node may take them.
ALTER TABLE sync_events ADD COLUMN claimed_by TEXT;
ALTER TABLE sync_events ADD COLUMN claimed_until_ms BIGINT NOT NULL DEFAULT 0;
