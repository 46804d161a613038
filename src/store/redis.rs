//! The shared store for several replicas: one Redis. Every key expires by itself (post records
//! after `RETENTION`), and every multi-key change is one Lua script, so replicas never see a
//! half-written record.
//!
//! Keys (prefix `tgw:`): `post:{id}` a post record as one JSON string of string fields;
//! `posts:{tenant}` the tenant's posts as a sorted set of `{created_at_ms:013}:{id}` members
//! with score 0, so that lexicographic order is (created_at, id) order and a cursor is an
//! exclusive lexicographic bound; `claim:{scope}:{key}` an idempotency or content claim as a
//! string (see `CLAIM_FN`). The webhook subscriptions and outbox have their keys in
//! `redis/webhooks.rs`.
//!
//! Records and claims were hashes before they were strings: a string is written with one
//! `SET ... NX PX` where a hash took an EXISTS, an HSET and a PEXPIRE, which was most of what a
//! create cost Redis. Hashes still present (until they expire) are read and updated as before.

mod leases;
mod webhooks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use crate::audit::{AuditEntry, AuditFilter};

use super::{
    ChangeSource, Claim, CreateHold, HoldDecision, Lane, PostCursor, PostEvent, PostFilter,
    PostRecord, PostUpdate, RateDecision, RatePolicy, RecordSync, SlotDecision, SlotMove,
    SlotUsage, Store, StoreError, content_scope,
};

/// How long a post record is kept: long enough for late webhooks and for callers to list and
/// read their posts; the SQLite store keeps them forever, a shared cache should not.
pub const RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

pub struct RedisStore {
    conn: ConnectionManager,
    closed: AtomicBool,
    insert: Script,
    update: Script,
    gcra: Script,
    gcra_n: Script,
    /// Request-limit units leased from Redis, handed out here.
    leases: leases::Leases,
    claim: Script,
    peek_claim: Script,
    complete: Script,
    place: Script,
    exhaust: Script,
    hold: Script,
    record: Script,
    replace: Script,
    /// Fed by the subscriber of [`CHANGES_CHANNEL`]: what other replicas (and this one) changed.
    changes: tokio::sync::broadcast::Sender<String>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn post_key(id: &str) -> String {
    format!("tgw:post:{id}")
}

fn index_key(tenant: &str) -> String {
    format!("tgw:posts:{tenant}")
}

fn index_member(created_at: DateTime<Utc>, id: &str) -> String {
    format!("{:013}:{id}", created_at.timestamp_millis().max(0))
}

/// Lua shared by the scripts: each script is a chunk of its own, so the functions it uses are
/// put in front of it (`script`).
const INSERT_FN: &str = r#"
-- A post record and its entry in the tenant's newest-first index (and in the reconciler's
-- schedule when `next_sync` is set); 0 when it exists already.
local function insert(post, index, member, oldest_kept, retention, record, sync, id, next_sync)
  if not redis.call('SET', post, record, 'NX', 'PX', retention) then return 0 end
  if next_sync ~= '' then redis.call('ZADD', sync, tonumber(next_sync), id) end
  redis.call('ZADD', index, 0, member)
  redis.call('PEXPIRE', index, retention)
  -- Drop index entries older than the retention: their records have expired.
  redis.call('ZREMRANGEBYLEX', index, '-', '(' .. oldest_kept)
  return 1
end
"#;

/// KEYS: post, index, sync schedule. ARGV: index member, oldest index member kept, retention,
/// record, post id, next sync (ms or empty).
const INSERT: &str = "return insert(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], KEYS[3], ARGV[5], ARGV[6])";

/// The compare-and-set of `replace_post`: the record is written only while its stored revision
/// is ARGV[1], keeping its expiry; the reconciler's schedule and the history follow in the same
/// step, and the change is published for the other replicas. KEYS: post, sync schedule, events.
/// ARGV: expected revision, record, post id, next sync (ms or empty), event (JSON or empty),
/// retention, the record's new revision (published with the id: see [`CHANGES_CHANNEL`]).
/// 1 written, 0 not (changed meanwhile, or gone).
const REPLACE: &str = r#"
local v = redis.pcall('GET', KEYS[1])
local current
if type(v) == 'table' and v.err then
  current = redis.call('HGET', KEYS[1], 'revision') or '0'
  if current ~= ARGV[1] then return 0 end
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('DEL', KEYS[1])
  if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[2]) end
else
  if not v then return 0 end
  current = cjson.decode(v)['revision'] or '0'
  if current == '' then current = '0' end
  if current ~= ARGV[1] then return 0 end
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[3])
else
  redis.call('ZREM', KEYS[2], ARGV[3])
end
if ARGV[5] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[5])
  redis.call('LTRIM', KEYS[3], -100, -1)
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
redis.call('PUBLISH', 'tgw:post-changes', ARGV[3] .. ' ' .. ARGV[7])
return 1
"#;

/// The reconciler's schedule: post ids scored by when to read them next (ms).
const SYNC_KEY: &str = "tgw:sync";

/// The channel where every change of a record is published: its id, and after a space the
/// revision written (a deletion has none). A replica whose cached record is that revision or
/// newer keeps it: its own changes come back here too, later, and must not drop what it has
/// read since.
pub const CHANGES_CHANNEL: &str = "tgw:post-changes";

fn audit_key(tenant: &str) -> String {
    format!("tgw:audit:{tenant}")
}

