//! The Zernio client against a scripted, recording fake Zernio on 127.0.0.1: the exact requests
//! it sends, how every upstream failure maps, and its retry, timeout and 429-pause rules.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use tiktok_gateway::zernio::{
    AnalyticsQuery, CallContext, ClientConfig, ListPosts, MediaKind, Observer, PostStatus,
    PresignRequest, RateLimitInfo, UpstreamKind, WebhookSettings, ZernioClient,
};
use tokio::net::TcpListener;
use url::Url;

const KEY: &str = "sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const CTX: CallContext<'static> = CallContext {
    request_id: "req-abc",
};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Option<Value>,
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: vec![("x-request-id", "zr-1".into())],
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
    fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    fn raw(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

#[derive(Clone, Default)]
struct Fake {
    recorded: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Fake {
    fn push(&self, r: Reply) {
        self.script.lock().unwrap().push_back(r);
    }
    fn count(&self) -> usize {
        self.recorded.lock().unwrap().len()
    }
    fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }
    fn last(&self) -> Recorded {
        self.requests().pop().expect("a request")
    }
}

async fn handle(State(fake): State<Fake>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    fake.recorded.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers.clone(),
        body: serde_json::from_slice(&bytes).ok(),
    });
    let next = fake.script.lock().unwrap().pop_front();
    let r = next.unwrap_or_else(|| reply(200, json!({})));
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut resp = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for (k, v) in r.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(&'static str, &'static str)>>,
    limits: Mutex<Vec<RateLimitInfo>>,
}

impl Observer for Recorder {
    fn upstream_call(&self, endpoint: &'static str, outcome: &'static str, _seconds: f64) {
        self.calls.lock().unwrap().push((endpoint, outcome));
    }
    fn rate_limit(&self, info: &RateLimitInfo) {
        self.limits.lock().unwrap().push(*info);
    }
}

struct Setup {
    fake: Fake,
    client: ZernioClient,
    observer: Arc<Recorder>,
}

async fn setup_with_timeout(timeout: Duration) -> Setup {
    let fake = Fake::default();
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = ClientConfig::new(Url::parse(&format!("http://{addr}/api")).unwrap(), KEY);
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = timeout;
    let observer = Arc::new(Recorder::default());
    let client = ZernioClient::new(config, observer.clone()).unwrap();
    Setup {
        fake,
        client,
        observer,
    }
}

async fn setup() -> Setup {
    setup_with_timeout(Duration::from_secs(5)).await
}

fn post_json(id: &str, status: &str) -> Value {
    json!({
        "_id": id, "content": "Sunset #nature", "status": status,
        "scheduledFor": "2026-05-01T10:00:00.000Z", "timezone": "UTC",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_1", "status": status,
                       "platformPostUrl": "https://www.tiktok.com/@x/video/1"}],
        "metadata": {"gateway_request_id": "req-abc"},
        "createdAt": "2026-05-01T09:59:00.000Z", "updatedAt": "2026-05-01T10:00:00.000Z"
    })
}

fn video_body() -> Value {
    json!({
        "content": "Sunset #nature",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_1"}],
        "tiktokSettings": {"privacy_level": "PUBLIC_TO_EVERYONE", "allow_comment": true, "allow_duet": false,
                           "allow_stitch": false, "content_preview_confirmed": true, "express_consent_given": true},
        "publishNow": true,
        "metadata": {"gateway_request_id": "req-abc"}
    })
}

