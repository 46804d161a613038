//! The Zernio client against the sandbox upstream: the reference's behaviour end to end
//! (creators, daily cap, duplicates, scheduling, drafts, analytics, signed webhooks), with the
//! sandbox's clock moved forward instead of sleeping. Everything stays on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tiktok_gateway::sandbox::{self, Clock, Sandbox, SandboxOptions};
use tiktok_gateway::zernio::{
    AnalyticsQuery, CallContext, ClientConfig, ListPosts, MediaKind, NoopObserver, PlatformState,
    PostStatus, PresignRequest, UpstreamKind, WebhookSettings, ZernioClient,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use url::Url;

const CTX: CallContext<'static> = CallContext {
    request_id: "sandbox-test",
};

fn t0() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

async fn start(options: SandboxOptions) -> (Sandbox, ZernioClient) {
    let sandbox = sandbox::spawn(options).await.unwrap();
    let config = ClientConfig::new(sandbox.base_url.clone(), "sandbox");
    let client = ZernioClient::new(config, Arc::new(NoopObserver)).unwrap();
    (sandbox, client)
}

fn fixed() -> SandboxOptions {
    SandboxOptions {
        clock: Clock::fixed(t0()),
        // The background tick is not what these tests rely on.
        tick: Duration::from_secs(3600),
        ..SandboxOptions::default()
    }
}

fn video(account: &str, caption: &str, privacy: &str) -> Value {
    json!({
        "content": caption,
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/sunset.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": account}],
        "tiktokSettings": {
            "privacy_level": privacy, "allow_comment": true, "allow_duet": false, "allow_stitch": false,
            "content_preview_confirmed": true, "express_consent_given": true
        },
        "publishNow": true
    })
}

fn scheduled(account: &str, caption: &str, at: DateTime<Utc>) -> Value {
    let mut b = video(account, caption, "SELF_ONLY");
    b.as_object_mut().unwrap().remove("publishNow");
    b["scheduledFor"] = json!(at.to_rfc3339());
    b
}

