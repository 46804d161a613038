//! The embedded store: one SQLite file (WAL mode), created with its directory on first start,
//! migrations embedded in the binary.

mod holds;
mod webhooks;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use rusqlite::{Connection, OptionalExtension};

use super::{
    BUDGET_WINDOW, ChangeSource, Claim, CreateHold, HoldDecision, Lane, PostCursor, PostEvent,
    PostFilter, PostRecord, PostUpdate, RateDecision, RatePolicy, RecordSync, SlotDecision,
    SlotMove, SlotUsage, Store, StoreError,
};
use crate::audit::{AuditEntry, AuditFilter};
use crate::limits::rate::LocalRateLimiter;
use holds::Holds;
use writer::{Housekeeping, Writer};

pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one writer. SQLite takes one write at a time anyway; queueing writes there, batched
    /// into shared commits, is far faster than letting connections collide on the lock.
    writer: Writer,
    /// Daily budgets and the duplicate guard (see `holds`).
    holds: Holds,
    /// When an append last dropped the audit entries past their retention (ms).
    audit_pruned_at: AtomicI64,
    /// A single instance limits requests in memory: a store write per request would be the
    /// slowest part of every read.
    rates: LocalRateLimiter,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_files::create_dir_all(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        // 0600 before SQLite opens it: SQLite gives the -wal and -shm files the same mode.
        crate::private_files::ensure_private_file(path)
            .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", path.display())))?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            crate::private_files::narrow(Path::new(&side)).map_err(|e| {
                StoreError::Other(format!("cannot narrow {}: {e}", Path::new(&side).display()))
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(unavailable)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable across a process crash, which is what the outbox needs;
            // only a power loss can drop the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        // Migrations on a connection of their own, done before the writer opens the file.
        let migrator = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&migrator)
            .await
            .map_err(|e| StoreError::Other(format!("migrations failed: {e}")))?;
        let holds = restore_holds(&migrator).await?;
        migrator.close().await;
        let writer = Writer::open(
            path,
            Housekeeping {
                every: HOUSEKEEPING_EVERY,
                task: purge_expired,
            },
        )?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(SqliteStore {
            pool,
            writer,
            holds,
            rates: LocalRateLimiter::default(),
            audit_pruned_at: AtomicI64::new(0),
        })
    }
}

/// The windows of the last day and the slots scheduled after it, from the posts and
/// exhaustions the file holds. A post's slot is where TikTok counts it (`slot_at`: its schedule
/// time, else its creation) and is named by the create's id (`request_id`), as the create
/// named it; a cancelled post holds none, and a Zernio draft (`saved`) neither a slot nor a
/// content claim, as at its create.
async fn restore_holds(pool: &SqlitePool) -> Result<Holds, StoreError> {
    let holds = Holds::default();
    let now = ms(Utc::now());
    let start = now - ttl_ms(BUDGET_WINDOW);
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
    );
    let restore = |rows: Vec<Row>| -> Result<(), StoreError> {
        for (id, account, kind, mode, status, fingerprint, slot, schedule_at, created_at) in rows {
            if mode == "saved" {
                continue;
            }
            let lane = Lane::for_post(&kind, &mode);
            let at = ms(super::slot_at(
                millis(created_at)?,
                schedule_at.map(millis).transpose()?,
            ));
            if status != "cancelled" && at > start {
                holds.restore_slot(&account, lane, &slot, at);
            }
            if created_at > start {
                holds.restore_claim(&account, &fingerprint, &id, created_at, BUDGET_WINDOW);
            }
        }
        Ok(())
    };
    // Each tenant's last day through posts_by_tenant: the tenants come from a skip scan of
    // that index (one seek per tenant), so the rebuild reads only the window.
    let recent: Vec<Row> = sqlx::query_as(
        "WITH RECURSIVE tenants(tenant) AS ( \
             SELECT MIN(tenant) FROM posts \
             UNION ALL \
             SELECT (SELECT MIN(tenant) FROM posts WHERE tenant > tenants.tenant) \
             FROM tenants WHERE tenants.tenant IS NOT NULL) \
         SELECT p.id, p.account, p.kind, p.mode, p.status, p.fingerprint, p.request_id, \
                p.schedule_at, p.created_at \
         FROM tenants JOIN posts p ON p.tenant = tenants.tenant AND p.created_at > ?",
    )
    .bind(start)
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    restore(recent)?;
    // Older posts scheduled into the window or after it, through posts_by_schedule.
    let scheduled: Vec<Row> = sqlx::query_as(
        "SELECT id, account, kind, mode, status, fingerprint, request_id, schedule_at, created_at \
         FROM posts WHERE schedule_at > ?1 AND created_at <= ?1",
    )
    .bind(start)
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    restore(scheduled)?;
    let exhausted: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT account, lane, until FROM exhausted_accounts WHERE until > ?")
            .bind(now)
            .fetch_all(pool)
            .await
            .map_err(store_error)?;
    for (account, lane, until) in exhausted {
        let lane = Lane::parse(&lane);
        holds.mark_exhausted(&account, lane, millis(until)?);
    }
    Ok(holds)
}

