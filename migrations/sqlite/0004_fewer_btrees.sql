-- Every create writes a post, a claim and a budget slot in one transaction, and every B-tree it
-- touches is a page (or more) written to the WAL and later to the file. Two trees were only
-- there by default: the posts table's rowid tree beside its id index, and the slots' time index
-- beside their key. Keyed the way they are looked up, each table is one tree.

CREATE TABLE posts_by_id (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    account      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    mode         TEXT NOT NULL,
    status       TEXT NOT NULL,
    schedule_at  INTEGER,
    tiktok_url   TEXT,
    error        TEXT,
    fingerprint  TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO posts_by_id SELECT id, tenant, account, kind, mode, status, schedule_at, tiktok_url,
    error, fingerprint, request_id, created_at FROM posts;
DROP TABLE posts;
ALTER TABLE posts_by_id RENAME TO posts;
CREATE INDEX posts_by_tenant ON posts (tenant, created_at DESC, id DESC);

-- An account's slots in time order: the window count is a range of this key, and releasing a
-- slot by name scans one account's few rows.
CREATE TABLE post_slots_keyed (
    account TEXT NOT NULL,
    lane    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    slot    TEXT NOT NULL,
    PRIMARY KEY (account, lane, at, slot)
) WITHOUT ROWID;
INSERT INTO post_slots_keyed SELECT account, lane, at, slot FROM post_slots;
DROP TABLE post_slots;
ALTER TABLE post_slots_keyed RENAME TO post_slots;
