-- The audit trail (issue 12): append-only; an entry is never updated, only dropped once older
-- than [audit] retention_days.
CREATE TABLE IF NOT EXISTS audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT NOT NULL,
    at         INTEGER NOT NULL,              -- Unix milliseconds
    action     TEXT NOT NULL,
    account    TEXT,
    object_id  TEXT,
    entry      TEXT NOT NULL                  -- the whole entry, JSON
);
CREATE INDEX IF NOT EXISTS audit_by_tenant ON audit_log (tenant, seq);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_log (at);
