-- Every post the gateway created: a post is only ever shown to the tenant that made it, and an
-- upstream webhook is routed back to that tenant through this table.
CREATE TABLE IF NOT EXISTS posts (
    id           TEXT PRIMARY KEY,            -- Zernio's post id
    tenant       TEXT NOT NULL,
    account      TEXT NOT NULL,
    kind         TEXT NOT NULL,               -- video | photo
    mode         TEXT NOT NULL,               -- now | scheduled | draft
    status       TEXT NOT NULL,               -- last status seen (answer or webhook)
    schedule_at  INTEGER,                     -- Unix milliseconds
    tiktok_url   TEXT,
    error        TEXT,
    fingerprint  TEXT NOT NULL,               -- account + caption + media, for the duplicate guard
    request_id   TEXT NOT NULL,
    created_at   INTEGER NOT NULL             -- Unix milliseconds
);
CREATE INDEX IF NOT EXISTS posts_by_tenant ON posts (tenant, created_at DESC, id DESC);
