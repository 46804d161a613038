//! The record as the read model (issue 11), black-box: reads answer from the gateway's record
//! and cost Zernio nothing; `no-cache` asks Zernio once for a burst; the reconciler makes a
//! lost webhook good and the tenant hears of it once; a late older event does not move a post
//! back; ETags and 304s; `Prefer: wait`; a post's history. On the store the suite runs on
//! (`TEST_STORE`), and two replicas on one Redis.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::fake_zernio::{FakeZernio, Reply};
use common::subscriber::{Subscriber, eventually};
use common::zernio_events::{self, ZERNIO_SECRET};
use common::*;
use serde_json::{Value, json};
use tiktok_gateway::config::StoreUrl;
use tiktok_gateway::store::{PostRecord, RecordSync};

const WAIT: Duration = Duration::from_secs(10);

/// A gateway in front of `fake` that hears Zernio's webhooks, delivers to loopback and
/// reconciles every 50 ms.
async fn gateway_on(fake: &FakeZernio, store: Option<&str>) -> TestGateway {
    gateway_with(fake, store, &tenants_toml()).await
}

async fn gateway_with(fake: &FakeZernio, store: Option<&str>, tenants: &str) -> TestGateway {
    gateway_reconciling(fake, store, tenants, "").await
}

/// [`gateway_with`], with more `[reconcile]` settings.
async fn gateway_reconciling(
    fake: &FakeZernio,
    store: Option<&str>,
    tenants: &str,
    reconcile: &str,
) -> TestGateway {
    let toml = format!(
        "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\n\n\
         [webhooks]\nallowed_hosts = [\"127.0.0.1\"]\npoll_interval_ms = 50\n\n\
         [reconcile]\ninterval_ms = 50\n{reconcile}\n",
        fake.base_url
    );
    TestGateway::spawn_with_tenants(
        store,
        &toml,
        tenants,
        &[
            ("ZERNIO_API_KEY", FAKE_ZERNIO_KEY),
            ("ZERNIO_WEBHOOK_SECRET", ZERNIO_SECRET),
        ],
    )
    .await
}

async fn gateway() -> (TestGateway, FakeZernio) {
    let fake = FakeZernio::start().await;
    (gateway_on(&fake, None).await, fake)
}

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

async fn create(gw: &TestGateway, caption: &str) -> Value {
    let response = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video(caption))
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// A post the gateway made, still publishing, that the reconciler should read now; Zernio
/// (the fake) has it already published: the webhook that said so was lost.
async fn publishing_post(gw: &TestGateway, fake: &FakeZernio, id: &str) {
    publishing_post_due(gw, fake, id, Utc::now()).await
}

/// [`publishing_post`], due for the reconciler at `due`.
async fn publishing_post_due(
    gw: &TestGateway,
    fake: &FakeZernio,
    id: &str,
    due: chrono::DateTime<Utc>,
) {
    let now = Utc::now();
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
            created_at: now - TimeDelta::seconds(30),
            content: Some("Sunset".into()),
            media_items: Vec::new(),
            sync: RecordSync {
                revision: 1,
                status_at: Some(now - TimeDelta::seconds(30)),
                next_sync_at: Some(due),
                ..RecordSync::default()
            },
        })
        .await
        .unwrap();
    let at = (now - TimeDelta::seconds(5)).to_rfc3339();
    fake.insert_post(json!({
        "_id": id, "content": "Sunset", "status": "published",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_a1", "status": "published",
                       "platformPostId": "7300000000000000009",
                       "platformPostUrl": format!("https://www.tiktok.com/@creator/video/{id}"),
                       "publishedAt": at}],
        "createdAt": at, "updatedAt": at
    }));
}

