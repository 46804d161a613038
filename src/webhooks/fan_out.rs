//! A change of a post, told to its tenant: one delivery per subscription that wants the event,
//! enqueued in the outbox (never delivered inline). The delivery's id is derived from the post,
//! the event and the time its status came to hold, so whoever writes it (a webhook, a retried
//! webhook, the reconciler, another replica) writes the same delivery, once.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;
use crate::store::{NewDelivery, PostRecord};

/// Enqueues `events` of `record` for its tenant's subscriptions; how many deliveries were new.
/// `metadata` is the caller's own metadata of the post, when the change came with it.
pub async fn fan_out(
    state: &AppState,
    record: &PostRecord,
    events: &[&str],
    metadata: Option<Value>,
) -> Result<u32, ApiError> {
    let subscriptions = state.store.subscriptions(&record.tenant).await?;
    let now = Utc::now();
    let mut deliveries = Vec::new();
    for event in events {
        let wanting: Vec<_> = subscriptions.iter().filter(|s| s.wants(event)).collect();
        if wanting.is_empty() {
            continue;
        }
        let payload = payload(event, record, metadata.clone()).to_string();
        let change = change_id(record, event);
        deliveries.extend(wanting.into_iter().map(|s| NewDelivery {
            id: delivery_id(&change, &s.id),
            tenant: record.tenant.clone(),
            subscription: s.id.clone(),
            event_type: (*event).to_owned(),
            post_id: record.id.clone(),
            payload: payload.clone(),
            created_at: now,
        }));
    }
    if deliveries.is_empty() {
        return Ok(0);
    }
    let added = state.store.enqueue_deliveries(&deliveries, now).await?;
    state.webhooks.wake();
    Ok(added)
}

/// One change of one post: the same whoever reports it.
fn change_id(record: &PostRecord, event: &str) -> String {
    format!(
        "{}\n{event}\n{}",
        record.id,
        record.status_at().timestamp_millis()
    )
}

/// The delivery's `webhook-id`: the same for the same change and subscription.
pub fn delivery_id(change: &str, subscription: &str) -> String {
    let digest = Sha256::digest(format!("{change}\n{subscription}").as_bytes());
    format!("msg_{}", hex::encode(&digest[..16]))
}

/// The tenant's event: Standard Webhooks' `{type, timestamp, data}`, from the record.
pub fn payload(event: &str, record: &PostRecord, metadata: Option<Value>) -> Value {
    let error = (event == "post.failed").then(|| {
        json!({
            "code": record.sync.error_code.as_deref().unwrap_or("post_failed"),
            "message": record.error.as_deref().unwrap_or("the post failed"),
        })
    });
    json!({
        "type": event,
        "timestamp": record.status_at().to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "id": record.id,
            "account": record.account,
            "status": record.status,
            "tiktok_url": record.tiktok_url,
            "error": error,
            "metadata": metadata,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_stable_per_change_and_subscription() {
        assert_eq!(delivery_id("c1", "sub_a"), delivery_id("c1", "sub_a"));
        assert_ne!(delivery_id("c1", "sub_a"), delivery_id("c1", "sub_b"));
        assert_ne!(delivery_id("c1", "sub_a"), delivery_id("c2", "sub_a"));
        assert!(delivery_id("c", "s").starts_with("msg_"));
    }
}