/// A stream entry as an audit entry, its id the stream's; one no version of this code wrote is
/// left out.
fn audit_of(id: &str, fields: &HashMap<String, String>) -> Option<AuditEntry> {
    let mut entry: AuditEntry = serde_json::from_str(fields.get("entry")?).ok()?;
    entry.id = id.to_owned();
    Some(entry)
}

/// An audit entry as the stream takes it, and the oldest stream id its retention keeps.
fn audit_args(entry: &AuditEntry, retention: Duration) -> Result<(String, i64), StoreError> {
    let json = serde_json::to_string(entry)
        .map_err(|e| StoreError::Other(format!("an audit entry is not JSON: {e}")))?;
    let oldest = Utc::now().timestamp_millis()
        - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
    Ok((json, oldest.max(0)))
}

fn events_key(id: &str) -> String {
    format!("tgw:post-events:{id}")
}

/// Sets fields of a record, keeping its expiry. KEYS: post. ARGV: field, value, ...
const UPDATE: &str = r#"
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' and v.err then
  for i = 1, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  return 1
end
if not v then return 0 end
local record = cjson.decode(v)
for i = 1, #ARGV, 2 do
  record[ARGV[i]] = ARGV[i + 1]
end
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return 1
"#;

/// `limits::rate::gcra` in Lua, on Redis's own clock (microseconds) so that every replica
/// shares one time line. Returns {allowed, remaining, reset_after_us, retry_after_us}.
const GCRA_FN: &str = r#"
local function gcra(key, interval, tolerance)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > tolerance then
    return {0, 0, tat - now, new_tat - tolerance - now}
  end
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
  return {1, math.floor((tolerance - (new_tat - now)) / interval), new_tat - now, 0}
end
"#;

/// KEYS: rate cell. ARGV: interval, tolerance.
const GCRA: &str = "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))";

/// `gcra` taking up to `n` units at once (as many as the cell allows, at least one), for a
/// lease (`leases`). Returns {allowed, remaining, reset_after_us, retry_after_us, granted}.
const GCRA_N_FN: &str = r#"
local function gcra_n(key, interval, tolerance, n)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local k = math.floor((tolerance - (tat - now)) / interval)
  if k > n then k = n end
  if k < 1 then
    return {0, 0, tat - now, tat + interval - tolerance - now, 0}
  end
  local new_tat = tat + k * interval
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
  return {1, math.floor((tolerance - (new_tat - now)) / interval), new_tat - now, 0, k}
end
"#;

/// KEYS: rate cell. ARGV: interval, tolerance, units wanted.
const GCRA_N: &str =
    "return gcra_n(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))";

