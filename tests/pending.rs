//! Posts whose create is `pending` (Zernio's answer was lost, the post not found yet), seen from
//! the caller and from Zernio's webhooks: an edit, cancel or retry of the id the caller was given
//! is answered `post_pending` while nothing is known and goes to Zernio's post once it is found;
//! a webhook that comes before the gateway found the post settles it instead of being lost; a
//! pending create that ends failed is told to the tenant's subscriptions once. Whatever happens,
//! one request makes at most one post.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::fake_zernio::{FakeZernio, Reply};
use common::subscriber::{Subscriber, eventually};
use common::{ACME_KEY, FAKE_ZERNIO_KEY, TestGateway, problem, zernio_events};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A gateway in front of `fake` with a short upstream timeout, the given pending window, and
/// the reconciler on or off (off, only the caller and Zernio's webhooks can settle a create).
async fn gateway(fake: &FakeZernio, window_secs: u64, reconciler: bool) -> TestGateway {
    let toml = format!(
        "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\nmax_pause_secs = 1\n\
         [reconcile]\nenabled = {reconciler}\ninterval_ms = 100\npending_window_secs = {window_secs}\n\
         [webhooks]\nallowed_hosts = [\"127.0.0.1\"]\npoll_interval_ms = 50\n",
        fake.base_url
    );
    TestGateway::spawn_on(
        None,
        &toml,
        &[
            ("ZERNIO_API_KEY", FAKE_ZERNIO_KEY),
            ("ZERNIO_WEBHOOK_SECRET", zernio_events::ZERNIO_SECRET),
        ],
    )
    .await
}

