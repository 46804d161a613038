//! The sandbox's outgoing webhooks: Zernio's payload, signed as Zernio signs it
//! (`X-Zernio-Signature` = hex HMAC-SHA256 of the raw body), sent by one worker task so that a
//! post's events arrive in the order they happened, and only ever to loopback addresses.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use url::Url;

use super::model::{Event, Target};
use crate::zernio::types::Post;

pub(super) use crate::zernio::client::is_loopback;

/// Zernio allows 5 s for a 2xx.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Zernio tries up to 7 times over hours; the sandbox keeps it to seconds, as nobody waits that
/// long in development, but long enough for a gateway to record a post whose event came before
/// the answer that created it.
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

/// One webhook, ready to send.
pub(super) struct Delivery {
    url: Url,
    event: &'static str,
    event_id: String,
    signature: String,
    body: Vec<u8>,
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub(crate) fn sign(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; this arm only satisfies the type.
        Err(_) => String::new(),
    }
}

/// Builds the delivery of `event` to `target`; `None` for a target that is not on loopback.
pub(super) fn delivery(target: &Target, event: &Event, now: DateTime<Utc>) -> Option<Delivery> {
    if !is_loopback(&target.url) {
        tracing::warn!(url = %target.url, "sandbox webhook target is not loopback: not sent");
        return None;
    }
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let mut payload = json!({
        "id": event_id,
        "event": event.name,
        "post": webhook_post(&event.post),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    // The platform-level events (`WebhookPayloadPostPlatform`) name the platform that moved and
    // the account behind it beside the post.
    if event.name.starts_with("post.platform.") || event.name == "post.tiktok.url_resolved" {
        if let Some(p) = event.post.platforms.first() {
            let status = match event.name {
                "post.platform.failed" => "failed",
                "post.platform.deleted" => "deleted",
                _ => "published",
            };
            payload["platform"] = compact(json!({
                "name": p.platform,
                "status": status,
                "platformPostId": p.platform_post_id,
                "publishedUrl": p.platform_post_url,
                "error": p.error_message,
                "errorCategory": p.error_category,
                "errorSource": p.error_source,
            }));
            let account = p.account_id.clone().unwrap_or_default();
            payload["account"] = json!({
                "accountId": account,
                "platform": p.platform,
                // The sandbox's creators are their own usernames.
                "username": account,
            });
        }
    }
    let body = serde_json::to_vec(&payload).ok()?;
    Some(Delivery {
        url: target.url.clone(),
        event: event.name,
        signature: sign(target.secret.as_bytes(), &body),
        event_id,
        body,
    })
}

/// The post as Zernio's webhooks carry it (`id`, `publishedUrl`, `error`).
fn webhook_post(post: &Post) -> Value {
    let time =
        |t: &Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
    let platforms: Vec<Value> = post
        .platforms
        .iter()
        .map(|p| {
            json!({
                "platform": p.platform,
                "status": p.status.as_str(),
                "accountId": p.account_id,
                "platformPostId": p.platform_post_id,
                "publishedUrl": p.platform_post_url,
                "error": p.error_message,
                "errorCategory": p.error_category,
                "errorSource": p.error_source,
            })
        })
        .collect();
    // The spec types these as strings (no null): absent when unknown. scheduledFor is required:
    // a post published at once was "scheduled" for then.
    compact(json!({
        "id": post.id,
        "content": post.content,
        "status": post.status.as_str(),
        "scheduledFor": time(&post.scheduled_for.or(post.published_at).or(post.created_at)),
        "publishedAt": time(&post.published_at),
        "platforms": platforms,
        "metadata": post.metadata,
    }))
}

/// Drops `null` members, recursively: where the spec types a field as a string or an object,
/// Zernio leaves it out rather than sending null.
pub(super) fn compact(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

/// Starts the delivery worker; it ends when every sender is gone.
pub(super) fn start(handle: &Handle) -> mpsc::UnboundedSender<Delivery> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Delivery>();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(DELIVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build();
    handle.spawn(async move {
        let http = match http {
            Ok(http) => http,
            Err(e) => {
                tracing::error!(error = %e, "sandbox webhooks disabled: no HTTP client");
                return;
            }
        };
        while let Some(d) = rx.recv().await {
            deliver(&http, d).await;
        }
    });
    tx
}

async fn deliver(http: &reqwest::Client, d: Delivery) {
    for attempt in 0..=BACKOFF.len() {
        let sent = http
            .post(d.url.clone())
            .header("content-type", "application/json")
            .header("X-Zernio-Signature", &d.signature)
            .header("X-Zernio-Event", d.event)
            .header("X-Zernio-Event-Id", &d.event_id)
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::info!(
                event = d.event,
                status = r.status().as_u16(),
                "sandbox webhook refused"
            ),
            Err(e) => tracing::info!(event = d.event, error = %e, "sandbox webhook not delivered"),
        }
        if let Some(wait) = BACKOFF.get(attempt) {
            tokio::time::sleep(*wait).await;
        }
    }
    tracing::warn!(event = d.event, event_id = %d.event_id, "sandbox webhook dropped after retries");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
