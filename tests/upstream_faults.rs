//! Issue 13, black-box, against the fake Zernio: a failing upstream trips a circuit breaker per
//! operation instead of being called three times a read (finding 6); error answers stay small
//! whatever the request (finding 5); Zernio's error text reaches callers only when it is plain
//! (finding 10), and a schedule too far ahead is refused (finding 10).

mod common;

use std::time::{Duration, Instant};

use common::fake_zernio::{FakeZernio, Reply};
use common::*;
use serde_json::{Value, json};

/// A gateway in front of `fake` with its own `[zernio]` settings (timeout, breaker).
async fn gateway(fake: &FakeZernio, zernio: &str, extra: &str) -> TestGateway {
    let toml = format!(
        "[zernio]\nbase_url = \"{}\"\n{zernio}\n[upstream]\nrequests_per_minute = 60000\n{extra}",
        fake.base_url
    );
    TestGateway::spawn_with_env(&toml, &[("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)]).await
}

fn unavailable() -> Reply {
    Reply::json(
        503,
        json!({"error": "Service temporarily unavailable", "type": "api_error"}),
    )
}

async fn accounts(gw: &TestGateway) -> reqwest::Response {
    gw.get_with_key("/v1/tiktok/accounts", ACME_KEY).await
}

fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn breaker_gauge(gw: &TestGateway, operation: &str) -> Option<String> {
    let wanted = format!("tiktok_gateway_upstream_breaker_open{{operation=\"{operation}\"}} ");
    gw.state
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&wanted).map(str::to_owned))
}

#[tokio::test]
async fn a_503_storm_opens_the_breaker_and_reads_are_refused_at_once_without_a_call() {
    let fake = FakeZernio::start().await;
    let gw = gateway(
        &fake,
        "request_timeout_ms = 1000\nbreaker_failures = 5\nbreaker_cool_down_ms = 60000",
        "",
    )
    .await;
    for _ in 0..40 {
        fake.script("accounts", unavailable());
    }
    let mut refused = 0;
    for i in 0..40 {
        let started = Instant::now();
        let response = accounts(&gw).await;
        let wait = retry_after(&response);
        if i < 5 {
            // Each failure is Zernio's own answer, once: no retry multiplies it.
            let body = problem(response, 502).await;
            assert_eq!(body["code"], "upstream_unavailable");
            assert_eq!(fake.calls("accounts").len(), i + 1, "read {i} sent once");
        } else {
            let body = problem(response, 503).await;
            assert_eq!(body["code"], "upstream_unavailable", "{body}");
            let wait = wait.expect("Retry-After on a refusal of the open breaker");
            assert!((1..=60).contains(&wait), "Retry-After {wait}");
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "refused at once, took {:?}",
                started.elapsed()
            );
            refused += 1;
        }
    }
    assert_eq!(
        fake.calls("accounts").len(),
        5,
        "40 reads, 5 upstream calls"
    );
    assert_eq!(refused, 35);
    assert_eq!(breaker_gauge(&gw, "accounts").as_deref(), Some("1"));
    // Another operation has a breaker of its own, still closed.
    let response = gw
        .get_with_key("/v1/tiktok/accounts/acc_a1/creator-info", ACME_KEY)
        .await;
    assert_eq!(response.status(), 200);

    // The compatible surface answers Zernio's ErrorResponse, with Retry-After too.
    let response = gw.get_with_key("/api/v1/accounts", ACME_KEY).await;
    assert_eq!(response.status(), 503);
    assert!(retry_after(&response).is_some_and(|s| (1..=60).contains(&s)));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "temporarily_unavailable");
    assert_eq!(body["type"], "api_error");
    assert_eq!(body["details"]["gatewayCode"], "upstream_unavailable");
    assert_eq!(fake.calls("accounts").len(), 5);
}

#[tokio::test]
async fn a_silent_zernio_costs_one_timeout_per_read_then_nothing_while_open() {
    let fake = FakeZernio::start().await;
    let gw = gateway(
        &fake,
        "request_timeout_ms = 300\nbreaker_failures = 3\nbreaker_cool_down_ms = 60000",
        "",
    )
    .await;
    for _ in 0..10 {
        fake.script(
            "accounts",
            Reply::json(200, json!({"accounts": []})).delayed(Duration::from_secs(5)),
        );
    }
    for i in 0..10 {
        let started = Instant::now();
        let response = accounts(&gw).await;
        let took = started.elapsed();
        if i < 3 {
            let body = problem(response, 504).await;
            assert_eq!(body["code"], "upstream_timeout");
            // One timeout of 300 ms, not three of them with backoff in between.
            assert!(took < Duration::from_millis(800), "read {i} took {took:?}");
        } else {
            let body = problem(response, 503).await;
            assert_eq!(body["code"], "upstream_unavailable");
            assert!(took < Duration::from_millis(200), "read {i} took {took:?}");
        }
    }
    assert_eq!(fake.calls("accounts").len(), 3);
}

