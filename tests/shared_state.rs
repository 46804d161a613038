//! Limits and idempotency with shared state: concurrent duplicates make one post, on SQLite and
//! on Redis; two replicas on one Redis hold one tenant's limits and one account's budget.

mod common;

use std::collections::HashSet;

use common::fake_zernio::FakeZernio;
use common::*;
use serde_json::{Value, json};

fn video(caption: &str) -> Value {
    json!({
        "account": "acc_a1",
        "caption": caption,
        "video": {"url": "https://cdn.example.com/v.mp4"},
        "privacy": "SELF_ONLY",
        "allow_comment": false, "allow_duet": false, "allow_stitch": false,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

async fn create_with_key(gw: &TestGateway, key: &str, body: &Value) -> (u16, HeaderPair, Value) {
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, HeaderPair(replayed), body)
}

#[derive(Debug)]
struct HeaderPair(Option<String>);

/// 100 creates at once with one key: one upstream create, one 201, the rest replays of it or
/// 409 conflicts while it ran; afterwards every retry replays the same post.
async fn one_key_one_post(gw: &TestGateway, fake: &FakeZernio) {
    let body = video("idempotent");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let gw_client = gw.client.clone();
            let url = gw.url("/v1/tiktok/posts");
            let body = body.clone();
            tokio::spawn(async move {
                let response = gw_client
                    .post(url)
                    .bearer_auth(ACME_KEY)
                    .header("idempotency-key", "order-42")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let replayed = response.headers().contains_key("idempotent-replayed");
                let body: Value = response.json().await.unwrap();
                (status, replayed, body)
            })
        })
        .collect();
    let mut first = 0;
    let mut replays_or_conflicts = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let (status, replayed, body) = task.await.unwrap();
        match (status, replayed) {
            (201, false) => {
                first += 1;
                ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            (201, true) => {
                replays_or_conflicts += 1;
                ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            (409, false) => {
                assert_eq!(body["code"], "idempotency_conflict");
                replays_or_conflicts += 1;
            }
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert_eq!(first, 1);
    assert_eq!(replays_or_conflicts, 99);
    assert_eq!(fake.calls("create").len(), 1, "exactly one upstream create");
    assert_eq!(ids.len(), 1, "every answer with a post names the same post");
    let (status, replayed, again) = create_with_key(gw, "order-42", &body).await;
    assert_eq!((status, replayed.0.as_deref()), (201, Some("true")));
    assert!(ids.contains(again["id"].as_str().unwrap()));

    // The same key with another body is refused; another key is a new request.
    let (status, _, refused) = create_with_key(gw, "order-42", &video("something else")).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (status, _, _) = create_with_key(gw, "order-43", &video("something else")).await;
    assert_eq!(status, 201);
    // A malformed key is a 400.
    let (status, _, bad) = create_with_key(gw, &"k".repeat(256), &video("long key")).await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("invalid_idempotency_key"))
    );
}

#[tokio::test]
async fn one_idempotency_key_makes_one_post_on_sqlite() {
    let (gw, fake) = TestGateway::with_fake("").await;
    one_key_one_post(&gw, &fake).await;
}

#[tokio::test]
async fn one_idempotency_key_makes_one_post_on_redis() {
    let fake = FakeZernio::start().await;
    let store = redis_url(5).await;
    let gw = TestGateway::in_front_of(&fake, Some(&store), "").await;
    one_key_one_post(&gw, &fake).await;
}

/// Two replicas on one Redis database, in front of one fake Zernio, serving one tenant whose
/// key may make `burst` requests (and one a minute after that).
async fn limited_replicas(
    db: u8,
    tenant: &str,
    burst: u32,
    key: &str,
) -> (FakeZernio, TestGateway, TestGateway) {
    let fake = FakeZernio::start().await;
    let store = redis_url(db).await;
    let limited = format!(
        r#"
[[tenants]]
id = "{tenant}"
accounts = ["acc_x"]
requests_per_minute = 1
burst = {burst}

[[tenants.api_keys]]
id = "k"
sha256 = "{}"
scopes = ["posts:read"]
"#,
        sha256_hex(key)
    );
    let a = TestGateway::in_front_of(&fake, Some(&store), &limited).await;
    let b = TestGateway::in_front_of(&fake, Some(&store), &limited).await;
    (fake, a, b)
}

#[tokio::test]
async fn two_replicas_on_one_redis_hold_one_rate_limit() {
    let (_fake, a, b) = limited_replicas(
        6,
        "burst",
        10,
        "tgw_burst-tenant-key-0000000000000000000000000",
    )
    .await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (client, url) = if i % 2 == 0 {
                (a.client.clone(), a.url("/v1/me"))
            } else {
                (b.client.clone(), b.url("/v1/me"))
            };
            tokio::spawn(async move {
                client
                    .get(url)
                    .bearer_auth("tgw_burst-tenant-key-0000000000000000000000000")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // One shared limiter: the burst of 10 in all (a refill may add one per replica at most).
    assert!((10..=12).contains(&admitted), "admitted {admitted}");
}

/// Under sustained traffic each replica leases a few units of the shared limit at a time: the
/// two together still admit no more than the burst, and each answer's `RateLimit` counts down.
#[tokio::test]
async fn two_busy_replicas_leasing_units_admit_no_more_than_the_burst() {
    let (_fake, a, b) = limited_replicas(
        8,
        "busy",
        600,
        "tgw_busy0-tenant-key-0000000000000000000000000",
    )
    .await;
    let (mut admitted, mut refused) = (0, 0);
    let mut last_remaining = [u32::MAX, u32::MAX];
    // Batches of 16 concurrent requests on each replica until both refuse.
    for _ in 0..60 {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let gw = if i % 2 == 0 { &a } else { &b };
                let (client, url) = (gw.client.clone(), gw.url("/v1/me"));
                tokio::spawn(async move {
                    let r = client
                        .get(url)
                        .bearer_auth("tgw_busy0-tenant-key-0000000000000000000000000")
                        .send()
                        .await
                        .unwrap();
                    let remaining = r
                        .headers()
                        .get("ratelimit")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split("r=").nth(1))
                        .and_then(|v| v.split(';').next())
                        .and_then(|v| v.parse::<u32>().ok());
                    (i % 2, r.status().as_u16(), remaining)
                })
            })
            .collect();
        let mut batch_refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                (replica, 200, Some(remaining)) => {
                    admitted += 1;
                    last_remaining[replica] = last_remaining[replica].min(remaining);
                }
                (_, 429, _) => batch_refused += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        refused += batch_refused;
        if batch_refused == 32 {
            break;
        }
    }
    assert!(refused >= 32, "the burst ran out");
    // Never more than the burst (and a refill of one a minute per replica); a lease dropped
    // unused (50 ms without a request on its replica) costs at most its units.
    assert!(
        (600 - 2 * 64..=602).contains(&admitted),
        "admitted {admitted}"
    );
    assert!(last_remaining.iter().all(|r| *r < 64), "{last_remaining:?}");
}

#[tokio::test]
async fn two_replicas_on_one_redis_hold_one_daily_budget() {
    let fake = FakeZernio::start().await;
    let store = redis_url(7).await;
    let a = TestGateway::in_front_of(&fake, Some(&store), "").await;
    let b = TestGateway::in_front_of(&fake, Some(&store), "").await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let gw = if i % 2 == 0 { &a } else { &b };
            let (client, url) = (gw.client.clone(), gw.url("/v1/tiktok/posts"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(ACME_KEY)
                    .json(&video(&format!("replica post {i}")))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(fake.calls("create").len(), 15);
}
