//! Creates whose upstream outcome is unknown (issue 13, findings 3 and 4) and the chaos suite:
//! a fake Zernio that de-duplicates nothing, so that any create the gateway sends twice is a
//! second post, answering a seeded mix of faults; apps that retry as apps do. What must hold:
//! no double post, no 5xx the gateway does not document, and every create ends created once
//! the faults stop.
//!
//! `CHAOS_CREATES=2000 cargo test --test chaos` runs a larger mix (default 300);
//! `CHAOS_SEED=n` another one.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::fake_zernio::{Chaos, FakeZernio, Fault, Reply};
use common::{ACME_KEY, FAKE_ZERNIO_KEY, TestGateway, problem, sha256_hex};
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

/// One tenant with room for many posts a day, so that only the faults are tested.
fn roomy_tenant() -> String {
    format!(
        r#"
[[tenants]]
id = "acme"
accounts = ["acc_a1", "acc_a2"]
requests_per_minute = 600000
burst = 100000
daily_posts_per_account = 100000

[[tenants.api_keys]]
id = "acme-full"
sha256 = "{}"
scopes = ["posts:write", "posts:read"]
"#,
        sha256_hex(ACME_KEY)
    )
}

/// A gateway with a short upstream timeout and pending window, in front of `fake`.
async fn gateway(fake: &FakeZernio, timeout_ms: u64, window_secs: u64) -> TestGateway {
    let toml = format!(
        "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = {timeout_ms}\nmax_pause_secs = 1\n\
         [upstream]\nrequests_per_minute = 600000\n\
         [reconcile]\ninterval_ms = 100\npending_window_secs = {window_secs}\n",
        fake.base_url
    );
    TestGateway::spawn_with_tenants(
        None,
        &toml,
        &roomy_tenant(),
        &[("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)],
    )
    .await
}

async fn create(gw: &TestGateway, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut request = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("request reaches the gateway")
}

async fn poll(gw: &TestGateway, id: &str) -> reqwest::Response {
    gw.client
        .get(gw.url(&format!("/v1/tiktok/posts/{id}")))
        .bearer_auth(ACME_KEY)
        .header("Cache-Control", "no-cache")
        .send()
        .await
        .expect("request reaches the gateway")
}

fn empty_page() -> Reply {
    Reply::json(
        200,
        json!({"posts": [], "pagination": {"page": 1, "limit": 100, "total": 0, "pages": 0}}),
    )
}

// ---------------------------------------------------------------------------------------------
// Finding 3: an ambiguous failure is looked up, never sent twice
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reset_after_the_post_was_made_is_looked_up_and_the_retry_makes_no_second_post() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 1000, 900).await;
    fake.script("create", Reply::reset().created_anyway());
    let body = video("acc_a1", "reset after create");

    let first = create(&gw, &body, None).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["id"], "post_1");
    assert_eq!(fake.calls("list").len(), 1, "one look-up by the tag");

    // The app did not trust the first answer and sends the same post again.
    let again = create(&gw, &body, None).await;
    let refused = problem(again, 409).await;
    assert_eq!(refused["code"], "duplicate_content");
    assert_eq!(refused["existing_post_id"], "post_1");
    assert_eq!(fake.calls("create").len(), 1);
    assert_eq!(fake.posts_by_content()["reset after create"], 1);
}

#[tokio::test]
async fn a_proxy_502_after_the_post_was_made_answers_201_with_zernios_post() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 1000, 900).await;
    fake.script(
        "create",
        Reply::json(502, json!("<html><body>502 Bad Gateway</body></html>"))
            .off_spec()
            .created_anyway(),
    );
    let answer = create(&gw, &video("acc_a1", "behind a proxy"), Some("k-502")).await;
    assert_eq!(answer.status(), 201);
    let view: Value = answer.json().await.unwrap();
    assert_eq!(view["id"], "post_1");
    assert_eq!(view["status"], "published");
    let recorded = gw.get_with_key("/v1/tiktok/posts/post_1", ACME_KEY).await;
    assert_eq!(recorded.status(), 200);
    assert_eq!(fake.calls("create").len(), 1);
}

