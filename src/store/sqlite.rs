//! The embedded store: one SQLite file (WAL mode), created with its directory on first start,
//! migrations embedded in the binary.

mod webhooks;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
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
    Claim, CreateHold, HoldDecision, Lane, PostCursor, PostFilter, PostRecord, PostUpdate,
    RateDecision, RatePolicy, SlotDecision, SlotUsage, Store, StoreError,
};
use crate::limits::rate::LocalRateLimiter;
use writer::Writer;

pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one writer. SQLite takes one write at a time anyway; queueing writes there, batched
    /// into shared commits, is far faster than letting connections collide on the lock.
    writer: Writer,
    /// Counts reservations, to clean expired slots up every so often.
    reservations: AtomicU64,
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
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
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
        migrator.close().await;
        let writer = Writer::open(path)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(SqliteStore {
            pool,
            writer,
            reservations: AtomicU64::new(0),
            rates: LocalRateLimiter::default(),
        })
    }
}

impl SqliteStore {
    /// Slots that left the window are only dead weight: every so often a reservation drops
    /// its account's.
    fn sweep_due(&self) -> bool {
        self.reservations
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(64)
    }
}

// The writes, run on the writer's connection inside its transaction.

fn insert(conn: &Connection, p: &PostRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO posts (id, tenant, account, kind, mode, status, schedule_at, tiktok_url, \
         error, fingerprint, request_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(rusqlite::params![
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
    ])?;
    Ok(())
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

#[allow(clippy::too_many_arguments)]
fn reserve(
    conn: &Connection,
    account: &str,
    lane: Lane,
    slot: &str,
    limit: u32,
    window: Duration,
    now: DateTime<Utc>,
    sweep: bool,
) -> Result<SlotDecision, StoreError> {
    let (now, window_ms) = (ms(now), ttl_ms(window));
    let start = now - window_ms;
    // Read, then write: safe here, as this runs on the only writer inside its transaction.
    let exhausted: Option<i64> = conn
        .prepare_cached(
            "SELECT until FROM exhausted_accounts WHERE account = ?1 AND lane = ?2 AND until > ?3",
        )?
        .query_row((account, lane.as_str(), now), |row| row.get(0))
        .optional()?;
    if let Some(until) = exhausted {
        return Ok(SlotDecision::Full {
            retry_at: millis(until)?,
        });
    }
    // Counting stops at the limit, so its cost stays bounded however generous the limit is.
    let (used, oldest): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT COUNT(*), MIN(at) FROM (SELECT at FROM post_slots \
             WHERE account = ?1 AND lane = ?2 AND at > ?3 ORDER BY at LIMIT ?4)",
        )?
        .query_row((account, lane.as_str(), start, i64::from(limit)), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let full = used >= i64::from(limit);
    if full || sweep {
        // Slots that left the window are only dead weight.
        conn.prepare_cached(
            "DELETE FROM post_slots WHERE account = ?1 AND lane = ?2 AND at <= ?3",
        )?
        .execute((account, lane.as_str(), start))?;
    }
    if full {
        let retry_at = oldest.map_or(now + window_ms, |t| t + window_ms);
        return Ok(SlotDecision::Full {
            retry_at: millis(retry_at)?,
        });
    }
    // A caller that reuses a request id gets a slot per request all the same: counted twice
    // is the safe side of a budget.
    conn.prepare_cached(
        "INSERT OR IGNORE INTO post_slots (account, lane, at, slot) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute((account, lane.as_str(), now, slot))?;
    Ok(SlotDecision::Reserved {
        used: u32::try_from(used + 1).unwrap_or(u32::MAX),
    })
}

fn release_slot(
    conn: &Connection,
    account: &str,
    lane: Lane,
    slot: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM post_slots WHERE account = ?1 AND lane = ?2 AND slot = ?3")?
        .execute((account, lane.as_str(), slot))?;
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
        self.writer.write(move |conn| insert(conn, &p)).await
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
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter().map(post_from_row).collect()
    }

    async fn update_post(&self, id: &str, u: &PostUpdate) -> Result<(), StoreError> {
        let (id, u) = (id.to_owned(), u.clone());
        self.writer
            .write(move |conn| {
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
            .write(move |conn| claim(conn, &scope, &key, &fingerprint, ttl))
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
            .write(move |conn| complete(conn, &scope, &key, &payload, ttl))
            .await
    }

    async fn release_claim(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.writer
            .write(move |conn| {
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
        let sweep = self.sweep_due();
        let (account, slot) = (account.to_owned(), slot.to_owned());
        self.writer
            .write(move |conn| reserve(conn, &account, lane, &slot, limit, window, now, sweep))
            .await
    }

    async fn release_slot(&self, account: &str, lane: Lane, slot: &str) -> Result<(), StoreError> {
        let (account, slot) = (account.to_owned(), slot.to_owned());
        self.writer
            .write(move |conn| release_slot(conn, &account, lane, &slot))
            .await
    }

    async fn mark_exhausted(
        &self,
        account: &str,
        lane: Lane,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let account = account.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO exhausted_accounts (account, lane, until) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (account, lane) DO UPDATE SET until = MAX(until, excluded.until)",
                )?
                .execute((account, lane.as_str(), ms(until)))?;
                Ok(())
            })
            .await
    }

    async fn slot_usage(
        &self,
        account: &str,
        lane: Lane,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotUsage, StoreError> {
        let window_ms = ttl_ms(window);
        let start = ms(now) - window_ms;
        let (used, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM post_slots WHERE account = ? AND lane = ? AND at > ?",
        )
        .bind(account)
        .bind(lane.as_str())
        .bind(start)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        let exhausted: Option<i64> = sqlx::query_scalar(
            "SELECT until FROM exhausted_accounts WHERE account = ? AND lane = ? AND until > ?",
        )
        .bind(account)
        .bind(lane.as_str())
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(SlotUsage {
            used: u32::try_from(used).unwrap_or(u32::MAX),
            frees_at: oldest.map(|t| millis(t + window_ms)).transpose()?,
            exhausted_until: exhausted.map(millis).transpose()?,
        })
    }

    async fn hold(&self, h: &CreateHold<'_>) -> Result<HoldDecision, StoreError> {
        let sweep = self.sweep_due();
        let (account, lane, slot, limit, window, now) = (
            h.account.to_owned(),
            h.lane,
            h.slot.to_owned(),
            h.limit,
            h.window,
            h.now,
        );
        let (scope, fingerprint, ttl) = (
            h.content_scope.to_owned(),
            h.fingerprint.to_owned(),
            h.claim_ttl,
        );
        self.writer
            .write(move |conn| {
                match reserve(conn, &account, lane, &slot, limit, window, now, sweep)? {
                    SlotDecision::Full { retry_at } => Ok(HoldDecision::Full { retry_at }),
                    SlotDecision::Reserved { used } => {
                        match claim(conn, &scope, &fingerprint, &fingerprint, ttl)? {
                            Claim::Acquired => Ok(HoldDecision::Held { used }),
                            taken => {
                                release_slot(conn, &account, lane, &slot)?;
                                Ok(HoldDecision::Duplicate(taken))
                            }
                        }
                    }
                }
            })
            .await
    }

    async fn record_created(
        &self,
        post: &PostRecord,
        content_scope: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (post, scope) = (post.clone(), content_scope.to_owned());
        self.writer
            .write(move |conn| {
                insert(conn, &post)?;
                complete(conn, &scope, &post.fingerprint, post.id.as_bytes(), ttl)
            })
            .await
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4)
}

const COLUMNS: &str = "id, tenant, account, kind, mode, status, schedule_at, tiktok_url, error, \
                       fingerprint, request_id, created_at";

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
    })
}
