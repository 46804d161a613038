//! The contract validator's own tests: a known-good request, answer and webhook pass, bad ones
//! fail with a message that names the operation, the place and the reason. (Cargo builds this
//! directory's main.rs as the `contract` test binary.)

#[path = "../common/mod.rs"]
mod common;

use axum::http::HeaderMap;
use common::contract::{contract, validate_request, validate_response, validate_webhook};
use serde_json::{Value, json};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

fn auth() -> HeaderMap {
    headers(&[
        ("authorization", "Bearer sk_test"),
        ("content-type", "application/json"),
    ])
}

fn video() -> Value {
    json!({
        "content": "Sunset #travel",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_1"}],
        "tiktokSettings": {"privacy_level": "SELF_ONLY", "allow_comment": false, "allow_duet": false,
            "allow_stitch": false, "content_preview_confirmed": true, "express_consent_given": true},
        "publishNow": true
    })
}

#[test]
fn operations_are_found_by_template_with_literals_first() {
    let c = contract();
    assert_eq!(c.operation("POST", "/api/v1/posts"), Some("createPost"));
    assert_eq!(c.operation("GET", "/v1/posts/abc"), Some("getPost"));
    assert_eq!(
        c.operation("POST", "/api/v1/posts/abc/retry"),
        Some("retryPost")
    );
    assert_eq!(
        c.operation("GET", "/api/v1/accounts/a/tiktok/creator-info"),
        Some("getTikTokCreatorInfo")
    );
    assert_eq!(
        c.operation("GET", "/api/v1/analytics/post-timeline"),
        Some("getPostTimeline")
    );
    assert_eq!(c.operation("PATCH", "/api/v1/posts/abc"), None);
    assert_eq!(c.operation("GET", "/api/v1/posts/"), None);
    assert!(c.statuses().contains(&("createPost", "207")));
    assert!(c.events().contains(&"post.tiktok.url_resolved"));
}

#[test]
fn a_good_create_passes_and_a_bad_one_says_why() {
    let ok = validate_request("POST", "/api/v1/posts", "", &auth(), Some(&video()));
    assert_eq!(ok, Ok("createPost"));

    let mut bad = video();
    bad["mediaItems"][0]["type"] = json!("movie");
    bad["publishNow"] = json!("yes");
    let errors = validate_request("POST", "/api/v1/posts", "", &auth(), Some(&bad)).unwrap_err();
    let text = errors.join("\n");
    assert!(
        text.contains("createPost request body /mediaItems/0/type"),
        "{text}"
    );
    assert!(text.contains("/publishNow"), "{text}");
    assert!(text.contains("\"movie\""), "{text}");
}

#[test]
fn headers_and_query_are_held_to_their_declarations() {
    let mut h = auth();
    h.insert("x-request-id", "caller-req-7".parse().unwrap());
    let errors = validate_request("POST", "/api/v1/posts", "", &h, Some(&video())).unwrap_err();
    assert!(errors[0].contains("header `x-request-id`"), "{errors:?}");
    assert!(errors[0].contains("uuid"), "{errors:?}");
    h.insert(
        "x-request-id",
        "6f1c2a52-5d7e-4d0e-9a53-0b6e7c1d2e3f".parse().unwrap(),
    );
    h.insert("idempotency-key", "k".repeat(256).parse().unwrap());
    let errors = validate_request("POST", "/api/v1/posts", "", &h, Some(&video())).unwrap_err();
    assert!(errors[0].contains("header `Idempotency-Key`"), "{errors:?}");

    let get = headers(&[("authorization", "Bearer sk")]);
    assert_eq!(
        validate_request(
            "GET",
            "/api/v1/posts",
            "page=2&limit=500&status=published&fromDate=2026-01-01",
            &get,
            None
        ),
        Ok("listPosts")
    );
    let errors = validate_request(
        "GET",
        "/api/v1/posts",
        "limit=501&since=x&fromDate=2026-01-01T00:00:00Z",
        &get,
        None,
    )
    .unwrap_err();
    let text = errors.join("\n");
    assert!(text.contains("query `limit`"), "{text}");
    assert!(text.contains("query `since` is not a parameter"), "{text}");
    assert!(text.contains("query `fromDate`"), "{text}");
    let errors = validate_request("GET", "/api/v1/posts", "", &HeaderMap::new(), None).unwrap_err();
    assert!(errors[0].contains("bearerAuth"), "{errors:?}");
    let errors =
        validate_request("GET", "/api/v1/posts", "", &get, Some(&json!({"x": 1}))).unwrap_err();
    assert!(errors[0].contains("takes no request body"), "{errors:?}");
}