const CLAIM_FN: &str = r#"
-- A claim is a string: 'P' .. fingerprint while pending, then
-- 'D' .. #fingerprint .. ':' .. fingerprint .. payload once done (`settle`).
-- {0, fingerprint, has_payload, payload} for a claim held, nil for none.
local function read_claim(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' and v.err then
    local h = redis.call('HMGET', key, 'fp', 'payload')
    if h[2] then return {0, h[1] or '', 1, h[2]} end
    return {0, h[1] or '', 0, ''}
  end
  if not v then return nil end
  if string.sub(v, 1, 1) == 'D' then
    local colon = string.find(v, ':', 2, true)
    local n = colon and tonumber(string.sub(v, 2, colon - 1))
    if not n then return {0, '', 1, ''} end
    return {0, string.sub(v, colon + 1, colon + n), 1, string.sub(v, colon + n + 1)}
  end
  return {0, string.sub(v, 2), 0, ''}
end

-- {1} when claimed; else what `read_claim` says of the holder.
local function claim(key, fingerprint, ttl)
  if redis.call('SET', key, 'P' .. fingerprint, 'NX', 'PX', ttl) then return {1} end
  return read_claim(key) or {0, '', 0, ''}
end

-- Marks a held claim done with its payload, kept for ttl from now.
local function settle(key, fingerprint, payload, ttl)
  redis.call('SET', key, 'D' .. #fingerprint .. ':' .. fingerprint .. payload, 'XX', 'PX', ttl)
end

local function complete(key, payload, ttl)
  local held = read_claim(key)
  if not held then return 0 end
  settle(key, held[2], payload, ttl)
  return 1
end
"#;

/// KEYS: claim. ARGV: fingerprint, ttl.
const CLAIM: &str = "return claim(KEYS[1], ARGV[1], ARGV[2])";

/// KEYS: claim. `{2}` for none, else what `read_claim` says.
const PEEK_CLAIM: &str = "return read_claim(KEYS[1]) or {2}";

/// KEYS: claim. ARGV: payload, ttl.
const COMPLETE: &str = "return complete(KEYS[1], ARGV[1], ARGV[2])";

/// `store::rolling` in Lua (keep the two alike): whether a slot at `at` fits among `times`
/// (ascending ms, the slot itself left out), `limit` per `window`, the lane refused before
/// `exhausted`. {1, used} or {0, retry_at_ms}: the earliest time at or after `at` that fits.
const ROLLING_FN: &str = r#"
local function rolling(times, at, window, limit, exhausted)
  local from = math.max(at, exhausted)
  if limit <= 0 then return {0, from + window} end
  local n = #times
  local rises, falls, count, peak = 1, 1, 0, 0
  local open = nil
  local full = {}
  while falls <= n do
    local fall = times[falls] + window
    local event = fall
    if rises <= n and times[rises] <= fall then event = times[rises] end
    while rises <= n and times[rises] == event do
      count = count + 1
      rises = rises + 1
    end
    while falls <= n and times[falls] + window == event do
      count = count - 1
      falls = falls + 1
    end
    local next_event = math.huge
    if falls <= n then next_event = times[falls] + window end
    if rises <= n and times[rises] < next_event then next_event = times[rises] end
    if event < at + window and next_event > at and count > peak then peak = count end
    if count >= limit then
      if not open then open = event end
    elseif open then
      full[#full + 1] = {open, event}
      open = nil
    end
  end
  local t = from
  for _, stretch in ipairs(full) do
    if stretch[2] > t then
      if stretch[1] >= t + window then break end
      t = stretch[2]
    end
  end
  if at >= exhausted and t == at then return {1, peak + 1} end
  return {0, t}
end

-- Puts `slot` at `at` in an account's lane (a sorted set scored by ms) if the rolling rule
-- allows it, the slot itself left out of the count (so a held slot moves). {1, used,
-- previous_ms or -1} or {0, retry_at_ms}.
local function place(slots, exhausted_key, now, at, window, limit, slot)
  local start = math.min(now, at) - window
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', start)
  local exhausted = tonumber(redis.call('GET', exhausted_key) or '0')
  local held = redis.call('ZRANGEBYSCORE', slots, '(' .. start, '+inf', 'WITHSCORES')
  -- The slot's own score and the latest of the others come from this one read, rather than
  -- from a ZSCORE and a ZRANGE more (each call from a script costs the server about as much
  -- as the work it does).
  local times = {}
  local previous = nil
  local last = at
  for i = 1, #held, 2 do
    local t = tonumber(held[i + 1])
    if held[i] == slot then
      previous = t
    else
      times[#times + 1] = t
      if t > last then last = t end
    end
  end
  local r = rolling(times, at, window, limit, exhausted)
  if r[1] == 0 then return r end
  redis.call('ZADD', slots, at, slot)
  -- The set lives while its latest slot still counts.
  redis.call('PEXPIRE', slots, math.max(1, math.ceil(last + window - now)))
  return {1, r[2], previous or -1}
end
"#;

/// KEYS: slots, exhausted marker. ARGV: now, at, window, limit, slot.
const PLACE: &str = "return place(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), \
                     tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])";

/// A create's first step in one round trip: the slot, then the content claim, then (when
/// ARGV[8] is '1') the post's unit of the upstream budget from the reserve or else the pool;
/// all or nothing. KEYS: slots, exhausted marker, claim, reserve cell, pool cell. ARGV: now,
/// at, window, limit, slot, fingerprint, claim ttl, charge?, reserve interval, reserve
/// tolerance, pool interval, pool tolerance. {1, used}, {0, retry_at_ms}, {2, fingerprint,
/// has_payload, payload} for a duplicate, or {3, retry_after_us} when the upstream budget is
/// spent.
const HOLD: &str = r#"
local r = place(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])
if r[1] == 0 then return r end
local c = claim(KEYS[3], ARGV[6], ARGV[7])
if c[1] ~= 1 then
  redis.call('ZREM', KEYS[1], ARGV[5])
  return {2, c[2], c[3], c[4]}
end
if ARGV[8] == '1' then
  local own = gcra(KEYS[4], tonumber(ARGV[9]), tonumber(ARGV[10]))
  if own[1] == 0 then
    local pool = gcra(KEYS[5], tonumber(ARGV[11]), tonumber(ARGV[12]))
    if pool[1] == 0 then
      redis.call('ZREM', KEYS[1], ARGV[5])
      redis.call('DEL', KEYS[3])
      return {3, math.min(own[4], pool[4])}
    end
  end
end
return {1, r[2]}
"#;

/// A create's last step in one round trip: the record, then the content claim settled with
/// the post's id (the fingerprint is the record's, so the claim need not be read first), then
/// the create's audit entry when there is one (as `append_audit` adds it).
/// KEYS: post, index, sync schedule, claim, audit stream. ARGV: index member, oldest member
/// kept, retention, record, post id, next sync, fingerprint, claim ttl, audit entry (JSON or
/// empty), the oldest audit id kept.
const RECORD: &str = r#"
local inserted = insert(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], KEYS[3], ARGV[5], ARGV[6])
settle(KEYS[4], ARGV[7], ARGV[5], ARGV[8])
if ARGV[9] ~= '' then
  redis.call('XADD', KEYS[5], 'MINID', '~', ARGV[10], '*', 'entry', ARGV[9])
end
return inserted
"#;

fn script(functions: &[&str], body: &str) -> Script {
    Script::new(&format!("{}\n{body}", functions.concat()))
}

/// Keeps the later of the stored and the given end of exhaustion. ARGV: until, now (ms).
const EXHAUST: &str = r#"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ms = tonumber(ARGV[1])
if until_ms > current and until_ms > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', until_ms - tonumber(ARGV[2]))
end
return 1
"#;

fn rate_key(key: &str) -> String {
    format!("tgw:rate:{key}")
}

/// A policy as the `gcra` function takes it: the interval and the tolerance, in microseconds.
fn gcra_args(policy: RatePolicy) -> (u64, u64) {
    let rate = u64::from(policy.rate.max(1));
    let interval = (u64::try_from(policy.period.as_micros()).unwrap_or(u64::MAX / 4) / rate).max(1);
    (
        interval,
        interval.saturating_mul(u64::from(policy.burst.max(1))),
    )
}

fn slots_key(account: &str, lane: Lane) -> String {
    format!("tgw:slots:{account}:{}", lane.as_str())
}

fn exhausted_key(account: &str, lane: Lane) -> String {
    format!("tgw:exhausted:{account}:{}", lane.as_str())
}

fn claim_key(scope: &str, key: &str) -> String {
    format!("tgw:claim:{scope}:{key}")
}

fn millis_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

fn at_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Other(format!("timestamp {ms} out of range")))
}