fn header<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn create_sends_the_exact_request_and_reads_the_answer() {
    let s = setup().await;
    s.fake.push(
        reply(201, json!({"message": "Post created", "post": post_json("p1", "published"), "warnings": ["Title truncated"]}))
            .header("x-ratelimit-limit", "600")
            .header("x-ratelimit-remaining", "599")
            .header("x-ratelimit-reset", "1777777777"),
    );
    let out = s
        .client
        .create_post(&CTX, &video_body(), Some("idem-1"))
        .await
        .unwrap();
    assert_eq!(out.status, 201);
    assert_eq!(out.post.id, "p1");
    assert_eq!(out.post.status, PostStatus::Published);
    assert_eq!(out.warnings, ["Title truncated"]);
    assert_eq!(
        out.post.tiktok().unwrap().platform_post_url.as_deref(),
        Some("https://www.tiktok.com/@x/video/1")
    );

    let r = s.fake.last();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/v1/posts");
    assert_eq!(r.query, None);
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    // Zernio de-duplicates creates on x-request-id: the caller's id never goes upstream, a
    // fresh UUID for this call does.
    let sent_id = header(&r, "x-request-id").unwrap();
    assert_ne!(sent_id, "req-abc");
    assert!(
        uuid::Uuid::parse_str(sent_id).is_ok(),
        "{sent_id} is a UUID"
    );
    assert_eq!(header(&r, "idempotency-key"), Some("idem-1"));
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(r.body, Some(video_body()));

    let info = s.client.rate_limit().unwrap();
    assert_eq!(info.limit, Some(600));
    assert_eq!(info.remaining, Some(599));
    assert_eq!(info.reset, Utc.timestamp_opt(1_777_777_777, 0).single());
    assert_eq!(s.observer.limits.lock().unwrap().len(), 1);
    assert_eq!(*s.observer.calls.lock().unwrap(), [("create_post", "ok")]);
}

