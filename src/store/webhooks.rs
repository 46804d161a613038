//! The webhook part of the store: tenants' subscriptions and the durable outbox of deliveries.
//!
//! The outbox is what makes delivery at-least-once across crashes and replicas:
//! - an accepted event becomes one delivery per matching subscription, all written in one atomic
//!   step, under an id derived from the event and the subscription, so that writing the same
//!   event again (a retry after a crash) adds nothing;
//! - a worker leases due deliveries for a while; a leased delivery is not handed to anyone else
//!   until the lease runs out, so replicas never attempt the same delivery at once, and a
//!   worker that dies mid-attempt only delays it by the lease;
//! - the result of an attempt is written only by the holder of the lease.
//!
//! Every backend keeps this contract (`tests/store.rs`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// A tenant's subscription to post events (REST Hooks). `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub tenant: String,
    pub target_url: String,
    /// The gateway's event names (`post.published`, ...).
    pub events: Vec<String>,
    /// The `whsec_...` signing secret. Kept because every delivery is signed with it.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

impl Subscription {
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("target_url", &self.target_url)
            .field("events", &self.events)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt (or being attempted under a lease).
    Pending,
    Delivered,
    /// Given up: every attempt of the schedule failed, or the target is gone.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One event for one subscription, as it is enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The Standard Webhooks `webhook-id`: the same on every attempt.
    pub id: String,
    pub tenant: String,
    pub subscription: String,
    pub event_type: String,
    pub post_id: String,
    /// The exact body of every attempt.
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// A delivery with what its attempts came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub tenant: String,
    pub subscription: String,
    pub event_type: String,
    pub post_id: String,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When a pending delivery is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Only on a delivery handed out by `lease_deliveries`: the proof of the lease, to pass back
    /// with the attempt's result.
    pub lease: Option<String>,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// `Pending` to try again at `next_attempt_at`, or final.
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

/// How much is waiting in the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    /// When the oldest pending delivery was enqueued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_subscription(&self, subscription: &Subscription) -> Result<(), StoreError>;

    /// The tenant's subscriptions, oldest first.
    async fn subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError>;

    /// The tenant's subscription; another tenant's is `None`, like a missing one.
    async fn subscription(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Subscription>, StoreError>;

    /// Deletes the tenant's subscription and its deliveries; `false` when there was none.
    async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;

    /// Writes all of `deliveries`, due at `due`, in one atomic step; an id that exists already
    /// is left as it is. Returns how many were new.
    async fn enqueue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        due: DateTime<Utc>,
    ) -> Result<u32, StoreError>;

    /// Leases up to `limit` pending deliveries due at `now` for `lease`, atomically: a delivery
    /// leased here is handed to no other caller until the lease runs out.
    async fn lease_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Records an attempt made under `lease`; `false` (and nothing written) when the lease is
    /// no longer held, or the delivery is gone.
    async fn record_attempt(
        &self,
        id: &str,
        lease: &str,
        attempt: &Attempt,
    ) -> Result<bool, StoreError>;

    /// Gives a lease back without an attempt (shutdown): the delivery is due again at once.
    async fn release_delivery(&self, id: &str, lease: &str) -> Result<(), StoreError>;

    /// The subscription's deliveries, newest first, at most `limit`.
    async fn deliveries(
        &self,
        tenant: &str,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;
}

/// How long finished deliveries stay visible.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
