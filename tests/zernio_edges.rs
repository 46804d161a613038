//! The edges where Zernio's published contract (its OpenAPI 1.444.0) differs from the first
//! model of it, black-box against the fake: request ids and idempotency keys the gateway mints,
//! Zernio's replays, the kinds of 429, account-state failures, and the look-up after an
//! ambiguous create. Each test is named for the behaviour it holds.

mod common;

use common::fake_zernio::Reply;
use common::*;
use serde_json::{Value, json};

fn video(account: &str, caption: &str) -> Value {
    json!({
        "account": account,
        "caption": caption,
        "video": {"url": "https://cdn.example.com/sunset-video.mp4"},
        "privacy": "public",
        "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

fn header(recorded: &common::fake_zernio::Recorded, name: &str) -> String {
    recorded
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn create_with_request_id(
    gw: &TestGateway,
    key: &str,
    request_id: &str,
    body: &Value,
) -> reqwest::Response {
    gw.client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(key)
        .header("x-request-id", request_id)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A tenant whose accounts may post three times a day, for the cap tests.
fn capped_tenant() -> String {
    format!(
        r#"
[[tenants]]
id = "capped"
accounts = ["acc_nobody"]
daily_posts_per_account = 3

[[tenants.api_keys]]
id = "capped"
sha256 = "{}"
scopes = ["posts:write", "posts:read"]
"#,
        sha256_hex(CAPPED_KEY)
    )
}

const CAPPED_KEY: &str = "tgw_capped-tenant-key-000000000000000000000000";

#[tokio::test]
async fn one_caller_request_id_on_two_posts_makes_two_posts() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let first = create_with_request_id(&gw, ACME_KEY, "same-id", &video("acc_a1", "one")).await;
    assert_eq!(first.status(), 201);
    let second = create_with_request_id(&gw, ACME_KEY, "same-id", &video("acc_a1", "two")).await;
    assert_eq!(second.status(), 201, "{:?}", second.text().await);
    // Another tenant reusing the id posts too.
    let other = create_with_request_id(&gw, GLOBEX_KEY, "same-id", &video("acc_b1", "one")).await;
    assert_eq!(other.status(), 201);

    let creates = fake.calls("create");
    assert_eq!(creates.len(), 3);
    let ids: std::collections::HashSet<String> =
        creates.iter().map(|r| header(r, "x-request-id")).collect();
    let keys: std::collections::HashSet<String> = creates
        .iter()
        .map(|r| header(r, "idempotency-key"))
        .collect();
    assert_eq!(ids.len(), 3, "a fresh x-request-id per create: {ids:?}");
    assert_eq!(
        keys.len(),
        3,
        "a fresh idempotency key per create: {keys:?}"
    );
    assert!(!ids.contains("same-id") && !keys.contains("same-id"));
    // The caller's id is still what the gateway answers with, for correlation.
    let listed: Value = gw
        .get_with_key("/v1/tiktok/posts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

#[tokio::test]
async fn a_reused_request_id_never_frees_another_posts_budget_slot() {
    let (gw, fake) = TestGateway::with_fake(&capped_tenant()).await;
    for i in 0..3 {
        let r = create_with_request_id(
            &gw,
            CAPPED_KEY,
            "reused",
            &video("acc_nobody", &format!("post {i}")),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    // Refused creates under the same id: over the cap, and a duplicate. Neither may give back
    // a slot that belongs to a post that exists.
    for caption in ["post 0", "post 3"] {
        let r =
            create_with_request_id(&gw, CAPPED_KEY, "reused", &video("acc_nobody", caption)).await;
        assert!(matches!(r.status().as_u16(), 409 | 429), "{}", r.status());
    }
    let fourth =
        create_with_request_id(&gw, CAPPED_KEY, "reused", &video("acc_nobody", "post 4")).await;
    let body = problem(fourth, 429).await;
    assert_eq!(body["code"], "daily_limit_reached");
    assert_eq!(
        fake.calls("create").len(),
        3,
        "the cap held: three posts reached Zernio"
    );
}

#[tokio::test]
async fn zernios_replay_of_a_recorded_post_answers_it_once_and_never_5xx() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let first = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", "original"))
        .await;
    assert_eq!(first.status(), 201);
    let original = fake.calls("create")[0].body.clone();
    let post = json!({
        "_id": "post_1", "content": original["content"], "status": "published",
        "mediaItems": original["mediaItems"],
        "platforms": [{"platform": "tiktok", "accountId": "acc_a1", "status": "published",
                       "platformPostUrl": "https://www.tiktok.com/@creator/video/1"}],
        "createdAt": chrono::Utc::now().to_rfc3339()
    });
    // Zernio answers 200 with the original post (its replay), in the current and the older
    // member name.
    fake.script(
        "create",
        Reply::json(200, json!({"message": "Post already exists", "post": post})),
    );
    fake.script(
        "create",
        Reply::json(
            200,
            json!({"message": "Post already exists", "existingPost": post}),
        ),
    );
    for caption in ["retried", "retried again"] {
        let r = gw
            .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", caption))
            .await;
        assert_eq!(r.status(), 201, "{caption}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["id"], "post_1");
    }
    let listed: Value = gw
        .get_with_key("/v1/tiktok/posts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["post_1"], "recorded once");
    // The replays took no daily slot of their own.
    assert_eq!(videos_used(&gw, "acc_a1").await, 1);
}

fn photos(account: &str, title: &str) -> Value {
    json!({
        "account": account,
        "title": title,
        "photos": [{"url": "https://cdn.example.com/p1.jpg"}, {"url": "https://cdn.example.com/p2.jpg"}],
        "privacy": "public",
        "allow_comment": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

#[tokio::test]
async fn a_daily_cap_429_on_create_marks_only_that_account() {
    let (gw, fake) = TestGateway::with_fake("").await;
    fake.script(
        "create",
        Reply::json(
            429,
            json!({"error": "TikTok daily posting limit reached for this account", "details": {"platform": "tiktok"}}),
        ),
    );
    let body = problem(
        gw.post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", "one"))
            .await,
        429,
    )
    .await;
    assert_eq!(body["code"], "daily_limit_reached");
    // Marked: the next create is refused without a call, and Zernio is not paused for others.
    let again = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", "two"))
        .await;
    assert_eq!(problem(again, 429).await["code"], "daily_limit_reached");
    assert_eq!(fake.calls("create").len(), 1);
    let other = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a2", "two"))
        .await;
    assert_eq!(other.status(), 201);
}

#[tokio::test]
async fn a_creator_info_429_is_the_daily_cap_and_marks_the_account() {
    let (gw, fake) = TestGateway::with_fake("").await;
    // The spec's own example for creator-info's 429.
    fake.script(
        "creator_info",
        Reply::json(
            429,
            json!({"error": "TikTok creator has reached the daily posting limit. Please try again later."}),
        ),
    );
    let body = problem(
        gw.post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", "one"))
            .await,
        429,
    )
    .await;
    assert_eq!(body["code"], "daily_limit_reached");
    assert!(fake.calls("create").is_empty());
    let accounts: Value = gw
        .get_with_key("/v1/tiktok/accounts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    let a1 = &accounts["items"][0];
    assert_eq!(a1["id"], "acc_a1");
    assert_eq!(a1["videos"]["remaining"], 0, "{a1}");
    assert!(a1["videos"]["exhausted_until"].is_string(), "{a1}");
    // Nothing paused: another account's look-up goes out.
    let other = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a2", "one"))
        .await;
    assert_eq!(other.status(), 201);
}

#[tokio::test]
async fn the_velocity_cap_holds_one_account_and_nobody_else() {
    let (gw, fake) = TestGateway::with_fake("").await;
    fake.script(
        "create",
        Reply::json(
            429,
            json!({"error": "Velocity limit exceeded: at most 25 posts per hour for this account", "details": {"limit": 25, "window": "1h"}}),
        )
        .header("retry-after", "120"),
    );
    let refused = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", "one"))
        .await;
    assert_eq!(refused.headers()["retry-after"], "120");
    assert_eq!(
        problem(refused, 429).await["code"],
        "account_velocity_limited"
    );
    // Held locally: no second call for this account.
    let held = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", "two"))
        .await;
    let wait: u64 = held.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&wait), "{wait}");
    assert_eq!(problem(held, 429).await["code"], "account_velocity_limited");
    assert_eq!(fake.calls("create").len(), 1);
    // Other accounts and other tenants are not paused.
    let other = gw
        .post_json("/v1/tiktok/posts", GLOBEX_KEY, &video("acc_b1", "one"))
        .await;
    assert_eq!(other.status(), 201);
    let same_tenant = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a2", "one"))
        .await;
    assert_eq!(same_tenant.status(), 201);
}

#[tokio::test]
async fn the_api_rate_limit_pauses_the_key_for_at_most_the_configured_maximum() {
    let (gw, fake) = TestGateway::with_fake("max_pause_secs = 5").await;
    fake.script(
        "create",
        Reply::json(
            429,
            json!({"error": "Rate limit exceeded. Please try again later."}),
        )
        .header("retry-after", "100000")
        .header("x-ratelimit-remaining", "0"),
    );
    let first = gw
        .post_json("/v1/tiktok/posts", ACME_KEY, &video("acc_a1", "one"))
        .await;
    assert_eq!(first.headers()["retry-after"], "5");
    assert_eq!(problem(first, 429).await["code"], "upstream_rate_limited");
    // Every tenant waits, but only for the capped pause.
    let other = gw
        .post_json("/v1/tiktok/posts", GLOBEX_KEY, &video("acc_b1", "one"))
        .await;
    let wait: u64 = other.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
    assert_eq!(problem(other, 429).await["code"], "upstream_rate_limited");
    assert_eq!(fake.calls("create").len(), 1);
}

#[tokio::test]
async fn account_state_failures_are_4xx_with_the_fix_never_5xx() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let cases = [
        (
            json!({"error": "Account acc_a1 (tiktok \"x\") is disconnected and cannot be posted to.", "code": "ACCOUNT_DISCONNECTED"}),
            "account_disconnected",
        ),
        (
            json!({"error": "Account acc_a1 was connected for ads only", "code": "ACCOUNT_NOT_ENABLED_FOR_POSTING"}),
            "account_not_enabled",
        ),
        (
            json!({"error": "Missing required TikTok permissions. Please reconnect your account."}),
            "missing_permissions",
        ),
    ];
    for (i, (answer, code)) in cases.into_iter().enumerate() {
        fake.script("create", Reply::json(403, answer));
        let r = gw
            .post_json(
                "/v1/tiktok/posts",
                ACME_KEY,
                &video("acc_a1", &format!("state {i}")),
            )
            .await;
        let body = problem(r, 409).await;
        assert_eq!(body["code"], code);
        assert!(
            body["fix"].as_str().unwrap().contains("onnect")
                || body["fix"].as_str().unwrap().contains("nable"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn videos_and_photo_posts_are_counted_apart() {
    let (gw, fake) = TestGateway::with_fake(&capped_tenant()).await;
    for i in 0..3 {
        let r = gw
            .post_json(
                "/v1/tiktok/posts",
                CAPPED_KEY,
                &video("acc_nobody", &format!("v{i}")),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let fourth = gw
        .post_json("/v1/tiktok/posts", CAPPED_KEY, &video("acc_nobody", "v3"))
        .await;
    assert_eq!(problem(fourth, 429).await["code"], "daily_limit_reached");
    // The photo lane is still empty.
    let photo = gw
        .post_json(
            "/v1/tiktok/posts",
            CAPPED_KEY,
            &photos("acc_nobody", "trip"),
        )
        .await;
    assert_eq!(photo.status(), 201, "{:?}", photo.text().await);
    assert_eq!(fake.calls("create").len(), 4);
    let accounts: Value = gw
        .get_with_key("/v1/tiktok/accounts", CAPPED_KEY)
        .await
        .json()
        .await
        .unwrap();
    let a = &accounts["items"][0];
    assert_eq!(a["videos"]["used"], 3, "{a}");
    assert_eq!(a["videos"]["remaining"], 0, "{a}");
    assert_eq!(a["photos"]["used"], 1, "{a}");
    assert_eq!(a["photos"]["limit"], 3, "{a}");
    assert_eq!(a["drafts"]["used"], 0, "{a}");
}

#[tokio::test]
async fn an_account_can_have_its_own_daily_limits() {
    let tenant = capped_tenant().replace(
        "daily_posts_per_account = 3\n",
        "daily_posts_per_account = 3\n[tenants.account_daily_limits.acc_nobody]\nvideos = 1\n",
    );
    let (gw, _fake) = TestGateway::with_fake(&tenant).await;
    let first = gw
        .post_json("/v1/tiktok/posts", CAPPED_KEY, &video("acc_nobody", "v0"))
        .await;
    assert_eq!(first.status(), 201);
    let second = gw
        .post_json("/v1/tiktok/posts", CAPPED_KEY, &video("acc_nobody", "v1"))
        .await;
    assert_eq!(problem(second, 429).await["code"], "daily_limit_reached");
    let accounts: Value = gw
        .get_with_key("/v1/tiktok/accounts", CAPPED_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["items"][0]["videos"]["limit"], 1);
    assert_eq!(accounts["items"][0]["photos"]["limit"], 3);
}

fn compat_video(account: &str, caption: &str) -> Value {
    json!({
        "content": caption,
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": account}],
        "tiktokSettings": {
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "allow_comment": true, "allow_duet": true, "allow_stitch": true,
            "content_preview_confirmed": true, "express_consent_given": true
        }
    })
}

async fn compat_create(gw: &TestGateway, body: &Value) -> reqwest::Response {
    gw.post_json("/api/v1/posts", ACME_KEY, body).await
}

async fn videos_used(gw: &TestGateway, account: &str) -> Value {
    let accounts: Value = gw
        .get_with_key("/v1/tiktok/accounts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == account)
        .map(|a| a["videos"]["used"].clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_compat_create_that_names_no_time_is_a_zernio_draft_not_a_publication() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let r = compat_create(&gw, &compat_video("acc_a1", "no time given")).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let sent = &fake.calls("create")[0].body;
    assert_eq!(sent["isDraft"], true, "{sent}");
    assert!(sent.get("publishNow").is_none(), "{sent}");
    // Nothing reached TikTok, so nothing of the daily budget is spent.
    assert_eq!(videos_used(&gw, "acc_a1").await, 0);
    // The same content published afterwards is not refused as its own duplicate.
    let mut now = compat_video("acc_a1", "no time given");
    now["publishNow"] = json!(true);
    let r = compat_create(&gw, &now).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    assert_eq!(fake.calls("create")[1].body["publishNow"], true);
    assert_eq!(videos_used(&gw, "acc_a1").await, 1);
}

#[tokio::test]
async fn is_draft_beats_publish_now_which_beats_scheduled_for() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let at = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%dT09:00:00Z")
        .to_string();
    let mut draft = compat_video("acc_a1", "draft wins");
    draft["isDraft"] = json!(true);
    draft["publishNow"] = json!(true);
    draft["scheduledFor"] = json!(at);
    let mut now = compat_video("acc_a1", "now wins");
    now["publishNow"] = json!(true);
    now["scheduledFor"] = json!(at);
    let mut later = compat_video("acc_a1", "schedule");
    later["scheduledFor"] = json!(at);
    for body in [&draft, &now, &later] {
        let r = compat_create(&gw, body).await;
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
    }
    let sent: Vec<Value> = fake.calls("create").into_iter().map(|r| r.body).collect();
    assert_eq!(sent[0]["isDraft"], true);
    assert!(sent[0].get("scheduledFor").is_none());
    assert_eq!(sent[1]["publishNow"], true);
    assert!(sent[1].get("scheduledFor").is_none());
    assert_eq!(sent[2]["scheduledFor"], at.as_str());
    assert!(sent[2].get("publishNow").is_none());
}

#[tokio::test]
async fn tiktok_settings_in_platform_specific_data_are_honoured() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let body = json!({
        "content": "root caption",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_a1",
            "customContent": "tiktok caption",
            "platformSpecificData": {"privacyLevel": "SELF_ONLY", "allowComment": false,
                "allowDuet": false, "allowStitch": false,
                "contentPreviewConfirmed": true, "expressConsentGiven": true}}],
        "publishNow": true
    });
    let r = compat_create(&gw, &body).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let sent = &fake.calls("create")[0].body;
    assert_eq!(sent["content"], "tiktok caption");
    assert_eq!(sent["tiktokSettings"]["privacy_level"], "SELF_ONLY");
    assert_eq!(sent["tiktokSettings"]["allow_comment"], false);
}

#[tokio::test]
async fn the_specs_inbox_video_draft_example_is_sent_as_it_is() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let mut example = json!({
        "content": "New video draft!",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/video.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_a1"}],
        "tiktokSettings": {"draft": true, "contentPreviewConfirmed": true, "expressConsentGiven": true}
    });
    example["publishNow"] = json!(true);
    let r = compat_create(&gw, &example).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let settings = &fake.calls("create")[0].body["tiktokSettings"];
    assert_eq!(settings["draft"], true);
    assert!(settings.get("privacy_level").is_none(), "{settings}");
    assert!(settings.get("allow_comment").is_none(), "{settings}");
}