#[tokio::test]
async fn every_endpoint_uses_its_method_path_and_query() {
    let s = setup().await;
    let c = &s.client;
    let f = &s.fake;

    f.push(reply(200, json!({"post": post_json("p1", "scheduled")})));
    assert_eq!(
        c.get_post(&CTX, "p1").await.unwrap().status,
        PostStatus::Scheduled
    );

    f.push(reply(
        200,
        json!({"posts": [post_json("p2", "published"), post_json("p1", "scheduled")],
                              "pagination": {"page": 2, "limit": 2, "total": 5, "pages": 3}}),
    ));
    let page = c
        .list_posts(
            &CTX,
            &ListPosts {
                page: Some(2),
                limit: Some(2),
                status: Some("published".into()),
                account_id: Some("acc_1".into()),
                from_date: Some(Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()),
                to_date: None,
                sort_by: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (page.page, page.limit, page.total, page.pages),
        (2, 2, 5, 3)
    );
    assert_eq!(page.posts[0].id, "p2");

    f.push(reply(
        200,
        json!({"message": "Updated", "post": post_json("p1", "scheduled")}),
    ));
    c.update_post(&CTX, "p1", &json!({"content": "new"}))
        .await
        .unwrap();

    f.push(reply(200, json!({"message": "Deleted"})));
    c.delete_post(&CTX, "p1").await.unwrap();

    f.push(reply(
        200,
        json!({"message": "Retried", "post": post_json("p1", "publishing")}),
    ));
    assert_eq!(
        c.retry_post(&CTX, "p1").await.unwrap().status,
        PostStatus::Publishing
    );

    f.push(reply(200, json!({"accounts": [
        {"_id": "acc_1", "platform": "tiktok", "username": "u", "displayName": "U", "isActive": true, "needsReconnection": true},
        {"_id": "acc_2", "platform": "instagram", "username": "i"}
    ]})));
    let accounts = c.accounts(&CTX).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert!(accounts[0].needs_reconnection);
    assert_eq!(accounts[0].display_name.as_deref(), Some("U"));

    f.push(reply(
        200,
        json!({"creator": {"nickname": "N"}, "privacyLevels": [{"value": "SELF_ONLY"}]}),
    ));
    c.creator_info(&CTX, "acc_1", MediaKind::Photo)
        .await
        .unwrap();

    f.push(reply(200, json!({"uploadUrl": "https://up/x", "publicUrl": "https://pub/x", "key": "x", "expiresIn": 3600})));
    let presigned = c
        .presign(
            &CTX,
            &PresignRequest {
                filename: "v.mp4".into(),
                content_type: "video/mp4".into(),
                size: Some(1234),
            },
        )
        .await
        .unwrap();
    assert_eq!(presigned.public_url, "https://pub/x");

    f.push(reply(
        200,
        json!({"overview": {}, "posts": [{"_id": "a1", "latePostId": "p1",
        "analytics": {"likes": 1, "comments": 2, "shares": 3, "views": 40, "impressions": 50}}]}),
    ));
    let analytics = c
        .analytics(
            &CTX,
            &AnalyticsQuery {
                account_id: Some("acc_1".into()),
                post_id: None,
                from_date: NaiveDate::from_ymd_opt(2026, 5, 1),
                to_date: NaiveDate::from_ymd_opt(2026, 5, 31),
                limit: Some(10),
                page: Some(1),
            },
        )
        .await
        .unwrap();
    assert_eq!(analytics.posts[0].post_id(), Some("p1"));
    assert_eq!(analytics.posts[0].analytics.views, 40);

    f.push(reply(200, json!({"success": true})));
    let hook = WebhookSettings {
        name: "gw".into(),
        url: "https://gw.example/hooks".into(),
        secret: "whsec".into(),
        events: vec!["post.published".into()],
        is_active: true,
    };
    assert!(!format!("{hook:?}").contains("whsec"));
    c.register_webhook(&CTX, &hook).await.unwrap();

    let seen: Vec<(String, String, Option<String>)> = f
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.query))
        .collect();
    let q = |s: &str| Some(s.to_string());
    assert_eq!(
        seen,
        vec![
            ("GET".into(), "/api/v1/posts/p1".into(), None),
            (
                "GET".into(),
                "/api/v1/posts".into(),
                q(
                    "page=2&limit=2&platform=tiktok&status=published&accountId=acc_1&fromDate=2026-05-01"
                )
            ),
            ("PUT".into(), "/api/v1/posts/p1".into(), None),
            ("DELETE".into(), "/api/v1/posts/p1".into(), None),
            ("POST".into(), "/api/v1/posts/p1/retry".into(), None),
            (
                "GET".into(),
                "/api/v1/accounts".into(),
                q("platform=tiktok")
            ),
            (
                "GET".into(),
                "/api/v1/accounts/acc_1/tiktok/creator-info".into(),
                q("mediaType=photo")
            ),
            ("POST".into(), "/api/v1/media/presign".into(), None),
            (
                "GET".into(),
                "/api/v1/analytics".into(),
                q(
                    "platform=tiktok&accountId=acc_1&fromDate=2026-05-01&toDate=2026-05-31&limit=10&page=1"
                )
            ),
            ("POST".into(), "/api/v1/webhooks/settings".into(), None),
        ]
    );
    let requests = f.requests();
    assert_eq!(requests[2].body, Some(json!({"content": "new"})));
    assert_eq!(
        requests[7].body,
        Some(json!({"filename": "v.mp4", "contentType": "video/mp4", "size": 1234}))
    );
    assert_eq!(
        requests[9].body,
        Some(
            json!({"name": "gw", "url": "https://gw.example/hooks", "secret": "whsec",
                    "events": ["post.published"], "isActive": true})
        )
    );
    for r in &requests {
        assert_eq!(
            header(r, "authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(header(r, "idempotency-key"), None);
    }
    // A fresh UUID per call, never the caller's request id.
    let ids: std::collections::HashSet<&str> = requests
        .iter()
        .filter_map(|r| header(r, "x-request-id"))
        .collect();
    assert_eq!(ids.len(), requests.len(), "one x-request-id per call");
    assert!(ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()));
}