impl RedisStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Other(e.to_string()))?;
        let client_for_changes = client.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(RedisStore {
            conn,
            closed: AtomicBool::new(false),
            insert: script(&[INSERT_FN], INSERT),
            update: Script::new(UPDATE),
            gcra: script(&[GCRA_FN], GCRA),
            gcra_n: script(&[GCRA_N_FN], GCRA_N),
            leases: leases::Leases::default(),
            claim: script(&[CLAIM_FN], CLAIM),
            peek_claim: script(&[CLAIM_FN], PEEK_CLAIM),
            complete: script(&[CLAIM_FN], COMPLETE),
            place: script(&[ROLLING_FN], PLACE),
            exhaust: Script::new(EXHAUST),
            hold: script(&[ROLLING_FN, CLAIM_FN, GCRA_FN], HOLD),
            record: script(&[INSERT_FN, CLAIM_FN], RECORD),
            replace: Script::new(REPLACE),
            changes: listen_for_changes(client_for_changes),
        })
    }

    fn conn(&self) -> Result<ConnectionManager, StoreError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        // A clone shares the one multiplexed connection.
        Ok(self.conn.clone())
    }

    /// The `place` script: `slot` at `at` if the rolling rule allows it.
    #[allow(clippy::too_many_arguments)]
    async fn place(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        at: DateTime<Utc>,
        limit: u32,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotMove, StoreError> {
        let reply: Vec<i64> = self
            .place
            .key(slots_key(account, lane))
            .key(exhausted_key(account, lane))
            .arg(now.timestamp_millis())
            .arg(at.timestamp_millis())
            .arg(millis_u64(window))
            .arg(limit)
            .arg(slot)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        match reply.as_slice() {
            [1, used, from] => Ok(SlotMove::Moved {
                used: u32::try_from(*used).unwrap_or(u32::MAX),
                from: (*from >= 0).then(|| at_ms(*from)).transpose()?,
            }),
            [0, retry_at] => Ok(SlotMove::Full {
                retry_at: at_ms(*retry_at)?,
            }),
            other => Err(StoreError::Other(format!(
                "the place script answered {other:?}"
            ))),
        }
    }

    async fn load(&self, id: &str) -> Result<Option<PostRecord>, StoreError> {
        let mut conn = self.conn()?;
        match conn.get::<_, Option<String>>(post_key(id)).await {
            Ok(record) => record.as_deref().map(post_from_json).transpose(),
            Err(e) if e.code() == Some("WRONGTYPE") => {
                let fields: HashMap<String, String> =
                    conn.hgetall(post_key(id)).await.map_err(unavailable)?;
                if fields.is_empty() {
                    return Ok(None);
                }
                post_from_hash(&fields).map(Some)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    async fn insert_post(&self, p: &PostRecord) -> Result<(), StoreError> {
        let inserted: i64 = post_invocation(&self.insert, p, None)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        recorded(inserted, p)
    }

    async fn post(&self, tenant: &str, id: &str) -> Result<Option<PostRecord>, StoreError> {
        Ok(self.load(id).await?.filter(|p| p.tenant == tenant))
    }

    async fn post_by_id(&self, id: &str) -> Result<Option<PostRecord>, StoreError> {
        self.load(id).await
    }

    async fn posts(
        &self,
        tenant: &str,
        filter: &PostFilter,
        after: Option<&PostCursor>,
        limit: u32,
    ) -> Result<Vec<PostRecord>, StoreError> {
        let limit = limit as usize;
        let mut upper = match after {
            Some(c) => format!("({}", index_member(c.created_at, &c.id)),
            None => "+".to_owned(),
        };
        let lower = match filter.since {
            Some(t) => format!("[{:013}:", t.timestamp_millis().max(0)),
            None => "-".to_owned(),
        };
        let batch = (limit * 2).clamp(20, 500);
        let mut found = Vec::with_capacity(limit);
        let mut conn = self.conn()?;
        loop {
            let members: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
                .arg(index_key(tenant))
                .arg(&upper)
                .arg(&lower)
                .arg("LIMIT")
                .arg(0)
                .arg(batch)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let ids: Vec<&str> = members
                .iter()
                .map(|m| m.split_once(':').map(|(_, id)| id).unwrap_or(m))
                .collect();
            let keys: Vec<String> = ids.iter().map(|id| post_key(id)).collect();
            let records: Vec<Option<String>> = if keys.is_empty() {
                Vec::new()
            } else {
                conn.mget(&keys).await.map_err(unavailable)?
            };
            let mut posts = Vec::with_capacity(records.len());
            for (id, record) in ids.iter().zip(records) {
                let post = match record {
                    // MGET answers nil for a hash: a record of before strings, read as one.
                    None => self.load(id).await?,
                    Some(record) => Some(post_from_json(&record)?),
                };
                posts.extend(post);
            }
            for post in posts {
                let wanted = post.tenant == tenant
                    && filter.status.as_ref().is_none_or(|s| *s == post.status)
                    && filter.account.as_ref().is_none_or(|a| *a == post.account)
                    && filter.until.is_none_or(|u| post.created_at <= u);
                if wanted {
                    found.push(post);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            match members.last() {
                Some(last) if members.len() == batch => upper = format!("({last}"),
                _ => return Ok(found),
            }
        }
    }

    async fn update_post(&self, id: &str, u: &PostUpdate) -> Result<(), StoreError> {
        let mut fields: Vec<(&str, String)> = Vec::new();
        if let Some(status) = &u.status {
            fields.push(("status", status.clone()));
        }
        if let Some(at) = &u.schedule_at {
            fields.push(("schedule_at", optional_millis(*at)));
        }
        if let Some(url) = &u.tiktok_url {
            fields.push(("tiktok_url", url.clone()));
        }
        if let Some(error) = &u.error {
            fields.push(("error", error.clone().unwrap_or_default()));
        }
        if fields.is_empty() {
            return Ok(());
        }
        let mut invocation = self.update.prepare_invoke();
        invocation.key(post_key(id));
        for (field, value) in fields {
            invocation.arg(field).arg(value);
        }
        let _: i64 = invocation
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        // One MULTI: no replica sees the record gone from its index but still readable.
        let _: () = redis::pipe()
            .atomic()
            .del(post_key(&post.id))
            .del(events_key(&post.id))
            .zrem(
                index_key(&post.tenant),
                index_member(post.created_at, &post.id),
            )
            .zrem(SYNC_KEY, &post.id)
            .publish(CHANGES_CHANNEL, &post.id)
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn replace_post(
        &self,
        post: &PostRecord,
        expected: u64,
        event: Option<&PostEvent>,
    ) -> Result<bool, StoreError> {
        let event = event
            .map(|e| {
                serde_json::to_string(&StoredEvent {
                    revision: e.revision,
                    at: e.at.timestamp_millis(),
                    recorded_at: e.recorded_at.timestamp_millis(),
                    source: e.source.as_str().to_owned(),
                    status: e.status.clone(),
                    previous: e.previous.clone(),
                    error_code: e.error_code.clone(),
                })
                .unwrap_or_default()
            })
            .unwrap_or_default();
        let written: i64 = self
            .replace
            .key(post_key(&post.id))
            .key(SYNC_KEY)
            .key(events_key(&post.id))
            .arg(expected.to_string())
            .arg(post_to_json(post))
            .arg(&post.id)
            .arg(optional_millis(post.sync.next_sync_at))
            .arg(event)
            .arg(millis_u64(RETENTION))
            .arg(post.sync.revision.to_string())
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(written == 1)
    }

    async fn post_events(&self, id: &str) -> Result<Vec<PostEvent>, StoreError> {
        let entries: Vec<String> = self
            .conn()?
            .lrange(events_key(id), 0, -1)
            .await
            .map_err(unavailable)?;
        Ok(entries
            .iter()
            // An entry no version of this code wrote is left out, not an unreadable history.
            .filter_map(|e| serde_json::from_str::<StoredEvent>(e).ok())
            .filter_map(|e| {
                Some(PostEvent {
                    revision: e.revision,
                    at: DateTime::from_timestamp_millis(e.at)?,
                    recorded_at: DateTime::from_timestamp_millis(e.recorded_at)?,
                    source: ChangeSource::parse(&e.source),
                    status: e.status,
                    previous: e.previous,
                    error_code: e.error_code,
                })
            })
            .collect())
    }

    async fn due_for_sync(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        redis::cmd("ZRANGE")
            .arg(SYNC_KEY)
            .arg("-inf")
            .arg(now.timestamp_millis())
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.changes.subscribe())
    }

    async fn append_audit(
        &self,
        entry: &AuditEntry,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let (json, oldest) = audit_args(entry, retention)?;
        // A stream trimmed by age as it grows: MINID drops what is older than the retention.
        let _: String = redis::cmd("XADD")
            .arg(audit_key(&entry.tenant))
            .arg("MINID")
            .arg("~")
            .arg(oldest)
            .arg("*")
            .arg("entry")
            .arg(json)
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn audit_entries(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut upper = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
        let lower = filter.since.map_or_else(
            || "-".to_owned(),
            |t| t.timestamp_millis().max(0).to_string(),
        );
        let mut found = Vec::new();
        let mut conn = self.conn()?;
        loop {
            let batch: Vec<(String, HashMap<String, String>)> = redis::cmd("XREVRANGE")
                .arg(audit_key(tenant))
                .arg(&upper)
                .arg(&lower)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let full = batch.len() == 500;
            for (id, fields) in &batch {
                if let Some(entry) = audit_of(id, fields).filter(|e| filter.matches(e)) {
                    found.push(entry);
                    if found.len() == limit as usize {
                        return Ok(found);
                    }
                }
            }
            match batch.last() {
                Some((id, _)) if full => upper = format!("({id}"),
                _ => return Ok(found),
            }
        }
    }

    async fn audit_since(
        &self,
        tenant: &str,
        since: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let lower = after.map_or_else(
            || since.timestamp_millis().max(0).to_string(),
            |a| format!("({a}"),
        );
        let batch: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(audit_key(tenant))
            .arg(lower)
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(batch
            .iter()
            .filter_map(|(id, fields)| audit_of(id, fields))
            .filter(|e| e.at >= since)
            .collect())
    }

    async fn rate_limit(&self, key: &str, policy: RatePolicy) -> Result<RateDecision, StoreError> {
        let (interval, tolerance) = gcra_args(policy);
        let (allowed, remaining, reset_us, retry_us): (i64, i64, i64, i64) = self
            .gcra
            .key(rate_key(key))
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(RateDecision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: micros(reset_us),
            retry_after: micros(retry_us),
        })
    }

    async fn rate_limit_request(
        &self,
        key: &str,
        policy: RatePolicy,
    ) -> Result<RateDecision, StoreError> {
        let lease = self.leases.of(key);
        let mut lease = lease.lock().await;
        let now = std::time::Instant::now();
        if let Some(decision) = lease.take(now) {
            return Ok(decision);
        }
        let (interval, tolerance) = gcra_args(policy);
        let (allowed, remaining, reset_us, retry_us, granted): (i64, i64, i64, i64, i64) = self
            .gcra_n
            .key(rate_key(key))
            .arg(interval)
            .arg(tolerance)
            .arg(lease.wanted(now))
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        let decision = RateDecision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: micros(reset_us),
            retry_after: micros(retry_us),
        };
        Ok(lease.granted(
            u32::try_from(granted).unwrap_or(0),
            decision,
            Duration::from_micros(interval),
            std::time::Instant::now(),
        ))
    }

    async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        let reply: Vec<redis::Value> = self
            .claim
            .key(claim_key(scope, key))
            .arg(fingerprint)
            .arg(millis_u64(ttl).max(1))
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        if int_at(&reply, 0) == Some(1) {
            return Ok(Claim::Acquired);
        }
        Ok(claim_from_reply(&reply))
    }

    async fn peek_claim(&self, scope: &str, key: &str) -> Result<Option<Claim>, StoreError> {
        let reply: Vec<redis::Value> = self
            .peek_claim
            .key(claim_key(scope, key))
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        if int_at(&reply, 0) == Some(2) {
            return Ok(None);
        }
        Ok(Some(claim_from_reply(&reply)))
    }

    async fn complete_claim(
        &self,
        scope: &str,
        key: &str,
        payload: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .complete
            .key(claim_key(scope, key))
            .arg(payload)
            .arg(millis_u64(ttl).max(1))
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release_claim(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .conn()?
            .del(claim_key(scope, key))
            .await
            .map_err(unavailable)?;
        Ok(())
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
        Ok(
            match self
                .place(account, lane, slot, now, limit, window, now)
                .await?
            {
                SlotMove::Moved { used, .. } => SlotDecision::Reserved { used },
                SlotMove::Full { retry_at } => SlotDecision::Full { retry_at },
            },
        )
    }

    async fn release_slot(&self, account: &str, lane: Lane, slot: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .conn()?
            .zrem(slots_key(account, lane), slot)
            .await
            .map_err(unavailable)?;
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
        self.place(account, lane, slot, at, limit, window, now)
            .await
    }

    async fn mark_exhausted(
        &self,
        account: &str,
        lane: Lane,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .exhaust
            .key(exhausted_key(account, lane))
            .arg(until.timestamp_millis())
            .arg(Utc::now().timestamp_millis())
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn slot_usage(
        &self,
        account: &str,
        lane: Lane,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotUsage, StoreError> {
        let window_ms = i64::try_from(millis_u64(window)).unwrap_or(i64::MAX / 4);
        let start = now.timestamp_millis() - window_ms;
        let mut conn = self.conn()?;
        let now_ms = now.timestamp_millis();
        let (used, scheduled, oldest, exhausted): (i64, i64, Vec<(String, f64)>, Option<i64>) =
            redis::pipe()
                .cmd("ZCOUNT")
                .arg(slots_key(account, lane))
                .arg(format!("({start}"))
                .arg(now_ms)
                .cmd("ZCOUNT")
                .arg(slots_key(account, lane))
                .arg(format!("({now_ms}"))
                .arg("+inf")
                .cmd("ZRANGEBYSCORE")
                .arg(slots_key(account, lane))
                .arg(format!("({start}"))
                .arg(now_ms)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(1)
                .get(exhausted_key(account, lane))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
        Ok(SlotUsage {
            used: u32::try_from(used).unwrap_or(u32::MAX),
            scheduled: u32::try_from(scheduled).unwrap_or(u32::MAX),
            frees_at: oldest
                .first()
                .map(|(_, score)| at_ms(*score as i64 + window_ms))
                .transpose()?,
            exhausted_until: exhausted
                .filter(|until| *until > now_ms)
                .map(at_ms)
                .transpose()?,
        })
    }

    async fn hold(&self, h: &CreateHold<'_>) -> Result<HoldDecision, StoreError> {
        let mut invocation = self.hold.prepare_invoke();
        invocation
            .key(slots_key(h.account, h.lane))
            .key(exhausted_key(h.account, h.lane))
            .key(claim_key(&content_scope(h.account), h.fingerprint));
        match h.upstream {
            Some(charge) => invocation
                .key(rate_key(&charge.reserve_key))
                .key(rate_key(&charge.pool_key)),
            // Named but untouched: a script's keys are declared whether it uses them or not.
            None => invocation.key(rate_key("-")).key(rate_key("-")),
        };
        invocation
            .arg(h.now.timestamp_millis())
            .arg(h.at.timestamp_millis())
            .arg(millis_u64(h.window))
            .arg(h.limit)
            .arg(h.slot)
            .arg(h.fingerprint)
            .arg(millis_u64(h.claim_ttl).max(1));
        if let Some(charge) = h.upstream {
            let (reserve_interval, reserve_tolerance) = gcra_args(charge.reserve);
            let (pool_interval, pool_tolerance) = gcra_args(charge.pool);
            invocation
                .arg("1")
                .arg(reserve_interval)
                .arg(reserve_tolerance)
                .arg(pool_interval)
                .arg(pool_tolerance);
        } else {
            invocation.arg("0");
        }
        let reply: Vec<redis::Value> = invocation
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        let value = int_at(&reply, 1).unwrap_or(0);
        match int_at(&reply, 0) {
            Some(3) => Ok(HoldDecision::UpstreamBusy {
                retry_after: micros(value),
            }),
            Some(1) => Ok(HoldDecision::Held {
                used: u32::try_from(value).unwrap_or(u32::MAX),
            }),
            Some(0) => Ok(HoldDecision::Full {
                retry_at: at_ms(value)?,
            }),
            _ => Ok(HoldDecision::Duplicate(claim_from_reply(&reply))),
        }
    }

    async fn record_created(
        &self,
        post: &PostRecord,
        ttl: Duration,
        audit: Option<crate::store::AuditAppend<'_>>,
    ) -> Result<(), StoreError> {
        let claim = Some((
            claim_key(&content_scope(&post.account), &post.fingerprint),
            ttl,
        ));
        let mut invocation = post_invocation(&self.record, post, claim);
        match audit {
            Some(audit) => {
                let (json, oldest) = audit_args(audit.entry, audit.retention)?;
                invocation
                    .key(audit_key(&audit.entry.tenant))
                    .arg(json)
                    .arg(oldest);
            }
            // Named but untouched, as the hold's unused cells are.
            None => {
                invocation.key(audit_key("-")).arg("").arg(0);
            }
        }
        // 0 is a post recorded already (Zernio replayed a post it had made): the record stays
        // as it was, and the claim is settled all the same.
        let _inserted: i64 = invocation
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// What [`Store::changes`] sends when it cannot tell what changed (the subscription was lost
/// for a while): every cached record may be stale.
pub const ALL_CHANGED: &str = "*";

/// Subscribes to [`CHANGES_CHANNEL`] on a connection of its own (a subscribed connection can
/// do nothing else) and passes each id on, resubscribing after a lost connection.
fn listen_for_changes(client: redis::Client) -> tokio::sync::broadcast::Sender<String> {
    use futures_util::StreamExt;
    let (sender, _) = tokio::sync::broadcast::channel(4096);
    let feed = sender.downgrade();
    tokio::spawn(async move {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(CHANGES_CHANNEL).await {
                    Ok(()) => {
                        let mut messages = pubsub.on_message();
                        // What changed while nobody listened is not known.
                        match feed.upgrade() {
                            Some(feed) => {
                                let _ = feed.send(ALL_CHANGED.to_owned());
                            }
                            None => return,
                        }
                        while let Some(message) = messages.next().await {
                            let Some(feed) = feed.upgrade() else { return };
                            if let Ok(id) = message.get_payload::<String>() {
                                let _ = feed.send(id);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not subscribe to post changes"),
                },
                Err(e) => tracing::debug!(error = %e, "no connection for post changes yet"),
            }
            if feed.upgrade().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    sender
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

fn optional_millis(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.timestamp_millis().to_string())
        .unwrap_or_default()
}

/// The `insert` script's keys and arguments for a post; `claim` (key, ttl) adds what `record`
/// needs to settle the content claim with the post's id.
fn post_invocation<'a>(
    script: &'a Script,
    p: &PostRecord,
    claim: Option<(String, Duration)>,
) -> redis::ScriptInvocation<'a> {
    let oldest_kept = Utc::now() - RETENTION;
    let mut invocation = script.prepare_invoke();
    invocation
        .key(post_key(&p.id))
        .key(index_key(&p.tenant))
        .key(SYNC_KEY);
    if let Some((key, _)) = &claim {
        invocation.key(key);
    }
    invocation
        .arg(index_member(p.created_at, &p.id))
        .arg(format!("{:013}:", oldest_kept.timestamp_millis().max(0)))
        .arg(millis_u64(RETENTION))
        .arg(post_to_json(p))
        .arg(&p.id)
        .arg(optional_millis(p.sync.next_sync_at));
    if let Some((_, ttl)) = claim {
        invocation.arg(&p.fingerprint).arg(millis_u64(ttl).max(1));
    }
    invocation
}

fn recorded(inserted: i64, p: &PostRecord) -> Result<(), StoreError> {
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::Other(format!(
            "post {} is recorded already",
            p.id
        )))
    }
}

/// A claim the script did not win: `{_, fingerprint, has_payload, payload}`.
fn claim_from_reply(reply: &[redis::Value]) -> Claim {
    let text = |v: Option<&redis::Value>| -> Vec<u8> {
        match v {
            Some(redis::Value::BulkString(bytes)) => bytes.clone(),
            _ => Vec::new(),
        }
    };
    let fingerprint = String::from_utf8_lossy(&text(reply.get(1))).into_owned();
    if matches!(reply.get(2), Some(redis::Value::Int(1))) {
        Claim::Done {
            fingerprint,
            payload: text(reply.get(3)),
        }
    } else {
        Claim::Pending { fingerprint }
    }
}

fn int_at(reply: &[redis::Value], i: usize) -> Option<i64> {
    match reply.get(i) {
        Some(redis::Value::Int(n)) => Some(*n),
        _ => None,
    }
}

/// A record as Redis keeps it: every field a string (an absent one empty, times in Unix
/// milliseconds), so that the `UPDATE` script's cjson round trip changes nothing else.
#[derive(serde::Serialize)]
struct StoredPost<'a> {
    id: &'a str,
    tenant: &'a str,
    account: &'a str,
    kind: &'a str,
    mode: &'a str,
    status: &'a str,
    schedule_at: String,
    tiktok_url: &'a str,
    error: &'a str,
    fingerprint: &'a str,
    request_id: &'a str,
    created_at: String,
    /// Absent in records of before content and media were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    /// `mediaItems` as a JSON string: a record stays a map of strings.
    #[serde(skip_serializing_if = "String::is_empty")]
    media_items: String,
    revision: String,
    updated_at: String,
    synced_at: String,
    status_at: String,
    error_code: &'a str,
    announced: &'a str,
    next_sync_at: String,
    sync_attempts: String,
}

/// A history entry as Redis keeps it in `post-events:{id}`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredEvent {
    revision: u64,
    at: i64,
    recorded_at: i64,
    source: String,
    status: String,
    previous: Option<String>,
    error_code: Option<String>,
}

fn post_to_json(p: &PostRecord) -> String {
    let stored = StoredPost {
        id: &p.id,
        tenant: &p.tenant,
        account: &p.account,
        kind: &p.kind,
        mode: &p.mode,
        status: &p.status,
        schedule_at: optional_millis(p.schedule_at),
        tiktok_url: p.tiktok_url.as_deref().unwrap_or_default(),
        error: p.error.as_deref().unwrap_or_default(),
        fingerprint: &p.fingerprint,
        request_id: &p.request_id,
        created_at: p.created_at.timestamp_millis().to_string(),
        content: p.content.as_deref(),
        media_items: if p.media_items.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&p.media_items).unwrap_or_default()
        },
        revision: p.sync.revision.to_string(),
        updated_at: optional_millis(p.sync.updated_at),
        synced_at: optional_millis(p.sync.synced_at),
        status_at: optional_millis(p.sync.status_at),
        error_code: p.sync.error_code.as_deref().unwrap_or_default(),
        announced: &p.sync.announced,
        next_sync_at: optional_millis(p.sync.next_sync_at),
        sync_attempts: p.sync.sync_attempts.to_string(),
    };
    // Strings only (media items are a JSON string): serialising them cannot fail.
    serde_json::to_string(&stored).unwrap_or_default()
}

fn post_from_json(record: &str) -> Result<PostRecord, StoreError> {
    let fields: HashMap<String, String> = serde_json::from_str(record)
        .map_err(|e| StoreError::Other(format!("a post record is not readable: {e}")))?;
    post_from_hash(&fields)
}

fn post_from_hash(h: &HashMap<String, String>) -> Result<PostRecord, StoreError> {
    let text = |k: &str| h.get(k).cloned().unwrap_or_default();
    let optional = |k: &str| h.get(k).filter(|v| !v.is_empty()).cloned();
    let time = |k: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        match optional(k) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
                .map(Some)
                .ok_or_else(|| StoreError::Other(format!("post field {k} is not a time: {v}"))),
        }
    };
    Ok(PostRecord {
        id: text("id"),
        tenant: text("tenant"),
        account: text("account"),
        kind: text("kind"),
        mode: text("mode"),
        status: text("status"),
        schedule_at: time("schedule_at")?,
        tiktok_url: optional("tiktok_url"),
        error: optional("error"),
        fingerprint: text("fingerprint"),
        request_id: text("request_id"),
        created_at: time("created_at")?
            .ok_or_else(|| StoreError::Other("post without created_at".into()))?,
        content: h.get("content").cloned(),
        // Unreadable media (written by no version of this code) is no media, not a lost post.
        media_items: optional("media_items")
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default(),
        sync: RecordSync {
            revision: optional("revision")
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            updated_at: time("updated_at")?,
            synced_at: time("synced_at")?,
            status_at: time("status_at")?,
            error_code: optional("error_code"),
            announced: text("announced"),
            next_sync_at: time("next_sync_at")?,
            sync_attempts: optional("sync_attempts")
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_json_form() {
        let mut post = PostRecord {
            id: "p1".into(),
            tenant: "acme".into(),
            account: "acc \"quoted\" ü".into(),
            kind: "video".into(),
            mode: "scheduled".into(),
            status: "scheduled".into(),
            schedule_at: DateTime::from_timestamp_millis(1_790_000_000_123),
            tiktok_url: Some("https://www.tiktok.com/@a/video/1".into()),
            error: Some("line\nbreak".into()),
            fingerprint: "fnv1a64:0123456789abcdef".into(),
            request_id: "req-1".into(),
            created_at: DateTime::from_timestamp_millis(1_789_000_000_000).unwrap(),
            content: Some("A caption \"quoted\"\n#tag".into()),
            sync: RecordSync {
                revision: 3,
                updated_at: DateTime::from_timestamp_millis(1_789_000_000_500),
                synced_at: DateTime::from_timestamp_millis(1_789_000_000_600),
                status_at: DateTime::from_timestamp_millis(1_789_000_000_400),
                error_code: Some("spam_risk".into()),
                announced: "post.failed".into(),
                next_sync_at: DateTime::from_timestamp_millis(1_789_000_015_000),
                sync_attempts: 2,
            },
            media_items: vec![crate::store::MediaRef {
                kind: "video".into(),
                url: "https://cdn.example.com/v.mp4".into(),
            }],
        };
        assert_eq!(post_from_json(&post_to_json(&post)).unwrap(), post);
        // A record of before content and media were kept still reads.
        let old = r#"{"id":"p0","tenant":"acme","account":"a","kind":"video","mode":"now","status":"published","schedule_at":"","tiktok_url":"","error":"","fingerprint":"f","request_id":"r","created_at":"1789000000000"}"#;
        let read = post_from_json(old).unwrap();
        assert_eq!((read.content, read.media_items), (None, vec![]));
        post.schedule_at = None;
        post.tiktok_url = None;
        post.error = None;
        post.content = None;
        post.media_items.clear();
        post.sync = RecordSync::default();
        assert_eq!(post_from_json(&post_to_json(&post)).unwrap(), post);
    }
}