async fn get(gw: &TestGateway, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = gw.client.get(gw.url(path)).bearer_auth(ACME_KEY);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

async fn subscribe(gw: &TestGateway, target: &str) {
    let response = gw
        .post_json(
            "/v1/webhooks/subscriptions",
            ACME_KEY,
            &json!({"target_url": target, "events": ["post.published", "post.failed"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
}

/// The tenant's deliveries of one post's event, from the outbox.
async fn deliveries_of(gw: &TestGateway, post: &str, event: &str) -> usize {
    let subs = gw.state.store.subscriptions("acme").await.unwrap();
    let mut n = 0;
    for s in subs {
        n += gw
            .state
            .store
            .deliveries("acme", &s.id, 1000)
            .await
            .unwrap()
            .iter()
            .filter(|d| d.post_id == post && d.event_type == event)
            .count();
    }
    n
}

#[tokio::test]
async fn a_post_read_a_thousand_times_costs_zernio_nothing() {
    // The tenant's own limit is not what is measured here: one that lets 1,000 reads through
    // at once. Zernio's budget is left at its default (600 a minute).
    let fake = FakeZernio::start().await;
    let tenants = tenants_toml().replacen(
        "requests_per_minute = 6000\nburst = 200",
        "requests_per_minute = 600000\nburst = 5000",
        1,
    );
    assert_ne!(tenants, tenants_toml());
    let gw = gateway_with(&fake, None, &tenants).await;
    let post = create(&gw, "read me").await;
    let id = post["id"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (client, url) = (gw.client.clone(), gw.url(&format!("/v1/tiktok/posts/{id}")));
            tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..20 {
                    let r = client.get(&url).bearer_auth(ACME_KEY).send().await.unwrap();
                    ok += u32::from(r.status() == 200);
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    // The default upstream budget (600 a minute) would have refused most of these.
    assert_eq!(ok, 1000);
    assert_eq!(fake.calls("get").len(), 0, "a served read asked Zernio");
    let body: Value = get(&gw, &format!("/v1/tiktok/posts/{id}"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "published");
    assert_eq!(body["tiktok_url"], post["tiktok_url"]);
    assert!(
        body["synced_at"].is_string() && body["updated_at"].is_string(),
        "{body}"
    );
    // The compatible read answers from the record too.
    let compat = get(&gw, &format!("/api/v1/posts/{id}"), &[]).await;
    assert_eq!(compat.status(), 200);
    let compat: Value = compat.json().await.unwrap();
    assert_eq!(compat["post"]["_id"], id.as_str());
    assert_eq!(compat["post"]["status"], "published");
    assert_eq!(fake.calls("get").len(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn a_no_cache_burst_on_one_post_makes_one_upstream_call() {
    let (gw, fake) = gateway().await;
    let id = create(&gw, "burst").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut zernio_post = fake.post(&id).unwrap();
    zernio_post["platforms"][0]["platformPostUrl"] =
        json!("https://www.tiktok.com/@creator/video/fresh");
    // The one call is slow, so that all 50 reads are in flight while it runs.
    fake.script(
        "get",
        Reply::json(200, json!({"post": zernio_post})).delayed(Duration::from_millis(400)),
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (client, url) = (gw.client.clone(), gw.url(&format!("/v1/tiktok/posts/{id}")));
            tokio::spawn(async move {
                let r = client
                    .get(&url)
                    .bearer_auth(ACME_KEY)
                    .header("cache-control", "no-cache")
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["tiktok_url"],
            "https://www.tiktok.com/@creator/video/fresh"
        );
    }
    assert_eq!(fake.calls("get").len(), 1);
    // The record learnt it: a plain read shows it with no call.
    let body: Value = get(&gw, &format!("/v1/tiktok/posts/{id}"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["tiktok_url"],
        "https://www.tiktok.com/@creator/video/fresh"
    );
    assert_eq!(fake.calls("get").len(), 1);
    // max-age: a record confirmed within the hour is fresh enough.
    let r = get(
        &gw,
        &format!("/v1/tiktok/posts/{id}"),
        &[("cache-control", "max-age=3600")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(fake.calls("get").len(), 1);
    gw.stop().await;
}

fn synced_at(view: &Value) -> chrono::DateTime<Utc> {
    view["synced_at"].as_str().unwrap().parse().unwrap()
}

/// A `no-cache` read that finds nothing new shows Zernio's confirmation at once (in its answer
/// and the next plain read) but writes it at most every `confirm_write_every_ms`: the store, as
/// another replica reads it, keeps the earlier time; a burst still makes one upstream call.
#[tokio::test]
async fn a_no_cache_read_that_finds_nothing_new_confirms_without_a_write() {
    let fake = FakeZernio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = match test_store().as_str() {
        "redis" => redis_url(12).await,
        _ => format!("sqlite://{}/gateway.db", dir.path().display()),
    };
    let reconcile = "confirm_write_every_ms = 60000";
    let gw = gateway_reconciling(&fake, Some(&store), &tenants_toml(), reconcile).await;
    let id = create(&gw, "confirmed").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/tiktok/posts/{id}");
    // The first look may owe the tenant an event (so it writes); after it nothing is new.
    let first = get(&gw, &path, &[("cache-control", "no-cache")]).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let before_burst = Utc::now();
    fake.script(
        "get",
        Reply::json(200, json!({"post": fake.post(&id).unwrap()}))
            .delayed(Duration::from_millis(300)),
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (client, url) = (gw.client.clone(), gw.url(&path));
            tokio::spawn(async move {
                let r = client
                    .get(&url)
                    .bearer_auth(ACME_KEY)
                    .header("cache-control", "no-cache")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.unwrap()
            })
        })
        .collect();
    let mut confirmed = Vec::new();
    for t in tasks {
        let view = t.await.unwrap();
        assert_eq!(view["status"], first["status"]);
        assert_eq!(view["updated_at"], first["updated_at"]);
        confirmed.push(synced_at(&view));
    }
    assert_eq!(
        fake.calls("get").len(),
        2,
        "the first look and one for the burst"
    );
    assert!(
        confirmed.iter().all(|t| *t >= before_burst),
        "{confirmed:?}"
    );
    // The next plain read shows the confirmation, with no call.
    let plain: Value = get(&gw, &path, &[]).await.json().await.unwrap();
    assert_eq!(synced_at(&plain), *confirmed.iter().max().unwrap());
    assert_eq!(fake.calls("get").len(), 2);
    // Not written: the store still holds the time of before the burst.
    let other = tiktok_gateway::store::open(&StoreUrl::parse(&store).unwrap())
        .await
        .unwrap();
    let stored = other.post_by_id(&id).await.unwrap().unwrap().sync.synced_at;
    assert!(
        stored.is_some_and(|t| t < before_burst && t <= synced_at(&first)),
        "stored {stored:?}, burst from {before_burst}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_lost_webhook_is_made_good_by_the_reconciler_and_delivered_once() {
    let (gw, fake) = gateway().await;
    let subscriber = Subscriber::start().await;
    subscribe(&gw, &subscriber.url).await;
    publishing_post(&gw, &fake, "post_lost").await;
    let mut subscriber = subscriber;
    let delivery = subscriber.next(WAIT).await;
    let body = delivery.json();
    assert_eq!(body["type"], "post.published");
    assert_eq!(body["data"]["id"], "post_lost");
    assert_eq!(
        body["data"]["tiktok_url"],
        "https://www.tiktok.com/@creator/video/post_lost"
    );
    let view: Value = get(&gw, "/v1/tiktok/posts/post_lost", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "published");
    let events: Value = get(&gw, "/v1/tiktok/posts/post_lost/events", &[])
        .await
        .json()
        .await
        .unwrap();
    let sources: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["source"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sources,
        vec![("create", "publishing"), ("reconcile", "published")]
    );
    assert_eq!(fake.calls("get").len(), 1);
    // Zernio's webhook arrives after all: nothing new to tell the tenant.
    let body = zernio_events::post_event(
        "evt_late",
        "post.published",
        "post_lost",
        "published",
        Utc::now(),
    );
    let (status, receipt) = zernio_events::send(&gw, "post.published", &body).await;
    assert_eq!(
        (status, receipt["deliveries"].as_u64()),
        (200, Some(0)),
        "{receipt}"
    );
    assert_eq!(deliveries_of(&gw, "post_lost", "post.published").await, 1);
    // Settled: the reconciler does not read it again.
    let record = gw
        .state
        .store
        .post_by_id("post_lost")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.sync.next_sync_at, None);
    gw.stop().await;
}

#[tokio::test]
async fn a_webhook_first_then_the_reconciler_delivers_once_too() {
    let (gw, fake) = gateway().await;
    subscribe(&gw, "https://127.0.0.1:9/never").await;
    // A post the reconciler will look at only later.
    publishing_post(&gw, &fake, "post_first").await;
    let body = zernio_events::post_event(
        "evt_1",
        "post.published",
        "post_first",
        "published",
        Utc::now(),
    );
    let (status, receipt) = zernio_events::send(&gw, "post.published", &body).await;
    assert_eq!(status, 200);
    // Either the webhook or the reconciler got there first: one delivery in both cases.
    let delivered = receipt["deliveries"].as_u64().unwrap();
    assert!(delivered <= 1, "{receipt}");
    eventually("the post published in the record", WAIT, || async {
        gw.state
            .store
            .post_by_id("post_first")
            .await
            .unwrap()
            .unwrap()
            .status
            == "published"
    })
    .await;
    assert_eq!(deliveries_of(&gw, "post_first", "post.published").await, 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_late_older_webhook_does_not_move_a_post_back() {
    let (gw, fake) = gateway().await;
    let id = create(&gw, "order").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = fake;
    let now = Utc::now();
    let failed = zernio_events::post_event(
        "evt_old",
        "post.failed",
        &id,
        "failed",
        now - TimeDelta::seconds(60),
    );
    let published = zernio_events::post_event("evt_new", "post.published", &id, "published", now);
    assert_eq!(
        zernio_events::send(&gw, "post.published", &published)
            .await
            .0,
        200
    );
    assert_eq!(
        zernio_events::send(&gw, "post.failed", &failed).await.0,
        200
    );
    let view: Value = get(&gw, &format!("/v1/tiktok/posts/{id}"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "published", "{view}");
    assert_eq!(view["error"], Value::Null);
    let events: Value = get(&gw, &format!("/v1/tiktok/posts/{id}/events"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] != "failed"),
        "{events}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_unchanged_post_or_page_answers_304_to_its_etag() {
    let (gw, _fake) = gateway().await;
    let id = create(&gw, "etag").await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tiktok/posts/{id}");
    let first = get(&gw, &path, &[]).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    let again = get(&gw, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    // A change (the post deleted on TikTok) gives a new tag.
    let body = zernio_events::deleted_on_tiktok("evt_del", &id);
    assert_eq!(
        zernio_events::send(&gw, "post.platform.deleted", &body)
            .await
            .0,
        200
    );
    let changed = get(&gw, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    // A list page has a tag of its own.
    let page = get(&gw, "/v1/tiktok/posts", &[]).await;
    let page_tag = page.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        get(&gw, "/v1/tiktok/posts", &[("if-none-match", &page_tag)])
            .await
            .status(),
        304
    );
    create(&gw, "another").await;
    assert_eq!(
        get(&gw, "/v1/tiktok/posts", &[("if-none-match", &page_tag)])
            .await
            .status(),
        200
    );
    gw.stop().await;
}

#[tokio::test]
async fn prefer_wait_answers_as_soon_as_a_webhook_lands() {
    let (gw, fake) = gateway().await;
    // The reconciler is not to get there first: the post is not due for an hour.
    publishing_post_due(&gw, &fake, "post_wait", Utc::now() + TimeDelta::hours(1)).await;
    let path = "/v1/tiktok/posts/post_wait";
    let etag = get(&gw, path, &[]).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    // Nothing changes: 304 after the wait.
    let started = Instant::now();
    let idle = get(&gw, path, &[("if-none-match", &etag), ("prefer", "wait=1")]).await;
    assert_eq!(idle.status(), 304);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(idle.headers()["preference-applied"], "wait=1");
    // A webhook lands while a read waits: the read answers with it.
    let waiting = {
        let (client, url, etag) = (gw.client.clone(), gw.url(path), etag.clone());
        tokio::spawn(async move {
            let r = client
                .get(url)
                .bearer_auth(ACME_KEY)
                .header("if-none-match", etag)
                .header("prefer", "wait=25")
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                Instant::now(),
                r.json::<Value>().await.unwrap(),
            )
        })
    };
    let body = zernio_events::post_event(
        "evt_w",
        "post.published",
        "post_wait",
        "published",
        Utc::now(),
    );
    let sent = Instant::now();
    assert_eq!(
        zernio_events::send(&gw, "post.published", &body).await.0,
        200
    );
    let (status, answered, view) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(view["status"], "published");
    assert!(answered.duration_since(sent) < Duration::from_secs(5));
    assert_eq!(fake.calls("get").len(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn the_history_lists_every_change_with_its_source() {
    let (gw, _fake) = gateway().await;
    let id = create(&gw, "history").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = zernio_events::deleted_on_tiktok("evt_d", &id);
    assert_eq!(
        zernio_events::send(&gw, "post.platform.deleted", &deleted)
            .await
            .0,
        200
    );
    let events: Value = get(&gw, &format!("/v1/tiktok/posts/{id}/events"), &[])
        .await
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{events}");
    assert_eq!(
        (items[0]["source"].as_str(), items[0]["status"].as_str()),
        (Some("create"), Some("published"))
    );
    assert_eq!(
        (items[1]["source"].as_str(), items[1]["status"].as_str()),
        (Some("webhook"), Some("deleted"))
    );
    assert_eq!(items[1]["previous"], "published");
    // Another tenant's post is not found, like a missing one.
    let other = gw
        .client
        .get(gw.url(&format!("/v1/tiktok/posts/{id}/events")))
        .bearer_auth(GLOBEX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    gw.stop().await;
}

/// Two replicas on one Redis: each lost change is read from Zernio once and told once.
#[tokio::test]
async fn two_replicas_reconcile_each_lost_change_once() {
    let fake = FakeZernio::start().await;
    let store = redis_url(11).await;
    let a = gateway_on(&fake, Some(&store)).await;
    let b = gateway_on(&fake, Some(&store)).await;
    subscribe(&a, "https://127.0.0.1:9/never").await;
    let ids: Vec<String> = (0..6).map(|i| format!("post_r{i}")).collect();
    for id in &ids {
        publishing_post(&a, &fake, id).await;
    }
    eventually("every post reconciled", WAIT, || async {
        let mut all = true;
        for id in &ids {
            all &= a.state.store.post_by_id(id).await.unwrap().unwrap().status == "published";
        }
        all
    })
    .await;
    for id in &ids {
        let reads = fake
            .calls("get")
            .iter()
            .filter(|c| c.path.ends_with(&format!("/posts/{id}")))
            .count();
        assert_eq!(reads, 1, "{id} read {reads} times");
        assert_eq!(deliveries_of(&a, id, "post.published").await, 1, "{id}");
    }
    // Both replicas serve the change from their records.
    for gw in [&a, &b] {
        let view: Value = get(gw, &format!("/v1/tiktok/posts/{}", ids[0]), &[])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(view["status"], "published");
    }
    a.stop().await;
    b.stop().await;
}

#[test]
fn the_confirmation_write_interval_is_validated() {
    let env = std::collections::HashMap::from([(
        "GATEWAY_JWT_SECRET".to_owned(),
        HS256_SECRET.to_owned(),
    )]);
    let with = |value: &str| {
        let toml = format!(
            "[reconcile]\nconfirm_write_every_ms = {value}\n{}",
            tenants_toml()
        );
        tiktok_gateway::config::Config::from_toml(&toml, &env)
    };
    let error = with("60001").expect_err("60001 accepted");
    assert!(
        error
            .to_string()
            .contains("reconcile.confirm_write_every_ms: must be between 0 and 60000"),
        "{error}"
    );
    assert_eq!(with("0").unwrap().reconcile.confirm_write_every_ms, 0);
    let defaults = tiktok_gateway::config::Config::from_toml(&tenants_toml(), &env).unwrap();
    assert_eq!(defaults.reconcile.confirm_write_every_ms, 1000);
}
