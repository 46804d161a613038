//! The Zernio-compatible surface (`/api/v1`), black-box against the recording fake Zernio: every
//! answer in the shape and at the status Zernio's OpenAPI gives for the operation, errors as
//! Zernio's `ErrorResponse`.

mod common;

use common::contract;
use common::fake_zernio::Reply;
use common::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// An `/api/v1` answer, read and held to Zernio's OpenAPI: a status the spec lists for the
/// operation and a body of that status's schema. The test fails on anything off it.
struct Checked {
    status: StatusCode,
    headers: HeaderMap,
    body: axum::body::Bytes,
}

impl Checked {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn content_length(&self) -> Option<u64> {
        Some(self.body.len() as u64)
    }

    async fn json<T: serde::de::DeserializeOwned>(self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }
}

/// How many answers this binary held to the spec (figures for the report).
static VALIDATED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn checked(method: &str, response: reqwest::Response) -> Checked {
    let path = response
        .url()
        .path()
        .strip_prefix("/api")
        .expect("an /api/v1 answer")
        .to_owned();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the answer arrives");
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if let Err(errors) = contract::validate_response(method, &path, status.as_u16(), json.as_ref())
    {
        panic!(
            "{method} {path} answered {status} off Zernio's OpenAPI:\n  {}\nbody: {}",
            errors.join("\n  "),
            String::from_utf8_lossy(&body)
        );
    }
    VALIDATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Checked {
        status,
        headers,
        body,
    }
}

async fn post(gw: &TestGateway, path: &str, key: &str, body: &Value) -> Checked {
    checked("POST", gw.post_json(path, key, body).await).await
}

async fn get(gw: &TestGateway, path: &str, key: &str) -> Checked {
    checked("GET", gw.get_with_key(path, key).await).await
}

const CAPTION: &str = "Check out this amazing sunset! #sunset #nature";
const VIDEO_URL: &str = "https://cdn.example.com/sunset-video.mp4";

/// Zernio's create body for a TikTok video, as the SDKs send it.
fn video(account: &str, caption: &str) -> Value {
    json!({
        "content": caption,
        "mediaItems": [{"type": "video", "url": VIDEO_URL}],
        "platforms": [{"platform": "tiktok", "accountId": account}],
        "tiktokSettings": {
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "allow_comment": true, "allow_duet": true, "allow_stitch": true,
            "content_preview_confirmed": true, "express_consent_given": true
        },
        "publishNow": true
    })
}

/// An `ErrorResponse` answer: its status, `application/json`, and the members every one has.
async fn zernio_error(response: Checked, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json");
    let body: Value = response.json().await.expect("an error body is JSON");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no `error` message: {body}"
    );
    let types = [
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found",
        "rate_limit_error",
        "platform_error",
        "api_error",
    ];
    assert!(
        body["type"].as_str().is_some_and(|t| types.contains(&t)),
        "`type` outside Zernio's enum: {body}"
    );
    assert!(body["details"].is_object(), "no details: {body}");
    for native in ["title", "status", "detail", "request_id"] {
        assert!(
            body.get(native).is_none(),
            "problem member `{native}`: {body}"
        );
    }
    body
}

#[tokio::test]
async fn a_post_breaking_tiktoks_rules_is_a_400_naming_each_violation_and_its_fix() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let mut body = video("acc_a1", CAPTION);
    body["tiktokSettings"]
        .as_object_mut()
        .unwrap()
        .remove("privacy_level");
    body["mediaItems"][0]["url"] = json!("http://cdn.example.com/clip.mp4");
    let answer = zernio_error(post(&gw, "/api/v1/posts", ACME_KEY, &body).await, 400).await;
    assert_eq!(answer["type"], "invalid_request_error");
    assert_eq!(answer["code"], "validation_failed");
    let errors = answer["details"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{answer}");
    let first = &errors[0];
    assert_eq!(answer["param"], first["field"]);
    let message = answer["error"].as_str().unwrap();
    for e in errors {
        let (field, fix) = (e["field"].as_str().unwrap(), e["fix"].as_str().unwrap());
        assert!(!fix.is_empty());
        assert!(
            message.contains(field) && message.contains(fix),
            "`error` names {field} and its fix: {message}"
        );
    }
    let codes: Vec<&str> = errors.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"privacy_required"), "{codes:?}");
    assert!(codes.contains(&"media_url_not_direct"), "{codes:?}");
    assert_eq!(answer["details"]["gatewayCode"], "validation_failed");
    assert!(fake.calls("create").is_empty());
}