#[tokio::test]
async fn zernios_own_error_is_no_unknown_outcome_and_frees_the_content() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 1000, 900).await;
    fake.script(
        "create",
        Reply::json(
            400,
            json!({"error": "content: too long", "type": "invalid_request_error"}),
        ),
    );
    let body = video("acc_a1", "refused for good");
    let refused = problem(create(&gw, &body, None).await, 422).await;
    assert_eq!(refused["code"], "upstream_invalid_request");
    assert!(fake.calls("list").is_empty(), "no look-up after a refusal");
    // Nothing was made: the same post may be sent again.
    assert_eq!(create(&gw, &body, None).await.status(), 201);
}

// ---------------------------------------------------------------------------------------------
// Finding 4: a retry soon after a 504 gets the post, never its own 409
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_retry_after_a_504_gets_the_post_not_a_409_about_itself() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 1000, 900).await;
    // Zernio's gateway timed out; the post appears, but not before the gateway's look-ups end.
    fake.script(
        "create",
        Reply::json(504, json!({"error": "Gateway Timeout"}))
            .off_spec()
            .created_anyway(),
    );
    fake.script("list", empty_page());
    fake.script("list", empty_page());
    let body = video("acc_a1", "late post");

    let first = create(&gw, &body, Some("order-504")).await;
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let pending: Value = first.json().await.unwrap();
    assert_eq!(pending["status"], "pending");
    let pending_id = pending["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/tiktok/posts/{pending_id}"));
    assert_eq!(fake.calls("list").len(), 2, "two look-ups before answering");

    // Without a key, the same content names the pending post to poll.
    let duplicate = problem(create(&gw, &body, None).await, 409).await;
    assert_eq!(duplicate["existing_post_id"], pending_id.as_str());

    // The retry with the key: the post, found now.
    let retry = create(&gw, &body, Some("order-504")).await;
    assert_eq!(retry.status(), 201);
    let post: Value = retry.json().await.unwrap();
    assert_eq!(post["id"], "post_1");
    // And again: the stored answer, never a 409.
    let replay = create(&gw, &body, Some("order-504")).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");

    // The id the caller was given reads Zernio's post; the record is one post.
    let read: Value = gw
        .get_with_key(&location, ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["id"], "post_1");
    let list: Value = gw
        .get_with_key("/v1/tiktok/posts", ACME_KEY)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("a list of posts")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["post_1"]);
    assert_eq!(fake.calls("create").len(), 1);
    assert_eq!(fake.posts_by_content()["late post"], 1);
}

#[tokio::test]
async fn a_pending_create_never_found_fails_after_its_window_and_frees_the_content() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 1000, 1).await;
    fake.script("create", Reply::reset());
    let body = video("acc_a1", "never made");
    let first = create(&gw, &body, None).await;
    assert_eq!(first.status(), 202);
    let id = first.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The app polls (each no-cache poll is a look-up) until the gateway gives up on it.
    let started = Instant::now();
    let failed = loop {
        let read: Value = poll(&gw, &id).await.json().await.unwrap();
        if read["status"] != "pending" {
            break read;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still pending: {read}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_code"], "upstream_outcome_unknown");
    // Its claim is free again: the post can be made now, once.
    assert_eq!(create(&gw, &body, None).await.status(), 201);
    assert_eq!(fake.posts_by_content()["never made"], 1);
}

#[tokio::test]
async fn the_compatible_create_answers_a_pending_post_as_zernios_503_naming_it() {
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = gateway(&fake, 1000, 900).await;
    fake.script("create", Reply::reset());
    let body = json!({
        "content": "compat pending",
        "platforms": [{"platform": "tiktok", "accountId": "acc_a1"}],
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "publishNow": true,
        "tiktokSettings": {"privacy_level": "PUBLIC_TO_EVERYONE", "allow_comment": true, "allow_duet": true, "allow_stitch": true, "content_preview_confirmed": true, "express_consent_given": true}
    });
    let answer = gw.post_json("/api/v1/posts", ACME_KEY, &body).await;
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "5");
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["code"], "temporarily_unavailable");
    assert_eq!(error["details"]["status"], "pending", "{error}");
    let id = error["details"]["postId"].as_str().unwrap();
    let read = gw
        .get_with_key(&format!("/api/v1/posts/{id}"), ACME_KEY)
        .await;
    let status = read.status();
    let read: Value = read.json().await.unwrap();
    assert_eq!(status, 200, "{read}");
    // Zernio's statuses have no `pending`: a post being made is `publishing`.
    assert_eq!(read["post"]["status"], "publishing");
    assert_eq!(read["post"]["_id"], id);
}

