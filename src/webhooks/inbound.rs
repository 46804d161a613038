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
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{EVENT_CLAIM_SCOPE, signing, tenant_event, zernio_event_label};
use crate::AppState;
use crate::error::ApiError;
use crate::pipeline::REQUEST_TAG;
use crate::record::{self, Observation};
use crate::store::{ChangeSource, Claim};
use crate::zernio::{Post, PostStatus};

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
    /// `unknown_post` (not a post the gateway made: dropped), `ignored` (not about a post),
    /// `stale` (dated outside `[webhooks] event_window_secs` of now: dropped).
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
    let timestamp = event
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    // Acknowledged, so that Zernio stops sending it; dropped, so that an old signed body
    // replayed long after cannot change a post or reach a tenant.
    if let Some(at) = timestamp
        && !within_window(at, Utc::now(), state.config.webhooks.event_window_secs)
    {
        metrics.received(label, "stale");
        tracing::warn!(event = %name, timestamp = %at, "Zernio event outside the event window: dropped");
        return Ok(Receipt {
            status: "stale",
            deliveries: 0,
        });
    }
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
    match route(state, &event, &name, timestamp).await {
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

/// Whether an event dated `at` is near enough `now`, either way.
fn within_window(at: DateTime<Utc>, now: DateTime<Utc>, window_secs: u64) -> bool {
    let window = i64::try_from(window_secs)
        .ok()
        .and_then(chrono::TimeDelta::try_seconds)
        .unwrap_or(chrono::TimeDelta::MAX);
    (now - at).abs() <= window
}

async fn route(
    state: &AppState,
    event: &Value,
    name: &str,
    timestamp: Option<DateTime<Utc>>,
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
    if state.store.post_by_id(&post.id).await?.is_none()
        && crate::pending::settle_from_webhook(state, &post)
            .await?
            .is_none()
    {
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

    let at = timestamp.unwrap_or_else(Utc::now);
    let platform = PlatformBlock::of(event);
    let observation = observation_of(tenant_event(name), &post, platform.as_ref(), at);
    let applied = record::apply(state, &post.id, &observation, Some(&post)).await?;
    Ok(Receipt {
        status: "accepted",
        deliveries: applied.map(|a| a.deliveries).unwrap_or(0),
    })
}

/// The `platform` block of a per-platform event (`post.platform.*`, `post.tiktok.url_resolved`:
/// the spec's `WebhookPayloadPostPlatform`), when it is TikTok's.
struct PlatformBlock {
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
            published_url: text("publishedUrl"),
            error: text("error"),
        })
    }
}

/// What the event says of the post. The per-post and per-platform twins of one transition say
/// the same, so whichever comes first changes the record and the other changes nothing.
fn observation_of(
    kind: Option<&str>,
    post: &Post,
    platform: Option<&PlatformBlock>,
    at: DateTime<Utc>,
) -> Observation {
    let tiktok = post.tiktok();
    let url = platform
        .and_then(|p| p.published_url.clone())
        .or_else(|| tiktok.and_then(|p| p.platform_post_url.clone()))
        .filter(|u| !u.is_empty());
    let mut seen = Observation::new(ChangeSource::Webhook, at);
    match kind {
        Some("post.published") => {
            seen.status = Some("published".into());
            seen.tiktok_url = url;
            seen.error = Some(None);
        }
        Some("post.failed") => {
            seen.status = Some(match post.status {
                PostStatus::Partial => "partial".into(),
                _ => "failed".into(),
            });
            let (code, message) = record::failure(post);
            let message = platform.and_then(|p| p.error.clone()).unwrap_or(message);
            seen.error = Some(Some((code, message)));
        }
        Some("post.scheduled") => {
            seen.status = Some("scheduled".into());
            seen.schedule_at = post.scheduled_for.map(Some);
        }
        Some("post.cancelled") => seen.status = Some("cancelled".into()),
        // Deleted on TikTok after it was published.
        Some("post.deleted") => seen.status = Some("deleted".into()),
        Some("post.url_resolved") => seen.tiktok_url = url,
        _ => {}
    }
    seen
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
    use serde_json::json;

    #[test]
    fn secrets_are_taken_out_of_zernio_answers() {
        let answer = json!({"success": true, "webhook": {"_id": "wh_1", "secret": "s3", "nested": [{"webhookSecret": "s4", "url": "u"}]}});
        assert_eq!(
            without_secrets(answer),
            json!({"success": true, "webhook": {"_id": "wh_1", "nested": [{"url": "u"}]}})
        );
    }

    #[test]
    fn the_event_window_holds_both_ways() {
        let now = Utc::now();
        let week = 7 * 86_400;
        let day = chrono::TimeDelta::days(1);
        assert!(within_window(now, now, week));
        assert!(within_window(now - day * 7, now, week));
        assert!(within_window(now + day * 7, now, week));
        assert!(!within_window(now - day * 8, now, week));
        assert!(!within_window(now + day * 8, now, week));
        // Chrono's limits are no panic.
        assert!(!within_window(DateTime::<Utc>::MIN_UTC, now, week));
        assert!(within_window(DateTime::<Utc>::MAX_UTC, now, u64::MAX));
        assert!(!within_window(DateTime::<Utc>::MAX_UTC, now, week));
    }

    #[test]
    fn a_failed_post_carries_its_stable_code() {
        let post = Post::from(json!({
            "id": "p1", "status": "failed",
            "platforms": [{"platform": "tiktok", "status": "failed", "accountId": "acc",
                           "error": "TikTok flagged this post as potentially risky (spam_risk)"}],
            "metadata": {"campaign": "x", "gateway_request_id": "req-1"}
        }));
        let seen = observation_of(Some("post.failed"), &post, None, Utc::now());
        assert_eq!(seen.status.as_deref(), Some("failed"));
        let (code, _) = seen.error.flatten().unwrap();
        assert_eq!(code, "spam_risk");
    }
}