#[tokio::test]
async fn publish_now_schedule_and_inbox_draft_then_read_and_list() {
    let (sandbox, client) = start(fixed()).await;
    let clock = sandbox.clock().clone();

    let now = client
        .create_post(
            &CTX,
            &video("sandbox_public", "Now #one", "PUBLIC_TO_EVERYONE"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(now.status, 201);
    assert_eq!(now.post.status, PostStatus::Published);
    let tiktok = now.post.tiktok().unwrap();
    assert_eq!(tiktok.status, PlatformState::Published);
    let url = tiktok.platform_post_url.clone().unwrap();
    let digits = url
        .strip_prefix("https://www.tiktok.com/@sandbox_public/video/")
        .unwrap();
    assert!(
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
        "{url}"
    );

    clock.advance(Duration::from_secs(1));
    let at = clock.now() + chrono::Duration::hours(1);
    let later = client
        .create_post(&CTX, &scheduled("sandbox_private", "Later", at), None)
        .await
        .unwrap();
    assert_eq!(later.post.status, PostStatus::Scheduled);
    assert_eq!(later.post.scheduled_for, Some(at));

    clock.advance(Duration::from_secs(1));
    let mut draft_body = video("sandbox_public", "To the inbox", "SELF_ONLY");
    draft_body["tiktokSettings"]["draft"] = json!(true);
    let draft = client.create_post(&CTX, &draft_body, None).await.unwrap();
    assert_eq!(draft.post.status, PostStatus::Draft);
    assert!(draft.post.is_creator_inbox_draft());
    assert_eq!(
        draft.post.tiktok().unwrap().status,
        PlatformState::Published
    );
    assert_eq!(draft.post.tiktok().unwrap().platform_post_url, None);

    let got = client.get_post(&CTX, &now.post.id).await.unwrap();
    assert_eq!(got, now.post);

    let all = client
        .list_posts(&CTX, &ListPosts::default())
        .await
        .unwrap();
    let ids: Vec<&str> = all.posts.iter().map(|p| p.id.as_str()).collect();
    // Zernio's default order, scheduled-desc: the post due in an hour first.
    assert_eq!(ids, [&later.post.id, &draft.post.id, &now.post.id]);
    assert_eq!((all.total, all.pages), (3, 1));

    let private = client
        .list_posts(
            &CTX,
            &ListPosts {
                account_id: Some("sandbox_private".into()),
                ..ListPosts::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(private.posts.len(), 1);
    let published = client
        .list_posts(
            &CTX,
            &ListPosts {
                status: Some("published".into()),
                limit: Some(1),
                ..ListPosts::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(published.posts[0].id, now.post.id);
    // fromDate is a day (the spec's `format: date`): from yesterday all, from tomorrow none.
    for (days, want) in [(-1, 3), (1, 0)] {
        let since = client
            .list_posts(
                &CTX,
                &ListPosts {
                    from_date: Some(clock.now() + chrono::Duration::days(days)),
                    ..ListPosts::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(since.posts.len(), want, "from {days} day(s)");
    }

    let missing = client
        .get_post(&CTX, "000000000000000000000000")
        .await
        .unwrap_err();
    assert_eq!(missing.kind, UpstreamKind::NotFound);
    assert!(missing.zernio_request_id.is_some());
    sandbox.stop().await;
}

#[tokio::test]
async fn the_sixteenth_post_in_a_day_is_refused_until_the_window_turns() {
    let (sandbox, client) = start(fixed()).await;
    for i in 0..15 {
        client
            .create_post(
                &CTX,
                &video("sandbox_public", &format!("Post {i}"), "SELF_ONLY"),
                None,
            )
            .await
            .unwrap();
        sandbox.clock().advance(Duration::from_secs(60));
    }
    let err = client
        .create_post(&CTX, &video("sandbox_public", "Post 15", "SELF_ONLY"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::DailyLimitReached);
    assert_eq!(err.status, Some(429));
    assert_eq!(
        err.message,
        "You have created too many posts in the last 24 hours via the API."
    );
    let wait = err.retry_after.unwrap();
    assert!(wait > Duration::from_secs(23 * 3600) && wait <= Duration::from_secs(24 * 3600));
    // The daily cap is the creator's, not the key's: nothing is paused.
    assert!(client.paused_for().is_none());
    // The creator look-up says so too, and the other creator is unaffected.
    let info = client
        .creator_info(&CTX, "sandbox_public", MediaKind::Video)
        .await
        .unwrap_err();
    assert_eq!(info.kind, UpstreamKind::DailyLimitReached);
    client
        .create_post(
            &CTX,
            &video("sandbox_private", "Other creator", "SELF_ONLY"),
            None,
        )
        .await
        .unwrap();

    // Once the oldest post leaves the window there is room for one more.
    sandbox.clock().advance(wait);
    client
        .create_post(&CTX, &video("sandbox_public", "Post 15", "SELF_ONLY"), None)
        .await
        .unwrap();
    sandbox.stop().await;
}

#[tokio::test]
async fn the_daily_cap_is_configurable() {
    let (sandbox, client) = start(SandboxOptions {
        daily_cap: 2,
        ..fixed()
    })
    .await;
    for i in 0..2 {
        client
            .create_post(
                &CTX,
                &video("sandbox_private", &format!("p{i}"), "SELF_ONLY"),
                None,
            )
            .await
            .unwrap();
    }
    let err = client
        .create_post(&CTX, &video("sandbox_private", "p2", "SELF_ONLY"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::DailyLimitReached);
    sandbox.stop().await;
}

#[tokio::test]
async fn duplicate_content_names_the_existing_post() {
    let (sandbox, client) = start(fixed()).await;
    let body = video("sandbox_public", "Same words", "SELF_ONLY");
    let first = client.create_post(&CTX, &body, None).await.unwrap();
    sandbox.clock().advance(Duration::from_secs(3600));
    let err = client.create_post(&CTX, &body, None).await.unwrap_err();
    assert_eq!(
        err.kind,
        UpstreamKind::DuplicateContent {
            existing_post_id: Some(first.post.id.clone())
        }
    );
    assert_eq!(err.message, "Duplicate content detected.");
    assert_eq!(err.status, Some(409));
    // Other media, or a day later, is fine.
    let mut other_media = body.clone();
    other_media["mediaItems"][0]["url"] = json!("https://cdn.example.com/other.mp4");
    client.create_post(&CTX, &other_media, None).await.unwrap();
    sandbox.clock().advance(Duration::from_secs(24 * 3600));
    client.create_post(&CTX, &body, None).await.unwrap();
    sandbox.stop().await;
}

#[tokio::test]
async fn a_private_creator_refuses_public_and_duets() {
    let (sandbox, client) = start(fixed()).await;
    let err = client
        .create_post(
            &CTX,
            &video("sandbox_private", "Hi", "PUBLIC_TO_EVERYONE"),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::PrivacyLevelUnavailable);
    assert_eq!(
        err.message,
        "Selected privacy level 'PUBLIC_TO_EVERYONE' is not available for this creator. Available options: FOLLOWER_OF_CREATOR, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY"
    );

    let mut duet = video("sandbox_private", "Hi", "FOLLOWER_OF_CREATOR");
    duet["tiktokSettings"]["allow_duet"] = json!(true);
    let err = client.create_post(&CTX, &duet, None).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Invalid);

    let public = client
        .creator_info(&CTX, "sandbox_public", MediaKind::Video)
        .await
        .unwrap();
    assert_eq!(
        public.privacy_levels,
        ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    );
    assert!(!public.duet_disabled && !public.stitch_disabled && !public.comment_disabled);
    assert_eq!(public.max_video_duration_sec, Some(600));
    let private = client
        .creator_info(&CTX, "sandbox_private", MediaKind::Video)
        .await
        .unwrap();
    assert_eq!(
        private.privacy_levels,
        ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    );
    assert!(private.duet_disabled && private.stitch_disabled && !private.comment_disabled);
    let photo = client
        .creator_info(&CTX, "sandbox_private", MediaKind::Photo)
        .await
        .unwrap();
    assert!(!photo.duet_disabled, "duet does not apply to photos");

    let accounts = client.accounts(&CTX).await.unwrap();
    let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["sandbox_public", "sandbox_private"]);
    assert!(
        accounts
            .iter()
            .all(|a| a.is_active && !a.needs_reconnection)
    );
    assert!(accounts.iter().all(|a| a.display_name.is_some()));
    sandbox.stop().await;
}

#[tokio::test]
async fn a_scheduled_post_publishes_when_due_and_a_cancelled_one_does_not() {
    let (sandbox, client) = start(fixed()).await;
    let at = sandbox.clock().now() + chrono::Duration::minutes(30);
    let post = client
        .create_post(&CTX, &scheduled("sandbox_public", "Soon", at), None)
        .await
        .unwrap()
        .post;
    let other = client
        .create_post(&CTX, &scheduled("sandbox_public", "Never", at), None)
        .await
        .unwrap()
        .post;
    assert_eq!(
        client.get_post(&CTX, &post.id).await.unwrap().status,
        PostStatus::Scheduled
    );

    client.delete_post(&CTX, &other.id).await.unwrap();
    assert_eq!(
        client.get_post(&CTX, &other.id).await.unwrap().status,
        PostStatus::Cancelled
    );

    // Only the clock moves; the next read sees the post published.
    sandbox.clock().advance(Duration::from_secs(31 * 60));
    let now = client.get_post(&CTX, &post.id).await.unwrap();
    assert_eq!(now.status, PostStatus::Published);
    assert!(now.tiktok().unwrap().platform_post_url.is_some());
    assert_eq!(
        client.get_post(&CTX, &other.id).await.unwrap().status,
        PostStatus::Cancelled
    );

    // A published post can be neither deleted nor edited; a cancelled one can be edited.
    let err = client.delete_post(&CTX, &post.id).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Invalid);
    let err = client
        .update_post(&CTX, &post.id, &json!({"content": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Invalid);
    let again = sandbox.clock().now() + chrono::Duration::hours(2);
    let edited = client
        .update_post(
            &CTX,
            &other.id,
            &json!({"content": "Rescheduled", "scheduledFor": again.to_rfc3339()}),
        )
        .await
        .unwrap();
    assert_eq!(edited.status, PostStatus::Scheduled);
    assert_eq!(edited.content, "Rescheduled");
    sandbox.stop().await;
}

#[tokio::test]
async fn analytics_grow_with_time_since_publication() {
    let (sandbox, client) = start(fixed()).await;
    let post = client
        .create_post(
            &CTX,
            &video("sandbox_public", "Watch me", "PUBLIC_TO_EVERYONE"),
            None,
        )
        .await
        .unwrap()
        .post;
    let query = AnalyticsQuery {
        post_id: Some(post.id.clone()),
        ..AnalyticsQuery::default()
    };
    sandbox.clock().advance(Duration::from_secs(3600));
    let hour = client.analytics(&CTX, &query).await.unwrap();
    let again = client.analytics(&CTX, &query).await.unwrap();
    assert_eq!(
        hour.posts[0].analytics, again.posts[0].analytics,
        "deterministic"
    );
    sandbox.clock().advance(Duration::from_secs(24 * 3600));
    let day = client.analytics(&CTX, &query).await.unwrap();
    let (h, d) = (&hour.posts[0].analytics, &day.posts[0].analytics);
    assert_eq!(day.posts[0].post_id(), Some(post.id.as_str()));
    assert!(d.views > h.views && h.views > 0);
    assert!(d.likes >= h.likes && d.comments >= h.comments && d.shares >= h.shares);
    assert!(d.likes > 0);

    let list = client
        .analytics(
            &CTX,
            &AnalyticsQuery {
                account_id: Some("sandbox_public".into()),
                ..AnalyticsQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(list.posts.len(), 1);
    assert_eq!(list.posts[0].analytics, day.posts[0].analytics);
    assert!(list.overview.is_some());
    let none = client
        .analytics(
            &CTX,
            &AnalyticsQuery {
                account_id: Some("sandbox_private".into()),
                ..AnalyticsQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(none.posts.is_empty());
    sandbox.stop().await;
}

#[tokio::test]
async fn failed_posts_answer_207_and_can_be_fixed_and_retried() {
    let (sandbox, client) = start(fixed()).await;
    let mut body = video("sandbox_public", "Broken link", "SELF_ONLY");
    body["mediaItems"][0]["url"] = json!("https://media.invalid/v.mp4");
    let err = client.create_post(&CTX, &body, None).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::MediaDownloadFailed);
    assert_eq!(err.status, Some(207));
    let post = err.post.clone().unwrap();
    assert_eq!(post.status, PostStatus::Failed);

    let err = client.retry_post(&CTX, &post.id).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::MediaDownloadFailed);
    client
        .update_post(
            &CTX,
            &post.id,
            &json!({"mediaItems": [{"type": "video", "url": "https://cdn.example.com/fixed.mp4"}]}),
        )
        .await
        .unwrap();
    let retried = client.retry_post(&CTX, &post.id).await.unwrap();
    assert_eq!(retried.status, PostStatus::Published);

    let mut spam = video("sandbox_public", "Buy now #sandbox_spam", "SELF_ONLY");
    spam["publishNow"] = json!(true);
    let err = client.create_post(&CTX, &spam, None).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::SpamRisk);
    sandbox.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_and_lookup_by_metadata_finds_the_post() {
    let (sandbox, client) = start(fixed()).await;
    let mut body = video("sandbox_public", "Once", "SELF_ONLY");
    body["metadata"] = json!({"gateway_request_id": "req-42"});
    let first = client
        .create_post(&CTX, &body, Some("key-1"))
        .await
        .unwrap();
    let replay = client
        .create_post(&CTX, &body, Some("key-1"))
        .await
        .unwrap();
    assert_eq!((first.status, replay.status), (201, 200));
    assert_eq!(first.post.id, replay.post.id);
    let all = client
        .list_posts(&CTX, &ListPosts::default())
        .await
        .unwrap();
    assert_eq!(all.total, 1);

    let since = sandbox.clock().now() - chrono::Duration::minutes(5);
    let found = client
        .find_post_by_metadata(
            &CTX,
            "sandbox_public",
            "gateway_request_id",
            "req-42",
            since,
        )
        .await
        .unwrap();
    assert_eq!(found.unwrap().id, first.post.id);
    let other_account = client
        .find_post_by_metadata(
            &CTX,
            "sandbox_private",
            "gateway_request_id",
            "req-42",
            since,
        )
        .await
        .unwrap();
    assert!(other_account.is_none());
    sandbox.stop().await;
}

#[tokio::test]
async fn presigned_upload_goes_to_the_sandbox_and_is_discarded() {
    let (sandbox, client) = start(fixed()).await;
    let presigned = client
        .presign(
            &CTX,
            &PresignRequest {
                filename: "my clip.mp4".into(),
                content_type: "video/mp4".into(),
                size: Some(3),
            },
        )
        .await
        .unwrap();
    let upload = Url::parse(&presigned.upload_url).unwrap();
    let public = Url::parse(&presigned.public_url).unwrap();
    assert_eq!(upload.host_str(), Some("127.0.0.1"));
    assert_eq!(public.host_str(), Some("127.0.0.1"));
    assert!(presigned.key.ends_with("my_clip.mp4"));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = http
        .put(upload)
        .body(vec![0u8; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let err = client
        .presign(
            &CTX,
            &PresignRequest {
                filename: "notes.txt".into(),
                content_type: "text/plain".into(),
                size: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamKind::Invalid);
    sandbox.stop().await;
}

/// A webhook receiver on 127.0.0.1 that hands every delivery to the test.
async fn receiver() -> (Url, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    async fn hook(
        State(tx): State<mpsc::UnboundedSender<(HeaderMap, Bytes)>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let _ = tx.send((headers, body));
        "ok"
    }
    let app = Router::new()
        .route("/hooks/zernio", post(hook))
        .with_state(tx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        Url::parse(&format!("http://{addr}/hooks/zernio")).unwrap(),
        rx,
    )
}

async fn next_hook(
    rx: &mut mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
    secret: &str,
) -> (String, Value) {
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a webhook within 10 s")
        .expect("receiver open");
    let header = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
    // Verify the signature independently of the sandbox's own signing code.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(header("x-zernio-signature"), expected);
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(header("x-zernio-event"), payload["event"].as_str().unwrap());
    assert_eq!(header("x-zernio-event-id"), payload["id"].as_str().unwrap());
    assert!(payload["timestamp"].as_str().is_some());
    (header("x-zernio-event"), payload)
}

#[tokio::test]
async fn status_changes_are_sent_as_signed_webhooks() {
    let (url, mut rx) = receiver().await;
    let (sandbox, client) = start(SandboxOptions {
        webhook_url: Some(url),
        webhook_secret: Some("whsec_sandbox".into()),
        ..fixed()
    })
    .await;
    let at = sandbox.clock().now() + chrono::Duration::minutes(10);
    let mut body = scheduled("sandbox_public", "Hooked", at);
    body["metadata"] = json!({"gateway_request_id": "req-hook"});
    let post = client.create_post(&CTX, &body, None).await.unwrap().post;

    let (event, payload) = next_hook(&mut rx, "whsec_sandbox").await;
    assert_eq!(event, "post.scheduled");
    assert_eq!(payload["post"]["id"], json!(post.id));
    assert_eq!(payload["post"]["status"], "scheduled");
    assert_eq!(
        payload["post"]["metadata"]["gateway_request_id"],
        "req-hook"
    );

    sandbox.state().advance(Duration::from_secs(11 * 60));
    let (event, payload) = next_hook(&mut rx, "whsec_sandbox").await;
    assert_eq!(event, "post.published");
    assert_eq!(payload["post"]["status"], "published");
    let platform = &payload["post"]["platforms"][0];
    assert_eq!(platform["accountId"], "sandbox_public");
    assert!(
        platform["publishedUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://www.tiktok.com/@sandbox_public/video/")
    );
    // The webhook's post decodes with the client's own type.
    let decoded: tiktok_gateway::zernio::Post =
        serde_json::from_value(payload["post"].clone()).unwrap();
    assert_eq!(decoded.id, post.id);
    assert_eq!(decoded.status, PostStatus::Published);

    let other = client
        .create_post(
            &CTX,
            &scheduled(
                "sandbox_public",
                "Cancel me",
                at + chrono::Duration::hours(1),
            ),
            None,
        )
        .await
        .unwrap()
        .post;
    assert_eq!(
        next_hook(&mut rx, "whsec_sandbox").await.0,
        "post.scheduled"
    );
    client.delete_post(&CTX, &other.id).await.unwrap();
    let (event, payload) = next_hook(&mut rx, "whsec_sandbox").await;
    assert_eq!(event, "post.cancelled");
    assert_eq!(payload["post"]["id"], json!(other.id));
    sandbox.stop().await;
}

#[tokio::test]
async fn a_registered_webhook_receives_failures() {
    let (url, mut rx) = receiver().await;
    let (sandbox, client) = start(fixed()).await;
    let registered = client
        .register_webhook(
            &CTX,
            &WebhookSettings {
                name: "gateway".into(),
                url: url.to_string(),
                secret: "whsec_registered".into(),
                events: vec!["post.failed".into(), "post.published".into()],
                is_active: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(registered["success"], true);
    assert!(registered.to_string().find("whsec_registered").is_none());

    let mut body = video("sandbox_public", "Bad media", "SELF_ONLY");
    body["mediaItems"][0]["url"] = json!("https://files.invalid/v.mp4");
    let err = client.create_post(&CTX, &body, None).await.unwrap_err();
    assert_eq!(err.kind, UpstreamKind::MediaDownloadFailed);
    let (event, payload) = next_hook(&mut rx, "whsec_registered").await;
    assert_eq!(event, "post.failed");
    assert!(
        payload["post"]["platforms"][0]["error"]
            .as_str()
            .unwrap()
            .contains("download failed")
    );

    let far = client
        .register_webhook(
            &CTX,
            &WebhookSettings {
                name: "x".into(),
                url: "https://hooks.example.com/x".into(),
                secret: "s".into(),
                events: vec![],
                is_active: true,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(far.kind, UpstreamKind::Invalid, "only loopback targets");
    sandbox.stop().await;
}

#[tokio::test]
async fn the_sandbox_speaks_zernio_headers_and_auth() {
    let sandbox = sandbox::spawn(fixed()).await.unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/v1/accounts", sandbox.base_url);
    let anon = http.get(&url).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let body: Value = anon.json().await.unwrap();
    assert_eq!(body, json!({"error": "Unauthorized"}));

    let ok = http
        .get(&url)
        .bearer_auth("anything")
        .header("x-request-id", "rid-1")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let h = ok.headers();
    assert_eq!(h["x-request-id"], "rid-1");
    assert_eq!(h["x-ratelimit-limit"], "600");
    assert!(h.contains_key("x-ratelimit-remaining") && h.contains_key("x-ratelimit-reset"));
    sandbox.stop().await;

    // The client records what the sandbox sends.
    let (sandbox, client) = start(fixed()).await;
    client.accounts(&CTX).await.unwrap();
    let info = client.rate_limit().unwrap();
    assert_eq!(info.limit, Some(600));
    assert_eq!(info.remaining, Some(599));
    sandbox.stop().await;
}
