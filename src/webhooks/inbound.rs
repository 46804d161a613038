//! Zernio's webhooks in: verified, de-duplicated, recorded, and fanned out to the subscriptions
//! of the tenant that made the post, by enqueueing deliveries (never by delivering inline).
//!
//! Crash safety rests on the order of the writes: the event id is claimed, the post record
//! updated, the deliveries enqueued, and only then is the claim completed and 200 answered.
//! The deliveries' ids are derived from the event and the subscription, so when the gateway
//! dies anywhere before the 200, Zernio's retry writes the same deliveries again, which adds
//! nothing; once the 200 is sent, the deliveries are in the store. A completed claim makes a
//! retried event cheap: acknowledged, not fanned out again.

use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{EVENT_CLAIM_SCOPE, reaches_tenants, signing, tenant_event, zernio_event_label};
use crate::AppState;
use crate::error::ApiError;
use crate::pipeline::REQUEST_TAG;
use crate::store::{Claim, NewDelivery, PostRecord, PostUpdate};
use crate::zernio::{Post, PostStatus, UpstreamError};

/// How long an event id is remembered: Zernio retries for hours, not days.
pub const EVENT_MEMORY: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long after an event an unknown post of the gateway's own may still be recorded: Zernio
/// can send the event of a post before the gateway has written down the answer that created
/// it (the sandbox does, as it publishes at once).
const RECORDING_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// The answer Zernio gets.
#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    /// `accepted` (recorded, and fanned out where subscribed), `duplicate` (seen before),
    /// `unknown_post` (not a post the gateway made: dropped), `ignored` (not about a post).
    #[schema(example = "accepted")]
    pub status: &'static str,
    /// Deliveries enqueued for the tenant's subscriptions.
    #[schema(example = 1)]
    pub deliveries: u32,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Handles one webhook from Zernio, `body` as received (the signature covers these bytes).
pub async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Receipt, ApiError> {
    let metrics = state.metrics.webhooks();
    let Some(secret) = &state.config.zernio_webhook_secret else {
        metrics.received("unverified", "not_configured");
        return Err(ApiError::WebhooksNotConfigured);
    };
    // Nothing of the body is read before its signature is known to be Zernio's.
    let verified = header(headers, "x-zernio-signature")
        .is_some_and(|sig| signing::verify_zernio(secret.expose().as_bytes(), body, sig));
    if !verified {
        metrics.received("unverified", "invalid_signature");
        return Err(ApiError::WebhookSignatureInvalid);
    }
    let event: Value = serde_json::from_slice(body).map_err(|e| {
        metrics.received("unknown", "invalid_payload");
        ApiError::bad_request("invalid_json", format!("the event is not JSON: {e}"))
    })?;
    let name = event
        .get("event")
        .and_then(Value::as_str)
        .or_else(|| header(headers, "x-zernio-event"))
        .unwrap_or_default()
        .to_owned();
    let label = zernio_event_label(&name);
    // The body's id first: the signature covers it, not the header, so a replay with a new
    // header id is still the same event.
    let event_id = event
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .or_else(|| header(headers, "x-zernio-event-id").map(str::to_owned))
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .ok_or_else(|| {
            metrics.received(label, "invalid_payload");
            ApiError::bad_request(
                "missing_event_id",
                "the event has no X-Zernio-Event-Id (or id) of at most 256 characters",
            )
        })?;

    // Pending means an earlier copy is being handled, or its handler died: handling it again
    // is safe, as the deliveries it writes are the same ones.
    if let Claim::Done { .. } = state
        .store
        .claim(EVENT_CLAIM_SCOPE, &event_id, &name, EVENT_MEMORY)
        .await?
    {
        metrics.received(label, "duplicate");
        return Ok(Receipt {
            status: "duplicate",
            deliveries: 0,
        });
    }
    match route(state, &event, &name, &event_id).await {
        Ok(receipt) => {
            if let Err(e) = state
                .store
                .complete_claim(EVENT_CLAIM_SCOPE, &event_id, b"done", EVENT_MEMORY)
                .await
            {
                // The event is handled; a retry of it would only be handled again, harmlessly.
                tracing::warn!(error = %e, "could not mark a Zernio event as handled");
            }
            metrics.received(label, receipt.status);
            Ok(receipt)
        }
        Err(e) => {
            if let Err(release) = state
                .store
                .release_claim(EVENT_CLAIM_SCOPE, &event_id)
                .await
            {
                tracing::warn!(error = %release, "could not release a Zernio event claim");
            }
            let outcome = match e {
                ApiError::PostNotRecordedYet(_) => "retry_later",
                _ => "failed",
            };
            metrics.received(label, outcome);
            Err(e)
        }
    }
}