/// How often expired rows are dropped.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// Idempotency claims past their expiry and exhaustions that ended are dead weight: reads
/// already ignore them.
fn purge_expired(conn: &Connection) -> Result<(), StoreError> {
    let now = ms(Utc::now());
    conn.prepare_cached("DELETE FROM claims WHERE expires_at <= ?1")?
        .execute([now])?;
    conn.prepare_cached("DELETE FROM exhausted_accounts WHERE until <= ?1")?
        .execute([now])?;
    Ok(())
}

// The writes, run on the writer's connection inside its transaction.

/// Inserts a record; an id recorded already fails the insert, unless `keep_existing`, where
/// the stored record stays as it was (Zernio's replay of a create it had made).
fn insert(conn: &Connection, p: &PostRecord, keep_existing: bool) -> Result<(), StoreError> {
    let sql = if keep_existing {
        "INSERT INTO posts (id, tenant, account, kind, mode, status, schedule_at, tiktok_url, \
         error, fingerprint, request_id, created_at, content, media_items, revision, updated_at, \
         synced_at, status_at, error_code, announced, next_sync_at, sync_attempts) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20, ?21, ?22) \
         ON CONFLICT (id) DO NOTHING"
    } else {
        "INSERT INTO posts (id, tenant, account, kind, mode, status, schedule_at, tiktok_url, \
         error, fingerprint, request_id, created_at, content, media_items, revision, updated_at, \
         synced_at, status_at, error_code, announced, next_sync_at, sync_attempts) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20, ?21, ?22)"
    };
    conn.prepare_cached(sql)?.execute(rusqlite::params![
        p.id,
        p.tenant,
        p.account,
        p.kind,
        p.mode,
        p.status,
        p.schedule_at.map(ms),
        p.tiktok_url,
        p.error,
        p.fingerprint,
        p.request_id,
        ms(p.created_at),
        p.content,
        media_json(&p.media_items),
        i64::try_from(p.sync.revision).unwrap_or(i64::MAX),
        p.sync.updated_at.map(ms),
        p.sync.synced_at.map(ms),
        p.sync.status_at.map(ms),
        p.sync.error_code,
        p.sync.announced,
        p.sync.next_sync_at.map(ms),
        p.sync.sync_attempts,
    ])?;
    Ok(())
}

