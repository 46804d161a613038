-- Claims: idempotency keys and the duplicate-content guard. A row is owned by the request that
-- inserted it until it expires; `payload` is set when that request finished.
CREATE TABLE IF NOT EXISTS claims (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    payload     BLOB,
    expires_at  INTEGER NOT NULL,             -- Unix milliseconds
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- Posts counted against an account's rolling daily budget, one row per post (or draft).
CREATE TABLE IF NOT EXISTS post_slots (
    account TEXT NOT NULL,
    lane    TEXT NOT NULL,                    -- post | draft
    slot    TEXT NOT NULL,
    at      INTEGER NOT NULL,                 -- Unix milliseconds
    PRIMARY KEY (account, lane, slot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS post_slots_by_time ON post_slots (account, lane, at);

-- Accounts upstream reported as out of daily posts, until their window turns.
CREATE TABLE IF NOT EXISTS exhausted_accounts (
    account TEXT NOT NULL,
    lane    TEXT NOT NULL,
    until   INTEGER NOT NULL,                 -- Unix milliseconds
    PRIMARY KEY (account, lane)
) WITHOUT ROWID;