#[tokio::test]
async fn the_half_open_probe_closes_the_breaker_when_zernio_answers_again() {
    let fake = FakeZernio::start().await;
    let cool_down = Duration::from_millis(300);
    let gw = gateway(
        &fake,
        &format!(
            "request_timeout_ms = 1000\nbreaker_failures = 2\nbreaker_cool_down_ms = {}",
            cool_down.as_millis()
        ),
        "",
    )
    .await;
    fake.script("accounts", unavailable());
    fake.script("accounts", unavailable());
    for _ in 0..2 {
        assert_eq!(accounts(&gw).await.status(), 502);
    }
    let refused = accounts(&gw).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(retry_after(&refused), Some(1));
    assert_eq!(fake.calls("accounts").len(), 2);

    // The cool-down is a time to let pass, not another task to wait for.
    tokio::time::sleep(cool_down).await;
    // Zernio is healthy again (nothing scripted: the fake's own answers): the probe goes
    // through and closes the breaker, and every read after it is sent.
    let probe = accounts(&gw).await;
    assert_eq!(probe.status(), 200);
    assert_eq!(fake.calls("accounts").len(), 3);
    assert_eq!(breaker_gauge(&gw, "accounts").as_deref(), Some("0"));
    for n in 4..=6 {
        assert_eq!(accounts(&gw).await.status(), 200);
        assert_eq!(fake.calls("accounts").len(), n);
    }

    // A probe that fails opens it again, for a whole cool-down.
    fake.script("accounts", unavailable());
    fake.script("accounts", unavailable());
    for _ in 0..2 {
        assert_eq!(accounts(&gw).await.status(), 502);
    }
    tokio::time::sleep(cool_down).await;
    fake.script("accounts", unavailable());
    assert_eq!(accounts(&gw).await.status(), 502, "the probe");
    assert_eq!(accounts(&gw).await.status(), 503, "open again");
    assert_eq!(fake.calls("accounts").len(), 9);
}

#[tokio::test]
async fn a_4xx_or_429_never_opens_the_breaker() {
    let fake = FakeZernio::start().await;
    let gw = gateway(
        &fake,
        "request_timeout_ms = 1000\nbreaker_failures = 2\nbreaker_cool_down_ms = 60000",
        "",
    )
    .await;
    for _ in 0..3 {
        fake.script(
            "accounts",
            Reply::json(
                400,
                json!({"error": "platform must be tiktok", "type": "invalid_request_error"}),
            ),
        );
    }
    for _ in 0..3 {
        assert_eq!(accounts(&gw).await.status(), 422);
    }
    // A 429 without Retry-After holds nothing: the budget's business, not the breaker's.
    for _ in 0..3 {
        fake.script(
            "accounts",
            Reply::json(
                429,
                json!({"error": "Rate limit exceeded", "type": "rate_limit_error"}),
            )
            .off_spec(),
        );
    }
    for _ in 0..3 {
        assert_eq!(accounts(&gw).await.status(), 429);
    }
    assert_eq!(fake.calls("accounts").len(), 6);
    assert_eq!(accounts(&gw).await.status(), 200, "still closed");
    assert_eq!(fake.calls("accounts").len(), 7);
}

// ---- answers bounded (finding 5) ----

