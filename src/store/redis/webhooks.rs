//! Subscriptions and the webhook outbox in Redis, for several replicas.
//!
//! Keys (prefix `tgw:`): `sub:{id}` a hash per subscription and `subs:{tenant}` the tenant's
//! subscription ids (sorted set by creation); `dlv:{id}` a hash per delivery and `dlvs:{sub}` the
//! subscription's delivery ids (sorted set by creation); `outbox:due:{tenant}` the tenant's
//! pending deliveries with their due time as score, `outbox:tenants` the tenants that may have
//! some (so that a lease takes each tenant's oldest within its share, round by tenant), and
//! `outbox:born` every pending id scored by creation, for the age of the oldest. The one
//! `outbox:due` of before is moved into the tenants' sets by the first lease.
//!
//! A lease moves a delivery's score in its tenant's due set to the end of the lease; that score
//! (with the tenant) is the lease's token: whoever leases it later gets a later score, so a
//! worker whose lease ran out can no longer record its attempt. Subscriptions and pending deliveries never expire (losing them
//! would lose events); finished deliveries expire after `DELIVERY_RETENTION`.
//!
//! Deleting a subscription derives its deliveries' keys inside the script, as a single Redis (not
//! a cluster) is what this store runs on.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script};

use super::{RedisStore, at_ms as at, millis_u64, unavailable};
use crate::store::webhooks::DELIVERY_RETENTION;
use crate::store::{
    Attempt, Delivery, DeliveryStatus, Fairness, NewDelivery, OutboxStats, StoreError,
    Subscription, WebhookStore,
};

/// The one due set of before the tenants had their own.
const OLD_DUE: &str = "tgw:outbox:due";
const DUE_PREFIX: &str = "tgw:outbox:due:";
const TENANTS: &str = "tgw:outbox:tenants";
const BORN: &str = "tgw:outbox:born";
const DELIVERY_PREFIX: &str = "tgw:dlv:";

fn subscription_key(id: &str) -> String {
    format!("tgw:sub:{id}")
}

fn subscriptions_key(tenant: &str) -> String {
    format!("tgw:subs:{tenant}")
}

fn due_key(tenant: &str) -> String {
    format!("{DUE_PREFIX}{tenant}")
}

/// A lease's token: the lease's end (its score) and the tenant (whose due set holds it).
fn lease_token(until: i64, tenant: &str) -> String {
    format!("{until}:{tenant}")
}

fn parse_lease(token: &str) -> Option<(i64, &str)> {
    let (until, tenant) = token.split_once(':')?;
    Some((until.parse().ok()?, tenant))
}

fn delivery_key(id: &str) -> String {
    format!("{DELIVERY_PREFIX}{id}")
}

fn deliveries_key(subscription: &str) -> String {
    format!("tgw:dlvs:{subscription}")
}

/// KEYS: tenants, born, then (delivery hash, subscription index, tenant's due set) per
/// delivery. ARGV: due ms, oldest index entry kept (ms), count, width (arguments per delivery),
/// then per delivery: id, created ms, tenant, field/value pairs.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = tonumber(ARGV[3])
local width = tonumber(ARGV[4])
local added = 0
for i = 1, n do
  local key = KEYS[3 * i]
  local index = KEYS[1 + 3 * i]
  local due = KEYS[2 + 3 * i]
  local base = 4 + (i - 1) * width
  local id = ARGV[base + 1]
  local created = ARGV[base + 2]
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. ARGV[2])
  if redis.call('EXISTS', key) == 0 then
    local fields = {}
    for j = base + 4, base + width do fields[#fields + 1] = ARGV[j] end
    redis.call('HSET', key, unpack(fields))
    redis.call('ZADD', due, ARGV[1], id)
    redis.call('SADD', KEYS[1], ARGV[base + 3])
    redis.call('ZADD', KEYS[2], created, id)
    redis.call('ZADD', index, created, id)
    added = added + 1
  end
end
return added
"#,
    )
});

/// KEYS: tenants, the due set of before. ARGV: now ms, lease end ms, limit, share per tenant,
/// due set prefix, delivery key prefix, then (tenant, in flight) pairs. Each tenant's oldest due
/// within its room, picked round by tenant (the older first within a round), and leased.
/// Returns (tenant, id) pairs, flat.
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local prefix = ARGV[5]
if redis.call('EXISTS', KEYS[2]) == 1 then
  local old = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #old, 2 do
    local tenant = redis.call('HGET', ARGV[6] .. old[i], 'tenant')
    if tenant then
      redis.call('ZADD', prefix .. tenant, old[i + 1], old[i])
      redis.call('SADD', KEYS[1], tenant)
    end
  end
  redis.call('DEL', KEYS[2])
