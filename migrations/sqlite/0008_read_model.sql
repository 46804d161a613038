-- The record becomes the read model (issue 11): a revision for compare-and-set and ETags, when
-- it changed and when Zernio last confirmed it, the time its status held (late events never
-- move it back), the stable error code, the tenant events delivered for the current status,
-- and the reconciler's schedule.
ALTER TABLE posts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN updated_at INTEGER;
ALTER TABLE posts ADD COLUMN synced_at INTEGER;
ALTER TABLE posts ADD COLUMN status_at INTEGER;
ALTER TABLE posts ADD COLUMN error_code TEXT;
ALTER TABLE posts ADD COLUMN announced TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN next_sync_at INTEGER;
ALTER TABLE posts ADD COLUMN sync_attempts INTEGER NOT NULL DEFAULT 0;
-- Posts recorded before can still change while young: the reconciler looks at them once.
UPDATE posts SET next_sync_at = created_at
    WHERE status IN ('publishing', 'scheduled', 'draft') AND mode != 'saved';
CREATE INDEX IF NOT EXISTS posts_due_for_sync ON posts (next_sync_at)
    WHERE next_sync_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS post_events (
    post_id      TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    at           INTEGER NOT NULL,            -- Unix milliseconds, as the source dated it
    recorded_at  INTEGER NOT NULL,
    source       TEXT NOT NULL,               -- create | webhook | reconcile | read | edit | cancel | retry
    status       TEXT NOT NULL,
    previous     TEXT,
    error_code   TEXT,
    PRIMARY KEY (post_id, revision)
) WITHOUT ROWID;