#[tokio::test]
async fn every_error_maps_end_to_end() {
    let s = setup().await;
    let cases: Vec<(u16, Value, &str)> = vec![
        (
            429,
            json!({"error": "You have created too many posts in the last 24 hours via the API.", "type": "rate_limit_error"}),
            "daily_limit_reached",
        ),
        (
            500,
            json!({"error": "Publishing failed during platform API call (timeout waiting for platform response)", "type": "platform_error"}),
            "upstream_timeout",
        ),
        (
            400,
            json!({"error": "Selected privacy level 'PUBLIC_TO_EVERYONE' is not available for this creator. Available options: SELF_ONLY", "type": "invalid_request_error"}),
            "privacy_level_unavailable",
        ),
        (
            400,
            json!({"error": "TikTok flagged this post as potentially risky (spam_risk)", "type": "platform_error"}),
            "spam_risk",
        ),
        (
            409,
            json!({"error": "Duplicate content detected.", "details": {"accountId": "acc_1", "platform": "tiktok", "existingPostId": "p0"}}),
            "duplicate_content",
        ),
        (
            400,
            json!({"error": "TikTok video upload failed: Your video URL returned an error (download failed)"}),
            "media_download_failed",
        ),
        (
            403,
            json!({"error": "Missing required TikTok permissions. Please reconnect with all required scopes."}),
            "missing_permissions",
        ),
        (
            401,
            json!({"error": "Unauthorized"}),
            "upstream_unauthorized",
        ),
        (
            402,
            json!({"error": "Analytics add-on required", "code": "analytics_addon_required"}),
            "analytics_addon_required",
        ),
        (
            403,
            json!({"error": "Account disconnected", "type": "permission_error", "code": "ACCOUNT_DISCONNECTED"}),
            "account_disconnected",
        ),
        (
            403,
            json!({"error": "Account not enabled for posting", "code": "ACCOUNT_NOT_ENABLED_FOR_POSTING"}),
            "account_not_enabled",
        ),
        (
            403,
            json!({"error": "Profile limit exceeded", "code": "PROFILE_OVER_LIMIT"}),
            "upstream_forbidden",
        ),
        (404, json!({"error": "Account not found"}), "not_found"),
        (
            409,
            json!({"error": "Request in progress", "code": "idempotency_conflict"}),
            "upstream_conflict",
        ),
        (
            400,
            json!({"error": "content is required", "type": "invalid_request_error", "param": "content"}),
            "upstream_invalid_request",
        ),
        (
            500,
            json!({"error": "Internal error", "type": "api_error"}),
            "upstream_unavailable",
        ),
        (
            503,
            json!({"error": "Service unavailable"}),
            "upstream_unavailable",
        ),
        (504, json!({"error": "Gateway timeout"}), "upstream_timeout"),
    ];
    for (status, body, code) in cases {
        s.fake.push(reply(status, body.clone()));
        let before = s.fake.count();
        let err = s
            .client
            .create_post(&CTX, &video_body(), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{status} {body}");
        assert_eq!(err.status, Some(status));
        assert_eq!(err.message, body["error"].as_str().unwrap());
        assert_eq!(err.zernio_request_id.as_deref(), Some("zr-1"));
        assert!(!err.fix().is_empty());
        assert!(!err.to_string().contains(KEY));
        assert_eq!(s.fake.count(), before + 1, "a create is never re-sent");
        if code == "duplicate_content" {
            assert_eq!(
                err.kind,
                UpstreamKind::DuplicateContent {
                    existing_post_id: Some("p0".into())
                }
            );
        }
    }
    // Not JSON at all: still mapped, by status.
    s.fake.push(Reply::raw(502, "<html>bad gateway</html>"));
    let err = s
        .client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Unavailable);
    // A proxy's page is not Zernio's message: the caller gets the status and the code.
    assert_eq!(
        err.message,
        "Zernio answered HTTP 502 (upstream_unavailable)"
    );
}

#[tokio::test]
async fn answers_207_partial_failed_and_scheduled() {
    let s = setup().await;
    let mut failed = post_json("p7", "failed");
    failed["platforms"][0]["status"] = json!("failed");
    failed["platforms"][0]["errorMessage"] =
        json!("TikTok flagged this post as potentially risky (spam_risk)");
    failed["platforms"][0]["errorCategory"] = json!("spam_risk");
    s.fake.push(reply(
        207,
        json!({"message": "Some platforms failed", "post": failed}),
    ));
    let err = s
        .client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::SpamRisk);
    assert_eq!(err.status, Some(207));
    assert_eq!(err.post.as_ref().unwrap().id, "p7");

    let mut partial = post_json("p8", "partial");
    partial["platforms"][0]["errorMessage"] = json!("Something odd happened");
    s.fake.push(reply(207, json!({"post": partial})));
    let err = s
        .client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Partial);
    assert_eq!(err.code(), "post_failed");
    assert_eq!(err.message, "Something odd happened");
    assert_eq!(err.post.as_ref().unwrap().status, PostStatus::Partial);

    s.fake.push(reply(207, json!({"post": post_json("p9", "scheduled"), "warnings": [{"message": "Zernio will retry"}]})));
    let out = s
        .client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap();
    assert_eq!(out.status, 207);
    assert_eq!(out.warnings, ["Zernio will retry"]);
}

