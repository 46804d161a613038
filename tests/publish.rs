//! Publishing through Zernio, black-box: the exact upstream requests for each kind of post and
//! each endpoint, the mapping of every upstream failure, the timeout look-up, the upstream 429
//! pause, and tenant isolation.

mod common;

use std::time::Duration;

use common::fake_zernio::{FakeZernio, Reply};
use common::*;
use serde_json::{Value, json};

fn video(account: &str, caption: &str) -> Value {
    json!({
        "account": account,
        "caption": caption,
        "video": {"url": "https://cdn.example.com/sunset-video.mp4"},
        "privacy": "public",
        "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true},
        "metadata": {"campaign": "sunsets"}
    })
}

fn header<'a>(recorded: &'a common::fake_zernio::Recorded, name: &str) -> &'a str {
    recorded
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn create(gw: &TestGateway, key: &str, body: &Value) -> reqwest::Response {
    gw.post_json("/v1/tiktok/posts", key, body).await
}

#[tokio::test]
async fn a_video_post_reaches_zernio_exactly_once_as_the_reference_body() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .header("x-request-id", "req-video-1")
        .json(&video(
            "acc_a1",
            "Check out this amazing sunset! #sunset #nature",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], "/v1/tiktok/posts/post_1");
    let post: Value = response.json().await.unwrap();
    assert_eq!(post["id"], "post_1");
    assert_eq!(post["account"], "acc_a1");
    assert_eq!(post["status"], "published");
    assert_eq!(post["kind"], "video");
    assert_eq!(post["mode"], "now");
    assert_eq!(
        post["tiktok_url"],
        "https://www.tiktok.com/@creator/video/1"
    );

    // The creator was looked up first, then exactly one create was sent.
    let creator = fake.calls("creator_info");
    assert_eq!(creator.len(), 1);
    assert_eq!(
        creator[0].path,
        "/api/v1/accounts/acc_a1/tiktok/creator-info"
    );
    assert_eq!(creator[0].query, "mediaType=video");
    let creates = fake.calls("create");
    assert_eq!(creates.len(), 1);
    let sent = &creates[0];
    assert_eq!(sent.path, "/api/v1/posts");
    assert_eq!(
        header(sent, "authorization"),
        format!("Bearer {FAKE_ZERNIO_KEY}")
    );
    // The caller's request id stays with the gateway: Zernio gets a fresh UUID for the call and,
    // with no Idempotency-Key from the caller, the create's own minted id as its key and tag.
    let upstream_id = header(sent, "x-request-id");
    assert!(uuid::Uuid::parse_str(upstream_id).is_ok(), "{upstream_id}");
    let minted = header(sent, "idempotency-key");
    assert!(uuid::Uuid::parse_str(minted).is_ok(), "{minted}");
    assert_ne!(upstream_id, minted);
    assert_eq!(sent.body["metadata"]["gateway_request_id"], minted);
    assert_eq!(
        sent.body,
        json!({
            "content": "Check out this amazing sunset! #sunset #nature",
            "mediaItems": [{"type": "video", "url": "https://cdn.example.com/sunset-video.mp4"}],
            "platforms": [{"platform": "tiktok", "accountId": "acc_a1"}],
            "tiktokSettings": {
                "privacy_level": "PUBLIC_TO_EVERYONE",
                "allow_comment": true, "allow_duet": true, "allow_stitch": true,
                "content_preview_confirmed": true, "express_consent_given": true
            },
            "publishNow": true,
            "metadata": {"campaign": "sunsets", "gateway_request_id": minted}
        })
    );
}