/// A photo post of `n` items, each breaking three rules (not https, no image format, a size
/// over the limit): about 44 bytes an item, so 10,000 make a 439 KB body.
fn many_bad_photos(n: usize) -> Value {
    let photos: Vec<Value> = (0..n)
        .map(|i| json!({"url": format!("http://x.example/{i}.gif"), "size_bytes": 99999999}))
        .collect();
    json!({
        "account": "acc_a1", "caption": "many", "photos": photos, "privacy": "public",
        "allow_comment": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

#[tokio::test]
async fn a_body_of_many_bad_items_gets_a_small_answer_that_says_it_was_cut() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let body = many_bad_photos(10_000);
    let size = serde_json::to_vec(&body).unwrap().len();
    assert!(size > 400_000 && size < 1_048_576, "{size} bytes");
    let response = gw.post_json("/v1/tiktok/posts", ACME_KEY, &body).await;
    let bytes = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let answer = problem(response, 422).await;
    let len = serde_json::to_vec(&answer).unwrap().len();
    assert!(len < 64 * 1024, "{len} bytes");
    if let Some(bytes) = bytes {
        assert!(bytes < 64 * 1024, "{bytes} bytes");
    }
    assert_eq!(answer["code"], "validation_failed");
    assert_eq!(answer["errors_truncated"], true);
    let errors = answer["errors"].as_array().unwrap();
    assert!(!errors.is_empty() && errors.len() <= 50, "{}", errors.len());
    // At most five of one rule; the first items of the request, in order.
    let mut per_rule = std::collections::HashMap::<&str, usize>::new();
    for e in errors {
        *per_rule.entry(e["code"].as_str().unwrap()).or_default() += 1;
        assert_ne!(e["code"], "errors_truncated");
    }
    assert_eq!(per_rule["too_many_images"], 1);
    assert_eq!(per_rule["media_url_not_direct"], 5);
    let not_direct: Vec<&str> = errors
        .iter()
        .filter(|e| e["code"] == "media_url_not_direct")
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        not_direct,
        [
            "photos[0].url",
            "photos[1].url",
            "photos[2].url",
            "photos[3].url",
            "photos[4].url"
        ]
    );
    assert!(per_rule.values().all(|n| *n <= 5), "{per_rule:?}");
    // Nothing but the one creator look-up (its constraints are held in the same pass).
    assert_only_creator_info(&fake);

    // A small request keeps its whole list, without the flag.
    let answer = problem(
        gw.post_json("/v1/tiktok/posts", ACME_KEY, &many_bad_photos(2))
            .await,
        422,
    )
    .await;
    assert!(answer.get("errors_truncated").is_none(), "{answer}");
    let codes: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "media_url_not_direct",
            "media_url_not_direct",
            "unsupported_format",
            "unsupported_format",
            "file_too_large",
            "file_too_large"
        ],
        "{answer}"
    );
}

#[tokio::test]
async fn the_compatible_surface_answers_the_same_body_with_a_small_error_response() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let items: Vec<Value> = (0..10_000)
        .map(|i| json!({"type": "image", "url": format!("http://x.example/{i}.gif")}))
        .collect();
    let body = json!({
        "content": "many", "mediaItems": items, "publishNow": true,
        "platforms": [{"platform": "tiktok", "accountId": "acc_a1"}],
        "tiktokSettings": {"privacy_level": "PUBLIC_TO_EVERYONE", "allow_comment": true,
                           "content_preview_confirmed": true, "express_consent_given": true}
    });
    // With an Idempotency-Key the answer is rendered (and stored) before the compatible layer
    // reads it back: a problem of megabytes was read back as nothing, and the caller got a
    // generic `unprocessable_entity` instead of its violations.
    for key in [None, Some("many-bad-items")] {
        let mut request = gw
            .client
            .post(gw.url("/api/v1/posts"))
            .bearer_auth(ACME_KEY)
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{key:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let bytes = response.bytes().await.unwrap();
        assert!(!bytes.is_empty(), "never an empty body");
        assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["code"], "validation_failed", "{key:?}: {answer}");
        assert_eq!(answer["type"], "invalid_request_error");
        assert_eq!(answer["details"]["errorsTruncated"], true);
        let errors = answer["details"]["errors"].as_array().unwrap();
        assert!(!errors.is_empty() && errors.len() <= 50);
    }
    assert_only_creator_info(&fake);
}

// ---- upstream text (finding 10) ----

