//! A property-test fuzz of Zernio's webhook receiver (`POST /v1/upstream/zernio/webhooks`) over
//! the real gateway: signed bodies of every shape — the documented payloads with fields
//! replaced by arbitrary values, arbitrary JSON, deep nesting, huge strings, junk bytes — and a
//! few with a wrong signature. Whatever comes, the answer is never a 5xx, the gateway never
//! panics, and every answer is one the spec documents: a 200 receipt with a documented
//! `status`, or a problem+json 400, 401, 409 or (over the body limit) 413.
//!
//! 2,000 cases by default (about 3 s); `PROPTEST_CASES=400000 cargo test --test webhook_props --
//! --nocapture` is the documented 10-minute run (50,000 cases took 62 s on the debug build, SQLite,
//! 2 shared cores). It prints the cases run, the time and the answers seen.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use common::zernio_events::{ZERNIO_SECRET, post_event, signature};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use tiktok_gateway::store::PostRecord;

const DEFAULT_CASES: u32 = 2_000;
const BODY_LIMIT: usize = 256 * 1024;
const RECORDED: [&str; 3] = ["fz_post_0", "fz_post_1", "fz_post_2"];
const EVENTS: &[&str] = &[
    "post.published",
    "post.failed",
    "post.scheduled",
    "post.cancelled",
    "post.partial",
    "post.platform.published",
    "post.platform.failed",
    "post.platform.deleted",
    "post.tiktok.url_resolved",
    "account.connected",
    "",
];
/// Members of Zernio's payloads, so that arbitrary objects often hit real fields.
const KEYS: &[&str] = &[
    "id",
    "event",
    "timestamp",
    "post",
    "platform",
    "platforms",
    "status",
    "metadata",
    "gateway_request_id",
    "publishedUrl",
    "platformPostId",
    "error",
    "name",
    "scheduledFor",
    "accountId",
    "account",
    "content",
];
const RECEIPTS: [&str; 6] = [
    "accepted",
    "duplicate",
    "unknown_post",
    "ignored",
    "stale",
    "retry_later",
];

/// A signed body, and whether its signature is the right one.
#[derive(Debug, Clone)]
struct Case {
    body: Vec<u8>,
    signed: bool,
    header_id: Option<String>,
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(EVENTS).prop_map(|s| Value::String(s.to_owned())),
        prop::sample::select(&RECORDED[..]).prop_map(|s| Value::String(s.to_owned())),
        // Times near and far, well formed and not.
        (-400i64..400)
            .prop_map(|days| Value::String((Utc::now() + TimeDelta::days(days)).to_rfc3339())),
        Just(Value::String("9999-12-31T23:59:59Z".into())),
        Just(Value::String("0000-01-01T00:00:00+25:00".into())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<String, Value>>(),
                )
            }),
        ]
    })
}

/// A documented payload with some of its members replaced, removed or added.
fn mutated_payload() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(EVENTS),
        prop::sample::select(&RECORDED[..]),
        prop::sample::select(&["published", "failed", "scheduled", "partial", "x"][..]),
        -10i64..10,
        prop::collection::vec(
            (
                prop::sample::select(
                    &[
                        "",
                        "/post",
                        "/post/platforms/0",
                        "/post/metadata",
                        "/platform",
                    ][..],
                ),
                prop::sample::select(KEYS),
                prop::option::of(json_value()),
            ),
            0..5,
        ),
        any::<u32>(),
    )
        .prop_map(|(event, post, status, days, mutations, n)| {
            let at = Utc::now() + TimeDelta::days(days);
            let body = post_event(&format!("fz_evt_{n}"), event, post, status, at);
            let mut value: Value = serde_json::from_slice(&body).unwrap();
            if event.starts_with("post.platform") || event == "post.tiktok.url_resolved" {
                value["platform"] = json!({"name": "tiktok", "status": status});
            }
            for (path, key, replacement) in mutations {
                // An earlier mutation may have taken the path away: then nothing happens.
                if let Some(Value::Object(map)) = value.pointer_mut(path) {
                    match replacement {
                        Some(v) => {
                            map.insert(key.to_owned(), v);
                        }
                        None => {
                            map.remove(key);
                        }
                    }
                }
            }
            value
        })
}

fn deep(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let mut body = open.repeat(depth).into_bytes();
    body.extend(close.repeat(depth).into_bytes());
    body
}

