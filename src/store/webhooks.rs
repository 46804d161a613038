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

use std::collections::HashMap;
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
    /// The `whsec_...` signing secret as stored: sealed by [`crate::secrets::Sealer`]
    /// (`enc:v1:...`), or plain in subscriptions of before secrets were sealed. Kept because
    /// every delivery is signed with it.
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

/// How due deliveries are shared out between tenants when they are leased: each tenant gets
/// at most `per_tenant` less what it has `in_flight` already, and the picks go round by tenant
/// (every tenant's first due delivery before anyone's second), so that one tenant's backlog
/// never holds another's delivery back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fairness {
    pub per_tenant: u32,
    /// The caller's deliveries of each tenant being attempted now.
    pub in_flight: HashMap<String, u32>,
}

impl Fairness {
    /// No share per tenant: the oldest due first, whoever's.
    pub fn unlimited() -> Fairness {
        Fairness {
            per_tenant: u32::MAX,
            in_flight: HashMap::new(),
        }
    }

    /// What `tenant` may still be handed.
    pub fn room(&self, tenant: &str) -> u32 {
        self.per_tenant
            .saturating_sub(self.in_flight.get(tenant).copied().unwrap_or(0))
    }

    /// Picks up to `limit` of each tenant's due deliveries (`due`: per tenant, oldest first,
    /// each within its room) round by tenant, the older first within a round: the ids to lease.
    pub fn pick<T: Clone + Ord>(&self, due: Vec<Vec<(T, String)>>, limit: u32) -> Vec<String> {
        let mut ranked: Vec<(usize, T, String)> = due
            .into_iter()
            .flat_map(|queue| {
                queue
                    .into_iter()
                    .enumerate()
                    .map(|(rank, (at, id))| (rank, at, id))
            })
            .collect();
        ranked.sort();
        ranked
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(_, _, id)| id)
            .collect()
    }
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Creates the subscription unless its tenant holds `limit` already, in one atomic step (two
    /// creates at once never make `limit + 1`); `false` when refused for the limit.
    async fn create_subscription(
        &self,
        subscription: &Subscription,
        limit: u32,
    ) -> Result<bool, StoreError>;

    /// Replaces the stored secret of the tenant's subscription with `sealed` when it is still
    /// `expected` (a re-seal under a new key); `false` when it changed or the subscription is gone.
    async fn replace_subscription_secret(
        &self,
        tenant: &str,
        id: &str,
        expected: &str,
        sealed: &str,
    ) -> Result<bool, StoreError>;

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
    ) -> Result<Vec<Delivery>, StoreError> {
        self.lease_deliveries_fairly(now, lease, limit, &Fairness::unlimited())
            .await
    }

    /// [`WebhookStore::lease_deliveries`], shared out between tenants by `fairness`.
    async fn lease_deliveries_fairly(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        fairness: &Fairness,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_go_round_by_tenant_within_each_room() {
        let fairness = Fairness {
            per_tenant: 3,
            in_flight: HashMap::from([("a".to_owned(), 2)]),
        };
        assert_eq!(fairness.room("a"), 1);
        assert_eq!(fairness.room("b"), 3);
        let due = vec![
            vec![
                (1, "a1".to_owned()),
                (2, "a2".to_owned()),
                (3, "a3".to_owned()),
            ],
            vec![(9, "b1".to_owned()), (10, "b2".to_owned())],
            vec![(5, "c1".to_owned())],
        ];
        assert_eq!(fairness.pick(due.clone(), 4), ["a1", "c1", "b1", "a2"]);
        assert_eq!(fairness.pick(due, 2), ["a1", "c1"]);
        assert_eq!(Fairness::unlimited().room("a"), u32::MAX);
    }
}