#[tokio::test]
async fn an_answer_to_a_body_of_thousands_of_violations_is_small_and_never_empty() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let mut body = video("acc_a1", CAPTION);
    // Just under the 1 MiB body limit: each item a share page, which is a violation each.
    let items: Vec<Value> = (0..9000)
        .map(|i| json!({"type": "image", "url": format!("https://drive.google.com/file/{i}")}))
        .collect();
    body["mediaItems"] = json!(items);
    assert!(serde_json::to_vec(&body).unwrap().len() < 1024 * 1024);
    let response = post(&gw, "/api/v1/posts", ACME_KEY, &body).await;
    let length = response.content_length();
    let answer = zernio_error(response, 400).await;
    assert!(length.is_some_and(|n| n > 0 && n < 64 * 1024), "{length:?}");
    let errors = answer["details"]["errors"].as_array().unwrap();
    // At most five of one rule (and 50 in all): the list says it was cut.
    assert!(!errors.is_empty() && errors.len() <= 50, "{}", errors.len());
    assert_eq!(answer["details"]["errorsTruncated"], true);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("more in details.errors")
    );
    assert!(fake.calls("create").is_empty());
}

#[tokio::test]
async fn credentials_missing_or_unknown_are_401_with_zernios_codes() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let response = gw
        .client
        .get(gw.url("/api/v1/accounts"))
        .send()
        .await
        .unwrap();
    let answer = zernio_error(checked("GET", response).await, 401).await;
    assert_eq!(answer["type"], "authentication_error");
    assert_eq!(answer["code"], "missing_credentials");
    let answer = zernio_error(
        get(&gw, "/api/v1/posts", &format!("tgw_{}", "x".repeat(43))).await,
        401,
    )
    .await;
    assert_eq!(answer["code"], "invalid_credentials");
    assert_eq!(answer["details"]["gatewayCode"], "invalid_api_key");
}

#[tokio::test]
async fn an_account_of_another_tenant_is_a_403_without_a_code_as_zernio_answers_it() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let answer = zernio_error(
        post(&gw, "/api/v1/posts", ACME_KEY, &video("acc_b1", CAPTION)).await,
        403,
    )
    .await;
    assert_eq!(answer["type"], "permission_error");
    assert!(answer.get("code").is_none(), "{answer}");
    assert_eq!(answer["details"]["gatewayCode"], "account_not_allowed");
    assert!(fake.calls("create").is_empty());
}

#[tokio::test]
async fn a_duplicate_is_a_409_naming_the_existing_post() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let first = post(&gw, "/api/v1/posts", ACME_KEY, &video("acc_a1", CAPTION)).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let answer = zernio_error(
        post(&gw, "/api/v1/posts", ACME_KEY, &video("acc_a1", CAPTION)).await,
        409,
    )
    .await;
    assert_eq!(answer["code"], "duplicate_content");
    assert_eq!(answer["details"]["existingPostId"], first["post"]["_id"]);
    assert_eq!(answer["details"]["platform"], "tiktok");
    assert_eq!(fake.calls("create").len(), 1);
}

#[tokio::test]
async fn an_upstream_account_state_is_a_403_with_zernios_code_never_a_5xx() {
    for (reply, code, reason) in [
        (
            json!({"error": "Account disconnected", "code": "ACCOUNT_DISCONNECTED", "type": "permission_error"}),
            "ACCOUNT_DISCONNECTED",
            "account_disconnected",
        ),
        (
            json!({"error": "Account is connected for ads only", "code": "ACCOUNT_NOT_ENABLED_FOR_POSTING"}),
            "ACCOUNT_NOT_ENABLED_FOR_POSTING",
            "account_not_enabled",
        ),
    ] {
        let (gw, fake) = TestGateway::with_fake("").await;
        fake.script("create", Reply::json(403, reply));
        let answer = zernio_error(
            post(&gw, "/api/v1/posts", ACME_KEY, &video("acc_a1", code)).await,
            403,
        )
        .await;
        assert_eq!(answer["code"], code);
        assert_eq!(answer["type"], "permission_error");
        assert_eq!(answer["details"]["gatewayCode"], reason);
        assert!(
            answer["error"].as_str().unwrap().contains("Fix:"),
            "{answer}"
        );
        assert_eq!(answer["details"]["zernioRequestId"], "zr-req-1");
    }
}

