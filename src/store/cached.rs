//! A read-through cache of post records in front of any store, for the read path: an
//! authenticated GET of a post must learn whose post it is without a store round trip each
//! time. What a record is used for on that path never changes after creation (id, tenant,
//! account, kind, mode, created_at; the status and URL are read fresh from Zernio), so a
//! replica's cache stays correct even when another replica updates the record; this replica's
//! own updates drop the entry all the same.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moka::sync::Cache;

use super::{
    Attempt, Claim, CreateHold, Delivery, HoldDecision, Lane, NewDelivery, OutboxStats, PostCursor,
    PostFilter, PostRecord, PostUpdate, RateDecision, RatePolicy, SlotDecision, SlotMove,
    SlotUsage, Store, StoreError, Subscription, WebhookStore,
};

/// Enough for every post of a busy day on a large deployment, a few tens of MB at most.
const CAPACITY: u64 = 100_000;

pub struct CachedStore {
    inner: Arc<dyn Store>,
    posts: Cache<String, Arc<PostRecord>>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        CachedStore {
            inner,
            posts: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    async fn load(&self, id: &str) -> Result<Option<Arc<PostRecord>>, StoreError> {
        if let Some(record) = self.posts.get(id) {
            return Ok(Some(record));
        }
        let Some(record) = self.inner.post_by_id(id).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        self.posts.insert(id.to_owned(), record.clone());
        Ok(Some(record))
    }
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
        self.inner.update_post(id, update).await?;
        self.posts.invalidate(id);
        Ok(())
    }

    async fn rate_limit(&self, key: &str, policy: RatePolicy) -> Result<RateDecision, StoreError> {
        self.inner.rate_limit(key, policy).await
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

    async fn record_created(&self, post: &PostRecord, ttl: Duration) -> Result<(), StoreError> {
        self.inner.record_created(post, ttl).await
    }
}

/// Subscriptions and the outbox are not cached: every replica must see the same outbox.
#[async_trait]
impl WebhookStore for CachedStore {
    async fn create_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        self.inner.create_subscription(subscription).await
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

    async fn lease_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.inner.lease_deliveries(now, lease, limit).await
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