/// The compare-and-set write of [`Store::replace_post`], on the writer's connection.
fn replace(
    conn: &Connection,
    p: &PostRecord,
    expected: u64,
    event: Option<&PostEvent>,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE posts SET status = ?3, schedule_at = ?4, tiktok_url = ?5, error = ?6, \
             revision = ?7, updated_at = ?8, synced_at = ?9, status_at = ?10, error_code = ?11, \
             announced = ?12, next_sync_at = ?13, sync_attempts = ?14 \
             WHERE id = ?1 AND revision = ?2",
        )?
        .execute(rusqlite::params![
            p.id,
            i64::try_from(expected).unwrap_or(i64::MAX),
            p.status,
            p.schedule_at.map(ms),
            p.tiktok_url,
            p.error,
            i64::try_from(p.sync.revision).unwrap_or(i64::MAX),
            p.sync.updated_at.map(ms),
            p.sync.synced_at.map(ms),
            p.sync.status_at.map(ms),
            p.sync.error_code,
            p.sync.announced,
            p.sync.next_sync_at.map(ms),
            p.sync.sync_attempts,
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some(e) = event {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO post_events (post_id, revision, at, recorded_at, source, \
             status, previous, error_code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(rusqlite::params![
            p.id,
            i64::try_from(e.revision).unwrap_or(i64::MAX),
            ms(e.at),
            ms(e.recorded_at),
            e.source.as_str(),
            e.status,
            e.previous,
            e.error_code,
        ])?;
    }
    Ok(true)
}

fn claim(
    conn: &Connection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    ttl: Duration,
) -> Result<Claim, StoreError> {
    let now = ms(Utc::now());
    // Insert, or take over an expired row; RETURNING tells whether we won.
    let won = conn
        .prepare_cached(
            "INSERT INTO claims (scope, key, fingerprint, payload, expires_at) \
             VALUES (?1, ?2, ?3, NULL, ?4) \
             ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             payload = NULL, expires_at = excluded.expires_at WHERE claims.expires_at <= ?5 \
             RETURNING 1",
        )?
        .query_row(
            (
                scope,
                key,
                fingerprint,
                now.saturating_add(ttl_ms(ttl)),
                now,
            ),
            |_| Ok(()),
        )
        .optional()?;
    if won.is_some() {
        return Ok(Claim::Acquired);
    }
    // The writer is the only writer: the row that beat us is still there.
    let (fingerprint, payload): (String, Option<Vec<u8>>) = conn
        .prepare_cached("SELECT fingerprint, payload FROM claims WHERE scope = ?1 AND key = ?2")?
        .query_row((scope, key), |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(match payload {
        Some(payload) => Claim::Done {
            fingerprint,
            payload,
        },
        None => Claim::Pending { fingerprint },
    })
}

fn complete(
    conn: &Connection,
    scope: &str,
    key: &str,
    payload: &[u8],
    ttl: Duration,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE claims SET payload = ?3, expires_at = ?4 WHERE scope = ?1 AND key = ?2",
    )?
    .execute((
        scope,
        key,
        payload,
        ms(Utc::now()).saturating_add(ttl_ms(ttl)),
    ))?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    async fn insert_post(&self, p: &PostRecord) -> Result<(), StoreError> {
        let p = p.clone();
        self.writer
            .write_one(move |conn| insert(conn, &p, false))
            .await
    }

    async fn post(&self, tenant: &str, id: &str) -> Result<Option<PostRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM posts WHERE id = ? AND tenant = ?"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(|row| post_from_row(&row))
        .transpose()
    }

    async fn post_by_id(&self, id: &str) -> Result<Option<PostRecord>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM posts WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .map(|row| post_from_row(&row))
            .transpose()
    }

    async fn posts(
        &self,
        tenant: &str,
        filter: &PostFilter,
        after: Option<&PostCursor>,
        limit: u32,
    ) -> Result<Vec<PostRecord>, StoreError> {
        // NULL parameters switch a condition off, so one statement serves every filter.
        let sql = format!(
            "SELECT {COLUMNS} FROM posts WHERE tenant = ?1 \
             AND (?2 IS NULL OR status = ?2) \
             AND (?3 IS NULL OR account = ?3) \
             AND (?4 IS NULL OR created_at >= ?4) \
             AND (?5 IS NULL OR created_at < ?5 OR (created_at = ?5 AND id < ?6)) \
             AND (?8 IS NULL OR created_at <= ?8) \
             ORDER BY created_at DESC, id DESC LIMIT ?7"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant)
            .bind(&filter.status)
            .bind(&filter.account)
            .bind(filter.since.map(|t| t.timestamp_millis()))
            .bind(after.map(|c| c.created_at.timestamp_millis()))
            .bind(after.map(|c| c.id.as_str()))
            .bind(i64::from(limit))
            .bind(filter.until.map(|t| t.timestamp_millis()))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter().map(post_from_row).collect()
    }

    async fn count_posts(&self, tenant: &str, filter: &PostFilter) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM posts WHERE tenant = ?1 \
             AND (?2 IS NULL OR status = ?2) \
             AND (?3 IS NULL OR account = ?3) \
             AND (?4 IS NULL OR created_at >= ?4) \
             AND (?5 IS NULL OR created_at <= ?5)",
        )
        .bind(tenant)
        .bind(&filter.status)
        .bind(&filter.account)
        .bind(filter.since.map(|t| t.timestamp_millis()))
        .bind(filter.until.map(|t| t.timestamp_millis()))
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn update_post(&self, id: &str, u: &PostUpdate) -> Result<(), StoreError> {
        let (id, u) = (id.to_owned(), u.clone());
        self.writer
            .write_one(move |conn| {
                conn.prepare_cached(
                    "UPDATE posts SET status = COALESCE(?2, status), \
                     schedule_at = CASE WHEN ?3 THEN ?4 ELSE schedule_at END, \
                     tiktok_url = COALESCE(?5, tiktok_url), \
                     error = CASE WHEN ?6 THEN ?7 ELSE error END WHERE id = ?1",
                )?
                .execute(rusqlite::params![
                    id,
                    u.status,
                    u.schedule_at.is_some(),
                    u.schedule_at.flatten().map(ms),
                    u.tiktok_url,
                    u.error.is_some(),
                    u.error.flatten(),
                ])?;
                Ok(())
            })
            .await
    }

    async fn replace_post(
        &self,
        post: &PostRecord,
        expected: u64,
        event: Option<&PostEvent>,
    ) -> Result<bool, StoreError> {
        let (p, e) = (post.clone(), event.cloned());
        // Two statements when there is an event: all or nothing.
        self.writer
            .write(move |conn| replace(conn, &p, expected, e.as_ref()))
            .await
    }

    async fn delete_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        let id = post.id.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM post_events WHERE post_id = ?1")?
                    .execute([&id])?;
                conn.prepare_cached("DELETE FROM posts WHERE id = ?1")?
                    .execute([&id])?;
                Ok(())
            })
            .await
    }

    async fn post_events(&self, id: &str) -> Result<Vec<PostEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT revision, at, recorded_at, source, status, previous, error_code FROM \
             (SELECT * FROM post_events WHERE post_id = ?1 ORDER BY revision DESC LIMIT 100) \
             ORDER BY revision",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let get = |e: sqlx::Error| StoreError::Other(e.to_string());
        rows.iter()
            .map(|row| {
                Ok(PostEvent {
                    revision: u64::try_from(row.try_get::<i64, _>("revision").map_err(get)?)
                        .unwrap_or(0),
                    at: millis(row.try_get("at").map_err(get)?)?,
                    recorded_at: millis(row.try_get("recorded_at").map_err(get)?)?,
                    source: ChangeSource::parse(row.try_get("source").map_err(get)?),
                    status: row.try_get("status").map_err(get)?,
                    previous: row.try_get("previous").map_err(get)?,
                    error_code: row.try_get("error_code").map_err(get)?,
                })
            })
            .collect()
    }

    async fn append_audit(
        &self,
        entry: &AuditEntry,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let row = self.audit_row(entry, retention)?;
        self.writer.write(move |conn| row.append(conn)).await
    }

    async fn audit_entries(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let before: Option<i64> = before.and_then(|b| b.parse().ok());
        let rows = sqlx::query(
            "SELECT seq, entry FROM audit_log WHERE tenant = ?1 \
             AND (?2 IS NULL OR seq < ?2) \
             AND (?3 IS NULL OR action = ?3) \
             AND (?4 IS NULL OR account = ?4) \
             AND (?5 IS NULL OR object_id = ?5) \
             AND (?6 IS NULL OR at >= ?6) \
             AND (?7 IS NULL OR at <= ?7) \
             ORDER BY seq DESC LIMIT ?8",
        )
        .bind(tenant)
        .bind(before)
        .bind(&filter.action)
        .bind(&filter.account)
        .bind(&filter.object_id)
        .bind(filter.since.map(ms))
        .bind(filter.until.map(ms))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_since(
        &self,
        tenant: &str,
        since: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let after: Option<i64> = after.and_then(|b| b.parse().ok());
        let rows = sqlx::query(
            "SELECT seq, entry FROM audit_log WHERE tenant = ?1 AND at >= ?2 \
             AND (?3 IS NULL OR seq > ?3) ORDER BY seq LIMIT ?4",
        )
        .bind(tenant)
        .bind(ms(since))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn due_for_sync(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM posts WHERE next_sync_at IS NOT NULL AND next_sync_at <= ?1 \
             ORDER BY next_sync_at LIMIT ?2",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)
    }

    async fn rate_limit(&self, key: &str, policy: RatePolicy) -> Result<RateDecision, StoreError> {
        Ok(self.rates.check(key, policy))
    }

    async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        let (scope, key, fingerprint) = (scope.to_owned(), key.to_owned(), fingerprint.to_owned());
        self.writer
            .write_one(move |conn| claim(conn, &scope, &key, &fingerprint, ttl))
            .await
    }

    async fn complete_claim(
        &self,
        scope: &str,
        key: &str,
        payload: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (scope, key, payload) = (scope.to_owned(), key.to_owned(), payload.to_vec());
        self.writer
            .write_one(move |conn| complete(conn, &scope, &key, &payload, ttl))
            .await
    }

    async fn peek_claim(&self, scope: &str, key: &str) -> Result<Option<Claim>, StoreError> {
        // The read pool, not the writer: a look-up queues behind no write.
        let row: Option<(String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT fingerprint, payload FROM claims \
             WHERE scope = ? AND key = ? AND expires_at > ?",
        )
        .bind(scope)
        .bind(key)
        .bind(ms(Utc::now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(row.map(|(fingerprint, payload)| match payload {
            Some(payload) => Claim::Done {
                fingerprint,
                payload,
            },
            None => Claim::Pending { fingerprint },
        }))
    }

    async fn release_claim(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.writer
            .write_one(move |conn| {
                conn.prepare_cached("DELETE FROM claims WHERE scope = ?1 AND key = ?2")?
                    .execute((scope, key))?;
                Ok(())
            })
            .await
    }

    async fn reserve_slot(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        limit: u32,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotDecision, StoreError> {
        self.holds.reserve(account, lane, slot, limit, window, now)
    }

    async fn release_slot(&self, account: &str, lane: Lane, slot: &str) -> Result<(), StoreError> {
        self.holds.release_slot(account, lane, slot);
        Ok(())
    }

    async fn move_slot(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        at: DateTime<Utc>,
        limit: u32,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotMove, StoreError> {
        self.holds
            .relocate(account, lane, slot, at, limit, window, now)
    }

    async fn mark_exhausted(
        &self,
        account: &str,
        lane: Lane,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Kept in the file too: unlike a slot, an exhaustion is not written anywhere else.
        let owned = account.to_owned();
        self.writer
            .write_one(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO exhausted_accounts (account, lane, until) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (account, lane) DO UPDATE SET until = MAX(until, excluded.until)",
                )?
                .execute((owned, lane.as_str(), ms(until)))?;
                Ok(())
            })
            .await?;
        self.holds.mark_exhausted(account, lane, until);
        Ok(())
    }

    async fn slot_usage(
        &self,
        account: &str,
        lane: Lane,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotUsage, StoreError> {
        self.holds.usage(account, lane, window, now)
    }

    async fn hold(&self, h: &CreateHold<'_>) -> Result<HoldDecision, StoreError> {
        let decision = self.holds.hold(h)?;
        let (HoldDecision::Held { .. }, Some(charge)) = (&decision, h.upstream) else {
            return Ok(decision);
        };
        let reserve = self.rates.check(&charge.reserve_key, charge.reserve);
        if reserve.allowed {
            return Ok(decision);
        }
        let pool = self.rates.check(&charge.pool_key, charge.pool);
        if pool.allowed {
            return Ok(decision);
        }
        self.holds.release(h.account, h.lane, h.slot, h.fingerprint);
        Ok(HoldDecision::UpstreamBusy {
            retry_after: reserve.retry_after.min(pool.retry_after),
        })
    }

    async fn release_hold(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.holds.release(account, lane, slot, fingerprint);
        Ok(())
    }

    async fn record_created(
        &self,
        post: &PostRecord,
        ttl: Duration,
        audit: Option<crate::store::AuditAppend<'_>>,
    ) -> Result<(), StoreError> {
        let p = post.clone();
        match audit {
            // One job: the record and its audit entry commit together.
            Some(audit) => {
                let row = self.audit_row(audit.entry, audit.retention)?;
                self.writer
                    .write(move |conn| {
                        insert(conn, &p, true)?;
                        row.append(conn)
                    })
                    .await?;
            }
            None => {
                self.writer
                    .write_one(move |conn| insert(conn, &p, true))
                    .await?;
            }
        }
        self.holds.complete(
            &post.account,
            &post.fingerprint,
            post.id.as_bytes(),
            ttl,
            Utc::now(),
        );
        Ok(())
    }
}

/// An audit entry as the writer appends it.
struct AuditRow {
    tenant: String,
    at: i64,
    action: String,
    account: Option<String>,
    object_id: Option<String>,
    json: String,
    /// Entries before this (ms) are dropped on the way, when it is time to.
    prune_before: Option<i64>,
}

impl AuditRow {
    fn append(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.prepare_cached(
            "INSERT INTO audit_log (tenant, at, action, account, object_id, entry) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(rusqlite::params![
            self.tenant,
            self.at,
            self.action,
            self.account,
            self.object_id,
            self.json
        ])?;
        if let Some(oldest) = self.prune_before {
            conn.prepare_cached("DELETE FROM audit_log WHERE at < ?1")?
                .execute([oldest])?;
        }
        Ok(())
    }
}

/// How often an append also drops the entries past their retention. Retention is counted in
/// days, so a second late changes nothing; a delete on every append was a statement (and an
/// index seek) per create.
const AUDIT_PRUNE_EVERY_MS: i64 = 1_000;

impl SqliteStore {
    fn audit_row(&self, entry: &AuditEntry, retention: Duration) -> Result<AuditRow, StoreError> {
        let json = serde_json::to_string(entry)
            .map_err(|e| StoreError::Other(format!("an audit entry is not JSON: {e}")))?;
        let now = ms(Utc::now());
        let last = self.audit_pruned_at.load(Ordering::Relaxed);
        let prune = now.saturating_sub(last) >= AUDIT_PRUNE_EVERY_MS
            && self
                .audit_pruned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        Ok(AuditRow {
            tenant: entry.tenant.clone(),
            at: ms(entry.at),
            action: entry.action.clone(),
            account: entry.account.clone(),
            object_id: entry.object_id.clone(),
            json,
            prune_before: prune.then(|| now.saturating_sub(ttl_ms(retention))),
        })
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4)
}

const COLUMNS: &str = "id, tenant, account, kind, mode, status, schedule_at, tiktok_url, error, \
                       fingerprint, request_id, created_at, content, media_items, revision, \
                       updated_at, synced_at, status_at, error_code, announced, next_sync_at, \
                       sync_attempts";

/// The media column: Zernio's `mediaItems` JSON; none is NULL.
fn media_json(items: &[crate::store::MediaRef]) -> Option<String> {
    if items.is_empty() {
        None
    } else {
        serde_json::to_string(items).ok()
    }
}

/// A media column that does not read back (written by no version of this code) is no media
/// rather than an unreadable post.
fn media_of(text: Option<String>) -> Vec<crate::store::MediaRef> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn store_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Other(other.to_string()),
    }
}