#[test]
fn answers_are_held_to_the_listed_statuses_and_schemas() {
    let err = json!({"error": "Post not found"});
    assert_eq!(
        validate_response("GET", "/api/v1/posts/x", 404, Some(&err)),
        Ok(())
    );
    let errors = validate_response("GET", "/api/v1/posts/x", 502, Some(&err)).unwrap_err();
    assert!(
        errors[0].contains("not a status the spec lists"),
        "{errors:?}"
    );

    // Creator info with strings where the spec has objects.
    let info = json!({
        "creator": {"nickname": "C", "isVerified": false, "canPostMore": true},
        "privacyLevels": [{"value": "SELF_ONLY", "label": "Only me"}],
        "postingLimits": {"maxVideoDurationSec": 600, "interactionSettings": {"allow_comment": true}},
        "commercialContentTypes": ["none"]
    });
    let errors = validate_response(
        "GET",
        "/api/v1/accounts/a/tiktok/creator-info",
        200,
        Some(&info),
    )
    .unwrap_err();
    let text = errors.join("\n");
    assert!(text.contains("/commercialContentTypes/0"), "{text}");
    assert!(
        text.contains("/postingLimits/interactionSettings/allow_comment"),
        "{text}"
    );

    // A oneOf answer says why per branch (the spec's objects require little: this one is
    // wrong for both).
    let junk = json!({"dryRun": true, "tiktok": "no", "post": "x"});
    let errors = validate_response("POST", "/api/v1/posts", 200, Some(&junk)).unwrap_err();
    let text = errors.join("\n");
    assert!(text.contains("as TikTokDryRunVerdict"), "{text}");
    assert!(text.contains("as PostCreateResponse"), "{text}");
}

#[test]
fn webhook_payloads_are_the_specs() {
    let payload = json!({
        "id": "evt_1", "event": "post.tiktok.url_resolved", "timestamp": "2026-01-01T00:00:00.000Z",
        "post": {"id": "p1", "content": "c", "status": "published", "scheduledFor": "2026-01-01T00:00:00.000Z", "platforms": []},
        "platform": {"name": "tiktok", "status": "published",
                     "publishedUrl": "https://www.tiktok.com/@c/video/1", "platformPostId": "1"},
        "account": {"accountId": "a", "platform": "tiktok", "username": "c"}
    });
    assert_eq!(
        validate_webhook("post.tiktok.url_resolved", &payload),
        Ok(())
    );
    let mut old = payload.clone();
    old["platform"] = json!({"platform": "tiktok", "status": "published"});
    let errors = validate_webhook("post.tiktok.url_resolved", &old).unwrap_err();
    assert!(
        errors[0].contains("/platform: \"name\" is a required property"),
        "{errors:?}"
    );
    let errors = validate_webhook(
        "post.published",
        &json!({"event": "post.published", "post": 1}),
    )
    .unwrap_err();
    assert!(errors.iter().any(|e| e.contains("/post")), "{errors:?}");
    assert!(validate_webhook("post.exploded", &json!({})).is_err());
}

#[test]
fn the_specs_own_create_examples_pass() {
    let examples = contract().request_examples("createPost");
    assert!(!examples.is_empty());
    // The TikTok ones are the gateway's business; the others are Zernio's to keep true.
    let tiktok: Vec<_> = examples
        .iter()
        .filter(|(_, body)| body.to_string().contains("\"tiktok\""))
        .collect();
    assert!(tiktok.iter().any(|(name, _)| *name == "tiktokVideoDraft"));
    for (name, body) in tiktok {
        let r = validate_request("POST", "/api/v1/posts", "", &auth(), Some(body));
        assert_eq!(r, Ok("createPost"), "example {name}");
    }
}

// -- the fake Zernio, held to the same contract ------------------------------------------------

use common::fake_zernio::{FakeZernio, Reply};

const UUID_1: &str = "6f1c2a52-5d7e-4d0e-9a53-0b6e7c1d2e3f";
const UUID_2: &str = "0b4a7c9e-1f2d-4e3a-8b5c-6d7e8f9a0b1c";

async fn send(
    fake: &FakeZernio,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("{}{path}", fake.base_url))
        .bearer_auth("sk_test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_fake_records_what_is_off_the_contract_and_opt_outs_are_explicit() {
    let fake = FakeZernio::start().await;
    let mut bad = video();
    bad["mediaItems"][0]["type"] = json!("movie");
    send(
        &fake,
        reqwest::Method::POST,
        "/v1/posts",
        &[("x-request-id", "caller-1")],
        Some(&bad),
    )
    .await;
    fake.script("list", Reply::json(502, json!({"error": "bad gateway"})));
    send(&fake, reqwest::Method::GET, "/v1/posts", &[], None).await;
    fake.script(
        "list",
        Reply::json(502, json!({"error": "bad gateway"})).off_spec(),
    );
    let (status, _) = send(&fake, reqwest::Method::GET, "/v1/posts", &[], None).await;
    assert_eq!(status, 502, "an off-spec reply is still sent as scripted");
    let violations = fake.take_violations();
    // The fake echoes the bad media item into its post, and says so too.
    assert_eq!(violations.len(), 4, "{violations:#?}");
    assert!(violations[0].starts_with("gateway sent: createPost header `x-request-id`"));
    assert!(violations[1].starts_with("gateway sent: createPost request body /mediaItems/0/type"));
    assert!(
        violations[2].starts_with("fake answered: createPost 201 body /post/mediaItems/0/type")
    );
    assert!(violations[3].starts_with("fake answered: listPosts answered 502"));
}

