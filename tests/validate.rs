//! `POST /v1/tiktok/posts/validate` over HTTP: the exact Zernio payload, every violation as a
//! problem, tenant ownership of the account, and the problem format of unreadable bodies.

mod common;

use common::*;
use serde_json::{Value, json};

async fn validate(gw: &TestGateway, key: &str, body: &Value) -> reqwest::Response {
    gw.client
        .post(gw.url("/v1/tiktok/posts/validate"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn quick_start() -> Value {
    json!({
        "account": "acc_a1",
        "caption": "Check out this amazing sunset! #sunset #nature",
        "video": {"url": "https://cdn.example.com/sunset-video.mp4"},
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

#[tokio::test]
async fn a_valid_post_answers_the_exact_zernio_payload() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let response = validate(&gw, ACME_KEY, &quick_start()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["valid"], true);
    // The reference's quick-start body, key for key (the account aside).
    assert_eq!(
        body["zernio_payload"],
        json!({
            "content": "Check out this amazing sunset! #sunset #nature",
            "mediaItems": [{"type": "video", "url": "https://cdn.example.com/sunset-video.mp4"}],
            "platforms": [{"platform": "tiktok", "accountId": "acc_a1"}],
            "tiktokSettings": {
                "privacy_level": "PUBLIC_TO_EVERYONE",
                "allow_comment": true,
                "allow_duet": true,
                "allow_stitch": true,
                "content_preview_confirmed": true,
                "express_consent_given": true
            },
            "publishNow": true
        })
    );
    assert_eq!(body["warnings"], json!([]));
}

#[tokio::test]
async fn every_violation_is_listed_in_one_422_problem() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let mut post = quick_start();
    post["caption"] = json!("🙂".repeat(1101)); // 2,202 UTF-16 units
    post["video"]["url"] = json!("http://cdn.example.com/a.mp4");
    post.as_object_mut().unwrap().remove("privacy");
    post.as_object_mut().unwrap().remove("consent");
    let body = problem(validate(&gw, ACME_KEY, &post).await, 422).await;
    assert_eq!(body["code"], "validation_failed");
    let errors = body["errors"].as_array().unwrap();
    let codes: Vec<&str> = errors.iter().map(|e| e["code"].as_str().unwrap()).collect();
    for code in [
        "caption_too_long",
        "media_url_not_direct",
        "privacy_required",
        "consent_required",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    for error in errors {
        for member in ["field", "code", "message", "fix"] {
            assert!(
                error[member].as_str().is_some_and(|s| !s.is_empty()),
                "{error}"
            );
        }
    }
    // The same request gives the same errors in the same order.
    let again = problem(validate(&gw, ACME_KEY, &post).await, 422).await;
    assert_eq!(again["errors"], body["errors"]);
}

#[tokio::test]
async fn an_account_of_another_tenant_is_403() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let mut post = quick_start();
    post["account"] = json!("acc_b1");
    let body = problem(validate(&gw, ACME_KEY, &post).await, 403).await;
    assert_eq!(body["code"], "account_not_allowed");
    // Globex may use its own account.
    assert_eq!(validate(&gw, GLOBEX_KEY, &post).await.status(), 200);
}

#[tokio::test]
async fn unreadable_bodies_are_problems_too() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    let url = gw.url("/v1/tiktok/posts/validate");
    let send = |body: reqwest::Body, content_type: &'static str| {
        gw.client
            .post(&url)
            .bearer_auth(ACME_KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let body = problem(
        send("{not json".into(), "application/json").await.unwrap(),
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid_json");
    let body = problem(send("{}".into(), "text/plain").await.unwrap(), 415).await;
    assert_eq!(body["code"], "unsupported_media_type");
    let huge = format!("{{\"caption\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let body = problem(send(huge.into(), "application/json").await.unwrap(), 413).await;
    assert_eq!(body["code"], "payload_too_large");
}

#[tokio::test]
async fn media_urls_at_internal_addresses_never_reach_zernio() {
    let (gw, fake) = TestGateway::with_fake("").await;
    for url in [
        "https://169.254.169.254/latest/meta-data/v.mp4",
        "https://127.0.0.1/v.mp4",
        "https://[::127.0.0.1]/v.mp4",
        "https://localhost/v.mp4",
    ] {
        let mut body = quick_start();
        body["video"]["url"] = json!(url);
        let created = gw.post_json("/v1/tiktok/posts", ACME_KEY, &body).await;
        let problem = problem(created, 422).await;
        assert_eq!(
            problem["errors"][0]["code"], "media_host_not_public",
            "{url}"
        );
        assert_eq!(problem["errors"][0]["field"], "video.url", "{url}");
    }
    assert!(fake.calls("create").is_empty());
}

#[tokio::test]
async fn a_broken_request_hears_the_creators_constraints_in_the_same_answer() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let mut post = quick_start();
    post["video"]["url"] = json!("http://cdn.example.com/a.mp4");
    post["privacy"] = json!("FOLLOWER_OF_CREATOR"); // not among the fake creator's levels
    post.as_object_mut().unwrap().remove("consent");
    let body = problem(validate(&gw, ACME_KEY, &post).await, 422).await;
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "media_url_not_direct",
            "privacy_level_unavailable",
            "consent_required",
            "consent_required"
        ],
        "{body}"
    );
    let privacy = &body["errors"][1];
    assert_eq!(privacy["field"], "privacy");
    assert_eq!(
        privacy["fix"],
        "Use one of the creator's allowed levels: PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY."
    );
    // The same broken request again, and a create of it: the one creator-info read is cached.
    assert_eq!(validate(&gw, ACME_KEY, &post).await.status(), 422);
    let created = gw.post_json("/v1/tiktok/posts", ACME_KEY, &post).await;
    assert_eq!(problem(created, 422).await["errors"], body["errors"]);
    assert_eq!(fake.calls("creator_info").len(), 1);
    assert!(fake.calls("create").is_empty());

    // No account, or one of another tenant: nothing to look up, nothing read.
    let mut no_account = post.clone();
    no_account.as_object_mut().unwrap().remove("account");
    let body = problem(validate(&gw, ACME_KEY, &no_account).await, 422).await;
    assert!(
        !body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "privacy_level_unavailable"),
        "{body}"
    );
    assert_eq!(fake.calls("creator_info").len(), 1);
}