fn millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Other(format!("timestamp {ms} out of range")))
}

/// An audit row: the entry as written, its id the row's sequence number (zero-padded, so that
/// ids sort as they were written).
fn audit_from_row(row: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let get = |e: sqlx::Error| StoreError::Other(e.to_string());
    let seq: i64 = row.try_get("seq").map_err(get)?;
    let text: String = row.try_get("entry").map_err(get)?;
    let mut entry: AuditEntry = serde_json::from_str(&text)
        .map_err(|e| StoreError::Other(format!("an audit entry does not read back: {e}")))?;
    entry.id = format!("{seq:012}");
    Ok(entry)
}

fn optional_millis(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(|e| StoreError::Other(e.to_string()))?
        .map(millis)
        .transpose()
}

fn post_from_row(row: &SqliteRow) -> Result<PostRecord, StoreError> {
    let get = |e: sqlx::Error| StoreError::Other(e.to_string());
    Ok(PostRecord {
        id: row.try_get("id").map_err(get)?,
        tenant: row.try_get("tenant").map_err(get)?,
        account: row.try_get("account").map_err(get)?,
        kind: row.try_get("kind").map_err(get)?,
        mode: row.try_get("mode").map_err(get)?,
        status: row.try_get("status").map_err(get)?,
        schedule_at: row
            .try_get::<Option<i64>, _>("schedule_at")
            .map_err(get)?
            .map(millis)
            .transpose()?,
        tiktok_url: row.try_get("tiktok_url").map_err(get)?,
        error: row.try_get("error").map_err(get)?,
        fingerprint: row.try_get("fingerprint").map_err(get)?,
        request_id: row.try_get("request_id").map_err(get)?,
        created_at: millis(row.try_get("created_at").map_err(get)?)?,
        content: row.try_get("content").map_err(get)?,
        media_items: media_of(row.try_get("media_items").map_err(get)?),
        sync: RecordSync {
            revision: u64::try_from(row.try_get::<i64, _>("revision").map_err(get)?).unwrap_or(0),
            updated_at: optional_millis(row, "updated_at")?,
            synced_at: optional_millis(row, "synced_at")?,
            status_at: optional_millis(row, "status_at")?,
            error_code: row.try_get("error_code").map_err(get)?,
            announced: row.try_get("announced").map_err(get)?,
            next_sync_at: optional_millis(row, "next_sync_at")?,
            sync_attempts: u32::try_from(row.try_get::<i64, _>("sync_attempts").map_err(get)?)
                .unwrap_or(0),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn housekeeping_drops_expired_claims_and_exhaustions_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("g.db"))
            .await
            .expect("opens");
        let minute = Duration::from_secs(60);
        store
            .claim("idem", "gone", "fp", Duration::ZERO)
            .await
            .unwrap();
        store.claim("idem", "kept", "fp", minute).await.unwrap();
        let now = Utc::now();
        store
            .mark_exhausted("acc", Lane::Video, now - chrono::Duration::seconds(1))
            .await
            .unwrap();
        store
            .mark_exhausted("acc", Lane::Draft, now + chrono::Duration::hours(1))
            .await
            .unwrap();
        store.writer.write(purge_expired).await.unwrap();
        let left = store
            .writer
            .write(|conn| {
                let claims: i64 =
                    conn.query_row("SELECT COUNT(*) FROM claims", [], |r| r.get(0))?;
                let exhausted: String = conn.query_row(
                    "SELECT group_concat(lane) FROM exhausted_accounts",
                    [],
                    |r| r.get(0),
                )?;
                Ok((claims, exhausted))
            })
            .await
            .unwrap();
        assert_eq!(left, (1, "draft".to_owned()));
    }
}