#[tokio::test]
async fn a_scheduled_photo_carousel_is_sent_with_its_schedule() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let at = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT09:00:00Z")
        .to_string();
    let body = json!({
        "account": "acc_a2",
        "title": "My travel highlights",
        "photos": [{"url": "https://cdn.example.com/photo1.jpg"}, {"url": "https://cdn.example.com/photo2.jpg"}, {"url": "https://cdn.example.com/photo3.jpg"}],
        "photo_cover_index": 0,
        "description": "Full trip recap #travel",
        "auto_add_music": true,
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "schedule_at": at,
        "timezone": "Europe/Berlin",
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    });
    let response = create(&gw, ACME_KEY, &body).await;
    assert_eq!(response.status(), 201);
    let post: Value = response.json().await.unwrap();
    assert_eq!(
        (
            post["kind"].as_str(),
            post["mode"].as_str(),
            post["status"].as_str()
        ),
        (Some("photo"), Some("scheduled"), Some("scheduled"))
    );
    let creator = &fake.calls("creator_info")[0];
    assert_eq!(creator.query, "mediaType=photo");
    let sent = &fake.calls("create")[0].body;
    assert_eq!(sent["scheduledFor"], json!(at));
    assert_eq!(sent["timezone"], "Europe/Berlin");
    assert!(
        sent.get("publishNow").is_none(),
        "a scheduled post is not published now: {sent}"
    );
    assert_eq!(sent["content"], "My travel highlights");
    assert_eq!(sent["mediaItems"].as_array().unwrap().len(), 3);
    assert_eq!(
        sent["tiktokSettings"],
        json!({
            "privacy_level": "PUBLIC_TO_EVERYONE", "allow_comment": true, "media_type": "photo",
            "photo_cover_index": 0, "description": "Full trip recap #travel", "auto_add_music": true,
            "content_preview_confirmed": true, "express_consent_given": true
        })
    );
}

#[tokio::test]
async fn a_creator_inbox_draft_is_sent_as_a_draft() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let mut body = video("acc_a1", "For the inbox");
    body["draft"] = json!(true);
    let response = create(&gw, ACME_KEY, &body).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["mode"], "draft");
    let sent = &fake.calls("create")[0].body;
    assert_eq!(sent["tiktokSettings"]["draft"], true);
}