#[tokio::test]
async fn zernio_error_text_reaches_callers_only_when_it_is_plain() {
    let fake = FakeZernio::start().await;
    // A threshold no test here reaches: these are answers, not outages.
    let gw = gateway(
        &fake,
        "request_timeout_ms = 1000\nbreaker_failures = 100",
        "",
    )
    .await;
    // Presign is a write, sent once by the old client and the new one alike.
    let leaks = [
        Reply::json(
            503,
            json!({"error": "upstream connect error to 10.2.3.4:8443 (zernio-db.internal)", "type": "api_error"}),
        )
        .off_spec(),
        Reply::json(
            502,
            Value::String(
                "<html><head><title>502 Bad Gateway</title></head><body>nginx at 172.16.0.9</body></html>"
                    .into(),
            ),
        )
        .off_spec(),
        Reply::json(
            500,
            json!({"error": "see http://169.254.169.254/latest/meta-data for details", "type": "api_error"}),
        )
        .off_spec(),
    ];
    let presign = json!({"filename": "a.jpg", "content_type": "image/jpeg"});
    for reply in leaks {
        fake.script("presign", reply);
        let body = problem(
            gw.post_json("/v1/media/presign", ACME_KEY, &presign).await,
            502,
        )
        .await;
        let text = body.to_string();
        for secret in [
            "10.2.3.4", "internal", "<html", "172.16", "169.254", "nginx",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(body["code"], "upstream_unavailable");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Zernio answered HTTP 50"),
            "{body}"
        );
    }
    // Zernio's own validation message is useful to the caller and passes.
    fake.script(
        "presign",
        Reply::json(
            400,
            json!({"error": "contentType image/tiff is not supported", "type": "invalid_request_error"}),
        ),
    );
    let response = gw.post_json("/v1/media/presign", ACME_KEY, &presign).await;
    let body = problem(response, 422).await;
    assert_eq!(body["detail"], "contentType image/tiff is not supported");
}

// ---- the schedule horizon (finding 10) ----

fn scheduled(at: &str) -> Value {
    json!({
        "account": "acc_a1", "caption": "later",
        "video": {"url": "https://cdn.example.com/v.mp4"},
        "privacy": "public", "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true},
        "schedule_at": at
    })
}

#[tokio::test]
async fn a_schedule_beyond_the_horizon_is_refused_with_its_rule() {
    let (gw, fake) = TestGateway::with_fake("").await;
    let answer = problem(
        gw.post_json(
            "/v1/tiktok/posts",
            ACME_KEY,
            &scheduled("9999-12-31T23:59:59Z"),
        )
        .await,
        422,
    )
    .await;
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["code"], "schedule_too_far");
    assert_eq!(errors[0]["field"], "schedule_at");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("more than 365 days ahead")
    );
    assert!(!errors[0]["fix"].as_str().unwrap().is_empty());
    // Refused before any create: only the creator was looked up.
    assert_only_creator_info(&fake);

    // Configurable: 30 days.
    let fake = FakeZernio::start().await;
    let gw = gateway(
        &fake,
        "request_timeout_ms = 1000",
        "[posts]\nschedule_horizon_days = 30",
    )
    .await;
    let at = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let answer = problem(
        gw.post_json("/v1/tiktok/posts/validate", ACME_KEY, &scheduled(&at(31)))
            .await,
        422,
    )
    .await;
    assert_eq!(answer["errors"][0]["code"], "schedule_too_far");
    let response = gw
        .post_json("/v1/tiktok/posts/validate", ACME_KEY, &scheduled(&at(29)))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_body_limit_applies_before_any_work() {
    let (gw, fake) = TestGateway::with_fake("").await;
    // Just over the 1 MiB default: refused on its length, before authentication, the
    // Idempotency-Key or the rules see it.
    let body = many_bad_photos(25_000);
    assert!(serde_json::to_vec(&body).unwrap().len() > 1024 * 1024);
    for key in [None, Some(ACME_KEY)] {
        let mut request = gw
            .client
            .post(gw.url("/v1/tiktok/posts"))
            .header("idempotency-key", "too-large")
            .json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let answer = problem(request.send().await.unwrap(), 413).await;
        assert_eq!(answer["code"], "payload_too_large");
    }
    assert!(fake.recorded().is_empty());
    assert!(
        !gw.state
            .metrics
            .render()
            .contains("tiktok_gateway_validation_rejections_total{"),
        "no rule ran"
    );
}

/// A refused request reached Zernio for the creator's constraints at most once, and for
/// nothing else.
fn assert_only_creator_info(fake: &common::fake_zernio::FakeZernio) {
    let recorded = fake.recorded();
    let paths: Vec<&str> = recorded.iter().map(|c| c.path.as_str()).collect();
    assert!(
        recorded.len() <= 1 && paths.iter().all(|p| p.ends_with("/tiktok/creator-info")),
        "{paths:?}"
    );
}