#[tokio::test]
async fn a_create_that_times_out_is_sent_exactly_once() {
    let s = setup_with_timeout(Duration::from_millis(300)).await;
    s.fake.push(
        reply(201, json!({"post": post_json("late", "published")})).delayed(Duration::from_secs(3)),
    );
    let err = s
        .client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Timeout);
    assert_eq!(err.code(), "upstream_timeout");
    assert_eq!(err.status, None);
    assert_eq!(s.fake.count(), 1);
    assert_eq!(
        *s.observer.calls.lock().unwrap(),
        [("create_post", "upstream_timeout")]
    );
}

#[tokio::test]
async fn nothing_is_retried_reads_included() {
    let s = setup().await;
    s.fake.push(reply(503, json!({"error": "unavailable"})));
    let err = s.client.get_post(&CTX, "p1").await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Unavailable);
    assert!(!err.not_sent);
    assert_eq!(s.fake.count(), 1, "a read is sent once");
    s.fake.push(reply(502, json!({"error": "bad gateway"})));
    assert_eq!(
        s.client.accounts(&CTX).await.unwrap_err().kind,
        UpstreamKind::Unavailable
    );
    assert_eq!(s.fake.count(), 2);
    s.fake.push(reply(404, json!({"error": "Post not found"})));
    assert_eq!(
        s.client.get_post(&CTX, "nope").await.unwrap_err().kind,
        UpstreamKind::NotFound
    );
    assert_eq!(s.fake.count(), 3);

    for (i, call) in ["create", "update", "delete", "retry"]
        .into_iter()
        .enumerate()
    {
        s.fake.push(reply(503, json!({"error": "unavailable"})));
        let err = match call {
            "create" => s
                .client
                .create_post(&CTX, &video_body(), None)
                .await
                .map(|_| ()),
            "update" => s
                .client
                .update_post(&CTX, "p1", &json!({}))
                .await
                .map(|_| ()),
            "delete" => s.client.delete_post(&CTX, "p1").await,
            _ => s.client.retry_post(&CTX, "p1").await.map(|_| ()),
        }
        .unwrap_err();
        assert_eq!(err.kind, UpstreamKind::Unavailable, "{call}");
        assert_eq!(s.fake.count(), 4 + i, "{call} must not be retried");
    }
}

#[tokio::test]
async fn consecutive_failures_open_the_endpoints_breaker_and_refusals_send_nothing() {
    let mut config = ClientConfig::new(Url::parse("http://127.0.0.1:9/api").unwrap(), KEY);
    config.breaker = tiktok_gateway::zernio::BreakerConfig {
        failures: 2,
        cool_down: Duration::from_secs(60),
    };
    let s = setup().await;
    config.base_url = s.client.base_url().clone();
    let observer = Arc::new(Recorder::default());
    let client = ZernioClient::new(config, observer.clone()).unwrap();
    for _ in 0..2 {
        s.fake.push(reply(500, json!({"error": "boom"})));
        assert_eq!(
            client.get_post(&CTX, "p1").await.unwrap_err().kind,
            UpstreamKind::Unavailable
        );
    }
    let err = client.get_post(&CTX, "p1").await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::CircuitOpen);
    assert_eq!(err.code(), "upstream_unavailable");
    assert!(err.not_sent, "refused before sending");
    assert!(err.retry_after.unwrap() > Duration::from_secs(59));
    assert_eq!(s.fake.count(), 2);
    assert!(client.breaker_open("get_post"));
    assert!(!client.breaker_open("create_post"));
    assert_eq!(
        observer.calls.lock().unwrap().last(),
        Some(&("get_post", "circuit_open"))
    );
    // Other endpoints still call.
    s.fake.push(reply(200, json!({"accounts": []})));
    assert!(client.accounts(&CTX).await.is_ok());
    assert_eq!(s.fake.count(), 3);
}