end
local limit = tonumber(ARGV[3])
local share = tonumber(ARGV[4])
local busy = {}
for i = 7, #ARGV, 2 do busy[ARGV[i]] = tonumber(ARGV[i + 1]) end
local tenants = redis.call('SMEMBERS', KEYS[1])
table.sort(tenants)
local queues = {}
for _, tenant in ipairs(tenants) do
  local key = prefix .. tenant
  if redis.call('ZCARD', key) == 0 then
    redis.call('SREM', KEYS[1], tenant)
  else
    local room = math.min(share - (busy[tenant] or 0), limit)
    if room > 0 then
      local due = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, room)
      if #due > 0 then queues[#queues + 1] = {tenant, due} end
    end
  end
end
local picked = {}
local taken = 0
local rank = 0
while taken < limit do
  local round = {}
  for _, queue in ipairs(queues) do
    local at = rank * 2 + 1
    local due = queue[2]
    if due[at] then round[#round + 1] = {tonumber(due[at + 1]), due[at], queue[1]} end
  end
  if #round == 0 then break end
  table.sort(round, function(a, b)
    if a[1] == b[1] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  for _, pick in ipairs(round) do
    if taken >= limit then break end
    redis.call('ZADD', prefix .. pick[3], ARGV[2], pick[2])
    picked[#picked + 1] = pick[3]
    picked[#picked + 1] = pick[2]
    taken = taken + 1
  end
  rank = rank + 1
end
return picked
"#,
    )
});

/// KEYS: the tenant's due set, born, delivery hash. ARGV: id, lease, status, next attempt ms, retention ms, then
/// field/value pairs. Returns 1 when recorded, 0 when the lease is not held.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('HINCRBY', KEYS[3], 'attempts', 1)
local fields = {}
for j = 6, #ARGV do fields[#fields + 1] = ARGV[j] end
redis.call('HSET', KEYS[3], unpack(fields))
if ARGV[3] == 'pending' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
return 1
"#,
    )
});

/// KEYS: the tenant's due set. ARGV: id, lease, now ms.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
"#,
    )
});

/// KEYS: subscription hash, tenant's index, subscription's deliveries, tenant's due set, born.
/// ARGV: tenant,
/// subscription id, delivery key prefix. Returns 1 when deleted.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[1] then return 0 end
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
for _, d in ipairs(ids) do
  redis.call('DEL', ARGV[3] .. d)
  redis.call('ZREM', KEYS[4], d)
  redis.call('ZREM', KEYS[5], d)
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"#,
    )
});

/// KEYS: subscription hash, tenant's index. ARGV: limit, created ms, id, field/value pairs.
/// Returns 1 when created, 0 when the tenant holds `limit` already, -1 when the id exists.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local fields = {}
for j = 4, #ARGV do fields[#fields + 1] = ARGV[j] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"#,
    )
});

/// KEYS: subscription hash. ARGV: tenant, expected secret, new secret. Returns 1 when replaced.
static RESEAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'secret') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'secret', ARGV[3])
return 1
"#,
    )
});

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn optional_ms(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| ms(t).to_string()).unwrap_or_default()
}

fn retention_ms() -> u64 {
    millis_u64(DELIVERY_RETENTION)
}

#[async_trait]
impl WebhookStore for RedisStore {
    async fn create_subscription(&self, s: &Subscription, limit: u32) -> Result<bool, StoreError> {
        let fields = [
            ("id", s.id.clone()),
            ("tenant", s.tenant.clone()),
            ("target_url", s.target_url.clone()),
            ("events", s.events.join(",")),
            ("secret", s.secret.clone()),
            ("created_at", ms(s.created_at).to_string()),
        ];
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(subscription_key(&s.id))
            .key(subscriptions_key(&s.tenant))
            .arg(limit)
            .arg(ms(s.created_at))
            .arg(&s.id);
        for (name, value) in fields {
            invocation.arg(name).arg(value);
        }
        let created: i64 = invocation
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        match created {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(StoreError::Other(format!(
                "subscription {} exists already",
                s.id
            ))),
        }
    }

