//! The sandbox is a faithful Zernio: every answer it gives, for every operation and status it
//! can produce, and every webhook it sends, validates against Zernio's OpenAPI (tests/contract).
//! Each request sent here is held to the spec too, so what is exercised is Zernio's surface, not
//! the sandbox's leniency. Everything stays on 127.0.0.1.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{DateTime, SubsecRound, Utc};
use common::contract;
use reqwest::Method;
use serde_json::{Value, json};
use tiktok_gateway::sandbox::{self, Clock, Sandbox, SandboxOptions};
use tokio::sync::mpsc;

fn t0() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn options() -> SandboxOptions {
    SandboxOptions {
        clock: Clock::fixed(t0()),
        // The background tick is not what these tests rely on.
        tick: Duration::from_secs(3600),
        ..SandboxOptions::default()
    }
}

/// A client of the sandbox that holds both sides of every exchange to the contract.
struct Probe {
    base: String,
    http: reqwest::Client,
    off_spec: Vec<String>,
    answers: u64,
}

impl Probe {
    fn new(sandbox: &Sandbox) -> Probe {
        Probe {
            base: sandbox.base_url.as_str().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            off_spec: Vec::new(),
            answers: 0,
        }
    }

    /// Sends a request (checked against the spec first) and checks the answer.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.call_as(method, path, headers, body, true).await
    }

    async fn call_as(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
        authorised: bool,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        let mut sent = HeaderMap::new();
        if authorised {
            req = req.bearer_auth("sk_sandbox");
            sent.insert("authorization", "Bearer sk_sandbox".parse().unwrap());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
            sent.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        if let Some(b) = body {
            req = req.json(b);
            sent.insert("content-type", "application/json".parse().unwrap());
        }
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        let full = format!("/api{p}");
        if authorised {
            let checked = contract::validate_request(method.as_str(), &full, q, &sent, body);
            assert!(checked.is_ok(), "this test sent off-spec: {checked:?}");
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let answer: Option<Value> = serde_json::from_str(&text).ok();
        self.answers += 1;
        if let Err(e) = contract::validate_response(method.as_str(), &full, status, answer.as_ref())
        {
            self.off_spec.extend(e);
        }
        (status, answer.unwrap_or(Value::Null))
    }
}

fn video(account: &str, caption: &str) -> Value {
    json!({
        "content": caption,
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/sunset.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": account}],
        "tiktokSettings": {
            "privacy_level": "SELF_ONLY", "allow_comment": true, "allow_duet": false, "allow_stitch": false,
            "content_preview_confirmed": true, "express_consent_given": true
        },
        "publishNow": true
    })
}

fn carousel(account: &str, caption: &str) -> Value {
    json!({
        "content": caption,
        "mediaItems": [
            {"type": "image", "url": "https://cdn.example.com/1.jpg"},
            {"type": "image", "url": "https://cdn.example.com/2.jpg"}
        ],
        "platforms": [{"platform": "tiktok", "accountId": account, "platformSpecificData": {
            "privacyLevel": "SELF_ONLY", "allowComment": false, "contentPreviewConfirmed": true,
            "expressConsentGiven": true, "mediaType": "photo", "photoCoverIndex": 1, "description": "Two photos"
        }}],
        "publishNow": true
    })
}

/// A loopback receiver for the sandbox's webhooks: (X-Zernio-Event, payload).
async fn receiver() -> (String, mpsc::UnboundedReceiver<(String, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    async fn hook(
        State(tx): State<mpsc::UnboundedSender<(String, Value)>>,
        headers: HeaderMap,
        body: Bytes,
    ) {
        let event = headers
            .get("x-zernio-event")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let _ = tx.send((event, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    }
    let app = Router::new().route("/hook", post(hook)).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

#[tokio::test]
async fn every_sandbox_answer_and_webhook_is_zernios() {
    let sandbox = sandbox::spawn(SandboxOptions {
        daily_cap: 3,
        ..options()
    })
    .await
    .unwrap();
    let clock = sandbox.clock().clone();
    let mut p = Probe::new(&sandbox);
    let (hook_url, mut hooks) = receiver().await;
    let events = [
        "post.scheduled",
        "post.published",
        "post.failed",
        "post.partial",
        "post.cancelled",
        "post.platform.published",
        "post.platform.failed",
        "post.tiktok.url_resolved",
    ];
    let (status, registered) = p
        .call(Method::POST, "/v1/webhooks/settings", &[], Some(&json!({
            "name": "contract", "url": hook_url, "secret": "whsec_contract", "events": events, "isActive": true
        })))
        .await;
    assert_eq!(status, 200, "{registered}");

    // Accounts and creator info, video and photo; an unknown account.
    assert_eq!(
        p.call(Method::GET, "/v1/accounts?platform=tiktok", &[], None)
            .await
            .0,
        200
    );
    for q in ["", "?mediaType=video", "?mediaType=photo"] {
        let path = format!("/v1/accounts/sandbox_private/tiktok/creator-info{q}");
        assert_eq!(p.call(Method::GET, &path, &[], None).await.0, 200);
    }
    let (status, photo_info) = p
        .call(
            Method::GET,
            "/v1/accounts/sandbox_public/tiktok/creator-info?mediaType=photo",
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(photo_info["postingLimits"]["interactionSettings"]["allow_duet"].is_null());
    assert_eq!(
        p.call(
            Method::GET,
            "/v1/accounts/nobody/tiktok/creator-info",
            &[],
            None
        )
        .await
        .0,
        404
    );

    // Creates: video, carousel (settings in platformSpecificData), a Zernio draft (neither
    // publishNow nor scheduledFor), isDraft over publishNow, an inbox draft, a scheduled post.
    let (status, v) = p
        .call(
            Method::POST,
            "/v1/posts",
            &[("Idempotency-Key", "k-video")],
            Some(&video("sandbox_public", "Video #one")),
        )
        .await;
    assert_eq!(
        (status, v["post"]["status"].as_str()),
        (201, Some("published")),
        "{v}"
    );
    let video_id = v["post"]["_id"].as_str().unwrap().to_owned();
    let (status, c) = p
        .call(
            Method::POST,
            "/v1/posts",
            &[],
            Some(&carousel("sandbox_public", "Photos")),
        )
        .await;
    assert_eq!(
        (status, c["post"]["status"].as_str()),
        (201, Some("published")),
        "{c}"
    );
    let mut draft = video("sandbox_public", "A Zernio draft");
    draft.as_object_mut().unwrap().remove("publishNow");
    let (status, d) = p.call(Method::POST, "/v1/posts", &[], Some(&draft)).await;
    assert_eq!(
        (status, d["post"]["status"].as_str()),
        (201, Some("draft")),
        "{d}"
    );
    let draft_id = d["post"]["_id"].as_str().unwrap().to_owned();
    let mut is_draft = video("sandbox_public", "isDraft wins");
    is_draft["isDraft"] = json!(true);
    let (status, d2) = p
        .call(Method::POST, "/v1/posts", &[], Some(&is_draft))
        .await;
    assert_eq!(
        (status, d2["post"]["status"].as_str()),
        (201, Some("draft"))
    );
    let mut inbox = video("sandbox_private", "To the inbox");
    inbox["tiktokSettings"]["draft"] = json!(true);
    let (status, i) = p.call(Method::POST, "/v1/posts", &[], Some(&inbox)).await;
    assert_eq!(status, 201, "{i}");
    let mut later = video("sandbox_private", "Later");
    later.as_object_mut().unwrap().remove("publishNow");
    later["scheduledFor"] = json!((clock.now() + chrono::Duration::hours(2)).to_rfc3339());
    let (status, s) = p.call(Method::POST, "/v1/posts", &[], Some(&later)).await;
    assert_eq!(
        (status, s["post"]["status"].as_str()),
        (201, Some("scheduled"))
    );
    let scheduled_id = s["post"]["_id"].as_str().unwrap().to_owned();

    // The spec's own TikTok examples are accepted.
    for (name, example) in contract::contract().request_examples("createPost") {
        if example.to_string().contains("\"tiktok\"") {
            let mut body = example.clone();
            for target in body["platforms"].as_array_mut().unwrap() {
                target["accountId"] = json!("sandbox_public");
            }
            let (status, a) = p.call(Method::POST, "/v1/posts", &[], Some(&body)).await;
            assert!(
                status == 201 || status == 207,
                "example {name}: {status} {a}"
            );
        }
    }

    // Dry run: the verdict, nothing created.
    let mut dry = video("sandbox_public", "Only a check");
    dry["dryRun"] = json!(true);
    let (status, verdict) = p.call(Method::POST, "/v1/posts", &[], Some(&dry)).await;
    assert_eq!(status, 200, "{verdict}");
    contract::contract()
        .validate_schema("TikTokDryRunVerdict", &verdict)
        .unwrap();
    assert_eq!(verdict["tiktok"][0]["accountId"], "sandbox_public");

    // Replay by Idempotency-Key, whatever the body: 200 with the original post.
    let (status, replay) = p
        .call(
            Method::POST,
            "/v1/posts",
            &[("Idempotency-Key", "k-video")],
            Some(&video("sandbox_public", "other")),
        )
        .await;
    assert_eq!((status, &replay["post"]["_id"]), (200, &json!(video_id)));
    // Duplicate content: 409 naming the first post.
    let (status, dup) = p
        .call(
            Method::POST,
            "/v1/posts",
            &[],
            Some(&video("sandbox_public", "Video #one")),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(dup["details"]["existingPostId"], json!(video_id));
    // 207: TikTok could not download the media.
    let mut broken = video("sandbox_public", "Broken media");
    broken["mediaItems"][0]["url"] = json!("https://media.invalid/v.mp4");
    let (status, failed) = p.call(Method::POST, "/v1/posts", &[], Some(&broken)).await;
    assert_eq!(
        (status, failed["post"]["status"].as_str()),
        (207, Some("failed")),
        "{failed}"
    );
    let failed_id = failed["post"]["_id"].as_str().unwrap().to_owned();
    // 400: no consent.
    let mut no_consent = video("sandbox_public", "No consent");
    no_consent["tiktokSettings"]["express_consent_given"] = json!(false);
    assert_eq!(
        p.call(Method::POST, "/v1/posts", &[], Some(&no_consent))
            .await
            .0,
        400
    );
    // 401: no key.
    assert_eq!(
        p.call_as(Method::GET, "/v1/posts", &[], None, false)
            .await
            .0,
        401
    );

    // The daily cap (3 here): videos and photos counted apart, 429 with an ErrorResponse.
    // (The failed post above counts: it reached TikTok.)
    let mut capped = Value::Null;
    for n in 0..4 {
        let body = video("sandbox_public", &format!("more {n}"));
        let (status, a) = p.call(Method::POST, "/v1/posts", &[], Some(&body)).await;
        if status == 429 {
            capped = a;
            break;
        }
        assert_eq!(status, 201, "{a}");
    }
    assert_eq!(
        capped["code"], "daily_limit_reached",
        "the cap of 3 is reached"
    );
    contract::contract()
        .validate_schema("ErrorResponse", &capped)
        .unwrap();
    let (status, _) = p
        .call(
            Method::GET,
            "/v1/accounts/sandbox_public/tiktok/creator-info",
            &[],
            None,
        )
        .await;
    assert_eq!(status, 429, "creator info says the creator is at the cap");
    let (status, photos) = p
        .call(
            Method::POST,
            "/v1/posts",
            &[],
            Some(&carousel("sandbox_public", "Photos 2")),
        )
        .await;
    assert_eq!(status, 201, "photos are counted apart: {photos}");

    // Reads.
    assert_eq!(
        p.call(Method::GET, &format!("/v1/posts/{video_id}"), &[], None)
            .await
            .0,
        200
    );
    assert_eq!(
        p.call(Method::GET, "/v1/posts/000000000000000000000000", &[], None)
            .await
            .0,
        404
    );
    let today = clock.now().date_naive().to_string();
    let (status, page) = p
        .call(
            Method::GET,
            &format!(
                "/v1/posts?page=1&limit=2&fromDate={today}&toDate={today}&sortBy=created-desc"
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["posts"].as_array().unwrap().len(), 2);
    assert!(page["pagination"]["total"].as_u64().unwrap() > 2);
    assert!(page["posts"][0]["content"].is_string() && page["posts"][0]["mediaItems"].is_array());
    for q in [
        "status=draft",
        "status=scheduled&platform=tiktok",
        "accountId=sandbox_private&limit=500",
        "dateFrom=2020-01-01&dateTo=2020-01-02",
        "sortBy=scheduled-asc&page=2&limit=1",
    ] {
        assert_eq!(
            p.call(Method::GET, &format!("/v1/posts?{q}"), &[], None)
                .await
                .0,
            200,
            "{q}"
        );
    }

    // Update, delete, retry.
    let (status, edited) = p
        .call(
            Method::PUT,
            &format!("/v1/posts/{draft_id}"),
            &[],
            Some(&json!({"content": "Edited draft"})),
        )
        .await;
    assert_eq!(
        (status, edited["post"]["content"].as_str()),
        (200, Some("Edited draft"))
    );
    assert_eq!(
        p.call(
            Method::PUT,
            &format!("/v1/posts/{video_id}"),
            &[],
            Some(&json!({"content": "x"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        p.call(
            Method::PUT,
            "/v1/posts/000000000000000000000000",
            &[],
            Some(&json!({"content": "x"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        p.call(
            Method::DELETE,
            &format!("/v1/posts/{scheduled_id}"),
            &[],
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        p.call(Method::DELETE, &format!("/v1/posts/{video_id}"), &[], None)
            .await
            .0,
        400
    );
    assert_eq!(
        p.call(
            Method::DELETE,
            "/v1/posts/000000000000000000000000",
            &[],
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        p.call(
            Method::POST,
            &format!("/v1/posts/{failed_id}/retry"),
            &[],
            None
        )
        .await
        .0,
        207
    );
    assert_eq!(
        p.call(
            Method::POST,
            &format!("/v1/posts/{video_id}/retry"),
            &[],
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        p.call(
            Method::POST,
            "/v1/posts/000000000000000000000000/retry",
            &[],
            None
        )
        .await
        .0,
        404
    );
    let fixed =
        json!({"mediaItems": [{"type": "video", "url": "https://cdn.example.com/fixed.mp4"}]});
    assert_eq!(
        p.call(
            Method::PUT,
            &format!("/v1/posts/{failed_id}"),
            &[],
            Some(&fixed)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        p.call(
            Method::POST,
            &format!("/v1/posts/{failed_id}/retry"),
            &[],
            None
        )
        .await
        .0,
        200
    );

    // Presign, upload, create with the public URL.
    let (status, signed) = p
        .call(
            Method::POST,
            "/v1/media/presign",
            &[],
            Some(&json!({"filename": "clip.mp4", "contentType": "video/mp4", "size": 1024})),
        )
        .await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(
        p.call(
            Method::POST,
            "/v1/media/presign",
            &[],
            Some(&json!({"filename": "", "contentType": "video/mp4"}))
        )
        .await
        .0,
        400
    );
    let put = p
        .http
        .put(signed["uploadUrl"].as_str().unwrap())
        .body(vec![0u8; 1024])
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let mut uploaded = video("sandbox_private", "Uploaded");
    uploaded["mediaItems"][0]["url"] = signed["publicUrl"].clone();
    let (status, up) = p
        .call(Method::POST, "/v1/posts", &[], Some(&uploaded))
        .await;
    assert_eq!(
        (status, up["post"]["status"].as_str()),
        (201, Some("published")),
        "{up}"
    );
    let uploaded_id = up["post"]["_id"].as_str().unwrap().to_owned();

    // Analytics: pending right after publication (202), then the single-post shape, the list.
    let path = format!("/v1/analytics?postId={uploaded_id}");
    assert_eq!(p.call(Method::GET, &path, &[], None).await.0, 202);
    clock.advance(Duration::from_secs(3600));
    let (status, single) = p.call(Method::GET, &path, &[], None).await;
    assert_eq!(
        (status, single["postId"].as_str()),
        (200, Some(uploaded_id.as_str()))
    );
    contract::contract()
        .validate_schema("AnalyticsSinglePostResponse", &single)
        .unwrap();
    let (status, list) = p
        .call(
            Method::GET,
            "/v1/analytics?platform=tiktok&accountId=sandbox_public&limit=100&page=1",
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(list["posts"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(
        p.call(
            Method::GET,
            "/v1/analytics?postId=000000000000000000000000",
            &[],
            None
        )
        .await
        .0,
        404
    );

    // The webhooks the above sent, each the spec's payload for its event.
    sandbox.state().tick();
    let wanted = [
        "post.published",
        "post.scheduled",
        "post.failed",
        "post.cancelled",
        "post.platform.published",
        "post.platform.failed",
        "post.tiktok.url_resolved",
    ];
    let mut seen = std::collections::BTreeSet::new();
    let mut webhook_violations = Vec::new();
    let mut check =
        |event: String, payload: Value, seen: &mut std::collections::BTreeSet<String>| {
            if let Err(e) = contract::validate_webhook(&event, &payload) {
                webhook_violations.extend(e);
            }
            seen.insert(event);
        };
    // Until every kind expected has arrived (bounded), then whatever else is already there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !wanted.iter().all(|w| seen.contains(*w)) {
        match tokio::time::timeout_at(deadline, hooks.recv()).await {
            Ok(Some((event, payload))) => check(event, payload, &mut seen),
            _ => break,
        }
    }
    while let Ok((event, payload)) = hooks.try_recv() {
        check(event, payload, &mut seen);
    }
    for want in wanted {
        assert!(seen.contains(want), "no {want} webhook among {seen:?}");
    }

    let coverage = contract::coverage();
    println!("{coverage}");
    println!(
        "sandbox: {} answers validated, {} off-spec; {} webhooks",
        p.answers,
        p.off_spec.len(),
        coverage.webhooks
    );
    assert_eq!(
        p.off_spec,
        Vec::<String>::new(),
        "the sandbox answered off the spec"
    );
    assert_eq!(
        webhook_violations,
        Vec::<String>::new(),
        "the sandbox's webhooks are off the spec"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn posts_survive_a_restart_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.json");
    let first = sandbox::spawn(SandboxOptions {
        store_path: Some(file.clone()),
        ..options()
    })
    .await
    .unwrap();
    let mut p = Probe::new(&first);
    let (status, a) = p
        .call(
            Method::POST,
            "/v1/posts",
            &[],
            Some(&video("sandbox_public", "Kept")),
        )
        .await;
    assert_eq!(status, 201);
    let id = a["post"]["_id"].as_str().unwrap().to_owned();
    first.stop().await;

    let second = sandbox::spawn(SandboxOptions {
        store_path: Some(file.clone()),
        ..options()
    })
    .await
    .unwrap();
    let mut p = Probe::new(&second);
    let (status, got) = p
        .call(Method::GET, &format!("/v1/posts/{id}"), &[], None)
        .await;
    assert_eq!((status, &got["post"]["content"]), (200, &json!("Kept")));
    let (_, list) = p.call(Method::GET, "/v1/posts", &[], None).await;
    assert_eq!(list["posts"][0]["_id"], json!(id));
    // The duplicate guard remembers it too.
    assert_eq!(
        p.call(
            Method::POST,
            "/v1/posts",
            &[],
            Some(&video("sandbox_public", "Kept"))
        )
        .await
        .0,
        409
    );
    assert_eq!(p.off_spec, Vec::<String>::new());
    second.stop().await;
}