// ---------------------------------------------------------------------------------------------
// The chaos suite
// ---------------------------------------------------------------------------------------------

/// The 5xx codes the gateway documents for a create.
const DOCUMENTED_5XX: [&str; 2] = ["upstream_unavailable", "upstream_timeout"];

#[derive(Default)]
struct Tally {
    answers: BTreeMap<u16, u64>,
    unmapped_5xx: Vec<String>,
    pending_answers: u64,
    attempts: u64,
    /// Keyed retries answered 409 `duplicate_content` about their own create.
    own_409: u64,
}

/// How an app creates a post: sends it, and retries (with its key, or without one) until it
/// has the post; a pending post it polls (without a key) or sends again (with one).
async fn app(
    gw: Arc<TestGateway>,
    body: Value,
    key: Option<String>,
    attempted: Arc<AtomicUsize>,
    deadline: Instant,
) -> (Result<String, String>, Tally) {
    let mut tally = Tally::default();
    let mut poll_id: Option<String> = None;
    let mut first = true;
    loop {
        if Instant::now() > deadline {
            return (Err(format!("unresolved: {poll_id:?}")), tally);
        }
        if !first {
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        tally.attempts += 1;
        if let (Some(id), None) = (&poll_id, &key) {
            let read = poll(&gw, id).await;
            let status = read.status().as_u16();
            if status != 200 {
                *tally.answers.entry(status).or_insert(0) += 1;
                check_5xx(read, &mut tally).await;
                continue;
            }
            let post: Value = read.json().await.unwrap();
            match post["status"].as_str() {
                Some("pending") => continue,
                Some("failed") if post["error_code"] == "upstream_outcome_unknown" => {
                    poll_id = None;
                    continue;
                }
                _ => return (Ok(post["id"].as_str().unwrap().to_owned()), tally),
            }
        }
        let answer = create(&gw, &body, key.as_deref()).await;
        if first {
            first = false;
            attempted.fetch_add(1, Ordering::SeqCst);
        }
        let status = answer.status().as_u16();
        *tally.answers.entry(status).or_insert(0) += 1;
        match status {
            201 => {
                let post: Value = answer.json().await.unwrap();
                return (Ok(post["id"].as_str().unwrap().to_owned()), tally);
            }
            202 => {
                tally.pending_answers += 1;
                let post: Value = answer.json().await.unwrap();
                assert_eq!(post["status"], "pending");
                poll_id = post["id"].as_str().map(str::to_owned);
            }
            409 => {
                let problem: Value = answer.json().await.unwrap();
                match problem["code"].as_str() {
                    Some("duplicate_content") => {
                        if key.is_some() {
                            // A keyed retry refused as a duplicate of itself (finding 4).
                            tally.own_409 += 1;
                        }
                        // A duplicate names the post to poll; one being made right now, none.
                        poll_id = problem["existing_post_id"].as_str().map(str::to_owned);
                        if poll_id.is_some() {
                            // Polling is how an app without a key follows it.
                            if key.is_some() {
                                return (Ok(poll_id.unwrap_or_default()), tally);
                            }
                        }
                    }
                    Some("idempotency_conflict") => {}
                    _ => return (Err(format!("unexpected 409: {problem}")), tally),
                }
            }
            429 => {}
            s if s >= 500 => check_5xx(answer, &mut tally).await,
            _ => {
                let text = answer.text().await.unwrap_or_default();
                return (Err(format!("unexpected {status}: {text}")), tally);
            }
        }
    }
}

async fn check_5xx(answer: reqwest::Response, tally: &mut Tally) {
    let status = answer.status().as_u16();
    if status < 500 {
        return;
    }
    let problem_json = answer
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json");
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or_default();
    if !problem_json || !DOCUMENTED_5XX.contains(&code) {
        tally.unmapped_5xx.push(format!("{status} {body}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_no_double_posts_no_unmapped_5xx_and_every_create_ends_created() {
    let creates: usize = std::env::var("CHAOS_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(13);
    let fake = FakeZernio::start().await;
    fake.set_dedupe(false);
    let gw = Arc::new(gateway(&fake, 300, 3).await);
    fake.chaos(Chaos {
        seed,
        fault_percent: 40,
        late: Duration::from_millis(450),
        drip_every: Duration::from_millis(40),
    });

    let started = Instant::now();
    let deadline = started + Duration::from_secs(60 + creates as u64 / 4);
    let attempted = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(24));
    let mut apps = tokio::task::JoinSet::new();
    for i in 0..creates {
        let body = video(
            ["acc_a1", "acc_a2"][i % 2],
            &format!("chaos {seed} post #{i}"),
        );
        // Two in three apps send an Idempotency-Key; the others retry without one.
        let key = (i % 3 != 2).then(|| format!("chaos-{seed}-{i}"));
        let (gw, attempted, gate) = (gw.clone(), attempted.clone(), gate.clone());
        apps.spawn(async move {
            let _turn = gate.acquire_owned().await.unwrap();
            app(gw, body, key, attempted, deadline).await
        });
    }
    // The faults stop once every create has been sent at least once; the retries go on.
    {
        let (fake, attempted) = (fake.clone(), attempted.clone());
        tokio::spawn(async move {
            while attempted.load(Ordering::SeqCst) < creates {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            fake.calm();
        });
    }

    let mut tally = Tally::default();
    let mut resolved: Vec<String> = Vec::new();
    let mut unresolved: Vec<String> = Vec::new();
    while let Some(joined) = apps.join_next().await {
        let (outcome, t) = joined.expect("app task");
        for (status, n) in t.answers {
            *tally.answers.entry(status).or_insert(0) += n;
        }
        tally.unmapped_5xx.extend(t.unmapped_5xx);
        tally.pending_answers += t.pending_answers;
        tally.attempts += t.attempts;
        tally.own_409 += t.own_409;
        match outcome {
            Ok(id) => resolved.push(id),
            Err(e) => unresolved.push(e),
        }
    }
    fake.calm();

    // Every create's post as the gateway reads it: Zernio's, not pending.
    let mut not_created = Vec::new();
    for id in &resolved {
        let read: Value = gw
            .get_with_key(&format!("/v1/tiktok/posts/{id}"), ACME_KEY)
            .await
            .json()
            .await
            .unwrap();
        if read["status"] == "pending" || read["status"] == "failed" || read["id"] != id.as_str() {
            not_created.push(read);
        }
    }
    let by_content = fake.posts_by_content();
    let double_posts: usize = by_content.values().map(|n| n.saturating_sub(1)).sum();
    let missing = (0..creates)
        .filter(|i| !by_content.contains_key(&format!("chaos {seed} post #{i}")))
        .count();
    let faults: HashMap<String, u64> = fake
        .faults()
        .into_iter()
        .map(|(f, n)| (format!("{f:?}"), n))
        .collect();
    let faulted: u64 = fake
        .faults()
        .iter()
        .filter(|(f, _)| **f != Fault::None)
        .map(|(_, n)| n)
        .sum();
    println!(
        "chaos: seed {seed}, {creates} creates, {} app requests, {} upstream creates ({faulted} faulted), \
         faults {faults:?}, answers {:?}, {} answered 202 pending, {} double posts, {} unmapped 5xx, \
         {} keyed retries refused as their own duplicate, {} resolved, {} unresolved, {} missing, {:.1} s",
        tally.attempts,
        fake.calls("create").len(),
        tally.answers,
        tally.pending_answers,
        double_posts,
        tally.unmapped_5xx.len(),
        tally.own_409,
        resolved.len(),
        unresolved.len(),
        missing,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(double_posts, 0, "double posts: {by_content:?}");
    assert!(
        tally.unmapped_5xx.is_empty(),
        "unmapped 5xx: {:?}",
        tally.unmapped_5xx
    );
    assert_eq!(tally.own_409, 0, "keyed retries met their own claim");
    assert!(unresolved.is_empty(), "unresolved creates: {unresolved:?}");
    assert!(not_created.is_empty(), "not created: {not_created:?}");
    assert_eq!(missing, 0);
    assert!(faulted > 0, "the mix had no fault");
    // The chaos answers are off Zernio's contract on purpose; the gateway's requests are not.
    let violations = fake.take_violations();
    assert!(
        violations.iter().all(|v| v.starts_with("fake answered")),
        "the gateway sent off-contract requests: {violations:?}"
    );
}