    async fn replace_subscription_secret(
        &self,
        tenant: &str,
        id: &str,
        expected: &str,
        sealed: &str,
    ) -> Result<bool, StoreError> {
        let replaced: i64 = RESEAL
            .key(subscription_key(id))
            .arg(tenant)
            .arg(expected)
            .arg(sealed)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(replaced == 1)
    }

    async fn subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        let mut conn = self.conn()?;
        let ids: Vec<String> = conn
            .zrange(subscriptions_key(tenant), 0, -1)
            .await
            .map_err(unavailable)?;
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(subscription_key(id));
        }
        let hashes: Vec<HashMap<String, String>> =
            pipe.query_async(&mut conn).await.map_err(unavailable)?;
        hashes
            .iter()
            .filter(|h| h.get("tenant").is_some_and(|t| t == tenant))
            .map(subscription_from_hash)
            .collect()
    }

    async fn subscription(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let fields: HashMap<String, String> = self
            .conn()?
            .hgetall(subscription_key(id))
            .await
            .map_err(unavailable)?;
        if fields.get("tenant").is_none_or(|t| t != tenant) {
            return Ok(None);
        }
        subscription_from_hash(&fields).map(Some)
    }

    async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let deleted: i64 = DELETE
            .key(subscription_key(id))
            .key(subscriptions_key(tenant))
            .key(deliveries_key(id))
            .key(due_key(tenant))
            .key(BORN)
            .arg(tenant)
            .arg(id)
            .arg(DELIVERY_PREFIX)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn enqueue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        due: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let cutoff = ms(Utc::now()) - i64::try_from(retention_ms()).unwrap_or(i64::MAX / 4);
        let mut invocation = ENQUEUE.prepare_invoke();
        invocation.key(TENANTS).key(BORN);
        let mut width = 0;
        let mut args: Vec<String> = Vec::new();
        for d in deliveries {
            invocation
                .key(delivery_key(&d.id))
                .key(deliveries_key(&d.subscription))
                .key(due_key(&d.tenant));
            let fields = delivery_fields(d);
            width = 3 + 2 * fields.len();
            args.push(d.id.clone());
            args.push(ms(d.created_at).to_string());
            args.push(d.tenant.clone());
            for (name, value) in fields {
                args.push(name.to_owned());
                args.push(value);
            }
        }
        invocation
            .arg(ms(due))
            .arg(cutoff)
            .arg(deliveries.len())
            .arg(width);
        for arg in args {
            invocation.arg(arg);
        }
        let added: i64 = invocation
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(u32::try_from(added).unwrap_or(0))
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
        let until =
            ms(now).saturating_add(i64::try_from(millis_u64(lease)).unwrap_or(i64::MAX / 4));
        let mut conn = self.conn()?;
        let mut invocation = LEASE.prepare_invoke();
        invocation
            .key(TENANTS)
            .key(OLD_DUE)
            .arg(ms(now))
            .arg(until)
            .arg(limit)
            .arg(fairness.per_tenant)
            .arg(DUE_PREFIX)
            .arg(DELIVERY_PREFIX);
        for (tenant, busy) in &fairness.in_flight {
            invocation.arg(tenant).arg(*busy);
        }
        let pairs: Vec<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let picked: Vec<(&String, &String)> = pairs
            .chunks_exact(2)
            .map(|pair| (&pair[0], &pair[1]))
            .collect();
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (_, id) in &picked {
            pipe.hgetall(delivery_key(id));
        }
        let hashes: Vec<HashMap<String, String>> =
            pipe.query_async(&mut conn).await.map_err(unavailable)?;
        let mut leased = Vec::with_capacity(picked.len());
        for ((tenant, id), fields) in picked.into_iter().zip(hashes) {
            if fields.is_empty() {
                // Its subscription was deleted while it was being enqueued: nothing to send.
                let _: () = redis::pipe()
                    .zrem(due_key(tenant), id)
                    .ignore()
                    .zrem(BORN, id)
                    .ignore()
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                continue;
            }
            let mut delivery = delivery_from_hash(&fields)?;
            delivery.lease = Some(lease_token(until, tenant));
            leased.push(delivery);
        }
        Ok(leased)
    }

    async fn record_attempt(&self, id: &str, lease: &str, a: &Attempt) -> Result<bool, StoreError> {
        let Some((until, tenant)) = parse_lease(lease) else {
            return Ok(false);
        };
        let mut invocation = RECORD.prepare_invoke();
        invocation
            .key(due_key(tenant))
            .key(BORN)
            .key(delivery_key(id))
            .arg(id)
            .arg(until)
            .arg(a.status.as_str())
            // A pending result without a time is due at once rather than lost.
            .arg(a.next_attempt_at.map(ms).unwrap_or_else(|| ms(a.at)))
            .arg(retention_ms());
        let fields = [
            ("status", a.status.as_str().to_owned()),
            ("next_attempt_at", optional_ms(a.next_attempt_at)),
            ("last_attempt_at", ms(a.at).to_string()),
            (
                "last_status_code",
                a.status_code.map(|c| c.to_string()).unwrap_or_default(),
            ),
            ("last_error", a.error.clone().unwrap_or_default()),
        ];
        for (name, value) in fields {
            invocation.arg(name).arg(value);
        }
        let recorded: i64 = invocation
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(recorded == 1)
    }

    async fn release_delivery(&self, id: &str, lease: &str) -> Result<(), StoreError> {
        let Some((until, tenant)) = parse_lease(lease) else {
            return Ok(());
        };
        let _: i64 = RELEASE
            .key(due_key(tenant))
            .arg(id)
            .arg(until)
            .arg(ms(Utc::now()))
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn deliveries(
        &self,
        tenant: &str,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn()?;
        let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let ids: Vec<String> = conn
            .zrevrange(deliveries_key(subscription), 0, stop)
            .await
            .map_err(unavailable)?;
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(delivery_key(id));
        }
        let hashes: Vec<HashMap<String, String>> =
            pipe.query_async(&mut conn).await.map_err(unavailable)?;
        hashes
            .iter()
            .filter(|h| h.get("tenant").is_some_and(|t| t == tenant))
            .map(delivery_from_hash)
            .collect()
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let mut conn = self.conn()?;
        let (pending, oldest): (u64, Vec<(String, f64)>) = redis::pipe()
            .zcard(BORN)
            .zrange_withscores(BORN, 0, 0)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(OutboxStats {
            pending,
            oldest_pending: oldest
                .first()
                .map(|(_, score)| at(*score as i64))
                .transpose()?,
        })
    }
}