#[tokio::test]
async fn a_platform_other_than_tiktok_is_a_400() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let mut body = video("acc_a1", CAPTION);
    body["platforms"][0]["platform"] = json!("twitter");
    let answer = zernio_error(post(&gw, "/api/v1/posts", ACME_KEY, &body).await, 400).await;
    assert_eq!(answer["type"], "invalid_request_error");
    assert!(fake.calls("create").is_empty());
}

#[tokio::test]
async fn unknown_posts_are_404_and_a_conflict_on_delete_is_the_400_the_operation_lists() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let answer = zernio_error(get(&gw, "/api/v1/posts/nope", ACME_KEY).await, 404).await;
    assert_eq!(answer["type"], "not_found");
    assert_eq!(answer["code"], "not_found");

    // A scheduled post, which the record lets through: Zernio refuses it here.
    let mut scheduled = video("acc_a1", CAPTION);
    scheduled["publishNow"] = json!(false);
    scheduled["scheduledFor"] = json!(
        (chrono::Utc::now() + chrono::Duration::days(2))
            .format("%Y-%m-%dT10:00:00Z")
            .to_string()
    );
    let created: Value = post(&gw, "/api/v1/posts", ACME_KEY, &scheduled)
        .await
        .json()
        .await
        .unwrap();
    let id = created["post"]["_id"].as_str().unwrap();
    fake.script(
        "delete",
        Reply::json(
            409,
            json!({"error": "Published posts cannot be deleted", "type": "invalid_request_error"}),
        )
        // An older Zernio's 409, which 1.444.0 no longer lists for a delete.
        .off_spec(),
    );
    let response = gw
        .client
        .delete(gw.url(&format!("/api/v1/posts/{id}")))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    let answer = zernio_error(checked("DELETE", response).await, 400).await;
    assert_eq!(answer["details"]["gatewayCode"], "upstream_conflict");
}

#[tokio::test]
async fn a_missing_scope_is_a_403_where_the_operation_lists_it_else_a_401() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let answer = zernio_error(
        post(
            &gw,
            "/api/v1/posts",
            ACME_READ_KEY,
            &video("acc_a1", CAPTION),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(answer["details"]["gatewayCode"], "insufficient_scope");
    let answer = zernio_error(get(&gw, "/api/v1/analytics", ACME_READ_KEY).await, 401).await;
    assert_eq!(answer["type"], "permission_error");
    assert_eq!(answer["details"]["gatewayCode"], "insufficient_scope");
}

#[tokio::test]
async fn native_errors_stay_problem_json() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let body = problem(
        gw.get_with_key("/v1/tiktok/posts/nope", ACME_KEY).await,
        404,
    )
    .await;
    assert_eq!(body["code"], "not_found");
}

