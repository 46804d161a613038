//! Webhooks, black-box: Zernio's signed events in (verification, de-duplication, routing to the
//! tenant that made the post), subscriptions (REST Hooks) held to their tenant and to public
//! https targets, Standard Webhooks deliveries out with retries, `Retry-After`, `410 Gone` and
//! a visible failure, the whole loop on the sandbox, and the `zernio register-webhook` command.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::fake_zernio::{FakeZernio, Reply};
use common::subscriber::{Answer, Subscriber, eventually, verify_standard_webhook};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tiktok_gateway::store::PostRecord;

const ZERNIO_SECRET: &str = "zernio-webhook-secret-for-the-tests";
const WAIT: Duration = Duration::from_secs(10);

/// A gateway in front of a fake Zernio that signs webhooks with `ZERNIO_SECRET`; `webhooks` is
/// more of the `[webhooks]` section.
async fn gateway(webhooks: &str) -> (TestGateway, FakeZernio) {
    let fake = FakeZernio::start().await;
    let toml = format!(
        "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\n\n\
         [webhooks]\nallowed_hosts = [\"127.0.0.1\"]\npoll_interval_ms = 50\n{webhooks}\n",
        fake.base_url
    );
    let gw = TestGateway::spawn_on(
        None,
        &toml,
        &[
            ("ZERNIO_API_KEY", FAKE_ZERNIO_KEY),
            ("ZERNIO_WEBHOOK_SECRET", ZERNIO_SECRET),
        ],
    )
    .await;
    (gw, fake)
}

/// A post the gateway made for `tenant`, as the create pipeline records it.
async fn record_post(gw: &TestGateway, id: &str, tenant: &str, account: &str) {
    gw.state
        .store
        .insert_post(&PostRecord {
            id: id.into(),
            tenant: tenant.into(),
            account: account.into(),
            kind: "video".into(),
            mode: "now".into(),
            status: "publishing".into(),
            schedule_at: None,
            tiktok_url: None,
            error: None,
            fingerprint: format!("fp-{id}"),
            request_id: format!("req-{id}"),
            created_at: Utc::now(),
            content: None,
            media_items: Vec::new(),
            sync: Default::default(),
        })
        .await
        .unwrap();
}

/// A Zernio webhook body, as UPSTREAM.md describes it.
fn zernio_event(event_id: &str, event: &str, post_id: &str, status: &str) -> Vec<u8> {
    let (platform_status, url, error) = match status {
        "published" => (
            "published",
            json!(format!("https://www.tiktok.com/@creator/video/{post_id}")),
            Value::Null,
        ),
        "failed" => (
            "failed",
            Value::Null,
            json!("TikTok flagged this post as potentially risky (spam_risk)"),
        ),
        other => (other, Value::Null, Value::Null),
    };
    let mut platform = json!({
        "platform": "tiktok", "status": platform_status, "accountId": "acc_a1",
        "platformPostId": "7300000000000000001"
    });
    // Zernio's spec has strings here: a member it has nothing for is left out, never null.
    if !url.is_null() {
        platform["publishedUrl"] = url;
    }
    if !error.is_null() {
        platform["error"] = error;
    }
    serde_json::to_vec(&json!({
        "id": event_id,
        "event": event,
        "post": {
            "id": post_id,
            "content": "Sunset",
            "status": status,
            "scheduledFor": Utc::now().to_rfc3339(),
            "platforms": [platform],
            "metadata": {"campaign": "sunsets", "gateway_request_id": format!("req-{post_id}")}
        },
        "timestamp": Utc::now().to_rfc3339()
    }))
    .unwrap()
}

/// Zernio's signature, computed here: hex HMAC-SHA256 of the raw body.
fn zernio_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn send_event(
    gw: &TestGateway,
    event_id: &str,
    event: &str,
    body: &[u8],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut request = gw
        .client
        .post(gw.url("/v1/upstream/zernio/webhooks"))
        .header("content-type", "application/json")
        .header("x-zernio-event", event)
        .header("x-zernio-event-id", event_id)
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-zernio-signature", signature);
    }
    let response = request.send().await.unwrap();
    // Every post event the gateway accepts here is one Zernio's spec allows
    // (`WebhookPayloadPost` / `WebhookPayloadPostPlatform`): the tests hold the gateway to the
    // real payloads, not to a model of them.
    if response.status() == 200 && contract::contract().events().contains(&event) {
        let payload: Value = serde_json::from_slice(body).unwrap();
        if let Err(errors) = contract::validate_webhook(event, &payload) {
            panic!("the test sent an off-spec {event}: {errors:?}");
        }
    }
    response
}

