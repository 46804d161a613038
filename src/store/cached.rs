//! A read-through cache of post records in front of any store, for the read path: a served
//! read answers from the record without a store round trip. The cache stays true by dropping
//! an entry whenever the record changes: this replica's own writes drop it at once, and
//! another replica's reach it through the backend's change feed (Redis: a pub/sub channel).
//! A record read from the backend while a change went by is not cached (the change may be
//! newer than what was read). The same feed wakes reads waiting for a change (`Prefer: wait`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moka::sync::Cache;

use super::{
    Attempt, Claim, CreateHold, Delivery, Fairness, HoldDecision, Lane, NewDelivery, OutboxStats,
    PostCursor, PostEvent, PostFilter, PostRecord, PostUpdate, RateDecision, RatePolicy,
    SlotDecision, SlotMove, SlotUsage, Store, StoreError, Subscription, WebhookStore,
};

/// Enough for every post of a busy day on a large deployment, a few tens of MB at most.
const CAPACITY: u64 = 100_000;

/// A cached record, and the `synced_at` its backend holds. A read that asked Zernio and found
/// nothing new confirms the record in place ([`Store::confirm_cached`]), so the two differ until
/// the next write. In place, not by a new entry: a copy put back could land after a newer
/// record's load and hide it; a confirmation of an entry dropped meanwhile is merely lost.
#[derive(Clone)]
struct Entry {
    record: Arc<RwLock<Arc<PostRecord>>>,
    stored_synced_at: Option<DateTime<Utc>>,
}