fn video(caption: &str, schedule_at: Option<&str>) -> Value {
    let mut body = json!({
        "account": "acc_a1",
        "caption": caption,
        "video": {"url": "https://cdn.example.com/sunset-video.mp4"},
        "privacy": "public",
        "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    });
    if let Some(at) = schedule_at {
        body["schedule_at"] = json!(at);
    }
    body
}

fn empty_page() -> Reply {
    Reply::json(
        200,
        json!({"posts": [], "pagination": {"page": 1, "limit": 100, "total": 0, "pages": 0}}),
    )
}

/// A create Zernio's answer to is lost (made upstream or not, as `reply` says) and that the two
/// look-ups do not find: the id of the pending post the caller is given.
async fn pending_create(gw: &TestGateway, fake: &FakeZernio, reply: Reply, body: &Value) -> String {
    fake.script("create", reply);
    fake.script("list", empty_page());
    fake.script("list", empty_page());
    let answer = gw.post_json("/v1/tiktok/posts", ACME_KEY, body).await;
    assert_eq!(answer.status(), 202);
    let view: Value = answer.json().await.unwrap();
    assert_eq!(view["status"], "pending", "{view}");
    view["id"].as_str().unwrap().to_owned()
}

async fn send(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = gw
        .client
        .request(method, gw.url(path))
        .bearer_auth(ACME_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn subscribe(gw: &TestGateway, target: &str, events: &[&str]) -> String {
    let response = gw
        .post_json(
            "/v1/webhooks/subscriptions",
            ACME_KEY,
            &json!({"target_url": target, "events": events}),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The events of the subscription's deliveries, as the gateway lists them.
async fn delivered(gw: &TestGateway, subscription: &str) -> Vec<(String, String)> {
    let response = gw
        .get_with_key(
            &format!("/v1/webhooks/deliveries?subscription={subscription}"),
            ACME_KEY,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["event_type"].as_str().unwrap_or_default().to_owned(),
                d["post_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Polls the post with `no-cache` (each poll one more look-up) until it is no longer pending.
async fn settled(gw: &TestGateway, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let read: Value = gw
            .client
            .get(gw.url(&format!("/v1/tiktok/posts/{id}")))
            .bearer_auth(ACME_KEY)
            .header("Cache-Control", "no-cache")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if read["status"] != "pending" {
            return read;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {read}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Edits and cancels of the id the caller was given
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_edit_or_cancel_of_a_post_still_pending_is_409_post_pending_on_both_surfaces() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 900, true).await;
    let later = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let id = pending_create(&gw, &fake, Reply::reset(), &video("unknown", Some(&later))).await;

    let edit = json!({"schedule_at": (Utc::now() + chrono::Duration::days(3)).to_rfc3339()});
    let answer = send(
        &gw,
        reqwest::Method::PATCH,
        &format!("/v1/tiktok/posts/{id}"),
        Some(edit),
    )
    .await;
    let wait: u64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let refused = problem(answer, 409).await;
    assert_eq!(refused["code"], "post_pending");
    assert_eq!(refused["post_id"], id.as_str());

    let answer = send(
        &gw,
        reqwest::Method::DELETE,
        &format!("/v1/tiktok/posts/{id}"),
        None,
    )
    .await;
    assert!(answer.headers().contains_key("retry-after"));
    assert_eq!(problem(answer, 409).await["code"], "post_pending");

    // Zernio's surface: its ErrorResponse, 409 on PUT, 400 on DELETE (its spec lists no 409).
    let answer = send(
        &gw,
        reqwest::Method::PUT,
        &format!("/api/v1/posts/{id}"),
        Some(json!({"content": "new words"})),
    )
    .await;
    assert_eq!(answer.status(), 409);
    assert!(answer.headers().contains_key("retry-after"));
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["code"], "post_pending", "{error}");
    assert_eq!(error["details"]["postId"], id.as_str());
    let answer = send(
        &gw,
        reqwest::Method::DELETE,
        &format!("/api/v1/posts/{id}"),
        None,
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["code"],
        "post_pending"
    );

    // Nothing went to Zernio under the gateway's id; the post is still the one pending create.
    assert!(fake.calls("update").is_empty());
    assert!(fake.calls("delete").is_empty());
    assert_eq!(fake.calls("create").len(), 1);
    let read: Value = gw
        .get_with_key(&format!("/v1/tiktok/posts/{id}"), ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "pending");
    gw.stop().await;
}

#[tokio::test]
async fn an_edit_and_a_cancel_of_a_pending_id_go_to_zernios_post_once_it_is_found() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 900, false).await;
    let later = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let id = pending_create(
        &gw,
        &fake,
        Reply::reset().created_anyway(),
        &video("made after all", Some(&later)),
    )
    .await;

    let moved = (Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let answer = send(
        &gw,
        reqwest::Method::PATCH,
        &format!("/v1/tiktok/posts/{id}"),
        Some(json!({"schedule_at": moved})),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let edited: Value = answer.json().await.unwrap();
    assert_eq!(edited["id"], "post_1", "{edited}");
    let updates = fake.calls("update");
    assert_eq!(updates.len(), 1);
    assert!(updates[0].path.ends_with("/post_1"), "{}", updates[0].path);

    // Zernio's surface, by the same id the caller was given.
    let answer = send(
        &gw,
        reqwest::Method::DELETE,
        &format!("/api/v1/posts/{id}"),
        None,
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert!(fake.post("post_1").is_none(), "deleted at Zernio");
    assert_eq!(fake.calls("create").len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_create_never_found_is_told_as_post_failed_once_and_cannot_be_edited() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 1, true).await;
    let mut subscriber = Subscriber::start().await;
    let subscription = subscribe(&gw, &subscriber.url, &["post.failed"]).await;
    let id = pending_create(&gw, &fake, Reply::reset(), &video("never made", None)).await;

    let failed = settled(&gw, &id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_code"], "upstream_outcome_unknown");
    let event = subscriber.next(WAIT).await.json();
    assert_eq!(event["type"], "post.failed", "{event}");
    assert_eq!(event["data"]["id"], id.as_str());
    // Reads (each no-cache read asks again) and the reconciler tell it no second time.
    settled(&gw, &id).await;
    assert_eq!(
        delivered(&gw, &subscription).await,
        [("post.failed".to_owned(), id.clone())]
    );

    // Zernio has no such post: nothing to edit, cancel or retry, said so without asking it.
    let edit = json!({"caption": "again"});
    let path = format!("/v1/tiktok/posts/{id}");
    let answer = send(&gw, reqwest::Method::PATCH, &path, Some(edit)).await;
    assert_eq!(problem(answer, 409).await["code"], "post_not_editable");
    let answer = send(&gw, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(problem(answer, 409).await["code"], "post_not_cancellable");
    let answer = send(&gw, reqwest::Method::POST, &format!("{path}/retry"), None).await;
    assert_eq!(problem(answer, 409).await["code"], "post_not_retryable");
    assert!(fake.calls("update").is_empty() && fake.calls("delete").is_empty());
    assert!(fake.calls("retry").is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_pending_create_found_failed_is_told_as_post_failed_once() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 900, false).await;
    let mut subscriber = Subscriber::start().await;
    let subscription = subscribe(&gw, &subscriber.url, &["post.failed"]).await;
    let id = pending_create(
        &gw,
        &fake,
        Reply::reset().created_anyway(),
        &video("failed at tiktok", None),
    )
    .await;
    // TikTok refused it meanwhile.
    fake.patch_post(
        "post_1",
        json!({"status": "failed", "platforms": [{"platform": "tiktok", "accountId": "acc_a1",
               "status": "failed", "errorMessage": "TikTok flagged this post as potentially risky (spam_risk)"}]}),
    );

    let found = settled(&gw, &id).await;
    assert_eq!(found["id"], "post_1", "{found}");
    assert_eq!(found["status"], "failed");
    let event = subscriber.next(WAIT).await.json();
    assert_eq!(event["type"], "post.failed", "{event}");
    assert_eq!(event["data"]["id"], "post_1");
    assert_eq!(event["data"]["error"]["code"], "spam_risk", "{event}");

    // Zernio's own post.failed arriving afterwards tells the tenant nothing new.
    let body =
        zernio_events::post_event("evt_failed", "post.failed", "post_1", "failed", Utc::now());
    let (status, receipt) = zernio_events::send(&gw, "post.failed", &body).await;
    assert_eq!(
        (status, receipt["status"].as_str()),
        (200, Some("accepted"))
    );
    assert_eq!(receipt["deliveries"], 0);
    assert_eq!(
        delivered(&gw, &subscription).await,
        [("post.failed".to_owned(), "post_1".to_owned())]
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Zernio's webhook before the gateway found the post
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_webhook_before_the_post_is_found_settles_the_pending_create() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    // No reconciler: only the webhook can settle the create.
    let gw = gateway(&fake, 900, false).await;
    let mut subscriber = Subscriber::start().await;
    let subscription = subscribe(&gw, &subscriber.url, &["post.published"]).await;
    let id = pending_create(
        &gw,
        &fake,
        Reply::reset().created_anyway(),
        &video("webhook first", None),
    )
    .await;
    let tag = fake.post("post_1").expect("Zernio made the post")["metadata"]["gateway_request_id"]
        .clone();
    assert_eq!(
        tag,
        id.as_str(),
        "the post carries the pending create's tag"
    );

    // Zernio's event names its own id; its metadata carries the gateway's tag.
    let body = zernio_events::post_event(
        "evt_early",
        "post.published",
        "post_1",
        "published",
        Utc::now(),
    );
    let mut event: Value = serde_json::from_slice(&body).unwrap();
    event["post"]["metadata"] = json!({"gateway_request_id": id});
    let body = serde_json::to_vec(&event).unwrap();
    let (status, receipt) = zernio_events::send(&gw, "post.published", &body).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["status"], "accepted");

    // The id the caller holds reads Zernio's post, published, with its URL; no look-up needed.
    let lists = fake.calls("list").len();
    let read: Value = gw
        .get_with_key(&format!("/v1/tiktok/posts/{id}"), ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["id"], "post_1", "{read}");
    assert_eq!(read["status"], "published");
    assert_eq!(
        read["tiktok_url"],
        "https://www.tiktok.com/@creator/video/post_1"
    );
    assert_eq!(fake.calls("list").len(), lists);
    let delivery = subscriber.next(WAIT).await.json();
    assert_eq!(delivery["type"], "post.published");
    assert_eq!(delivery["data"]["id"], "post_1");

    // Zernio's retry of the same event, and the same content sent again, change nothing.
    let (_, again) = zernio_events::send(&gw, "post.published", &body).await;
    assert_eq!(again["status"], "duplicate");
    let duplicate = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("webhook first", None))
        .await;
    assert_eq!(problem(duplicate, 409).await["existing_post_id"], "post_1");
    eventually("the delivery is listed", WAIT, || async {
        delivered(&gw, &subscription).await == [("post.published".to_owned(), "post_1".to_owned())]
    })
    .await;
    assert_eq!(fake.calls("create").len(), 1);
    assert_eq!(fake.posts_by_content()["webhook first"], 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_webhook_whose_tag_names_a_pending_create_of_another_account_settles_nothing() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 900, false).await;
    let id = pending_create(&gw, &fake, Reply::reset(), &video("lonely", None)).await;
    let body = zernio_events::post_event(
        "evt_other",
        "post.published",
        "post_9",
        "published",
        Utc::now(),
    );
    let mut event: Value = serde_json::from_slice(&body).unwrap();
    event["post"]["metadata"] = json!({"gateway_request_id": id});
    event["post"]["platforms"][0]["accountId"] = json!("acc_b1");
    let body = serde_json::to_vec(&event).unwrap();
    let (status, receipt) = zernio_events::send(&gw, "post.published", &body).await;
    // Still the gateway's own tag: Zernio is asked to send it again later, as before.
    assert_eq!(
        (status, receipt["code"].as_str()),
        (409, Some("post_not_recorded_yet"))
    );
    let read: Value = gw
        .get_with_key(&format!("/v1/tiktok/posts/{id}"), ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "pending");
    gw.stop().await;
}