/// Sends an event signed as Zernio signs it; its JSON answer.
async fn signed_event(
    gw: &TestGateway,
    event_id: &str,
    event: &str,
    post_id: &str,
    status: &str,
) -> Value {
    let body = zernio_event(event_id, event, post_id, status);
    let signature = zernio_signature(ZERNIO_SECRET, &body);
    let response = send_event(gw, event_id, event, &body, Some(&signature)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Subscribes `target` for `key`'s tenant; (id, secret).
async fn subscribe(gw: &TestGateway, key: &str, target: &str, events: &[&str]) -> (String, String) {
    let response = gw
        .post_json(
            "/v1/webhooks/subscriptions",
            key,
            &json!({"target_url": target, "events": events}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/webhooks/subscriptions/{id}"));
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(body["target_url"], target);
    (id, secret)
}

async fn deliveries(gw: &TestGateway, key: &str, subscription: &str) -> Vec<Value> {
    let response = gw
        .get_with_key(
            &format!("/v1/webhooks/deliveries?subscription={subscription}"),
            key,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

async fn metrics(gw: &TestGateway) -> String {
    gw.client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_event_sent_twice_is_delivered_once_signed_by_the_standard() {
    let (gw, _fake) = gateway("").await;
    let mut subscriber = Subscriber::start().await;
    let (subscription, secret) = subscribe(
        &gw,
        ACME_KEY,
        &subscriber.url,
        &["post.published", "post.failed"],
    )
    .await;
    record_post(&gw, "post_1", "acme", "acc_a1").await;

    let first = signed_event(&gw, "evt_1", "post.published", "post_1", "published").await;
    assert_eq!(first, json!({"status": "accepted", "deliveries": 1}));
    let again = signed_event(&gw, "evt_1", "post.published", "post_1", "published").await;
    assert_eq!(again, json!({"status": "duplicate", "deliveries": 0}));

    let delivery = subscriber.next(WAIT).await;
    verify_standard_webhook(&secret, &delivery);
    assert_eq!(delivery.header("content-type"), "application/json");
    let payload = delivery.json();
    assert_eq!(payload["type"], "post.published");
    assert!(payload["timestamp"].as_str().is_some());
    assert_eq!(
        payload["data"],
        json!({
            "id": "post_1",
            "account": "acc_a1",
            "status": "published",
            "tiktok_url": "https://www.tiktok.com/@creator/video/post_1",
            "error": null,
            "metadata": {"campaign": "sunsets"},
        }),
        "the caller's metadata, without the gateway's own tag"
    );

    // The gateway's record follows the event.
    let post = gw
        .state
        .store
        .post("acme", "post_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post.status, "published");
    assert_eq!(
        post.tiktok_url.as_deref(),
        Some("https://www.tiktok.com/@creator/video/post_1")
    );

    // A later event, delivered after it: by then a second copy of the first would have come.
    signed_event(&gw, "evt_2", "post.failed", "post_1", "failed").await;
    let later = subscriber.next(WAIT).await;
    verify_standard_webhook(&secret, &later);
    assert_eq!(later.json()["type"], "post.failed");
    assert_eq!(later.json()["data"]["error"]["code"], "spam_risk");
    assert_ne!(later.header("webhook-id"), delivery.header("webhook-id"));
    assert!(
        subscriber.pending().is_empty(),
        "exactly one delivery per event"
    );

    let webhook_id = delivery.header("webhook-id");
    eventually(
        "both deliveries are recorded as delivered",
        WAIT,
        || async {
            let items = deliveries(&gw, ACME_KEY, &subscription).await;
            items.len() == 2 && items.iter().all(|d| d["status"] == "delivered")
        },
    )
    .await;
    let items = deliveries(&gw, ACME_KEY, &subscription).await;
    let first = items
        .iter()
        .find(|d| d["id"] == webhook_id.as_str())
        .unwrap();
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["response_code"], 200);
    assert_eq!(first["event_type"], "post.published");
    assert_eq!(first["post_id"], "post_1");

    let text = metrics(&gw).await;
    for line in [
        r#"webhooks_received_total{event="post.published",outcome="accepted"} 1"#,
        r#"webhooks_received_total{event="post.published",outcome="duplicate"} 1"#,
        r#"webhook_deliveries_total{outcome="delivered"} 2"#,
    ] {
        assert!(text.contains(line), "metrics lack {line}");
    }
    assert!(text.contains("webhook_outbox_depth"));
    assert!(text.contains("webhook_outbox_oldest_pending_seconds"));
    gw.stop().await;
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_refused_and_nothing_is_enqueued() {
    let (gw, _fake) = gateway("").await;
    let mut subscriber = Subscriber::start().await;
    let (subscription, _) = subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;
    record_post(&gw, "post_1", "acme", "acc_a1").await;
    let body = zernio_event("evt_1", "post.published", "post_1", "published");
    let good = zernio_signature(ZERNIO_SECRET, &body);

    let wrong = zernio_signature("another-secret", &body);
    let mut altered = body.clone();
    let at = altered.iter().position(|b| *b == b'S').unwrap();
    altered[at] = b's';
    let refusals: [(&str, &[u8], Option<&str>); 4] = [
        ("wrong secret", &body, Some(&wrong)),
        ("no signature", &body, None),
        ("body altered after signing", &altered, Some(&good)),
        ("not hex", &body, Some("zz-not-a-signature")),
    ];
    for (case, body, signature) in refusals {
        let response = send_event(&gw, "evt_1", "post.published", body, signature).await;
        let problem = problem(response, 401).await;
        assert_eq!(problem["code"], "invalid_signature", "{case}");
    }
    let stats = gw.state.store.outbox_stats().await.unwrap();
    assert_eq!(stats.pending, 0, "nothing enqueued");
    assert!(deliveries(&gw, ACME_KEY, &subscription).await.is_empty());
    let post = gw
        .state
        .store
        .post("acme", "post_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post.status, "publishing", "the record is untouched");

    // The refused copies left no trace: the genuine event is new, not a duplicate.
    let accepted = send_event(&gw, "evt_1", "post.published", &body, Some(&good)).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        accepted.json::<Value>().await.unwrap()["status"],
        "accepted"
    );
    subscriber.next(WAIT).await;

    // Signed but not JSON: a problem, not a crash.
    let garbage = b"not json".to_vec();
    let response = send_event(
        &gw,
        "evt_x",
        "post.published",
        &garbage,
        Some(&zernio_signature(ZERNIO_SECRET, &garbage)),
    )
    .await;
    assert_eq!(problem(response, 400).await["code"], "invalid_json");

    let text = metrics(&gw).await;
    assert!(
        text.contains(
            r#"webhooks_received_total{event="unverified",outcome="invalid_signature"} 4"#
        )
    );
    gw.stop().await;
}

#[tokio::test]
async fn events_for_posts_the_gateway_did_not_make_are_acknowledged_and_dropped() {
    let (gw, _fake) = gateway("").await;
    let mut subscriber = Subscriber::start().await;
    subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;

    // Not the gateway's: no request tag, an unknown id.
    let body = serde_json::to_vec(&json!({
        "id": "evt_foreign", "event": "post.published",
        "post": {"id": "made_elsewhere", "content": "Not ours", "status": "published",
                 "scheduledFor": Utc::now().to_rfc3339(), "platforms": []},
        "timestamp": Utc::now().to_rfc3339()
    }))
    .unwrap();
    let response = send_event(
        &gw,
        "evt_foreign",
        "post.published",
        &body,
        Some(&zernio_signature(ZERNIO_SECRET, &body)),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "unknown_post"
    );

    // The gateway's own post whose create answer is not recorded yet: Zernio is asked to retry.
    let early = signed_body("evt_early", "post.published", "post_late", "published");
    let response = send_event(&gw, "evt_early", "post.published", &early.0, Some(&early.1)).await;
    assert_eq!(response.headers()["retry-after"], "1");
    let problem = problem(response, 409).await;
    assert_eq!(problem["code"], "post_not_recorded_yet");
    record_post(&gw, "post_late", "acme", "acc_a1").await;
    let response = send_event(&gw, "evt_early", "post.published", &early.0, Some(&early.1)).await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "accepted"
    );
    assert_eq!(
        subscriber.next(WAIT).await.json()["data"]["id"],
        "post_late"
    );

    // Events about no post, and post events tenants do not hear about, are acknowledged.
    let test_event =
        serde_json::to_vec(&json!({"id": "evt_test", "event": "webhook.test"})).unwrap();
    let response = send_event(
        &gw,
        "evt_test",
        "webhook.test",
        &test_event,
        Some(&zernio_signature(ZERNIO_SECRET, &test_event)),
    )
    .await;
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ignored");
    let text = metrics(&gw).await;
    assert!(
        text.contains(
            r#"webhooks_received_total{event="post.published",outcome="unknown_post"} 1"#
        )
    );
    assert!(
        text.contains(r#"webhooks_received_total{event="post.published",outcome="retry_later"} 1"#)
    );
    gw.stop().await;
}

fn signed_body(event_id: &str, event: &str, post_id: &str, status: &str) -> (Vec<u8>, String) {
    let body = zernio_event(event_id, event, post_id, status);
    let signature = zernio_signature(ZERNIO_SECRET, &body);
    (body, signature)
}

#[tokio::test]
async fn without_a_secret_the_receiver_answers_503() {
    let fake = FakeZernio::start().await;
    let toml = format!("[zernio]\nbase_url = \"{}\"\n", fake.base_url);
    let gw = TestGateway::spawn_on(None, &toml, &[("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)]).await;
    let (body, signature) = signed_body("evt_1", "post.published", "post_1", "published");
    let response = send_event(&gw, "evt_1", "post.published", &body, Some(&signature)).await;
    assert_eq!(
        problem(response, 503).await["code"],
        "webhooks_not_configured"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_failing_subscriber_gets_the_event_on_the_third_attempt() {
    let (gw, _fake) = gateway("retry_schedule_secs = [0.05, 0.05, 0.05]").await;
    let mut subscriber = Subscriber::start().await;
    subscriber.script([Answer::status(500), Answer::status(503)]);
    let (subscription, secret) =
        subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;
    record_post(&gw, "post_1", "acme", "acc_a1").await;
    signed_event(&gw, "evt_1", "post.published", "post_1", "published").await;

    let attempts: Vec<_> = [
        subscriber.next(WAIT).await,
        subscriber.next(WAIT).await,
        subscriber.next(WAIT).await,
    ]
    .into();
    for attempt in &attempts {
        verify_standard_webhook(&secret, attempt);
        assert_eq!(
            attempt.header("webhook-id"),
            attempts[0].header("webhook-id"),
            "the same id on every attempt"
        );
        assert_eq!(
            attempt.body, attempts[0].body,
            "the same body on every attempt"
        );
    }
    eventually("the third attempt is recorded", WAIT, || async {
        let items = deliveries(&gw, ACME_KEY, &subscription).await;
        items.len() == 1 && items[0]["status"] == "delivered"
    })
    .await;
    let delivery = &deliveries(&gw, ACME_KEY, &subscription).await[0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["response_code"], 200);
    assert!(subscriber.pending().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn after_the_last_attempt_a_delivery_is_kept_as_failed() {
    let (gw, _fake) = gateway("retry_schedule_secs = [0.05]").await;
    let mut subscriber = Subscriber::start().await;
    subscriber.script([Answer::status(500), Answer::status(502)]);
    let (subscription, _) = subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;
    record_post(&gw, "post_1", "acme", "acc_a1").await;
    signed_event(&gw, "evt_1", "post.published", "post_1", "published").await;
    subscriber.next(WAIT).await;
    subscriber.next(WAIT).await;
    eventually("the delivery is given up", WAIT, || async {
        deliveries(&gw, ACME_KEY, &subscription).await[0]["status"] == "failed"
    })
    .await;
    let delivery = &deliveries(&gw, ACME_KEY, &subscription).await[0];
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["response_code"], 502);
    assert_eq!(delivery["last_error"], "the target answered 502");
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert!(
        metrics(&gw)
            .await
            .contains(r#"webhook_deliveries_total{outcome="failed"} 1"#)
    );
    gw.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured_and_410_unsubscribes() {
    let (gw, _fake) = gateway("retry_schedule_secs = [0.05, 0.05]").await;
    let mut slow = Subscriber::start().await;
    slow.script([Answer {
        status: 429,
        retry_after: Some("1"),
    }]);
    let mut gone = Subscriber::start().await;
    gone.script([Answer::status(410)]);
    let (slow_id, _) = subscribe(&gw, ACME_KEY, &slow.url, &["post.published"]).await;
    let (gone_id, _) = subscribe(&gw, ACME_KEY, &gone.url, &["post.published"]).await;
    record_post(&gw, "post_1", "acme", "acc_a1").await;
    let receipt = signed_event(&gw, "evt_1", "post.published", "post_1", "published").await;
    assert_eq!(receipt["deliveries"], 2);

    gone.next(WAIT).await;
    eventually("the gone target is unsubscribed", WAIT, || async {
        let list: Value = gw
            .get_with_key("/v1/webhooks/subscriptions", ACME_KEY)
            .await
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        ids == [slow_id.as_str()]
    })
    .await;
    let response = gw
        .get_with_key(
            &format!("/v1/webhooks/deliveries?subscription={gone_id}"),
            ACME_KEY,
        )
        .await;
    assert_eq!(response.status(), 404);

    let first = slow.next(WAIT).await;
    let second = slow.next(WAIT).await;
    let waited = second.at - first.at;
    assert!(
        waited >= Duration::from_millis(900),
        "the retry waited for Retry-After: 1, not the 50 ms schedule ({waited:?})"
    );
    assert!(
        metrics(&gw)
            .await
            .contains(r#"webhook_deliveries_total{outcome="gone"} 1"#)
    );
    gw.stop().await;
}

#[tokio::test]
async fn subscriptions_and_deliveries_are_the_tenants_own() {
    let (gw, _fake) = gateway("").await;
    let mut subscriber = Subscriber::start().await;
    let (acme_sub, _) = subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;
    let (globex_sub, globex_secret) =
        subscribe(&gw, GLOBEX_KEY, &subscriber.url, &["post.published"]).await;

    let list: Value = gw
        .get_with_key("/v1/webhooks/subscriptions", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], acme_sub.as_str());
    assert_eq!(items[0]["events"], json!(["post.published"]));
    assert!(
        items[0].get("secret").is_none(),
        "the secret is shown once only"
    );
    let one = gw
        .get_with_key(&format!("/v1/webhooks/subscriptions/{acme_sub}"), ACME_KEY)
        .await;
    assert_eq!(one.status(), 200);
    assert!(one.json::<Value>().await.unwrap().get("secret").is_none());

    // Another tenant's subscription is a 404, for every verb.
    for path in [
        format!("/v1/webhooks/subscriptions/{globex_sub}"),
        format!("/v1/webhooks/deliveries?subscription={globex_sub}"),
    ] {
        let response = gw.get_with_key(&path, ACME_KEY).await;
        assert_eq!(problem(response, 404).await["code"], "not_found", "{path}");
    }
    let response = gw
        .client
        .delete(gw.url(&format!("/v1/webhooks/subscriptions/{globex_sub}")))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response, 404).await["code"], "not_found");

    // An event about globex's post goes to globex's subscription only.
    record_post(&gw, "post_b", "globex", "acc_b1").await;
    signed_event(&gw, "evt_b", "post.published", "post_b", "published").await;
    let delivery = subscriber.next(WAIT).await;
    verify_standard_webhook(&globex_secret, &delivery);
    assert_eq!(delivery.json()["data"]["id"], "post_b");
    assert!(deliveries(&gw, ACME_KEY, &acme_sub).await.is_empty());

    // The scope is needed, and a credential at all.
    let response = gw
        .get_with_key("/v1/webhooks/subscriptions", ACME_READ_KEY)
        .await;
    assert_eq!(problem(response, 403).await["code"], "insufficient_scope");
    let response = gw
        .client
        .get(gw.url("/v1/webhooks/subscriptions"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response, 401).await["code"], "missing_credentials");
    let response = gw.get_with_key("/v1/webhooks/deliveries", ACME_KEY).await;
    assert_eq!(
        problem(response, 400).await["code"],
        "subscription_required"
    );

    // Unsubscribing: 204, then gone.
    let response = gw
        .client
        .delete(gw.url(&format!("/v1/webhooks/subscriptions/{acme_sub}")))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = gw
        .get_with_key(&format!("/v1/webhooks/subscriptions/{acme_sub}"), ACME_KEY)
        .await;
    assert_eq!(response.status(), 404);
    gw.stop().await;
}

#[tokio::test]
async fn targets_must_be_public_https_unless_the_operator_allows_the_host() {
    let (gw, _fake) = gateway("").await;
    let refused = [
        ("http://example.com/hook", "target_not_https"),
        ("https://10.0.0.1/hook", "target_not_allowed"),
        ("https://192.168.1.20/hook", "target_not_allowed"),
        (
            "https://169.254.169.254/latest/meta-data",
            "target_not_allowed",
        ),
        ("https://[::1]:8443/hook", "target_not_allowed"),
        // IPv6 spellings that embed an internal IPv4 address: compatible, 6to4, Teredo, NAT64.
        ("https://[::127.0.0.1]/hook", "target_not_allowed"),
        ("https://[2002:7f00:1::1]/hook", "target_not_allowed"),
        ("https://[2001:0:a00:1::1]/hook", "target_not_allowed"),
        ("https://[64:ff9b::a9fe:a9fe]/hook", "target_not_allowed"),
        ("https://127.0.0.2/hook", "target_not_allowed"),
        ("https://localhost:8443/hook", "target_not_allowed"),
        ("ftp://example.com/hook", "invalid_target_url"),
        ("/relative/hook", "invalid_target_url"),
        ("https://user:pass@example.com/hook", "invalid_target_url"),
    ];
    for (target, code) in refused {
        let response = gw
            .post_json(
                "/v1/webhooks/subscriptions",
                ACME_KEY,
                &json!({"target_url": target, "events": ["post.published"]}),
            )
            .await;
        assert_eq!(problem(response, 422).await["code"], code, "{target}");
    }
    for events in [
        json!([]),
        json!(["post.removed"]),
        json!(["post.published", "*"]),
    ] {
        let response = gw
            .post_json(
                "/v1/webhooks/subscriptions",
                ACME_KEY,
                &json!({"target_url": "http://127.0.0.1:9/hook", "events": events}),
            )
            .await;
        assert_eq!(
            problem(response, 422).await["code"],
            "invalid_events",
            "{events}"
        );
    }
    // The host the operator allows may be plain http on loopback.
    subscribe(
        &gw,
        ACME_KEY,
        "http://127.0.0.1:9/hook",
        &["post.failed", "post.cancelled"],
    )
    .await;
    let list: Value = gw
        .get_with_key("/v1/webhooks/subscriptions", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "refused targets left nothing"
    );
    gw.stop().await;
}

/// The whole loop with nothing configured but a tenant: the sandbox upstream publishes the post
/// and sends its signed webhook to the gateway, which delivers `post.published`.
#[tokio::test]
async fn the_sandbox_loop_delivers_post_published() {
    const DEMO_KEY: &str = "tgw_demo-webhooks-loop-key-00000000000000000000";
    let extra = format!(
        r#"
[webhooks]
allowed_hosts = ["127.0.0.1"]
poll_interval_ms = 50

[[tenants]]
id = "demo"
accounts = ["sandbox_public", "sandbox_private"]

[[tenants.api_keys]]
id = "demo"
sha256 = "{}"
scopes = ["posts:write", "posts:read", "webhooks:manage"]
"#,
        sha256_hex(DEMO_KEY)
    );
    // No ZERNIO_API_KEY and no ZERNIO_WEBHOOK_SECRET: the sandbox, signing with a secret of
    // this run that the gateway shares.
    let gw = TestGateway::spawn(&extra).await;
    let mut subscriber = Subscriber::start().await;
    let (subscription, secret) = subscribe(
        &gw,
        DEMO_KEY,
        &subscriber.url,
        &["post.published", "post.url_resolved"],
    )
    .await;
    let created = gw
        .post_json(
            "/v1/tiktok/posts",
            DEMO_KEY,
            &json!({
                "account": "sandbox_public",
                "caption": "The loop, closed #sandbox",
                "video": {"url": "https://cdn.example.com/loop.mp4"},
                "privacy": "public",
                "allow_comment": true, "allow_duet": true, "allow_stitch": true,
                "consent": {"content_preview_confirmed": true, "express_consent_given": true},
                "metadata": {"order": 42}
            }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let post: Value = created.json().await.unwrap();

    // The sandbox sends post.published, post.platform.published and post.tiktok.url_resolved,
    // as Zernio does: the tenant hears of the publication once, and of the URL.
    let mut payloads: Vec<Value> = Vec::new();
    for _ in 0..2 {
        let delivery = subscriber.next(Duration::from_secs(20)).await;
        verify_standard_webhook(&secret, &delivery);
        payloads.push(delivery.json());
    }
    payloads.sort_by_key(|p| p["type"].as_str().unwrap_or_default().to_owned());
    assert_eq!(payloads[1]["type"], "post.url_resolved");
    assert_eq!(
        payloads[1]["data"]["tiktok_url"],
        payloads[0]["data"]["tiktok_url"]
    );
    let payload = &payloads[0];
    assert_eq!(payload["type"], "post.published");
    assert_eq!(payload["data"]["id"], post["id"]);
    assert_eq!(payload["data"]["status"], "published");
    assert_eq!(payload["data"]["metadata"], json!({"order": 42}));
    assert!(
        payload["data"]["tiktok_url"]
            .as_str()
            .unwrap()
            .starts_with("https://www.tiktok.com/@sandbox_public/video/")
    );
    eventually("the delivery is recorded", WAIT, || async {
        let items = deliveries(&gw, DEMO_KEY, &subscription).await;
        items.len() == 2 && items.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn register_webhook_sends_the_secret_and_the_post_events_and_prints_no_secret() {
    let fake = FakeZernio::start().await;
    fake.script(
        "webhooks",
        Reply::json(
            200,
            json!({"success": true, "webhook": {"_id": "wh_1", "name": "tiktok-gateway", "secret": ZERNIO_SECRET, "isActive": true}}),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, tenants_toml()).unwrap();
    let run = |with_secret: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tiktok-gateway"));
        for (name, _) in std::env::vars() {
            if name.starts_with("GATEWAY_") || name.starts_with("ZERNIO_") {
                command.env_remove(name);
            }
        }
        command
            .args([
                "zernio",
                "register-webhook",
                "--url",
                "https://gateway.example.com/v1/upstream/zernio/webhooks",
            ])
            .env("GATEWAY_CONFIG", &config)
            .env("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)
            .env("ZERNIO_BASE_URL", &fake.base_url);
        if with_secret {
            command.env("ZERNIO_WEBHOOK_SECRET", ZERNIO_SECRET);
        }
        command
    };
    let mut without = run(false);
    let output = tokio::task::spawn_blocking(move || without.output().unwrap())
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ZERNIO_WEBHOOK_SECRET"));
    assert!(fake.calls("webhooks").is_empty());

    let mut with = run(true);
    let output = tokio::task::spawn_blocking(move || with.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let calls = fake.calls("webhooks");
    assert_eq!(calls.len(), 1);
    let body = &calls[0].body;
    assert_eq!(
        body["url"],
        "https://gateway.example.com/v1/upstream/zernio/webhooks"
    );
    assert_eq!(body["secret"], ZERNIO_SECRET);
    assert_eq!(body["isActive"], true);
    let events: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for event in [
        "post.published",
        "post.failed",
        "post.scheduled",
        "post.cancelled",
        "post.partial",
    ] {
        assert!(events.contains(&event), "{event} in {events:?}");
    }
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["webhook"]["_id"], "wh_1");
    assert!(!stdout.contains(ZERNIO_SECRET) && !stderr.contains(ZERNIO_SECRET));
}

/// A per-platform event as Zernio's spec has it (`WebhookPayloadPostPlatform`): the post
/// envelope, and the `platform` that transitioned with its own status, URL or error.
fn platform_event(event_id: &str, event: &str, post_id: &str, platform: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id,
        "event": event,
        "post": {
            "id": post_id, "content": "Sunset", "status": "published",
            "scheduledFor": Utc::now().to_rfc3339(),
            // TikTok gives its numeric id late: the terminal event's URL may be empty.
            "platforms": [{"platform": "tiktok", "status": "published", "accountId": "acc_a1",
                           "publishedUrl": ""}]
        },
        "platform": platform,
        "account": {"accountId": "acc_a1", "platform": "tiktok", "username": "creator"},
        "timestamp": Utc::now().to_rfc3339()
    }))
    .unwrap()
}

async fn send_signed(gw: &TestGateway, header_id: &str, event: &str, body: &[u8]) -> Value {
    let signature = zernio_signature(ZERNIO_SECRET, body);
    let response = send_event(gw, header_id, event, body, Some(&signature)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_post_event_of_the_spec_updates_the_record_and_reaches_the_tenant() {
    let (gw, _fake) = gateway("").await;
    let subscriber = Subscriber::start().await;
    let (subscription, _) = subscribe(
        &gw,
        ACME_KEY,
        &subscriber.url,
        &[
            "post.published",
            "post.failed",
            "post.deleted",
            "post.url_resolved",
        ],
    )
    .await;
    record_post(&gw, "post_u", "acme", "acc_a1").await;
    let url = "https://www.tiktok.com/@creator/video/7300000000000000009";

    // post.tiktok.url_resolved: the URL is in platform.publishedUrl only.
    let body = platform_event(
        "evt_url",
        "post.tiktok.url_resolved",
        "post_u",
        json!({"name": "tiktok", "status": "published", "platformPostId": "7300000000000000009", "publishedUrl": url}),
    );
    let receipt = send_signed(&gw, "evt_url", "post.tiktok.url_resolved", &body).await;
    assert_eq!(receipt, json!({"status": "accepted", "deliveries": 1}));
    let record = gw.state.store.post_by_id("post_u").await.unwrap().unwrap();
    assert_eq!(record.tiktok_url.as_deref(), Some(url));

    // post.platform.failed: its error comes from the platform block.
    let body = platform_event(
        "evt_failed",
        "post.platform.failed",
        "post_u",
        json!({"name": "tiktok", "status": "failed", "error": "Video could not be downloaded (video_pull_failed)", "errorCategory": "user_content"}),
    );
    // The per-platform twin of post.failed updates the record and tells the tenant; the
    // post-level event of the same failure (here post.partial) then tells nothing new.
    let receipt = send_signed(&gw, "evt_failed", "post.platform.failed", &body).await;
    assert_eq!(receipt, json!({"status": "accepted", "deliveries": 1}));
    let record = gw.state.store.post_by_id("post_u").await.unwrap().unwrap();
    assert_eq!(record.status, "failed");
    assert_eq!(
        record.error.as_deref(),
        Some("Video could not be downloaded (video_pull_failed)")
    );

    // post.partial is a failure of a TikTok-only post.
    let partial = zernio_event("evt_partial", "post.partial", "post_u", "partial");
    let receipt = send_signed(&gw, "evt_partial", "post.partial", &partial).await;
    assert_eq!(receipt, json!({"status": "accepted", "deliveries": 0}));

    // post.platform.deleted: deleted on TikTok.
    let body = platform_event(
        "evt_deleted",
        "post.platform.deleted",
        "post_u",
        json!({"name": "tiktok", "status": "deleted", "publishedUrl": url, "deletedAt": Utc::now().to_rfc3339()}),
    );
    send_signed(&gw, "evt_deleted", "post.platform.deleted", &body).await;
    let record = gw.state.store.post_by_id("post_u").await.unwrap().unwrap();
    assert_eq!(record.status, "deleted");

    let mut kinds: Vec<String> = deliveries(&gw, ACME_KEY, &subscription)
        .await
        .iter()
        .map(|d| d["event_type"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["post.deleted", "post.failed", "post.url_resolved"]);
}

#[tokio::test]
async fn a_signed_body_replayed_under_a_new_header_id_is_one_event() {
    let (gw, _fake) = gateway("").await;
    let subscriber = Subscriber::start().await;
    let (subscription, _) = subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;
    record_post(&gw, "post_r", "acme", "acc_a1").await;
    let body = zernio_event("evt_signed", "post.published", "post_r", "published");
    let first = send_signed(&gw, "header-1", "post.published", &body).await;
    assert_eq!(first["status"], "accepted");
    for i in 2..=5 {
        let again = send_signed(&gw, &format!("header-{i}"), "post.published", &body).await;
        assert_eq!(again["status"], "duplicate", "replay {i}");
    }
    assert_eq!(deliveries(&gw, ACME_KEY, &subscription).await.len(), 1);
}

// -- Issue 13: replays, the event window, fair delivery, secrets at rest, the subscription cap --

/// A post event dated `at`, as Zernio's spec has it.
fn dated_event(
    event_id: &str,
    event: &str,
    post_id: &str,
    status: &str,
    at: chrono::DateTime<Utc>,
) -> Vec<u8> {
    common::zernio_events::post_event(event_id, event, post_id, status, at)
}

#[tokio::test]
async fn one_signed_body_under_fifty_header_ids_reaches_the_tenant_once() {
    let (gw, _fake) = gateway("").await;
    let mut subscriber = Subscriber::start().await;
    let (subscription, secret) =
        subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;
    record_post(&gw, "post_50", "acme", "acc_a1").await;
    let body = zernio_event("evt_fifty", "post.published", "post_50", "published");
    let mut statuses = Vec::new();
    for i in 0..50 {
        let receipt = send_signed(&gw, &format!("fresh-header-{i}"), "post.published", &body).await;
        statuses.push(receipt["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses[0], "accepted");
    assert!(
        statuses[1..].iter().all(|s| s == "duplicate"),
        "{statuses:?}"
    );
    let delivered = subscriber.next(WAIT).await;
    verify_standard_webhook(&secret, &delivered);
    eventually("the one delivery is recorded", WAIT, || async {
        let items = deliveries(&gw, ACME_KEY, &subscription).await;
        items.len() == 1 && items[0]["status"] == "delivered"
    })
    .await;
    assert!(
        subscriber.pending().is_empty(),
        "delivered once, not 50 times"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_old_failure_replayed_after_the_publication_changes_nothing() {
    let (gw, _fake) = gateway("").await;
    let subscriber = Subscriber::start().await;
    let (subscription, _) = subscribe(
        &gw,
        ACME_KEY,
        &subscriber.url,
        &["post.published", "post.failed"],
    )
    .await;
    record_post(&gw, "post_late", "acme", "acc_a1").await;
    let now = Utc::now();
    let published = dated_event("evt_pub", "post.published", "post_late", "published", now);
    let failed = dated_event(
        "evt_old_fail",
        "post.failed",
        "post_late",
        "failed",
        now - chrono::TimeDelta::minutes(5),
    );
    let first = send_signed(&gw, "evt_pub", "post.published", &published).await;
    assert_eq!(first, json!({"status": "accepted", "deliveries": 1}));
    let late = send_signed(&gw, "evt_old_fail", "post.failed", &failed).await;
    assert_eq!(late, json!({"status": "accepted", "deliveries": 0}));
    let record = gw
        .state
        .store
        .post_by_id("post_late")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, "published");
    assert_eq!(record.error, None);
    let kinds: Vec<Value> = deliveries(&gw, ACME_KEY, &subscription)
        .await
        .iter()
        .map(|d| d["event_type"].clone())
        .collect();
    assert_eq!(kinds, [json!("post.published")]);
    gw.stop().await;
}

#[tokio::test]
async fn events_far_outside_the_window_are_acknowledged_dropped_and_counted() {
    let (gw, _fake) = gateway("event_window_secs = 86400").await;
    let subscriber = Subscriber::start().await;
    let (subscription, _) = subscribe(
        &gw,
        ACME_KEY,
        &subscriber.url,
        &["post.published", "post.failed"],
    )
    .await;
    record_post(&gw, "post_w", "acme", "acc_a1").await;
    let now = Utc::now();
    let day = chrono::TimeDelta::days(1);
    let old = dated_event(
        "evt_w_old",
        "post.published",
        "post_w",
        "published",
        now - day * 2,
    );
    let future = dated_event(
        "evt_w_future",
        "post.failed",
        "post_w",
        "failed",
        now + day * 2,
    );
    for (id, event, body) in [
        ("evt_w_old", "post.published", &old),
        ("evt_w_future", "post.failed", &future),
    ] {
        let receipt = send_signed(&gw, id, event, body).await;
        assert_eq!(receipt, json!({"status": "stale", "deliveries": 0}), "{id}");
    }
    let record = gw.state.store.post_by_id("post_w").await.unwrap().unwrap();
    assert_eq!(record.status, "publishing", "a stale event changes nothing");
    assert!(deliveries(&gw, ACME_KEY, &subscription).await.is_empty());
    // Within the window, the same post's event is handled as ever.
    let fresh = dated_event(
        "evt_w_fresh",
        "post.published",
        "post_w",
        "published",
        Utc::now(),
    );
    let receipt = send_signed(&gw, "evt_w_fresh", "post.published", &fresh).await;
    assert_eq!(receipt, json!({"status": "accepted", "deliveries": 1}));
    let text = metrics(&gw).await;
    for line in [
        r#"webhooks_received_total{event="post.published",outcome="stale"} 1"#,
        r#"webhooks_received_total{event="post.failed",outcome="stale"} 1"#,
        r#"webhooks_received_total{event="post.published",outcome="accepted"} 1"#,
    ] {
        assert!(text.contains(line), "metrics lack {line}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_tenant_with_slow_targets_does_not_hold_back_another_tenants_delivery() {
    // A's target never answers within the attempt's timeout: each of A's attempts takes it all.
    let timeout = Duration::from_secs(4);
    let (gw, _fake) = gateway(&format!(
        "request_timeout_secs = {}\nlease_secs = 30",
        timeout.as_secs()
    ))
    .await;
    let mut slow = Subscriber::start().await;
    slow.hold();
    let mut fast = Subscriber::start().await;
    for _ in 0..25 {
        subscribe(&gw, ACME_KEY, &slow.url, &["post.published"]).await;
    }
    let (_, fast_secret) = subscribe(&gw, GLOBEX_KEY, &fast.url, &["post.published"]).await;
    record_post(&gw, "post_slow", "acme", "acc_a1").await;
    record_post(&gw, "post_fast", "globex", "acc_b1").await;

    let a = zernio_event("evt_slow", "post.published", "post_slow", "published");
    assert_eq!(
        send_signed(&gw, "evt_slow", "post.published", &a).await["deliveries"],
        25
    );
    // A's attempts are under way before B's event comes.
    let first_slow = slow.next(WAIT).await;
    let sent = std::time::Instant::now();
    let b = zernio_event("evt_fast", "post.published", "post_fast", "published");
    assert_eq!(
        send_signed(&gw, "evt_fast", "post.published", &b).await["deliveries"],
        1
    );
    let delivered = fast.next(WAIT).await;
    verify_standard_webhook(&fast_secret, &delivered);
    let waited = delivered.at.duration_since(sent);
    // Before, B's delivery queued behind A's 16 held attempts for a whole timeout.
    assert!(
        waited < timeout / 4,
        "B waited {waited:?} behind A's backlog (A's attempts take {timeout:?})"
    );
    let slow_in_flight = 1 + slow.pending().len();
    assert!(
        slow_in_flight <= 4,
        "A holds at most its share (16 / 4) of the slots: {slow_in_flight} at once"
    );
    let _ = first_slow;
    slow.release();
    gw.stop().await;
}

#[tokio::test]
async fn concurrent_creates_never_pass_the_subscription_limit() {
    let (gw, _fake) = gateway("max_subscriptions_per_tenant = 5").await;
    let subscriber = Subscriber::start().await;
    let creates: Vec<_> = (0..20)
        .map(|_| {
            let client = gw.client.clone();
            let url = gw.url("/v1/webhooks/subscriptions");
            let target = subscriber.url.clone();
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .bearer_auth(ACME_KEY)
                    .json(&json!({"target_url": target, "events": ["post.published"]}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for create in creates {
        let (status, body) = create.await.unwrap();
        match status {
            201 => created += 1,
            422 => {
                assert_eq!(body["code"], "too_many_subscriptions", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, refused), (5, 15));
    let listed = gw
        .get_with_key("/v1/webhooks/subscriptions", ACME_KEY)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 5);
    gw.stop().await;
}

/// Every string in the store, whatever the backend: the SQLite file with its WAL, or every
/// key and value of the gateway's Redis database.
async fn everything_stored(gw: &TestGateway) -> Vec<u8> {
    use tiktok_gateway::config::StoreUrl;
    match &gw.state.config.store {
        StoreUrl::Sqlite(path) => {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                bytes.extend(std::fs::read(&file).unwrap_or_default());
            }
            bytes
        }
        StoreUrl::Redis(url) => {
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("*")
                .query_async(&mut conn)
                .await
                .unwrap();
            let mut bytes = Vec::new();
            for key in keys {
                let kind: String = redis::cmd("TYPE")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let values: Vec<Vec<u8>> = match kind.as_str() {
                    "string" => vec![
                        redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut conn)
                            .await
                            .unwrap(),
                    ],
                    "hash" => redis::cmd("HGETALL")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                        .unwrap(),
                    "zset" => redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn)
                        .await
                        .unwrap(),
                    "set" => redis::cmd("SMEMBERS")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                        .unwrap(),
                    "list" => redis::cmd("LRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn)
                        .await
                        .unwrap(),
                    "stream" => {
                        let dump: redis::Value = redis::cmd("XRANGE")
                            .arg(&key)
                            .arg("-")
                            .arg("+")
                            .query_async(&mut conn)
                            .await
                            .unwrap();
                        vec![format!("{dump:?}").into_bytes()]
                    }
                    _ => Vec::new(),
                };
                bytes.extend(key.into_bytes());
                for value in values {
                    bytes.extend(value);
                }
            }
            bytes
        }
    }
}

/// Whether `haystack` holds `secret` as it is, or base64-encoded at any alignment (the claims
/// keep answers in base64).
fn holds_secret(haystack: &[u8], secret: &str) -> bool {
    use base64::Engine;
    let find = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let key = secret.trim_start_matches("whsec_");
    if find(secret.as_bytes()) || find(key.as_bytes()) {
        return true;
    }
    (0..3).any(|pad| {
        let shifted = format!("{}{secret}", "x".repeat(pad));
        let encoded = base64::engine::general_purpose::STANDARD.encode(shifted);
        // The first and last groups depend on the bytes around the secret.
        let middle = &encoded[4..encoded.len() - 4];
        find(middle.as_bytes())
    })
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_a_replay_does_not_show_them() {
    let (gw, _fake) = gateway("").await;
    let mut subscriber = Subscriber::start().await;
    let create = |key: &'static str| {
        gw.client
            .post(gw.url("/v1/webhooks/subscriptions"))
            .bearer_auth(ACME_KEY)
            .header("idempotency-key", key)
            .json(&json!({"target_url": subscriber.url, "events": ["post.published"]}))
            .send()
    };
    let first = create("subscribe-once").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let secret = first["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let replay = create("subscribe-once").await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replayed: Value = replay.json().await.unwrap();
    let mut without = first.clone();
    without.as_object_mut().unwrap().remove("secret");
    assert_eq!(replayed, without, "the subscription, without its secret");

    // Deliveries are still signed with it.
    record_post(&gw, "post_sealed", "acme", "acc_a1").await;
    signed_event(
        &gw,
        "evt_sealed",
        "post.published",
        "post_sealed",
        "published",
    )
    .await;
    verify_standard_webhook(&secret, &subscriber.next(WAIT).await);

    let stored = gw
        .state
        .store
        .subscription("acme", first["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.secret.starts_with("enc:v1:"), "stored sealed");
    assert!(
        !holds_secret(&everything_stored(&gw).await, &secret),
        "the secret is nowhere in the store, plain or base64"
    );
    assert!(holds_secret(format!("..{secret}..").as_bytes(), &secret));
    let answer = json!({"secret": secret}).to_string();
    use base64::Engine;
    for pad in 0..3 {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}{answer}", "y".repeat(pad)));
        assert!(
            holds_secret(encoded.as_bytes(), &secret),
            "the search finds base64 at {pad}"
        );
    }
    gw.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_file_and_its_directory_are_the_gateways_own() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}/gateway.db", data.display());
    let gw = TestGateway::spawn_on(
        Some(&url),
        "[webhooks]\nallowed_hosts = [\"127.0.0.1\"]\n",
        &[],
    )
    .await;
    // A write, so that the WAL and its index exist.
    subscribe(
        &gw,
        ACME_KEY,
        "http://127.0.0.1:9/hooks",
        &["post.published"],
    )
    .await;
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for file in ["gateway.db", "gateway.db-wal", "gateway.db-shm"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    gw.stop().await;
}

/// A gateway on `store` in front of `fake` with the secrets keys given (`""` unsets one).
async fn keyed(fake: &FakeZernio, store: &str, key: &str, previous: &str) -> TestGateway {
    TestGateway::spawn_on(
        Some(store),
        &format!(
            "[zernio]\nbase_url = \"{}\"\n\n\
             [webhooks]\nallowed_hosts = [\"127.0.0.1\"]\npoll_interval_ms = 50\n",
            fake.base_url
        ),
        &[
            ("ZERNIO_API_KEY", FAKE_ZERNIO_KEY),
            ("ZERNIO_WEBHOOK_SECRET", ZERNIO_SECRET),
            ("GATEWAY_SECRETS_KEY", key),
            ("GATEWAY_SECRETS_KEY_PREVIOUS", previous),
        ],
    )
    .await
}

#[tokio::test]
async fn after_a_rotation_old_secrets_open_with_the_previous_key_and_are_sealed_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = if common::test_store() == "redis" {
        common::redis_url(12).await
    } else {
        format!("sqlite://{}/gateway.db", dir.path().display())
    };
    let old_key = "1111111111111111111111111111111111111111111111111111111111111111";
    let new_key = "2222222222222222222222222222222222222222222222222222222222222222";
    let fake = FakeZernio::start().await;
    let mut subscriber = Subscriber::start().await;

    let gw = keyed(&fake, &store, old_key, "").await;
    let (id, secret) = subscribe(&gw, ACME_KEY, &subscriber.url, &["post.published"]).await;
    let old_id = gw.state.secrets.key_id().to_owned();
    let sealed = gw
        .state
        .store
        .subscription("acme", &id)
        .await
        .unwrap()
        .unwrap()
        .secret;
    assert!(sealed.starts_with(&format!("enc:v1:{old_id}:")), "{sealed}");
    gw.stop().await;

    // A key the secret was not sealed with opens nothing: the attempt fails and is retried.
    let gw = keyed(&fake, &store, new_key, "").await;
    record_post(&gw, "post_rot0", "acme", "acc_a1").await;
    signed_event(&gw, "evt_rot0", "post.published", "post_rot0", "published").await;
    eventually("the attempt failed for the unknown key", WAIT, || async {
        let items = deliveries(&gw, ACME_KEY, &id).await;
        items.first().is_some_and(|d| {
            d["attempts"] == 1
                && d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("cannot be opened"))
        })
    })
    .await;
    assert!(subscriber.pending().is_empty(), "nothing was sent unsigned");
    gw.stop().await;

    // The rotation: the new key, and the old one as previous. Start-up seals again.
    let gw = keyed(&fake, &store, new_key, old_key).await;
    let new_id = gw.state.secrets.key_id().to_owned();
    assert_ne!(new_id, old_id);
    let resealed = gw
        .state
        .store
        .subscription("acme", &id)
        .await
        .unwrap()
        .unwrap()
        .secret;
    assert!(
        resealed.starts_with(&format!("enc:v1:{new_id}:")),
        "{resealed}"
    );
    gw.stop().await;

    // The previous key can go: the secret opens with the new one alone.
    let gw = keyed(&fake, &store, new_key, "").await;
    record_post(&gw, "post_rot1", "acme", "acc_a1").await;
    signed_event(&gw, "evt_rot1", "post.published", "post_rot1", "published").await;
    // The delivery that failed for the unknown key may come due first: both verify.
    loop {
        let delivered = subscriber.next(WAIT).await;
        verify_standard_webhook(&secret, &delivered);
        if delivered.json()["data"]["id"] == "post_rot1" {
            break;
        }
    }
    gw.stop().await;
}

#[tokio::test]
async fn without_a_configured_key_one_is_kept_private_beside_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/state/gateway.db", dir.path().display());
    let fake = FakeZernio::start().await;
    let gw = keyed(&fake, &store, "", "").await;
    let first_id = gw.state.secrets.key_id().to_owned();
    let key_file = dir.path().join("state/secrets-key");
    let kept = std::fs::read_to_string(&key_file).unwrap();
    assert!(tiktok_gateway::secrets::parse_key(&kept).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    gw.stop().await;
    // The next start uses the same key.
    let gw = keyed(&fake, &store, "", "").await;
    assert_eq!(gw.state.secrets.key_id(), first_id);
    gw.stop().await;
}

#[tokio::test]
async fn with_redis_and_a_zernio_key_start_up_needs_a_good_secrets_key() {
    use std::collections::HashMap;
    use tiktok_gateway::config::{Config, Environment, Secret};
    let store = common::redis_url(13).await;
    let toml = format!("store = \"{store}\"\n{}", tenants_toml());
    let refusal = |env: Environment| {
        let toml = toml.clone();
        async move {
            let mut config = Config::from_toml(&toml, &env).unwrap();
            config.zernio_api_key = Some(Secret::new(FAKE_ZERNIO_KEY));
            match tiktok_gateway::Gateway::build(config, &env).await {
                Ok(_) => panic!("start-up must be refused"),
                Err(e) => format!("{e:#}"),
            }
        }
    };
    let missing = refusal(HashMap::new()).await;
    assert!(
        missing.contains("GATEWAY_SECRETS_KEY is not set") && missing.contains("secrets new-key"),
        "{missing}"
    );
    let bad = "not-a-key-but-a-secret-looking-value";
    let malformed = refusal(HashMap::from([(
        "GATEWAY_SECRETS_KEY".to_owned(),
        bad.to_owned(),
    )]))
    .await;
    assert!(
        malformed.contains("GATEWAY_SECRETS_KEY: must be 32 bytes"),
        "{malformed}"
    );
    assert!(
        !malformed.contains(bad),
        "the value is not shown: {malformed}"
    );
}
