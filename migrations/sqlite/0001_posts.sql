-- Every post the gateway created, so that a post is only ever shown to the tenant that made it
-- and an upstream webhook can be routed back to that tenant.
CREATE TABLE IF NOT EXISTS posts (
    id           TEXT PRIMARY KEY,            -- Zernio's post id
    tenant       TEXT NOT NULL,
    account      TEXT NOT NULL,
    kind         TEXT NOT NULL,               -- video | photo
    mode         TEXT NOT NULL,               -- now | scheduled | draft
    status       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,               -- account + caption + media, for the duplicate guard
    request_id   TEXT NOT NULL,
    created_at   INTEGER NOT NULL             -- Unix milliseconds
);
CREATE INDEX IF NOT EXISTS posts_by_tenant ON posts (tenant, created_at DESC, id DESC);
