//! The automations' validate endpoint, black-box: flat fields (JSON or form) checked exactly as
//! the flat create reads them, nothing sent to Zernio, violations named by their flat fields.

mod common;

use common::*;
use serde_json::{Value, json};

const VALIDATE: &str = "/v1/hooks/tiktok/posts/validate";

fn flat_video() -> Value {
    json!({
        "account": "acc_a1",
        "caption": "New drop #launch",
        "video_url": "https://cdn.example.com/drop.mp4",
        "privacy": "public",
        "allow_comment": "yes", "allow_duet": "true", "allow_stitch": "0",
        "consent": "true"
    })
}

async fn form(gw: &TestGateway, pairs: &[(&str, &str)]) -> reqwest::Response {
    gw.client
        .post(gw.url(VALIDATE))
        .bearer_auth(ACME_KEY)
        .form(pairs)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn valid_flat_fields_answer_the_payload_a_create_would_send_and_send_nothing() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let response = gw.post_json(VALIDATE, ACME_KEY, &flat_video()).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({
            "valid": true,
            "warnings": [],
            // What the media probe found: nothing, it is off in the tests.
            "media": [],
            "zernio_payload": {
                "content": "New drop #launch",
                "mediaItems": [{"type": "video", "url": "https://cdn.example.com/drop.mp4"}],
                "platforms": [{"accountId": "acc_a1", "platform": "tiktok"}],
                "publishNow": true,
                "tiktokSettings": {
                    "allow_comment": true, "allow_duet": true, "allow_stitch": false,
                    "content_preview_confirmed": true, "express_consent_given": true,
                    "privacy_level": "PUBLIC_TO_EVERYONE"
                }
            }
        })
    );
    // The same fields as a form are the same post.
    let as_form = form(
        &gw,
        &[
            ("account", "acc_a1"),
            ("caption", "New drop #launch"),
            ("video_url", "https://cdn.example.com/drop.mp4"),
            ("privacy", "public"),
            ("allow_comment", "yes"),
            ("allow_duet", "true"),
            ("allow_stitch", "0"),
            ("consent", "true"),
        ],
    )
    .await;
    assert_eq!(as_form.status(), 200);
    assert_eq!(as_form.json::<Value>().await.unwrap(), answer);
    assert!(
        fake.calls("create").is_empty(),
        "a validation sends nothing"
    );
}

#[tokio::test]
async fn violations_are_named_by_their_flat_fields() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let body = json!({"account": "acc_a1", "caption": "x", "video_url": "http://cdn.example.com/a.mp4",
                      "privacy": "public", "allow_comment": "maybe"});
    let problem = problem(gw.post_json(VALIDATE, ACME_KEY, &body).await, 422).await;
    assert_eq!(problem["code"], "validation_failed");
    let named: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        vec![
            ("allow_comment", "invalid_type"),
            ("video_url", "media_url_not_direct"),
            ("consent", "consent_required"),
            ("allow_duet", "interaction_setting_required"),
            ("allow_stitch", "interaction_setting_required"),
        ]
    );
    assert!(fake.calls("create").is_empty());
}

#[tokio::test]
async fn the_validate_endpoint_refuses_what_the_create_refuses() {
    let (gw, _fake) = TestGateway::with_fake("").await;
    // Neither JSON nor a form.
    let response = gw
        .client
        .post(gw.url(VALIDATE))
        .bearer_auth(ACME_KEY)
        .header("content-type", "text/plain")
        .body("account=acc_a1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(response, 415).await["code"],
        "unsupported_media_type"
    );
    // A read-only key lacks posts:write; another tenant's account is not this tenant's.
    let read_only = gw.post_json(VALIDATE, ACME_READ_KEY, &flat_video()).await;
    assert_eq!(problem(read_only, 403).await["code"], "insufficient_scope");
    let mut other = flat_video();
    other["account"] = json!("acc_b1");
    let refused = gw.post_json(VALIDATE, ACME_KEY, &other).await;
    assert_eq!(problem(refused, 403).await["code"], "account_not_allowed");
}