impl Entry {
    fn record(&self) -> Arc<PostRecord> {
        self.record
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

pub struct CachedStore {
    inner: Arc<dyn Store>,
    posts: Arc<Cache<String, Entry>>,
    /// Grows with every change heard of: a load that saw it move does not cache what it read.
    generation: Arc<AtomicU64>,
    /// Held by a load while it checks the generation and caches, and by a change while it
    /// moves the generation and drops the entry. Without it a change could fall between the
    /// two steps of a load (on another thread): the load saw the old generation, the change
    /// dropped nothing yet cached, and the load then cached the record from before the change,
    /// older than the store's until the next write. Taken only on a miss and on a write.
    turn: Arc<Mutex<()>>,
    /// Every change, this replica's and (through the backend) the others'.
    changes: tokio::sync::broadcast::Sender<String>,
}

impl CachedStore {
    /// Must run inside a Tokio runtime when the backend has a change feed (it is followed by a
    /// task of its own).
    pub fn new(inner: Arc<dyn Store>) -> Self {
        let posts = Arc::new(
            Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        );
        let generation = Arc::new(AtomicU64::new(0));
        let turn = Arc::new(Mutex::new(()));
        let (changes, _) = tokio::sync::broadcast::channel(4096);
        if let Some(mut feed) = inner.changes() {
            let (posts, generation, local) = (posts.clone(), generation.clone(), changes.clone());
            let turn = turn.clone();
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    let message = match feed.recv().await {
                        Ok(message) => message,
                        // Missed some: any entry may be stale.
                        Err(RecvError::Lagged(_)) => super::redis::ALL_CHANGED.to_owned(),
                        Err(RecvError::Closed) => return,
                    };
                    let (id, revision) = change_of(&message);
                    {
                        let _turn = lock(&turn);
                        // Always: a load in flight may have read the record of before it.
                        generation.fetch_add(1, Ordering::AcqRel);
                        if id == super::redis::ALL_CHANGED {
                            posts.invalidate_all();
                        } else if !posts.get(id).is_some_and(|e: Entry| {
                            revision.is_some_and(|r| e.record().sync.revision >= r)
                        }) {
                            posts.invalidate(id);
                        }
                    }
                    let _ = local.send(id.to_owned());
                }
            });
        }
        CachedStore {
            inner,
            posts,
            generation,
            turn,
            changes,
        }
    }

    async fn load(&self, id: &str) -> Result<Option<Arc<PostRecord>>, StoreError> {
        if let Some(entry) = self.posts.get(id) {
            return Ok(Some(entry.record()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(record) = self.inner.post_by_id(id).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        let cached = {
            let _turn = lock(&self.turn);
            (self.generation.load(Ordering::Acquire) == generation).then(|| {
                let entry = Entry {
                    stored_synced_at: record.sync.synced_at,
                    record: Arc::new(RwLock::new(record.clone())),
                };
                // The first load wins: a later one must not replace an entry confirmed since.
                self.posts
                    .entry(id.to_owned())
                    .or_insert(entry)
                    .into_value()
                    .record()
            })
        };
        // The answer is the newer of the two (the entry may be one about to be dropped).
        let newer = |r: &PostRecord| (r.sync.revision, r.sync.synced_at);
        Ok(Some(match cached {
            Some(cached) if newer(&cached) >= newer(&record) => cached,
            _ => record,
        }))
    }

    /// After this replica changed a record.
    fn changed(&self, id: &str) {
        {
            let _turn = lock(&self.turn);
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.posts.invalidate(id);
        }
        let _ = self.changes.send(id.to_owned());
    }
}

/// A change as the backend's feed names it: the post's id, and the revision written when the
/// feed says (`"<id> <revision>"`).
fn change_of(message: &str) -> (&str, Option<u64>) {
    match message.rsplit_once(' ') {
        Some((id, revision)) => match revision.parse() {
            Ok(revision) => (id, Some(revision)),
            Err(_) => (message, None),
        },
        None => (message, None),
    }
}

/// The turn guards no data of its own, so a panic while it was held leaves nothing half done.
fn lock(turn: &Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    turn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Store for CachedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn close(&self) {
        self.inner.close().await
    }

    // A new record is not cached until something reads it: most are read seldom if ever,
    // and caching each on its way in cost every create a copy, a cache insert and the memory
    // of a record that may never be asked for.
    async fn insert_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        self.inner.insert_post(post).await
    }

    async fn post(&self, tenant: &str, id: &str) -> Result<Option<PostRecord>, StoreError> {
        Ok(self
            .load(id)
            .await?
            .filter(|p| p.tenant == tenant)
            .map(|p| (*p).clone()))
    }

    async fn post_by_id(&self, id: &str) -> Result<Option<PostRecord>, StoreError> {
        Ok(self.load(id).await?.map(|p| (*p).clone()))
    }

    async fn shared_post(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Arc<PostRecord>>, StoreError> {
        Ok(self.load(id).await?.filter(|p| p.tenant == tenant))
    }

    async fn posts(
        &self,
        tenant: &str,
        filter: &PostFilter,
        after: Option<&PostCursor>,
        limit: u32,
    ) -> Result<Vec<PostRecord>, StoreError> {
        self.inner.posts(tenant, filter, after, limit).await
    }

    async fn count_posts(&self, tenant: &str, filter: &PostFilter) -> Result<u64, StoreError> {
        self.inner.count_posts(tenant, filter).await
    }

    async fn update_post(&self, id: &str, update: &PostUpdate) -> Result<(), StoreError> {
        let result = self.inner.update_post(id, update).await;
        self.changed(id);
        result
    }

    async fn replace_post(
        &self,
        post: &PostRecord,
        expected: u64,
        event: Option<&PostEvent>,
    ) -> Result<bool, StoreError> {
        let written = self.inner.replace_post(post, expected, event).await;
        // Also when it failed: the write may have landed before the error.
        self.changed(&post.id);
        written
    }

    async fn delete_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        let deleted = self.inner.delete_post(post).await;
        self.changed(&post.id);
        deleted
    }

    async fn post_events(&self, id: &str) -> Result<Vec<PostEvent>, StoreError> {
        self.inner.post_events(id).await
    }

    fn confirm_cached(
        &self,
        id: &str,
        revision: u64,
        at: DateTime<Utc>,
        write_every: Duration,
    ) -> Option<Arc<PostRecord>> {
        // The time as the store would keep it, whoever called.
        let at = super::kept(at);
        let entry = self.posts.get(id)?;
        let stored = entry.stored_synced_at?;
        let due = chrono::TimeDelta::from_std(write_every).unwrap_or(chrono::TimeDelta::MAX);
        if at.signed_duration_since(stored) >= due {
            return None;
        }
        let mut slot = entry
            .record
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.sync.revision != revision {
            return None;
        }
        if slot.sync.synced_at < Some(at) {
            let mut record = (**slot).clone();
            record.sync.synced_at = Some(at);
            *slot = Arc::new(record);
        }
        Some(slot.clone())
    }

    async fn due_for_sync(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.due_for_sync(now, limit).await
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.changes.subscribe())
    }

    async fn append_audit(
        &self,
        entry: &crate::audit::AuditEntry,
        retention: Duration,
    ) -> Result<(), StoreError> {
        self.inner.append_audit(entry, retention).await
    }

    async fn audit_entries(
        &self,
        tenant: &str,
        filter: &crate::audit::AuditFilter,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError> {
        self.inner
            .audit_entries(tenant, filter, before, limit)
            .await
    }

    async fn audit_since(
        &self,
        tenant: &str,
        since: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError> {
        self.inner.audit_since(tenant, since, after, limit).await
    }

    async fn rate_limit(&self, key: &str, policy: RatePolicy) -> Result<RateDecision, StoreError> {
        self.inner.rate_limit(key, policy).await
    }

    async fn rate_limit_request(
        &self,
        key: &str,
        policy: RatePolicy,
    ) -> Result<RateDecision, StoreError> {
        self.inner.rate_limit_request(key, policy).await
    }

    async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        self.inner.claim(scope, key, fingerprint, ttl).await
    }

    async fn peek_claim(&self, scope: &str, key: &str) -> Result<Option<Claim>, StoreError> {
        self.inner.peek_claim(scope, key).await
    }

    async fn complete_claim(
        &self,
        scope: &str,
        key: &str,
        payload: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.inner.complete_claim(scope, key, payload, ttl).await
    }

    async fn release_claim(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        self.inner.release_claim(scope, key).await
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
        self.inner
            .reserve_slot(account, lane, slot, limit, window, now)
            .await
    }

    async fn release_slot(&self, account: &str, lane: Lane, slot: &str) -> Result<(), StoreError> {
        self.inner.release_slot(account, lane, slot).await
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
        self.inner
            .move_slot(account, lane, slot, at, limit, window, now)
            .await
    }

    async fn mark_exhausted(
        &self,
        account: &str,
        lane: Lane,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.mark_exhausted(account, lane, until).await
    }

    async fn slot_usage(
        &self,
        account: &str,
        lane: Lane,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotUsage, StoreError> {
        self.inner.slot_usage(account, lane, window, now).await
    }

    async fn hold(&self, hold: &CreateHold<'_>) -> Result<HoldDecision, StoreError> {
        self.inner.hold(hold).await
    }

    async fn release_hold(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.inner
            .release_hold(account, lane, slot, fingerprint)
            .await
    }

    async fn record_created(
        &self,
        post: &PostRecord,
        ttl: Duration,
        audit: Option<crate::store::AuditAppend<'_>>,
    ) -> Result<(), StoreError> {
        self.inner.record_created(post, ttl, audit).await
    }
}

/// Subscriptions and the outbox are not cached: every replica must see the same outbox.
#[async_trait]
impl WebhookStore for CachedStore {
    async fn create_subscription(
        &self,
        subscription: &Subscription,
        limit: u32,
    ) -> Result<bool, StoreError> {
        self.inner.create_subscription(subscription, limit).await
    }

    async fn replace_subscription_secret(
        &self,
        tenant: &str,
        id: &str,
        expected: &str,
        sealed: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .replace_subscription_secret(tenant, id, expected, sealed)
            .await
    }

    async fn subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        self.inner.subscriptions(tenant).await
    }

    async fn subscription(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        self.inner.subscription(tenant, id).await
    }

    async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_subscription(tenant, id).await
    }

    async fn enqueue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        due: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        self.inner.enqueue_deliveries(deliveries, due).await
    }

    async fn lease_deliveries_fairly(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        fairness: &Fairness,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.inner
            .lease_deliveries_fairly(now, lease, limit, fairness)
            .await
    }

    async fn record_attempt(
        &self,
        id: &str,
        lease: &str,
        attempt: &Attempt,
    ) -> Result<bool, StoreError> {
        self.inner.record_attempt(id, lease, attempt).await
    }

    async fn release_delivery(&self, id: &str, lease: &str) -> Result<(), StoreError> {
        self.inner.release_delivery(id, lease).await
    }

    async fn deliveries(
        &self,
        tenant: &str,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.inner.deliveries(tenant, subscription, limit).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.inner.outbox_stats().await
    }
}
