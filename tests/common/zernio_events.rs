//! Zernio's webhooks as a test sends them: a body as Zernio's spec has it
//! (`WebhookPayloadPost`), signed as Zernio signs (hex HMAC-SHA256 of the raw body).

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::TestGateway;

/// The secret the tests' gateways verify Zernio's webhooks with.
pub const ZERNIO_SECRET: &str = "zernio-webhook-secret-for-the-tests";

/// A post event dated `at`: `status` `published` carries a TikTok URL, `failed` an error.
pub fn post_event(
    event_id: &str,
    event: &str,
    post_id: &str,
    status: &str,
    at: DateTime<Utc>,
) -> Vec<u8> {
    let mut platform = json!({
        "platform": "tiktok", "status": status, "accountId": "acc_a1",
        "platformPostId": "7300000000000000001"
    });
    match status {
        "published" => {
            platform["publishedUrl"] =
                json!(format!("https://www.tiktok.com/@creator/video/{post_id}"))
        }
        "failed" => {
            platform["error"] = json!("TikTok flagged this post as potentially risky (spam_risk)")
        }
        _ => {}
    }
    serde_json::to_vec(&json!({
        "id": event_id,
        "event": event,
        "post": {
            "id": post_id, "content": "Sunset", "status": status,
            "scheduledFor": at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "platforms": [platform],
            "metadata": {"gateway_request_id": format!("req-{post_id}")}
        },
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }))
    .unwrap()
}

/// `post.platform.deleted` (the spec's `WebhookPayloadPostPlatform`): the post was deleted on
/// TikTok, dated now.
pub fn deleted_on_tiktok(event_id: &str, post_id: &str) -> Vec<u8> {
    let body = post_event(
        event_id,
        "post.platform.deleted",
        post_id,
        "published",
        Utc::now(),
    );
    let mut event: Value = serde_json::from_slice(&body).unwrap();
    event["platform"] = json!({"name": "tiktok", "status": "deleted", "accountId": "acc_a1"});
    event["account"] = json!({"accountId": "acc_a1", "platform": "tiktok", "username": "creator"});
    serde_json::to_vec(&event).unwrap()
}

pub fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(ZERNIO_SECRET.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Sends a signed event; the gateway's status and answer. The body is held to Zernio's spec.
pub async fn send(gw: &TestGateway, event: &str, body: &[u8]) -> (u16, Value) {
    let payload: Value = serde_json::from_slice(body).unwrap();
    if let Err(errors) = super::contract::validate_webhook(event, &payload) {
        panic!("the test sent an off-spec {event}: {errors:?}");
    }
    let response = gw
        .client
        .post(gw.url("/v1/upstream/zernio/webhooks"))
        .header("content-type", "application/json")
        .header("x-zernio-event", event)
        .header("x-zernio-signature", signature(body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
