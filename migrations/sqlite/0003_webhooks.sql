-- Tenants' subscriptions to post events (REST Hooks). The secret is kept because every delivery
-- is signed with it.
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    target_url  TEXT NOT NULL,
    events      TEXT NOT NULL,                -- event names, comma separated
    secret      TEXT NOT NULL,                -- whsec_...
    created_at  INTEGER NOT NULL              -- Unix milliseconds
);
CREATE INDEX IF NOT EXISTS webhook_subscriptions_by_tenant
    ON webhook_subscriptions (tenant, created_at, id);

-- The outbox: one row per event and subscription, written before the event is acknowledged.
-- A worker leases a due row (lease_until, lease_token) before attempting it, so that replicas
-- never attempt the same row at once.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id                TEXT PRIMARY KEY,       -- webhook-id: derived from event and subscription
    tenant            TEXT NOT NULL,
    subscription      TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    post_id           TEXT NOT NULL,
    payload           TEXT NOT NULL,          -- the body of every attempt
    status            TEXT NOT NULL,          -- pending | delivered | failed
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,                -- Unix milliseconds, while pending
    last_attempt_at   INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    lease_until       INTEGER NOT NULL DEFAULT 0,
    lease_token       TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_subscription
    ON webhook_deliveries (subscription, created_at DESC, id DESC);