fn delivery_fields(d: &NewDelivery) -> Vec<(&'static str, String)> {
    vec![
        ("id", d.id.clone()),
        ("tenant", d.tenant.clone()),
        ("subscription", d.subscription.clone()),
        ("event_type", d.event_type.clone()),
        ("post_id", d.post_id.clone()),
        ("payload", d.payload.clone()),
        ("status", DeliveryStatus::Pending.as_str().to_owned()),
        ("attempts", "0".to_owned()),
        ("created_at", ms(d.created_at).to_string()),
    ]
}

fn time_field(
    h: &HashMap<String, String>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    match h.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| StoreError::Other(format!("{name} is not a time: {v}")))
            .and_then(at)
            .map(Some),
    }
}

fn subscription_from_hash(h: &HashMap<String, String>) -> Result<Subscription, StoreError> {
    let text = |k: &str| h.get(k).cloned().unwrap_or_default();
    Ok(Subscription {
        id: text("id"),
        tenant: text("tenant"),
        target_url: text("target_url"),
        events: text("events")
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        secret: text("secret"),
        created_at: time_field(h, "created_at")?
            .ok_or_else(|| StoreError::Other("subscription without created_at".into()))?,
    })
}

fn delivery_from_hash(h: &HashMap<String, String>) -> Result<Delivery, StoreError> {
    let text = |k: &str| h.get(k).cloned().unwrap_or_default();
    let status = text("status");
    Ok(Delivery {
        id: text("id"),
        tenant: text("tenant"),
        subscription: text("subscription"),
        event_type: text("event_type"),
        post_id: text("post_id"),
        payload: text("payload"),
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Other(format!("unknown delivery status {status}")))?,
        attempts: text("attempts").parse().unwrap_or(0),
        next_attempt_at: time_field(h, "next_attempt_at")?,
        last_attempt_at: time_field(h, "last_attempt_at")?,
        last_status_code: text("last_status_code").parse().ok(),
        last_error: h.get("last_error").filter(|e| !e.is_empty()).cloned(),
        created_at: time_field(h, "created_at")?
            .ok_or_else(|| StoreError::Other("delivery without created_at".into()))?,
        lease: None,
    })
}