#[tokio::test]
#[should_panic(expected = "violation(s) of Zernio's OpenAPI contract")]
async fn a_fake_that_saw_a_violation_fails_the_test_when_dropped() {
    let fake = FakeZernio::start().await;
    send(
        &fake,
        reqwest::Method::GET,
        "/v1/posts",
        &[],
        Some(&json!({"x": 1})),
    )
    .await;
    drop(fake);
}

#[tokio::test]
async fn the_fakes_default_answers_are_zernios() {
    let fake = FakeZernio::start().await;
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // Neither publishNow nor scheduledFor: a draft. isDraft beats publishNow.
    let mut draft = video();
    draft.as_object_mut().unwrap().remove("publishNow");
    let (status, a) = send(&fake, post.clone(), "/v1/posts", &[], Some(&draft)).await;
    assert_eq!((status, a["post"]["status"].as_str()), (201, Some("draft")));
    draft["isDraft"] = json!(true);
    draft["publishNow"] = json!(true);
    draft["content"] = json!("another");
    let (_, a) = send(&fake, post.clone(), "/v1/posts", &[], Some(&draft)).await;
    assert_eq!(a["post"]["status"], "draft");

    // Published, then replayed by its key (whatever the body) and by its request id.
    let (status, first) = send(
        &fake,
        post.clone(),
        "/v1/posts",
        &[("idempotency-key", "k1"), ("x-request-id", UUID_1)],
        Some(&video()),
    )
    .await;
    assert_eq!(
        (status, first["post"]["status"].as_str()),
        (201, Some("published"))
    );
    let mut other = video();
    other["content"] = json!("other words");
    let (status, again) = send(
        &fake,
        post.clone(),
        "/v1/posts",
        &[("idempotency-key", "k1")],
        Some(&other),
    )
    .await;
    assert_eq!((status, &again["post"]), (200, &first["post"]));
    let (status, again) = send(
        &fake,
        post.clone(),
        "/v1/posts",
        &[("x-request-id", UUID_1)],
        Some(&other),
    )
    .await;
    assert_eq!((status, &again["post"]), (200, &first["post"]));
    // The same content again under fresh ids: the content hash.
    let (status, dup) = send(
        &fake,
        post.clone(),
        "/v1/posts",
        &[("x-request-id", UUID_2)],
        Some(&video()),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(dup["details"]["existingPostId"], first["post"]["_id"]);

    let (status, list) = send(
        &fake,
        get.clone(),
        "/v1/posts?page=1&limit=2&status=draft",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["posts"].as_array().unwrap().len(), 2);
    assert_eq!(
        list["pagination"],
        json!({"page": 1, "limit": 2, "total": 2, "pages": 1})
    );
    assert!(list["posts"][0]["content"].is_string() && list["posts"][0]["mediaItems"].is_array());

    let id = first["post"]["_id"].as_str().unwrap();
    let (status, single) = send(
        &fake,
        get.clone(),
        &format!("/v1/analytics?postId={id}"),
        &[],
        None,
    )
    .await;
    assert_eq!((status, single["postId"].as_str()), (200, Some(id)));
    for (path, want) in [
        (format!("/v1/posts/{id}"), 200),
        ("/v1/posts/nope".to_owned(), 404),
        ("/v1/accounts?platform=tiktok".to_owned(), 200),
        (
            "/v1/accounts/acc_a1/tiktok/creator-info?mediaType=photo".to_owned(),
            200,
        ),
        ("/v1/accounts/acc_a1/tiktok/creator-info".to_owned(), 200),
        (
            "/v1/analytics?platform=tiktok&accountId=acc_a1&page=1&limit=100".to_owned(),
            200,
        ),
    ] {
        assert_eq!(
            send(&fake, get.clone(), &path, &[], None).await.0,
            want,
            "{path}"
        );
    }
    let (status, _) = send(
        &fake,
        reqwest::Method::PUT,
        &format!("/v1/posts/{id}"),
        &[],
        Some(&json!({"content": "edited"})),
    )
    .await;
    assert_eq!(status, 200);
    let presign = json!({"filename": "a.mp4", "contentType": "video/mp4"});
    assert_eq!(
        send(
            &fake,
            post.clone(),
            "/v1/media/presign",
            &[],
            Some(&presign)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            &fake,
            post.clone(),
            &format!("/v1/posts/{id}/retry"),
            &[],
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            &fake,
            reqwest::Method::DELETE,
            &format!("/v1/posts/{id}"),
            &[],
            None
        )
        .await
        .0,
        200
    );
    let hook = json!({"name": "gw", "url": "https://gw.example.com/hook", "secret": "s", "events": ["post.published"], "isActive": true});
    assert_eq!(
        send(&fake, post, "/v1/webhooks/settings", &[], Some(&hook))
            .await
            .0,
        200
    );

    assert_eq!(fake.violations(), Vec::<String>::new());
    println!("{}", common::contract::coverage());
}