#[tokio::test]
async fn every_native_endpoint_reaches_the_right_upstream_call() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let at = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT10:00:00Z")
        .to_string();
    let mut body = video("acc_a1", "To be edited");
    body["schedule_at"] = json!(at);
    let created: Value = create(&gw, ACME_KEY, &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let got: Value = gw
        .get_with_key(&format!("/v1/tiktok/posts/{id}"), ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], id.as_str());
    // Served from the record; `no-cache` asks Zernio.
    assert!(fake.calls("get").is_empty());
    let fresh = gw
        .client
        .get(gw.url(&format!("/v1/tiktok/posts/{id}")))
        .bearer_auth(ACME_KEY)
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(fake.calls("get")[0].path, format!("/api/v1/posts/{id}"));

    let listed: Value = gw
        .get_with_key("/v1/tiktok/posts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], id.as_str());

    let new_at = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%dT10:00:00Z")
        .to_string();
    let edited = gw
        .client
        .patch(gw.url(&format!("/v1/tiktok/posts/{id}")))
        .bearer_auth(ACME_KEY)
        .json(&json!({"schedule_at": new_at, "caption": "Edited caption"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let put = &fake.calls("update")[0];
    assert_eq!(put.path, format!("/api/v1/posts/{id}"));
    assert_eq!(
        put.body,
        json!({"scheduledFor": new_at, "content": "Edited caption"})
    );

    let retried = gw
        .post_json(
            &format!("/v1/tiktok/posts/{id}/retry"),
            ACME_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(
        fake.calls("retry")[0].path,
        format!("/api/v1/posts/{id}/retry")
    );

    let deleted = gw
        .client
        .delete(gw.url(&format!("/v1/tiktok/posts/{id}")))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(fake.calls("delete")[0].path, format!("/api/v1/posts/{id}"));
    let listed: Value = gw
        .get_with_key("/v1/tiktok/posts?status=cancelled", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], id.as_str());

    let accounts: Value = gw
        .get_with_key("/v1/tiktok/accounts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acc_a1", "acc_a2"], "only the tenant's accounts");
    // The post's slot is at its time, three days ahead: not in the window of now. Retried
    // (publishing) before its delete, it kept the slot.
    assert_eq!(accounts["items"][0]["videos"]["used"], 0);
    assert_eq!(accounts["items"][0]["videos"]["remaining"], 15);
    assert_eq!(accounts["items"][0]["videos"]["scheduled"], 1);
    assert_eq!(accounts["items"][1]["needs_reconnection"], true);
    assert_eq!(fake.calls("accounts")[0].query, "platform=tiktok");

    let creator: Value = gw
        .get_with_key(
            "/v1/tiktok/accounts/acc_a2/creator-info?media_type=photo",
            ACME_KEY,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        creator["privacy_levels"],
        json!(["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
    );

    let presigned = gw
        .post_json(
            "/v1/media/presign",
            ACME_KEY,
            &json!({"filename": "a.mp4", "content_type": "video/mp4", "size": 1000}),
        )
        .await;
    assert_eq!(presigned.status(), 200);
    assert_eq!(
        presigned.json::<Value>().await.unwrap()["public_url"],
        "https://cdn.example.com/media/abc.mp4"
    );
    assert_eq!(
        fake.calls("presign")[0].body,
        json!({"filename": "a.mp4", "contentType": "video/mp4", "size": 1000})
    );
    let refused = gw
        .post_json(
            "/v1/media/presign",
            ACME_KEY,
            &json!({"filename": "a.gif", "content_type": "image/gif"}),
        )
        .await;
    assert_eq!(
        problem(refused, 422).await["errors"][0]["code"],
        "unsupported_format"
    );

    let analytics: Value = gw
        .get_with_key(
            "/v1/tiktok/analytics?from=2026-01-01&to=2026-12-31",
            ACME_KEY,
        )
        .await
        .json()
        .await
        .unwrap();
    let accounts: Vec<&str> = analytics["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["acc_a1", "acc_a2"]);
    assert_eq!(analytics["items"][0]["views"], 100);
    let calls = fake.calls("analytics");
    assert!(
        calls[0].query.contains("accountId=acc_a1")
            && calls[0].query.contains("fromDate=2026-01-01"),
        "{}",
        calls[0].query
    );
}

/// Every upstream failure, scripted at the fake, and the answer the caller gets.
#[tokio::test]
async fn upstream_failures_map_to_stable_codes() {
    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            Reply::json(
                429,
                json!({"error": "You have created too many posts in the last 24 hours via the API.", "type": "platform_error"}),
            ),
            429,
            "daily_limit_reached",
        ),
        (
            Reply::json(
                400,
                json!({"error": "Selected privacy level 'PUBLIC_TO_EVERYONE' is not available for this creator. Available options: SELF_ONLY", "type": "platform_error"}),
            ),
            422,
            "privacy_level_unavailable",
        ),
        (
            Reply::json(
                400,
                json!({"error": "TikTok flagged this post as potentially risky (spam_risk)", "type": "platform_error"}),
            ),
            422,
            "spam_risk",
        ),
        (
            Reply::json(
                409,
                json!({"error": "Duplicate content detected.", "details": {"accountId": "acc_a1", "platform": "tiktok", "existingPostId": "post_old"}}),
            ),
            409,
            "duplicate_content",
        ),
        (
            Reply::json(
                400,
                json!({"error": "TikTok video upload failed: Your video URL returned an error (download failed)", "type": "platform_error"}),
            ),
            422,
            "media_download_failed",
        ),
        (
            Reply::json(
                400,
                json!({"error": "Missing required TikTok permissions. Please reconnect with all required scopes.", "type": "platform_error"}),
            ),
            409,
            "missing_permissions",
        ),
        (
            Reply::json(
                403,
                json!({"error": "Account disconnected", "code": "ACCOUNT_DISCONNECTED", "type": "permission_error"}),
            ),
            409,
            "account_disconnected",
        ),
        (
            Reply::json(401, json!({"error": "Invalid API key"})),
            502,
            "upstream_unauthorized",
        ),
        (
            // Not a status the spec lists for a create: junk on purpose.
            Reply::json(500, json!({"error": "Internal error"})).off_spec(),
            502,
            "upstream_unavailable",
        ),
    ];
    for (reply, status, code) in cases {
        let (gw, fake) = TestGateway::with_fake("").await;
        fake.script("create", reply);
        let body = problem(create(&gw, ACME_KEY, &video("acc_a1", code)).await, status).await;
        assert_eq!(body["code"], code);
        assert_eq!(
            body["zernio_request_id"], "zr-req-1",
            "{code}: Zernio's request id is kept"
        );
        assert!(
            body["fix"].as_str().is_some_and(|f| !f.is_empty()),
            "{code}: {body}"
        );
        if code == "duplicate_content" {
            assert_eq!(body["existing_post_id"], "post_old");
        }
        assert_eq!(
            fake.calls("create").len(),
            1,
            "{code}: sent once, never retried"
        );
    }
}

#[tokio::test]
async fn a_timed_out_create_is_looked_up_not_sent_again() {
    let (gw, fake) = TestGateway::with_fake("").await;
    // Zernio created the post but its answer comes after the gateway's 1 s upstream timeout.
    fake.script(
        "create",
        Reply::json(201, json!({}))
            .delayed(Duration::from_secs(3))
            .created_anyway(),
    );
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .header("x-request-id", "req-timeout-1")
        .json(&video("acc_a1", "late"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["id"], "post_1");
    assert_eq!(fake.calls("create").len(), 1, "exactly one upstream create");
    let lookup = &fake.calls("list")[0].query;
    assert!(lookup.contains("accountId=acc_a1"), "{lookup}");
    assert!(lookup.contains("sortBy=created-desc"), "{lookup}");

    // Not found: 202, the post pending under the gateway's id, and still only one create.
    fake.script(
        "create",
        Reply::json(201, json!({})).delayed(Duration::from_secs(3)),
    );
    let pending = create(&gw, ACME_KEY, &video("acc_a1", "never seen")).await;
    assert_eq!(pending.status(), 202);
    let body: Value = pending.json().await.unwrap();
    assert_eq!(body["status"], "pending");
    assert_eq!(fake.calls("create").len(), 2);
}

#[tokio::test]
async fn an_upstream_429_pauses_every_call_for_its_retry_after() {
    let (gw, fake) = TestGateway::with_fake("").await;
    fake.script(
        "accounts",
        // Zernio's API rate limit answers 429 on every path, though the spec lists it for few
        // (not for listAccounts).
        Reply::json(
            429,
            json!({"error": "Rate limit exceeded", "type": "rate_limit_error"}),
        )
        .header("retry-after", "30")
        .off_spec(),
    );
    let first = gw.get_with_key("/v1/tiktok/accounts", ACME_KEY).await;
    assert_eq!(first.headers()["retry-after"], "30");
    assert_eq!(problem(first, 429).await["code"], "upstream_rate_limited");
    // Everyone waits: another tenant's call is answered without reaching Zernio.
    let second = gw.get_with_key("/v1/tiktok/accounts", GLOBEX_KEY).await;
    let wait: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait));
    assert_eq!(problem(second, 429).await["code"], "upstream_rate_limited");
    assert_eq!(fake.calls("accounts").len(), 1);
}

#[tokio::test]
async fn tenants_never_see_each_others_posts_accounts_or_analytics() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let created: Value = create(&gw, ACME_KEY, &video("acc_a1", "acme only"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let post_paths = [format!("/v1/tiktok/posts/{id}")];
    for path in &post_paths {
        let body = problem(gw.get_with_key(path, GLOBEX_KEY).await, 404).await;
        assert_eq!(body["code"], "not_found");
    }
    let patch = gw
        .client
        .patch(gw.url(&post_paths[0]))
        .bearer_auth(GLOBEX_KEY)
        .json(&json!({"caption": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(patch, 404).await["code"], "not_found");
    let delete = gw
        .client
        .delete(gw.url(&post_paths[0]))
        .bearer_auth(GLOBEX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(delete, 404).await["code"], "not_found");
    let retry = gw
        .post_json(&format!("{}/retry", post_paths[0]), GLOBEX_KEY, &json!({}))
        .await;
    assert_eq!(problem(retry, 404).await["code"], "not_found");
    // A post that does not exist answers exactly the same.
    let missing = problem(
        gw.get_with_key("/v1/tiktok/posts/post_999", GLOBEX_KEY)
            .await,
        404,
    )
    .await;
    assert_eq!(missing["detail"], "no such object");

    let listed: Value = gw
        .get_with_key("/v1/tiktok/posts", GLOBEX_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    let accounts: Value = gw
        .get_with_key("/v1/tiktok/accounts", GLOBEX_KEY)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acc_b1"]);
    assert_eq!(
        problem(
            gw.get_with_key("/v1/tiktok/accounts/acc_a1/creator-info", GLOBEX_KEY)
                .await,
            404
        )
        .await["code"],
        "not_found"
    );
    assert_eq!(
        problem(
            gw.get_with_key("/v1/tiktok/analytics?account=acc_a1", GLOBEX_KEY)
                .await,
            404
        )
        .await["code"],
        "not_found"
    );
    assert_eq!(
        problem(
            gw.get_with_key(&format!("/v1/tiktok/analytics?post={id}"), GLOBEX_KEY)
                .await,
            404
        )
        .await["code"],
        "not_found"
    );
    let analytics: Value = gw
        .get_with_key("/v1/tiktok/analytics", GLOBEX_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        analytics["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["account"] == "acc_b1")
    );

    let body = problem(
        create(&gw, GLOBEX_KEY, &video("acc_a1", "hijack")).await,
        403,
    )
    .await;
    assert_eq!(body["code"], "account_not_allowed");
    assert_eq!(
        fake.calls("create").len(),
        1,
        "globex's attempt never reached Zernio"
    );
}

async fn budget_holds(gw: &TestGateway, fake: &FakeZernio) {
    for i in 0..15 {
        let response = create(gw, ACME_KEY, &video("acc_a1", &format!("post {i}"))).await;
        assert_eq!(response.status(), 201, "post {i}");
    }
    let refused = create(gw, ACME_KEY, &video("acc_a1", "one too many")).await;
    let wait: i64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The oldest post leaves the 24 h window a little under a day from now.
    assert!((86_000..=86_400).contains(&wait), "Retry-After {wait}");
    assert_eq!(problem(refused, 429).await["code"], "daily_limit_reached");
    assert_eq!(
        fake.calls("create").len(),
        15,
        "the 16th never reached upstream"
    );
    // Another account of the same tenant has its own budget.
    assert_eq!(
        create(gw, ACME_KEY, &video("acc_a2", "other account"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn the_daily_budget_holds_before_upstream() {
    let (gw, fake) = TestGateway::with_fake("").await;
    budget_holds(&gw, &fake).await;
}

#[tokio::test]
async fn the_same_content_twice_is_refused_before_upstream() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let first: Value = create(&gw, ACME_KEY, &video("acc_a1", "same"))
        .await
        .json()
        .await
        .unwrap();
    let body = problem(create(&gw, ACME_KEY, &video("acc_a1", "same")).await, 409).await;
    assert_eq!(body["code"], "duplicate_content");
    assert_eq!(body["existing_post_id"], first["id"]);
    assert_eq!(fake.calls("create").len(), 1);
    // The same caption on another account is not a duplicate.
    assert_eq!(
        create(&gw, ACME_KEY, &video("acc_a2", "same"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_post_that_failed_at_create_is_recorded_with_the_code_it_was_answered() {
    let (gw, fake) = TestGateway::with_fake("").await;
    fake.script(
        "create",
        Reply::json(
            207,
            json!({
                "message": "Post created but publishing failed",
                "error": "TikTok video upload failed: Your video URL returned an error (download failed: video_pull_failed)",
                "post": {"_id": "post_failed_1", "content": "kept", "status": "failed",
                         "platforms": [{"platform": "tiktok", "accountId": "acc_a1", "status": "failed",
                                        "errorMessage": "TikTok video upload failed: Your video URL returned an error (download failed: video_pull_failed)",
                                        "errorCategory": "user_content"}]},
                "platformResults": [{"platform": "tiktok", "status": "failed", "error": "video_pull_failed"}]
            }),
        ),
    );
    let body = problem(create(&gw, ACME_KEY, &video("acc_a1", "kept")).await, 422).await;
    assert_eq!(body["code"], "media_download_failed");
    assert_eq!(body["post_id"], "post_failed_1");
    // A read of the post (a Zapier search, a poll) names the same code as the create's answer,
    // whether or not Zernio's webhook about it ever arrives.
    let record: Value = gw
        .get_with_key("/v1/tiktok/posts/post_failed_1", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error_code"], "media_download_failed");
    let events: Value = gw
        .get_with_key("/v1/tiktok/posts/post_failed_1/events", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["source"], "create");
    assert_eq!(events["items"][0]["error_code"], "media_download_failed");
}

#[tokio::test]
async fn a_published_post_is_neither_edited_nor_cancelled_and_zernio_is_not_asked() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let created = create(&gw, ACME_KEY, &video("acc_a1", "Final")).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/tiktok/posts/{id}");
    let send = |request: reqwest::RequestBuilder| request.bearer_auth(ACME_KEY).send();

    let edited = send(
        gw.client
            .patch(gw.url(&path))
            .json(&json!({"caption": "Again"})),
    )
    .await
    .unwrap();
    let body = problem(edited, 409).await;
    assert_eq!(body["code"], "post_not_editable");
    assert_eq!(
        body["detail"],
        format!(
            "post `{id}` is published: TikTok does not let a published post be edited or \
             rescheduled. Change it in the TikTok app, or delete it there and create a new post"
        )
    );
    let cancelled = send(gw.client.delete(gw.url(&path))).await.unwrap();
    let body = problem(cancelled, 409).await;
    assert_eq!(body["code"], "post_not_cancellable");
    assert_eq!(
        body["detail"],
        format!(
            "post `{id}` is published: it can no longer be cancelled. Delete it in the TikTok app"
        )
    );

    // Zernio's surface: its ErrorResponse, at the statuses its OpenAPI lists for each operation.
    let compat = format!("/api/v1/posts/{id}");
    let put = send(
        gw.client
            .put(gw.url(&compat))
            .json(&json!({"content": "Again"})),
    )
    .await
    .unwrap();
    assert_eq!(put.status(), 409);
    let body: Value = put.json().await.unwrap();
    assert_eq!(body["code"], "post_not_editable");
    assert_eq!(body["type"], "invalid_request_error");
    let delete = send(gw.client.delete(gw.url(&compat))).await.unwrap();
    assert_eq!(delete.status(), 400);
    let body: Value = delete.json().await.unwrap();
    assert_eq!(body["code"], "post_not_cancellable");
    assert!(
        body["error"].as_str().unwrap().contains("is published"),
        "{body}"
    );

    assert!(fake.calls("update").is_empty());
    assert!(fake.calls("delete").is_empty());
    // The record still says published.
    let got: Value = gw.get_with_key(&path, ACME_KEY).await.json().await.unwrap();
    assert_eq!(got["status"], "published");
}