async fn route(
    state: &AppState,
    event: &Value,
    name: &str,
    event_id: &str,
) -> Result<Receipt, ApiError> {
    let post = event
        .get("post")
        .filter(|p| p.is_object())
        .map(|p| Post::from(p.clone()))
        .filter(|p| !p.id.is_empty());
    let Some(post) = post else {
        return Ok(Receipt {
            status: "ignored",
            deliveries: 0,
        });
    };
    let timestamp = event
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(record) = state.store.post_by_id(&post.id).await? else {
        let ours = post.metadata_str(REQUEST_TAG).is_some();
        let recent = timestamp.is_none_or(|t| Utc::now() - t < RECORDING_GRACE);
        if ours && recent {
            return Err(ApiError::PostNotRecordedYet(post.id.clone()));
        }
        tracing::info!(post = %post.id, event = %name, "event for a post the gateway did not make: dropped");
        return Ok(Receipt {
            status: "unknown_post",
            deliveries: 0,
        });
    };

    let kind = tenant_event(name);
    let platform = PlatformBlock::of(event);
    let update = update_of(kind, &post, platform.as_ref());
    if update != PostUpdate::default() {
        state.store.update_post(&post.id, &update).await?;
    }
    let Some(kind) = kind.filter(|_| reaches_tenants(name)) else {
        return Ok(Receipt {
            status: "accepted",
            deliveries: 0,
        });
    };
    let subscriptions: Vec<_> = state
        .store
        .subscriptions(&record.tenant)
        .await?
        .into_iter()
        .filter(|s| s.wants(kind))
        .collect();
    if subscriptions.is_empty() {
        return Ok(Receipt {
            status: "accepted",
            deliveries: 0,
        });
    }
    let now = Utc::now();
    let payload = payload(kind, timestamp.unwrap_or(now), &post, &record, &update).to_string();
    let deliveries: Vec<NewDelivery> = subscriptions
        .iter()
        .map(|s| NewDelivery {
            id: delivery_id(event_id, &s.id),
            tenant: record.tenant.clone(),
            subscription: s.id.clone(),
            event_type: kind.to_owned(),
            post_id: post.id.clone(),
            payload: payload.clone(),
            created_at: now,
        })
        .collect();
    let added = state.store.enqueue_deliveries(&deliveries, now).await?;
    state.webhooks.wake();
    Ok(Receipt {
        status: "accepted",
        deliveries: added,
    })
}

/// The delivery's `webhook-id`: the same for the same event and subscription, whoever writes it.
pub fn delivery_id(event_id: &str, subscription: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}\n{subscription}").as_bytes());
    format!("msg_{}", hex::encode(&digest[..16]))
}

/// The `platform` block of a per-platform event (`post.platform.*`, `post.tiktok.url_resolved`:
/// the spec's `WebhookPayloadPostPlatform`), when it is TikTok's.
struct PlatformBlock {
    status: Option<String>,
    published_url: Option<String>,
    error: Option<String>,
}