#[tokio::test]
async fn a_429_pauses_every_call_until_retry_after() {
    let s = setup().await;
    s.fake.push(
        reply(
            429,
            json!({"error": "Rate limit exceeded", "type": "rate_limit_error"}),
        )
        .header("retry-after", "1"),
    );
    let err = s.client.accounts(&CTX).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::RateLimited);
    assert_eq!(err.code(), "upstream_rate_limited");
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)));
    assert_eq!(s.fake.count(), 1, "a 429 is not retried");

    // Meanwhile nothing reaches Zernio, whoever calls and whatever the call.
    let other = CallContext {
        request_id: "another-tenant",
    };
    let e1 = s.client.get_post(&other, "p1").await.unwrap_err();
    let e2 = s
        .client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap_err();
    let e3 = s
        .client
        .clone()
        .list_posts(&other, &ListPosts::default())
        .await
        .unwrap_err();
    for e in [&e1, &e2, &e3] {
        assert_eq!(e.kind, UpstreamKind::RateLimited);
        assert_eq!(e.status, None);
        assert!(e.retry_after.unwrap() <= Duration::from_secs(1));
    }
    assert_eq!(s.fake.count(), 1);
    assert!(s.client.paused_for().is_some());
    assert!(
        s.observer
            .calls
            .lock()
            .unwrap()
            .contains(&("create_post", "paused"))
    );

    // Once the pause is over, calls go out again. Waiting out the pause is what is under test.
    let remaining = s.client.paused_for().unwrap_or_default();
    tokio::time::sleep(remaining + Duration::from_millis(50)).await;
    assert!(s.client.paused_for().is_none());
    s.fake.push(reply(200, json!({"accounts": []})));
    assert!(s.client.accounts(&CTX).await.unwrap().is_empty());
    assert_eq!(s.fake.count(), 2);
}

#[tokio::test]
async fn a_daily_limit_429_does_not_pause_the_key() {
    let s = setup().await;
    s.fake.push(
        reply(
            429,
            json!({"error": "You have created too many posts in the last 24 hours via the API."}),
        )
        .header("retry-after", "3600"),
    );
    let err = s
        .client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::DailyLimitReached);
    assert_eq!(err.retry_after, Some(Duration::from_secs(3600)));
    assert!(s.client.paused_for().is_none());
    s.fake.push(reply(200, json!({"accounts": []})));
    s.client.accounts(&CTX).await.unwrap();
    assert_eq!(s.fake.count(), 2);
}

#[tokio::test]
async fn a_429_with_an_http_date_pauses_too() {
    let s = setup().await;
    let at = (Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
    s.fake.push(
        reply(
            429,
            json!({"error": "Slow down", "type": "rate_limit_error"}),
        )
        .header("retry-after", &at),
    );
    let err = s.client.accounts(&CTX).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::RateLimited);
    let wait = s.client.paused_for().unwrap();
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(31),
        "{wait:?}"
    );
}

