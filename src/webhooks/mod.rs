//! Webhooks both ways: Zernio's signed events in ([`inbound`]), the tenants' Standard Webhooks
//! out ([`outbound`]), through the durable outbox of the store.
//!
//! ```text
//! Zernio --signed event--> inbound: verify, de-duplicate, update the post record, find its
//!                          tenant, enqueue one delivery per subscription (outbox) --> 200
//! outbox --lease--> outbound worker --Standard Webhooks--> tenant's target, retried on a schedule
//! ```
//! Nothing is delivered inline: the receiver answers as soon as the deliveries are stored, so
//! Zernio's 5 s budget never depends on a tenant's endpoint.

pub mod fan_out;
pub mod inbound;

pub use fan_out::fan_out;
pub mod outbound;
pub mod signing;
pub mod targets;

use std::sync::Arc;

use tokio::sync::Notify;

/// The events a tenant can subscribe to.
pub const EVENTS: [&str; 6] = [
    "post.published",
    "post.failed",
    "post.scheduled",
    "post.cancelled",
    "post.deleted",
    "post.url_resolved",
];

/// The scope of the store claims that de-duplicate Zernio's events on their id.
pub const EVENT_CLAIM_SCOPE: &str = "zernio-event";

/// Zernio's event name as the gateway's, for the events tenants hear about (Zernio's spec,
/// `webhooks`). A partial post is a failed one here: the gateway makes TikTok-only posts.
/// `post.platform.deleted` (the post was deleted on TikTok) and `post.tiktok.url_resolved` (the
/// TikTok URL arrived after the publication) have events of their own.
pub fn tenant_event(zernio_event: &str) -> Option<&'static str> {
    match zernio_event {
        "post.published" | "post.platform.published" => Some("post.published"),
        "post.failed" | "post.platform.failed" | "post.partial" => Some("post.failed"),
        "post.scheduled" => Some("post.scheduled"),
        "post.cancelled" => Some("post.cancelled"),
        "post.platform.deleted" => Some("post.deleted"),
        "post.tiktok.url_resolved" => Some("post.url_resolved"),
        _ => None,
    }
}

/// Whether Zernio's event reaches tenants, or only updates the record. Zernio sends a TikTok-only
/// post's transition twice, once per post (`post.published`, `post.failed`, `post.partial`) and
/// once per platform (`post.platform.published`, `post.platform.failed`), and the gateway
/// registers for both: the tenant hears of it once, from the post-level event. The per-platform
/// events with no post-level twin (`post.platform.deleted`, `post.tiktok.url_resolved`) do reach
/// tenants.
pub fn reaches_tenants(zernio_event: &str) -> bool {
    !matches!(
        zernio_event,
        "post.platform.published" | "post.platform.failed"
    )
}

/// Zernio's event names, as metric labels; anything else is `other`, so that a label can only
/// take a known value.
pub fn zernio_event_label(zernio_event: &str) -> &'static str {
    const KNOWN: [&str; 11] = [
        "post.scheduled",
        "post.published",
        "post.failed",
        "post.partial",
        "post.cancelled",
        "post.platform.published",
        "post.platform.failed",
        "post.platform.deleted",
        "post.tiktok.url_resolved",
        "account.disconnected",
        "webhook.test",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == zernio_event)
        .unwrap_or("other")
}

/// What the HTTP side shares with the delivery worker of this replica.
#[derive(Clone, Default)]
pub struct Hub {
    wake: Arc<Notify>,
}

impl Hub {
    /// Tells this replica's worker that deliveries were enqueued, so that it does not wait for
    /// its next look at the outbox. (Other replicas find them when they look.)
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }
}