impl PlatformBlock {
    fn of(event: &Value) -> Option<PlatformBlock> {
        let block = event.get("platform").filter(|p| p.is_object())?;
        let text = |key: &str| {
            block
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        // `name` in the spec; `platform` as the post's own entries spell it.
        let name = text("name").or_else(|| text("platform"));
        if name.is_some_and(|n| !n.eq_ignore_ascii_case("tiktok")) {
            return None;
        }
        Some(PlatformBlock {
            status: text("status"),
            published_url: text("publishedUrl"),
            error: text("error"),
        })
    }
}

/// What the event changes about the gateway's record of the post.
fn update_of(kind: Option<&str>, post: &Post, platform: Option<&PlatformBlock>) -> PostUpdate {
    let tiktok = post.tiktok();
    let url = platform
        .and_then(|p| p.published_url.clone())
        .or_else(|| tiktok.and_then(|p| p.platform_post_url.clone()))
        .filter(|u| !u.is_empty());
    match kind {
        Some("post.published") => PostUpdate {
            status: Some("published".into()),
            tiktok_url: url,
            error: Some(None),
            ..PostUpdate::default()
        },
        Some("post.failed") => PostUpdate {
            status: Some(match post.status {
                PostStatus::Partial => "partial".into(),
                _ => "failed".into(),
            }),
            error: Some(Some(
                platform
                    .and_then(|p| p.error.clone())
                    .unwrap_or_else(|| failure(post).1),
            )),
            ..PostUpdate::default()
        },
        Some("post.scheduled") => PostUpdate {
            status: Some("scheduled".into()),
            schedule_at: post.scheduled_for.map(Some),
            ..PostUpdate::default()
        },
        Some("post.cancelled") => PostUpdate {
            status: Some("cancelled".into()),
            ..PostUpdate::default()
        },
        // Deleted on TikTok after it was published: the record says so.
        Some("post.deleted") => PostUpdate {
            status: Some(
                platform
                    .and_then(|p| p.status.clone())
                    .filter(|s| s == "deleted")
                    .unwrap_or_else(|| "deleted".into()),
            ),
            ..PostUpdate::default()
        },
        Some("post.url_resolved") => PostUpdate {
            tiktok_url: url,
            ..PostUpdate::default()
        },
        _ => PostUpdate::default(),
    }
}

/// The stable code and message of a failed post, as the create endpoint would name them.
fn failure(post: &Post) -> (&'static str, String) {
    let mut failed = post.clone();
    failed.status = PostStatus::Failed;
    match UpstreamError::from_failed_post(200, failed, None) {
        Some(e) => (e.code(), e.message.clone()),
        None => ("post_failed", "the post failed".to_owned()),
    }
}

/// The tenant's event: Standard Webhooks' `{type, timestamp, data}`.
fn payload(
    kind: &str,
    at: DateTime<Utc>,
    post: &Post,
    record: &PostRecord,
    update: &PostUpdate,
) -> Value {
    let error = (kind == "post.failed").then(|| {
        let (code, message) = failure(post);
        json!({"code": code, "message": message})
    });
    // The caller's own metadata, without the tag the gateway added to find its creates.
    let metadata = post
        .metadata
        .as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            let mut m = m.clone();
            m.remove(REQUEST_TAG);
            m
        })
        .filter(|m| !m.is_empty())
        .map(Value::Object);
    json!({
        "type": kind,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "id": post.id,
            "account": record.account,
            "status": update.status.clone().unwrap_or_else(|| record.status.clone()),
            "tiktok_url": update.tiktok_url.clone().or_else(|| record.tiktok_url.clone()),
            "error": error,
            "metadata": metadata,
        }
    })
}

/// The events the gateway registers for at Zernio: every post event of Zernio's spec.
pub const ZERNIO_POST_EVENTS: [&str; 9] = [
    "post.scheduled",
    "post.published",
    "post.failed",
    "post.partial",
    "post.cancelled",
    "post.platform.published",
    "post.platform.failed",
    "post.platform.deleted",
    "post.tiktok.url_resolved",
];