#[tokio::test]
async fn creator_info_reads_both_shapes() {
    let s = setup().await;
    s.fake.push(reply(200, json!({
        "creator": {"nickname": "New", "avatarUrl": "https://a/x.png", "isVerified": true, "canPostMore": true},
        "privacyLevels": [{"value": "FOLLOWER_OF_CREATOR", "label": "Followers"}, {"value": "SELF_ONLY", "label": "Only me"}],
        "postingLimits": {"maxVideoDurationSec": 600, "interactionSettings": {
            "allow_comment": {"enabled": true, "required": true, "default": false, "label": "Comments"},
            "allow_duet": {"enabled": false, "required": true, "default": false, "label": "Duet"},
            "allow_stitch": {"enabled": false, "required": true, "default": false, "label": "Stitch"}}},
        "commercialContentTypes": [{"value": "none", "label": "None"}, {"value": "brand_content", "label": "Branded"}]
    })));
    let new = s
        .client
        .creator_info(&CTX, "acc_1", MediaKind::Video)
        .await
        .unwrap();
    assert_eq!(new.privacy_levels, ["FOLLOWER_OF_CREATOR", "SELF_ONLY"]);
    assert_eq!(new.max_video_duration_sec, Some(600));
    assert!(!new.comment_disabled && new.duet_disabled && new.stitch_disabled);
    assert!(new.is_verified);
    assert_eq!(new.commercial_content_types, ["none", "brand_content"]);

    s.fake.push(reply(200, json!({
        "creator": {"nickname": "Old"},
        "privacyLevels": ["PUBLIC_TO_EVERYONE", "SELF_ONLY"],
        "postingLimits": {"maxVideoDurationSec": 300,
                          "interactionSettings": {"allow_comment": false, "allow_duet": true, "allow_stitch": false}}
    })));
    let old = s
        .client
        .creator_info(&CTX, "acc_1", MediaKind::Video)
        .await
        .unwrap();
    assert_eq!(old.nickname.as_deref(), Some("Old"));
    assert_eq!(old.privacy_levels, ["PUBLIC_TO_EVERYONE", "SELF_ONLY"]);
    assert!(old.comment_disabled && !old.duet_disabled && old.stitch_disabled);
    assert_eq!(old.max_video_duration_sec, Some(300));
    assert_eq!(s.fake.last().query.as_deref(), Some("mediaType=video"));
}

#[tokio::test]
async fn find_post_by_metadata_pages_through_the_account() {
    let s = setup().await;
    let mut other = post_json("p1", "published");
    other["metadata"] = json!({"gateway_request_id": "someone-else"});
    s.fake.push(reply(
        200,
        json!({"posts": [other.clone(), other],
                                  "pagination": {"page": 1, "limit": 100, "total": 3, "pages": 2}}),
    ));
    let mut wanted = post_json("p3", "publishing");
    wanted["metadata"] = json!({"gateway_request_id": "req-lost"});
    s.fake.push(reply(
        200,
        json!({"posts": [wanted], "pagination": {"page": 2, "limit": 100, "total": 3, "pages": 2}}),
    ));
    let since = Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap();
    let found = s
        .client
        .find_post_by_metadata(&CTX, "acc_1", "gateway_request_id", "req-lost", since)
        .await
        .unwrap();
    assert_eq!(found.unwrap().id, "p3");
    let queries: Vec<String> = s
        .fake
        .requests()
        .into_iter()
        .filter_map(|r| r.query)
        .collect();
    assert_eq!(
        queries,
        [
            "page=1&limit=100&platform=tiktok&accountId=acc_1&fromDate=2026-05-01&sortBy=created-desc",
            "page=2&limit=100&platform=tiktok&accountId=acc_1&fromDate=2026-05-01&sortBy=created-desc",
        ]
    );

    s.fake.push(reply(
        200,
        json!({"posts": [], "pagination": {"page": 1, "limit": 100, "total": 0, "pages": 0}}),
    ));
    let none = s
        .client
        .find_post_by_metadata(&CTX, "acc_1", "gateway_request_id", "missing", since)
        .await
        .unwrap();
    assert!(none.is_none());
}

#[tokio::test]
async fn analytics_pending_and_bad_idempotency_keys() {
    let s = setup().await;
    s.fake
        .push(reply(202, json!({"message": "Sync in progress"})).header("retry-after", "30"));
    let err = s
        .client
        .analytics(&CTX, &AnalyticsQuery::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::AnalyticsPending);
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(err.message, "Sync in progress");

    let long = "k".repeat(256);
    let err = s
        .client
        .create_post(&CTX, &video_body(), Some(&long))
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Invalid);
    assert_eq!(s.fake.count(), 1, "refused before any request");
}

#[tokio::test]
async fn an_unreachable_zernio_is_unavailable() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let config = ClientConfig::new(
        Url::parse(&format!("http://127.0.0.1:{port}/api")).unwrap(),
        KEY,
    );
    let client = ZernioClient::new(config, Arc::new(tiktok_gateway::zernio::NoopObserver)).unwrap();
    let err = client
        .create_post(&CTX, &video_body(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Unavailable);
    assert!(!format!("{err:?}").contains(KEY));
}