/// The account's budget as `GET /v1/tiktok/accounts` shows it.
async fn videos_used(gw: &TestGateway, account: &str) -> Value {
    let list: Value = gw
        .get_with_key("/v1/tiktok/accounts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == account)
        .map(|a| a["videos"]["used"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_dry_run_answers_the_verdict_and_creates_nothing_nor_holds_anything() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let mut body = video("acc_a1", CAPTION);
    body["dryRun"] = json!(true);
    for _ in 0..2 {
        let response = post(&gw, "/api/v1/posts", ACME_KEY, &body).await;
        assert_eq!(response.status(), 200);
        let verdict: Value = response.json().await.unwrap();
        assert_eq!(
            verdict,
            json!({"dryRun": true, "canPublish": true, "tiktok": [{
                "accountId": "acc_a1", "canPublish": true, "alreadyPostedToday": false,
                "reason": "The post passes TikTok's rules for this creator."
            }]})
        );
    }
    assert!(fake.calls("create").is_empty(), "nothing that creates");
    assert_eq!(videos_used(&gw, "acc_a1").await, 0, "no slot taken");
    // No duplicate claim either: the same post for real goes through, once.
    body.as_object_mut().unwrap().remove("dryRun");
    let response = post(&gw, "/api/v1/posts", ACME_KEY, &body).await;
    assert_eq!(response.status(), 201);
    assert_eq!(fake.calls("create").len(), 1);
    assert_eq!(videos_used(&gw, "acc_a1").await, 1);
}

#[tokio::test]
async fn a_dry_run_says_no_when_the_daily_budget_is_spent_and_refuses_a_broken_post() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let _ = post(&gw, "/api/v1/posts", ACME_KEY, &video("acc_a1", "one")).await;
    // (tenants_toml's acme has the default 15 a day: spend them all.)
    for i in 1..15 {
        let r = post(
            &gw,
            "/api/v1/posts",
            ACME_KEY,
            &video("acc_a1", &format!("post {i}")),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    let mut body = video("acc_a1", "sixteenth");
    body["dryRun"] = json!(true);
    let verdict: Value = post(&gw, "/api/v1/posts", ACME_KEY, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["canPublish"], false, "{verdict}");
    assert_eq!(verdict["tiktok"][0]["canPublish"], false);
    assert_eq!(verdict["tiktok"][0]["alreadyPostedToday"], true);
    assert!(
        verdict["tiktok"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("daily")
    );
    body["tiktokSettings"]["privacy_level"] = json!("EVERYONE_AND_THEIR_DOG");
    let answer = zernio_error(post(&gw, "/api/v1/posts", ACME_KEY, &body).await, 400).await;
    assert_eq!(answer["code"], "validation_failed");
    assert_eq!(fake.calls("create").len(), 15);
}

async fn list(gw: &TestGateway, query: &str) -> (u16, Value) {
    let response = get(gw, &format!("/api/v1/posts{query}"), ACME_KEY).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Three posts: two published now, one scheduled 30 days ahead; returns their ids, oldest first.
async fn three_posts(gw: &TestGateway) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, scheduled) in [(1, false), (2, true), (3, false)] {
        let mut body = video(
            if i == 3 { "acc_a2" } else { "acc_a1" },
            &format!("post {i}"),
        );
        if scheduled {
            body.as_object_mut().unwrap().remove("publishNow");
            body["scheduledFor"] = json!(
                (chrono::Utc::now() + chrono::Duration::days(30))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
        let response = post(gw, "/api/v1/posts", ACME_KEY, &body).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        // Posts created in the same millisecond are ordered by id, which the fake counts up.
        ids.push(created["post"]["_id"].as_str().unwrap().to_owned());
    }
    ids
}

fn ids_of(answer: &Value) -> Vec<&str> {
    answer["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_list_pages_with_a_true_total_and_posts_with_their_content_and_media() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let ids = three_posts(&gw).await;
    let (status, first) = list(&gw, "?page=1&limit=2&sortBy=created-desc").await;
    assert_eq!(status, 200);
    assert_eq!(
        first["pagination"],
        json!({"page": 1, "limit": 2, "total": 3, "pages": 2})
    );
    assert_eq!(ids_of(&first), [ids[2].as_str(), ids[1].as_str()]);
    let (_, second) = list(&gw, "?page=2&limit=2&sortBy=created-desc").await;
    assert_eq!(ids_of(&second), [ids[0].as_str()]);
    assert_eq!(second["pagination"]["total"], 3);
    let post = &second["posts"][0];
    assert_eq!(post["content"], "post 1");
    assert_eq!(
        post["mediaItems"],
        json!([{"type": "video", "url": VIDEO_URL}])
    );
    assert_eq!(post["status"], "published");
    assert_eq!(post["platforms"][0]["platform"], "tiktok");
    assert_eq!(post["platforms"][0]["accountId"], "acc_a1");
    assert_eq!(post["platforms"][0]["status"], "published");
    // offset wins over page.
    let (_, by_offset) = list(&gw, "?page=1&offset=1&limit=1&sortBy=created-desc").await;
    assert_eq!(ids_of(&by_offset), [ids[1].as_str()]);
    assert_eq!(by_offset["pagination"]["page"], 2);
}

#[tokio::test]
async fn the_list_takes_the_specs_filters_orders_and_limits() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let ids = three_posts(&gw).await;
    // The default order is scheduled-desc: the scheduled post first.
    let (_, answer) = list(&gw, "").await;
    assert_eq!(ids_of(&answer)[0], ids[1]);
    assert_eq!(answer["pagination"]["limit"], 10);
    let (_, answer) = list(&gw, "?sortBy=created-asc").await;
    assert_eq!(
        ids_of(&answer),
        ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let (_, answer) = list(&gw, "?status=scheduled").await;
    assert_eq!(ids_of(&answer), [ids[1].as_str()]);
    assert_eq!(answer["pagination"]["total"], 1);
    let (_, answer) = list(&gw, "?accountId=acc_a2").await;
    assert_eq!(ids_of(&answer), [ids[2].as_str()]);
    let (_, answer) = list(&gw, "?platform=twitter").await;
    assert_eq!(answer["pagination"]["total"], 0);

    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    for (query, total) in [
        (format!("?fromDate={today}"), 3),
        (format!("?dateFrom={today}"), 3),
        (format!("?toDate={yesterday}"), 0),
        (format!("?dateTo={yesterday}"), 0),
        (format!("?toDate={today}"), 3),
        ("?fromDate=&toDate=".to_owned(), 3),
        (
            format!("?fromDate={yesterday}T00:00:00Z&toDate={today}T23:59:59Z"),
            3,
        ),
    ] {
        let (status, answer) = list(&gw, &query).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(answer["pagination"]["total"], total, "{query}");
    }

    let (status, answer) = list(&gw, "?limit=500").await;
    assert_eq!(status, 200);
    assert_eq!(answer["pagination"]["pages"], 1);
    for query in [
        "?limit=501",
        "?limit=0",
        "?page=0",
        // The document's int32 and int64 are bounds (schemathesis found them accepted).
        "?page=2147483648",
        "?offset=9223372036854775808",
        "?fromDate=yesterday",
        "?status=sent",
        "?sortBy=newest",
    ] {
        let answer = zernio_error(
            get(&gw, &format!("/api/v1/posts{query}"), ACME_KEY).await,
            400,
        )
        .await;
        assert_eq!(answer["type"], "invalid_request_error", "{query}");
    }
}

#[tokio::test]
async fn get_answers_the_post_with_a_status_of_the_specs_enum() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let ids = three_posts(&gw).await;
    fake.script(
        "get",
        Reply::json(
            200,
            json!({"post": {"_id": ids[0], "content": "post 1", "status": "pending",
                   "platforms": [{"platform": "tiktok", "accountId": "acc_a1", "status": "processing"}]}}),
        )
        // A status outside 1.444.0's enum, as an older or newer Zernio may send.
        .off_spec(),
    );
    let response = gw
        .client
        .get(gw.url(&format!("/api/v1/posts/{}", ids[0])))
        .bearer_auth(ACME_KEY)
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    let response = checked("GET", response).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["post"]["_id"], ids[0].as_str());
    // What Zernio says now is recorded and answered in the spec's enum.
    assert_eq!(answer["post"]["status"], "publishing");
    assert_eq!(fake.calls("get").len(), 1);
}

/// A page of Zernio's analytics list for acc_a1: `n` posts numbered from `first`.
fn analytics_page(first: usize, n: usize, page: u32, pages: u32) -> Reply {
    let posts: Vec<Value> = (first..first + n)
        .map(|i| {
            json!({"_id": format!("zp_{i}"), "platform": "tiktok", "status": "published",
                        "analytics": {"likes": i, "comments": 0, "shares": 0, "views": 10 * i}})
        })
        .collect();
    Reply::json(
        200,
        json!({"posts": posts, "pagination": {"page": page, "limit": 100, "total": 150, "pages": pages}}),
    )
}

#[tokio::test]
async fn analytics_read_every_upstream_page_on_both_surfaces() {
    let (gw, fake) = TestGateway::with_fake("").await;
    fake.script("analytics", analytics_page(0, 100, 1, 2));
    fake.script("analytics", analytics_page(100, 50, 2, 2));
    let response = get(
        &gw,
        "/api/v1/analytics?accountId=acc_a1&limit=100&page=2",
        ACME_KEY,
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["pagination"],
        json!({"page": 2, "limit": 100, "total": 150, "pages": 2})
    );
    assert_eq!(answer["posts"].as_array().unwrap().len(), 50);
    assert_eq!(answer["posts"][0]["_id"], "zp_100");
    assert_eq!(answer["posts"][0]["analytics"]["likes"], 100);
    assert_eq!(answer["hasAnalyticsAccess"], true);
    let queries: Vec<String> = fake
        .calls("analytics")
        .iter()
        .map(|c| c.query.clone())
        .collect();
    assert_eq!(queries.len(), 2, "{queries:?}");
    assert!(
        queries[0].contains("page=1") && queries[0].contains("limit=100"),
        "{queries:?}"
    );
    assert!(queries[1].contains("page=2"), "{queries:?}");
    // Past the document's int32, refused without a call.
    let past = get(&gw, "/api/v1/analytics?page=2147483648", ACME_KEY).await;
    assert_eq!(
        zernio_error(past, 400).await["type"],
        "invalid_request_error"
    );
    assert_eq!(fake.calls("analytics").len(), 2);

    fake.script("analytics", analytics_page(0, 100, 1, 2));
    fake.script("analytics", analytics_page(100, 50, 2, 2));
    let native: Value = gw
        .get_with_key("/v1/tiktok/analytics?account=acc_a1", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(native["items"].as_array().unwrap().len(), 150);
    assert_eq!(native["items"][149]["post_id"], "zp_149");
}

#[tokio::test]
async fn analytics_of_one_post_are_the_single_shape_with_zernios_202_and_424() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let created: Value = post(&gw, "/api/v1/posts", ACME_KEY, &video("acc_a1", CAPTION))
        .await
        .json()
        .await
        .unwrap();
    let id = created["post"]["_id"].as_str().unwrap().to_owned();
    fake.script(
        "analytics",
        Reply::json(
            200,
            json!({"postId": id, "status": "published", "platform": "tiktok", "syncStatus": "synced",
                   "analytics": {"likes": 7, "comments": 1, "shares": 2, "views": 90, "impressions": 120}}),
        ),
    );
    let path = format!("/api/v1/analytics?postId={id}");
    let response = get(&gw, &path, ACME_KEY).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({"postId": id, "status": "published", "platform": "tiktok", "syncStatus": "synced",
               "analytics": {"likes": 7, "comments": 1, "shares": 2, "views": 90, "impressions": 120}})
    );
    assert!(
        fake.calls("analytics")[0]
            .query
            .contains(&format!("postId={id}"))
    );

    fake.script(
        "analytics",
        Reply::json(
            202,
            json!({"postId": id, "syncStatus": "pending", "message": "Analytics are syncing"}),
        ),
    );
    let response = get(&gw, &path, ACME_KEY).await;
    assert_eq!(response.status(), 202, "passed through, not a 503");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["postId"], id.as_str());
    assert_eq!(answer["syncStatus"], "pending");
    assert_eq!(answer["message"], "Analytics are syncing");

    fake.script(
        "analytics",
        Reply::json(
            424,
            json!({"postId": id, "status": "failed", "error": "The post failed on every platform"}),
        ),
    );
    let response = get(&gw, &path, ACME_KEY).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 424, "{answer}");
    assert_eq!(answer["postId"], id.as_str());
    assert_eq!(answer["syncStatus"], "unavailable");

    fake.script(
        "analytics",
        Reply::json(
            402,
            json!({"error": "Analytics add-on required", "code": "analytics_addon_required"}),
        ),
    );
    let answer = zernio_error(get(&gw, &path, ACME_KEY).await, 402).await;
    assert_eq!(answer["code"], "analytics_addon_required");
}

#[tokio::test]
async fn creator_info_answers_zernios_objects() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let video: Value = get(&gw, "/api/v1/accounts/acc_a1/tiktok/creator-info", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    let setting =
        |label: &str| json!({"enabled": true, "required": true, "default": false, "label": label});
    assert_eq!(
        video,
        json!({
            "creator": {"nickname": "Creator", "avatarUrl": "https://cdn.example.com/a.png",
                        "isVerified": false, "canPostMore": true},
            "privacyLevels": [
                {"value": "PUBLIC_TO_EVERYONE", "label": "Everyone"},
                {"value": "MUTUAL_FOLLOW_FRIENDS", "label": "Friends"},
                {"value": "SELF_ONLY", "label": "Only me"}
            ],
            "postingLimits": {"maxVideoDurationSec": 600, "interactionSettings": {
                "allow_comment": setting("Allow comments"),
                "allow_duet": setting("Allow duets"),
                "allow_stitch": setting("Allow stitches"),
            }},
            "commercialContentTypes": [
                {"value": "none", "label": "None", "requires": []},
                {"value": "brand_organic", "label": "Your brand", "requires": []},
                {"value": "brand_content", "label": "Branded content", "requires": ["privacy_level_not_self_only"]}
            ]
        })
    );
    let photo: Value = get(
        &gw,
        "/api/v1/accounts/acc_a1/tiktok/creator-info?mediaType=photo",
        ACME_KEY,
    )
    .await
    .json()
    .await
    .unwrap();
    let interactions = &photo["postingLimits"]["interactionSettings"];
    assert_eq!(interactions["allow_duet"], Value::Null);
    assert_eq!(interactions["allow_stitch"], Value::Null);
    assert_eq!(interactions["allow_comment"]["enabled"], true);
    let answer = zernio_error(
        get(&gw, "/api/v1/accounts/acc_b1/tiktok/creator-info", ACME_KEY).await,
        404,
    )
    .await;
    assert_eq!(answer["type"], "not_found");
}

#[tokio::test]
async fn a_created_post_whose_publish_failed_is_zernios_207_with_the_post() {
    let (gw, fake) = TestGateway::with_fake("").await;
    fake.script(
        "create",
        Reply::json(
            207,
            json!({
                "message": "Post created but publishing failed",
                "error": "TikTok could not download the video",
                "post": {"_id": "post_failed_1", "content": CAPTION, "status": "failed",
                         "platforms": [{"platform": "tiktok", "accountId": "acc_a1", "status": "failed",
                                        "errorMessage": "video_pull_failed", "errorCategory": "user_content"}]},
                "platformResults": [{"platform": "tiktok", "status": "failed", "error": "video_pull_failed"}]
            }),
        ),
    );
    let response = post(&gw, "/api/v1/posts", ACME_KEY, &video("acc_a1", CAPTION)).await;
    assert_eq!(response.status(), 207);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["post"]["_id"], "post_failed_1");
    assert_eq!(answer["post"]["status"], "failed");
    assert_eq!(answer["platformResults"][0]["status"], "failed");
    assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    // Recorded: it is listed, failed, and can be retried.
    let listed: Value = get(&gw, "/api/v1/posts?status=failed", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["posts"][0]["_id"], "post_failed_1");
}

#[tokio::test]
async fn a_presign_size_below_zero_is_refused_not_dropped() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let body = json!({"filename": "sunset.mp4", "contentType": "video/mp4", "size": -1});
    let answer = zernio_error(
        post(&gw, "/api/v1/media/presign", ACME_KEY, &body).await,
        400,
    )
    .await;
    assert_eq!(answer["type"], "invalid_request_error");
    assert_eq!(answer["code"], "invalid_json");
    assert_eq!(
        answer["error"],
        "size is the file's size in bytes, 0 or more"
    );
    assert!(fake.calls("presign").is_empty());
    // A true size passes.
    let body = json!({"filename": "sunset.mp4", "contentType": "video/mp4", "size": 10485760});
    let response = post(&gw, "/api/v1/media/presign", ACME_KEY, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(fake.calls("presign").len(), 1);
}