/// Registers `url` (this gateway's `/v1/upstream/zernio/webhooks`) at Zernio with the
/// configured secret and the post events; Zernio's answer, with any secret in it taken out.
pub async fn register_at_zernio(
    config: &crate::config::Config,
    url: &str,
    name: &str,
) -> anyhow::Result<Value> {
    use crate::zernio::{CallContext, NoopObserver, WebhookSettings, ZernioClient};
    let api_key = config.zernio_api_key.as_ref().ok_or_else(|| {
        anyhow::anyhow!("ZERNIO_API_KEY is not set: there is no Zernio account to register at")
    })?;
    let secret = config.zernio_webhook_secret.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "ZERNIO_WEBHOOK_SECRET is not set: Zernio must sign its webhooks with the secret the \
             gateway verifies them with"
        )
    })?;
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--url `{url}`: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        anyhow::bail!("--url must be an https URL");
    }
    if !parsed.path().ends_with("/v1/upstream/zernio/webhooks") {
        tracing::warn!(
            "--url does not end in /v1/upstream/zernio/webhooks, where the gateway receives them"
        );
    }
    let client = ZernioClient::new(
        crate::upstream::client_config(
            &config.zernio,
            config.zernio.base_url.clone(),
            api_key.expose().to_owned(),
        ),
        std::sync::Arc::new(NoopObserver),
    )?;
    let settings = WebhookSettings {
        name: name.to_owned(),
        url: parsed.to_string(),
        secret: secret.expose().to_owned(),
        events: ZERNIO_POST_EVENTS.iter().map(|e| e.to_string()).collect(),
        is_active: true,
    };
    let request_id = format!("register-webhook-{}", uuid::Uuid::new_v4().simple());
    let answer = client
        .register_webhook(
            &CallContext {
                request_id: &request_id,
            },
            &settings,
        )
        .await?;
    Ok(without_secrets(answer))
}

/// A JSON value with every member named like a secret removed, at any depth.
fn without_secrets(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !k.to_ascii_lowercase().contains("secret"))
                .map(|(k, v)| (k, without_secrets(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_taken_out_of_zernio_answers() {
        let answer = json!({"success": true, "webhook": {"_id": "wh_1", "secret": "s3", "nested": [{"webhookSecret": "s4", "url": "u"}]}});
        assert_eq!(
            without_secrets(answer),
            json!({"success": true, "webhook": {"_id": "wh_1", "nested": [{"url": "u"}]}})
        );
    }

    #[test]
    fn delivery_ids_are_stable_per_event_and_subscription() {
        assert_eq!(delivery_id("evt_1", "sub_a"), delivery_id("evt_1", "sub_a"));
        assert_ne!(delivery_id("evt_1", "sub_a"), delivery_id("evt_1", "sub_b"));
        assert_ne!(delivery_id("evt_1", "sub_a"), delivery_id("evt_2", "sub_a"));
        assert!(delivery_id("e", "s").starts_with("msg_"));
    }

    #[test]
    fn a_failed_post_carries_its_stable_code_and_the_callers_metadata_only() {
        let post = Post::from(json!({
            "id": "p1", "status": "failed",
            "platforms": [{"platform": "tiktok", "status": "failed", "accountId": "acc",
                           "error": "TikTok flagged this post as potentially risky (spam_risk)"}],
            "metadata": {"campaign": "x", "gateway_request_id": "req-1"}
        }));
        let record = PostRecord {
            id: "p1".into(),
            tenant: "t".into(),
            account: "acc".into(),
            kind: "video".into(),
            mode: "now".into(),
            status: "publishing".into(),
            schedule_at: None,
            tiktok_url: None,
            error: None,
            fingerprint: "f".into(),
            request_id: "req-1".into(),
            created_at: Utc::now(),
            content: None,
            media_items: Vec::new(),
        };
        let update = update_of(Some("post.failed"), &post, None);
        assert_eq!(update.status.as_deref(), Some("failed"));
        let body = payload("post.failed", Utc::now(), &post, &record, &update);
        assert_eq!(body["type"], "post.failed");
        assert_eq!(body["data"]["status"], "failed");
        assert_eq!(body["data"]["error"]["code"], "spam_risk");
        assert_eq!(body["data"]["metadata"], json!({"campaign": "x"}));
    }
}
