//! Subscriptions and the webhook outbox in SQLite. Writes go through the store's one writer, so
//! a lease is one `UPDATE` that no other worker can interleave with: two workers never take the
//! same row.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, millis, ms, store_error, ttl_ms};
use crate::store::webhooks::DELIVERY_RETENTION;
use crate::store::{
    Attempt, Delivery, DeliveryStatus, Fairness, NewDelivery, OutboxStats, StoreError,
    Subscription, WebhookStore,
};

const SUBSCRIPTION_COLUMNS: &str = "id, tenant, target_url, events, secret, created_at";
const DELIVERY_COLUMNS: &str = "id, tenant, subscription, event_type, post_id, payload, status, \
     attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, created_at, \
     lease_token";

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_subscription(&self, s: &Subscription, limit: u32) -> Result<bool, StoreError> {
        let s = s.clone();
        // Count and insert in one job of the one writer: no other write comes between them.
        self.writer
            .write(move |conn| {
                let held: i64 = conn
                    .prepare_cached("SELECT COUNT(*) FROM webhook_subscriptions WHERE tenant = ?1")?
                    .query_row([&s.tenant], |row| row.get(0))?;
                if held >= i64::from(limit) {
                    return Ok(false);
                }
                conn.prepare_cached(
                    "INSERT INTO webhook_subscriptions (id, tenant, target_url, events, secret, \
                     created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute((
                    &s.id,
                    &s.tenant,
                    &s.target_url,
                    s.events.join(","),
                    &s.secret,
                    ms(s.created_at),
                ))?;
                Ok(true)
            })
            .await
    }

    async fn replace_subscription_secret(
        &self,
        tenant: &str,
        id: &str,
        expected: &str,
        sealed: &str,
    ) -> Result<bool, StoreError> {
        let (tenant, id, expected, sealed) = (
            tenant.to_owned(),
            id.to_owned(),
            expected.to_owned(),
            sealed.to_owned(),
        );
        self.writer
            .write_one(move |conn| {
                let updated = conn
                    .prepare_cached(
                        "UPDATE webhook_subscriptions SET secret = ?4 \
                         WHERE id = ?1 AND tenant = ?2 AND secret = ?3",
                    )?
                    .execute((&id, &tenant, &expected, &sealed))?;
                Ok(updated == 1)
            })
            .await
    }

    async fn subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE tenant = ? \
             ORDER BY created_at, id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn subscription(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = ? AND tenant = ?"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(|row| subscription_from_row(&row))
        .transpose()
    }

    async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.writer
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM webhook_subscriptions WHERE id = ?1 AND tenant = ?2",
                    )?
                    .execute((&id, &tenant))?;
                if deleted > 0 {
                    conn.prepare_cached(
                        "DELETE FROM webhook_deliveries WHERE subscription = ?1 AND tenant = ?2",
                    )?
                    .execute((&id, &tenant))?;
                }
                Ok(deleted > 0)
            })
            .await
    }

    async fn enqueue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        due: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let deliveries = deliveries.to_vec();
        self.writer
            .write(move |conn| {
                let mut insert = conn.prepare_cached(
                    "INSERT OR IGNORE INTO webhook_deliveries (id, tenant, subscription, \
                     event_type, post_id, payload, status, attempts, next_attempt_at, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8)",
                )?;
                let mut added = 0u32;
                for d in &deliveries {
                    let inserted = insert.execute(rusqlite::params![
                        d.id,
                        d.tenant,
                        d.subscription,
                        d.event_type,
                        d.post_id,
                        d.payload,
                        ms(due),
                        ms(d.created_at),
                    ])?;
                    added += u32::from(inserted > 0);
                }
                // Finished deliveries are kept for a while to be looked at, not forever.
                conn.prepare_cached(
                    "DELETE FROM webhook_deliveries WHERE status != 'pending' \
                     AND last_attempt_at < ?1",
                )?
                .execute([ms(Utc::now()) - ttl_ms(DELIVERY_RETENTION)])?;
                Ok(added)
            })
            .await
    }

    async fn lease_deliveries_fairly(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        fairness: &Fairness,
    ) -> Result<Vec<Delivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let leased = token.clone();
        let fairness = fairness.clone();
        // One job of the one writer: the tenants with due work (a skip scan of the due-by-tenant
        // index, one seek each), the oldest due of each within its room, the picks round by
        // tenant, and their lease; no other worker's lease comes between.
        let taken = self
            .writer
            .write(move |conn| {
                let now_ms = ms(now);
                let tenants: Vec<String> = conn
                    .prepare_cached(
                        "WITH RECURSIVE tenants(tenant) AS ( \
                             SELECT MIN(tenant) FROM webhook_deliveries \
                             WHERE status = 'pending' AND next_attempt_at <= ?1 \
                             UNION ALL \
                             SELECT (SELECT MIN(tenant) FROM webhook_deliveries \
                                     WHERE status = 'pending' AND tenant > tenants.tenant \
                                     AND next_attempt_at <= ?1) \
                             FROM tenants WHERE tenants.tenant IS NOT NULL) \
                         SELECT tenant FROM tenants WHERE tenant IS NOT NULL",
                    )?
                    .query_map([now_ms], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                let mut due = Vec::with_capacity(tenants.len());
                let mut of_tenant = conn.prepare_cached(
                    "SELECT next_attempt_at, id FROM webhook_deliveries \
                     WHERE status = 'pending' AND tenant = ?1 AND next_attempt_at <= ?2 \
                     AND lease_until <= ?2 ORDER BY next_attempt_at, id LIMIT ?3",
                )?;
                for tenant in tenants {
                    let room = fairness.room(&tenant).min(limit);
                    if room == 0 {
                        continue;
                    }
                    let queue: Vec<(i64, String)> = of_tenant
                        .query_map(rusqlite::params![tenant, now_ms, i64::from(room)], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })?
                        .collect::<Result<_, _>>()?;
                    due.push(queue);
                }
                let picked = fairness.pick(due, limit);
                let mut lease_one = conn.prepare_cached(
                    "UPDATE webhook_deliveries SET lease_until = ?1, lease_token = ?2 WHERE id = ?3",
                )?;
                let until = now_ms.saturating_add(ttl_ms(lease));
                for id in &picked {
                    lease_one.execute(rusqlite::params![until, leased, id])?;
                }
                Ok(picked)
            })
            .await?;
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        // The lease is committed: read what it took back by its token.
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE lease_token = ? \
             ORDER BY next_attempt_at"
        ))
        .bind(&token)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut leased: Vec<Delivery> = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?;
        // In the order they were picked: round by tenant.
        leased.sort_by_key(|d| taken.iter().position(|id| *id == d.id));
        Ok(leased)
    }

    async fn record_attempt(&self, id: &str, lease: &str, a: &Attempt) -> Result<bool, StoreError> {
        let (id, lease, a) = (id.to_owned(), lease.to_owned(), a.clone());
        self.writer
            .write_one(move |conn| {
                // A pending result without a time is due at once rather than never.
                let next = match (a.status, a.next_attempt_at) {
                    (DeliveryStatus::Pending, None) => Some(ms(a.at)),
                    (_, next) => next.map(ms),
                };
                let updated = conn
                    .prepare_cached(
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?3, \
                         next_attempt_at = ?4, last_attempt_at = ?5, last_status_code = ?6, \
                         last_error = ?7, lease_until = 0, lease_token = NULL \
                         WHERE id = ?1 AND lease_token = ?2",
                    )?
                    .execute(rusqlite::params![
                        id,
                        lease,
                        a.status.as_str(),
                        next,
                        ms(a.at),
                        a.status_code.map(i64::from),
                        a.error,
                    ])?;
                Ok(updated == 1)
            })
            .await
    }

    async fn release_delivery(&self, id: &str, lease: &str) -> Result<(), StoreError> {
        let (id, lease) = (id.to_owned(), lease.to_owned());
        self.writer
            .write_one(move |conn| {
                conn.prepare_cached(
                    "UPDATE webhook_deliveries SET lease_until = 0, lease_token = NULL \
                     WHERE id = ?1 AND lease_token = ?2",
                )?
                .execute((id, lease))?;
                Ok(())
            })
            .await
    }

    async fn deliveries(
        &self,
        tenant: &str,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription = ? AND tenant = ? \
             ORDER BY created_at DESC, id DESC LIMIT ?"
        ))
        .bind(subscription)
        .bind(tenant)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                // The lease is the worker's business, not the reader's.
                delivery_from_row(row).map(|d| Delivery { lease: None, ..d })
            })
            .collect()
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let (pending, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(OutboxStats {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_pending: oldest.map(millis).transpose()?,
        })
    }
}