fn case() -> impl Strategy<Value = Case> {
    let body = prop_oneof![
        4 => mutated_payload().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (1usize..5000, prop::bool::ANY).prop_map(|(depth, arrays)| if arrays {
            deep(depth, "[", "]")
        } else {
            let mut body = "{\"post\":".repeat(depth).into_bytes();
            body.extend(b"{}");
            body.extend("}".repeat(depth).into_bytes());
            body
        }),
        1 => (1usize..(BODY_LIMIT - 256), prop::sample::select(&["id", "event", "post", "timestamp"][..]))
            .prop_map(|(len, key)| {
                serde_json::to_vec(&json!({key: "é".repeat(len / 2), "event": "post.published"})).unwrap()
            }),
    ];
    (
        body,
        prop::bool::weighted(0.9),
        prop::option::of("[ -~]{0,300}"),
    )
        .prop_map(|(body, signed, header_id)| Case {
            body,
            signed,
            header_id,
        })
}

/// Answers seen, by status and receipt or code, to print at the end.
type Seen = std::sync::Mutex<std::collections::BTreeMap<String, u64>>;

async fn send(gw: &TestGateway, case: &Case, seen: &Seen) -> Result<(), TestCaseError> {
    let mut request = gw
        .client
        .post(gw.url("/v1/upstream/zernio/webhooks"))
        .header("content-type", "application/json")
        .body(case.body.clone());
    request = request.header(
        "x-zernio-signature",
        if case.signed {
            signature(&case.body)
        } else {
            "0".repeat(64)
        },
    );
    if let Some(id) = &case.header_id {
        request = request.header("x-zernio-event-id", id);
    }
    let response = request
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response
        .json()
        .await
        .map_err(|e| TestCaseError::fail(format!("{status}: the answer is not JSON: {e}")))?;
    let outcome = body["status"]
        .as_str()
        .or_else(|| body["code"].as_str())
        .unwrap_or("?");
    *seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(format!("{status} {outcome}"))
        .or_default() += 1;
    prop_assert!(status < 500, "{status}: {body}");
    if case.body.len() > BODY_LIMIT {
        prop_assert_eq!(status, 413, "{}", body);
    }
    match status {
        200 => {
            prop_assert!(case.signed, "an unsigned body was accepted: {body}");
            prop_assert_eq!(content_type.as_str(), "application/json");
            let receipt = body["status"].as_str().unwrap_or_default();
            prop_assert!(RECEIPTS.contains(&receipt), "{}", body);
            prop_assert!(body["deliveries"].is_u64(), "{}", body);
        }
        400 | 401 | 409 | 413 => {
            prop_assert_eq!(content_type.as_str(), "application/problem+json");
            prop_assert!(
                body["code"].is_string() && body["detail"].is_string(),
                "{}",
                body
            );
            prop_assert_eq!(&body["status"], &json!(status));
            if status == 401 {
                prop_assert!(!case.signed);
                prop_assert_eq!(&body["code"], "invalid_signature");
            }
            if status == 409 {
                prop_assert_eq!(&body["code"], "post_not_recorded_yet");
            }
        }
        other => prop_assert!(false, "undocumented status {other}: {body}"),
    }
    Ok(())
}

async fn record(gw: &TestGateway, id: &str) {
    gw.state
        .store
        .insert_post(&PostRecord {
            id: id.into(),
            tenant: "acme".into(),
            account: "acc_a1".into(),
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

#[test]
fn the_receiver_answers_every_signed_body_as_documented() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let gw = runtime.block_on(async {
        let gw = TestGateway::spawn_with_env(
            &format!(
                "[http]\nbody_limit_bytes = {BODY_LIMIT}\n\n\
                 [webhooks]\nallowed_hosts = [\"127.0.0.1\"]\nretry_schedule_secs = [3600]\n"
            ),
            &[("ZERNIO_WEBHOOK_SECRET", ZERNIO_SECRET)],
        )
        .await;
        for id in RECORDED {
            record(&gw, id).await;
        }
        // A subscription, so that accepted events are fanned out too (to a closed port).
        let created = gw
            .post_json(
                "/v1/webhooks/subscriptions",
                ACME_KEY,
                &json!({"target_url": "http://127.0.0.1:9/hooks", "events": ["post.published", "post.failed", "post.scheduled", "post.cancelled", "post.deleted", "post.url_resolved"]}),
            )
            .await;
        assert_eq!(created.status(), 201);
        gw
    });
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var("PROPTEST_CASES").is_err() {
        config.cases = DEFAULT_CASES;
    }
    let seen = Seen::default();
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let ran = AtomicU64::new(0);
    let started = Instant::now();
    let result = runner.run(&case(), |case| {
        ran.fetch_add(1, Ordering::Relaxed);
        runtime.block_on(send(&gw, &case, &seen))
    });
    eprintln!(
        "webhook receiver fuzz: {} cases ({cases} to pass) in {:.1} s: {:?}",
        ran.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        seen.lock().unwrap_or_else(|e| e.into_inner())
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Still serving after all of it.
    runtime.block_on(async {
        let health = gw.client.get(gw.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        gw.stop().await;
    });
}