fn subscription_from_row(row: &SqliteRow) -> Result<Subscription, StoreError> {
    let get = |e: sqlx::Error| StoreError::Other(e.to_string());
    let events: String = row.try_get("events").map_err(get)?;
    Ok(Subscription {
        id: row.try_get("id").map_err(get)?,
        tenant: row.try_get("tenant").map_err(get)?,
        target_url: row.try_get("target_url").map_err(get)?,
        events: split_events(&events),
        secret: row.try_get("secret").map_err(get)?,
        created_at: millis(row.try_get("created_at").map_err(get)?)?,
    })
}

fn split_events(joined: &str) -> Vec<String> {
    joined
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

fn delivery_from_row(row: &SqliteRow) -> Result<Delivery, StoreError> {
    let get = |e: sqlx::Error| StoreError::Other(e.to_string());
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(name)
            .map_err(get)?
            .map(millis)
            .transpose()
    };
    let status: String = row.try_get("status").map_err(get)?;
    Ok(Delivery {
        id: row.try_get("id").map_err(get)?,
        tenant: row.try_get("tenant").map_err(get)?,
        subscription: row.try_get("subscription").map_err(get)?,
        event_type: row.try_get("event_type").map_err(get)?,
        post_id: row.try_get("post_id").map_err(get)?,
        payload: row.try_get("payload").map_err(get)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("unknown delivery status {status}")))?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts").map_err(get)?).unwrap_or(0),
        next_attempt_at: time("next_attempt_at")?,
        last_attempt_at: time("last_attempt_at")?,
        last_status_code: row
            .try_get::<Option<i64>, _>("last_status_code")
            .map_err(get)?
            .and_then(|c| u16::try_from(c).ok()),
        last_error: row.try_get("last_error").map_err(get)?,
        created_at: millis(row.try_get("created_at").map_err(get)?)?,
        lease: row.try_get("lease_token").map_err(get)?,
    })
}
