//! A fake Zernio on 127.0.0.1:0 that records every request it receives and answers like Zernio
//! (or as a test scripts it), so that tests can assert on the exact upstream traffic.
//!
//! It is held to Zernio's published contract (`tests/contract`): every request it receives is
//! checked with `validate_request`, and every answer it gives, default or scripted, with
//! `validate_response`. A violation is recorded, and the test fails when the last handle of the
//! fake is dropped (unless the test is already failing): no test can forget the check. A test
//! that sends Zernio's junk on purpose says so with [`Reply::off_spec`]; one that makes the
//! gateway send junk on purpose takes the violations with [`FakeZernio::take_violations`].
//!
//! The default answers follow the spec: creates honour `isDraft` > `publishNow` >
//! `scheduledFor` (none: a draft), replay an `Idempotency-Key` or a recent `x-request-id` with
//! 200 and the original post, and refuse the same account, content and media within 24 h with
//! 409 and `details.existingPostId`; lists are `{posts, pagination}` with page, limit and the
//! spec's filters; analytics with `postId` answer the single-post shape.
//!
//! Chaos mode ([`FakeZernio::chaos`]) plays a seeded mix of faults on creates: answers later
//! than the gateway's timeout, 500s (Zernio's own or a bare page), a proxy's 502, 503, the
//! connection reset before and after creating, truncated JSON, 429 storms and slow drips.
//! [`FakeZernio::set_dedupe`]`(false)` makes it an upstream that de-duplicates nothing (no
//! Idempotency-Key or x-request-id replay, no content 409), so that any create the gateway
//! sends twice is a second post, counted by [`FakeZernio::posts_by_content`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::contract;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A scripted answer for the next call of an endpoint.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    /// Wait this long before answering (to provoke the gateway's timeout).
    pub delay: Option<Duration>,
    /// Deliberately not Zernio's contract (a status it never answers, a broken body): not
    /// checked against the spec.
    pub off_spec: bool,
    /// A create scripted with this still makes its post, as Zernio does when only its answer
    /// is lost (late, reset, or replaced by a proxy's error).
    pub creates: bool,
    /// No answer at all: the connection is closed (after creating, with `creates`).
    pub reset: bool,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("x-request-id", ZERNIO_REQUEST_ID.to_owned())],
            body,
            delay: None,
            off_spec: false,
            creates: false,
            reset: false,
        }
    }

    /// The connection closes instead of an answer.
    pub fn reset() -> Reply {
        let mut reply = Reply::json(200, Value::Null);
        reply.reset = true;
        reply.off_spec = true;
        reply
    }

    /// The post is made all the same (see [`Reply::creates`]).
    pub fn created_anyway(mut self) -> Reply {
        self.creates = true;
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }

    /// This answer is junk on purpose (e.g. a 500 where the spec lists none): the fake sends it
    /// as scripted and does not hold it to the spec.
    pub fn off_spec(mut self) -> Reply {
        self.off_spec = true;
        self
    }
}

/// The request id the fake answers with (Zernio's own, echoed in the gateway's errors).
const ZERNIO_REQUEST_ID: &str = "zr-req-1";
/// Zernio's window for the content-hash duplicate guard and `Idempotency-Key` replays.
const DAY: chrono::Duration = chrono::Duration::hours(24);
/// How long the same `x-request-id` replays the post it made ("in flight or within minutes").
const REQUEST_ID_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// A fault chaos mode plays on a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Zernio's normal answer.
    None,
    /// Creates, answers after [`Chaos::late`] (past the gateway's timeout).
    Late,
    /// Zernio's own 500 `ErrorResponse`; nothing created.
    Zernio500,
    /// A bare 500 page; created or not.
    Bare500,
    /// A proxy's 502 HTML page; created or not.
    Proxy502,
    /// 503; created or not.
    Unavailable503,
    /// The connection closes before anything is created.
    ResetBefore,
    /// Created, then the connection closes without an answer.
    ResetAfter,
    /// Created, answered 201 with a body cut off mid-JSON.
    Truncated,
    /// Zernio's API rate limit, `Retry-After: 1`; nothing created.
    RateLimited,
    /// Created, the 201 dripped slower than the gateway's timeout.
    SlowDrip,
}

impl Fault {
    pub const ALL: [Fault; 10] = [
        Fault::Late,
        Fault::Zernio500,
        Fault::Bare500,
        Fault::Proxy502,
        Fault::Unavailable503,
        Fault::ResetBefore,
        Fault::ResetAfter,
        Fault::Truncated,
        Fault::RateLimited,
        Fault::SlowDrip,
    ];
}

/// Chaos mode's plan: of the creates, `fault_percent` get one of [`Fault::ALL`] (seeded).
#[derive(Debug, Clone)]
pub struct Chaos {
    pub seed: u64,
    pub fault_percent: u32,
    /// How late a [`Fault::Late`] answer is.
    pub late: Duration,
    /// A slow drip sends one byte this often.
    pub drip_every: Duration,
}

struct ChaosState {
    plan: Chaos,
    rng: rand::rngs::StdRng,
}

/// Closes the connection a request came on, without an answer: the fake's connections are
/// served one by one so that a handler can end its own (a reset).
#[derive(Clone)]
struct Hangup(Arc<tokio::sync::Notify>);

#[derive(Default)]
struct Inner {
    chaos: Mutex<Option<ChaosState>>,
    faults: Mutex<BTreeMap<Fault, u64>>,
    no_dedupe: AtomicBool,
    recorded: Mutex<Vec<Recorded>>,
    scripts: Mutex<HashMap<&'static str, VecDeque<Reply>>>,
    posts: Mutex<Vec<Value>>,
    /// Idempotency-Key -> (when, post id).
    keys: Mutex<HashMap<String, (DateTime<Utc>, String)>>,
    /// x-request-id -> (when, post id).
    request_ids: Mutex<HashMap<String, (DateTime<Utc>, String)>>,
    violations: Mutex<Vec<String>>,
    next_id: AtomicU64,
}

/// Fails the test when the last handle of a fake goes and it saw anything off the contract.
struct Guard {
    inner: Arc<Inner>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        contract::write_coverage();
        if std::thread::panicking() {
            return;
        }
        let violations = std::mem::take(&mut *lock(&self.inner.violations));
        if !violations.is_empty() {
            panic!(
                "the fake Zernio saw {} violation(s) of Zernio's OpenAPI contract:\n  {}",
                violations.len(),
                violations.join("\n  ")
            );
        }
    }
}

#[derive(Clone)]
pub struct FakeZernio {
    pub base_url: String,
    inner: Arc<Inner>,
    _guard: Arc<Guard>,
}

/// The accounts the fake knows: the test tenants' and one nobody owns.
pub const ACCOUNTS: [&str; 4] = ["acc_a1", "acc_a2", "acc_b1", "acc_nobody"];

impl FakeZernio {
    pub async fn start() -> FakeZernio {
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let hangup = Hangup(Arc::new(tokio::sync::Notify::new()));
                let service = hyper_util::service::TowerToHyperService::new(
                    app.clone().layer(axum::Extension(hangup.clone())),
                );
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    // Dropping the connection closes the socket, whatever it was doing.
                    tokio::select! {
                        _ = connection => {}
                        _ = hangup.0.notified() => {}
                    }
                });
            }
        });
        FakeZernio {
            base_url: format!("http://{addr}/api"),
            _guard: Arc::new(Guard {
                inner: inner.clone(),
            }),
            inner,
        }
    }

    /// The next call of `endpoint` (see `endpoint_of`) answers `reply`.
    pub fn script(&self, endpoint: &'static str, reply: Reply) {
        lock(&self.inner.scripts)
            .entry(endpoint)
            .or_default()
            .push_back(reply);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.inner.recorded).clone()
    }

    /// The requests of one endpoint, in order.
    pub fn calls(&self, endpoint: &str) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(|r| endpoint_of(&r.method, &r.path) == endpoint)
            .collect()
    }

    /// Adds a post as if created earlier (e.g. by a create whose answer was lost).
    pub fn insert_post(&self, post: Value) {
        lock(&self.inner.posts).push(post);
    }

    /// The post as the fake has it.
    pub fn post(&self, id: &str) -> Option<Value> {
        lock(&self.inner.posts)
            .iter()
            .find(|p| p["_id"] == id)
            .cloned()
    }

    /// Changes a post's members as Zernio would after a change the gateway has not heard of
    /// (a lost webhook).
    pub fn patch_post(&self, id: &str, patch: Value) {
        let mut posts = lock(&self.inner.posts);
        if let (Some(post), Some(patch)) =
            (posts.iter_mut().find(|p| p["_id"] == id), patch.as_object())
        {
            for (k, v) in patch {
                post[k] = v.clone();
            }
        }
    }

    /// Plays `plan` on every create from now on (until [`FakeZernio::calm`]).
    pub fn chaos(&self, plan: Chaos) {
        let rng = rand::rngs::StdRng::seed_from_u64(plan.seed);
        *lock(&self.inner.chaos) = Some(ChaosState { plan, rng });
    }

    /// Ends chaos mode: every create is answered as Zernio does.
    pub fn calm(&self) {
        *lock(&self.inner.chaos) = None;
    }

    /// How many creates got each fault (including [`Fault::None`] in chaos mode).
    pub fn faults(&self) -> BTreeMap<Fault, u64> {
        lock(&self.inner.faults).clone()
    }

    /// `false`: no create is ever recognised as a repeat (see the module's notes).
    pub fn set_dedupe(&self, on: bool) {
        self.inner.no_dedupe.store(!on, Ordering::SeqCst);
    }

    /// How many posts the fake holds for each `content`.
    pub fn posts_by_content(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for post in lock(&self.inner.posts).iter() {
            let content = post["content"].as_str().unwrap_or_default().to_owned();
            *counts.entry(content).or_insert(0) += 1;
        }
        counts
    }

    /// The contract violations seen so far (requests and answers), left in place.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.inner.violations).clone()
    }

    /// Takes the violations seen so far, for a test that provokes them on purpose (they then
    /// no longer fail it); it should assert on what it took.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.inner.violations))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The endpoint a request is for, by Zernio's paths under `/api/v1`.
pub fn endpoint_of(method: &Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["posts"]) => "create",
        ("GET", ["posts"]) => "list",
        ("GET", ["posts", _]) => "get",
        ("PUT", ["posts", _]) => "update",
        ("DELETE", ["posts", _]) => "delete",
        ("POST", ["posts", _, "retry"]) => "retry",
        ("GET", ["accounts"]) => "accounts",
        ("GET", ["accounts", _, "tiktok", "creator-info"]) => "creator_info",
        ("GET", ["accounts", _, "health"]) => "account_health",
        ("POST", ["media", "presign"]) => "presign",
        ("GET", ["analytics"]) => "analytics",
        ("POST", ["webhooks", "settings"]) => "webhooks",
        _ => "unknown",
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        pairs
            .iter()
            .find(|(k, v)| k == n && !v.is_empty())
            .map(|(_, v)| v.as_str())
    })
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let parsed: Option<Value> = if bytes.is_empty() {
        None
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                lock(&inner.violations).push(format!(
                    "{} {}: the request body is not JSON ({e})",
                    parts.method,
                    parts.uri.path()
                ));
                None
            }
        }
    };
    let body = parsed.clone().unwrap_or(Value::Null);
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    lock(&inner.recorded).push(Recorded {
        method: parts.method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    if let Err(errors) = contract::validate_request(
        parts.method.as_str(),
        &path,
        &query,
        &parts.headers,
        parsed.as_ref(),
    ) {
        lock(&inner.violations).extend(errors.into_iter().map(|e| format!("gateway sent: {e}")));
    }
    let endpoint = endpoint_of(&parts.method, &path);
    if endpoint == "create" {
        let picked = lock(&inner.chaos).as_mut().map(|chaos| {
            let faulty = chaos.rng.random_range(0..100) < chaos.plan.fault_percent;
            let fault = if faulty {
                Fault::ALL[chaos.rng.random_range(0..Fault::ALL.len())]
            } else {
                Fault::None
            };
            (fault, chaos.rng.random_bool(0.5), chaos.plan.clone())
        });
        if let Some((fault, coin, plan)) = picked {
            *lock(&inner.faults).entry(fault).or_insert(0) += 1;
            let hangup = parts.extensions.get::<Hangup>().cloned();
            return chaotic(&inner, fault, coin, &plan, hangup, &parts.headers, &body).await;
        }
    }
    let scripted = lock(&inner.scripts)
        .get_mut(endpoint)
        .and_then(VecDeque::pop_front);
    let (status, answer, headers, off_spec) = match scripted {
        Some(reply) => {
            if reply.creates && endpoint == "create" {
                let n = inner.next_id.fetch_add(1, Ordering::SeqCst) + 1;
                let post = post_from_create(&format!("post_{n}"), &body, mode_of(&body), now());
                lock(&inner.posts).push(post);
            }
            if reply.reset {
                if let Some(hangup) = parts.extensions.get::<Hangup>() {
                    hangup.0.notify_one();
                }
                std::future::pending::<()>().await;
            }
            if let Some(delay) = reply.delay {
                tokio::time::sleep(delay).await;
            }
            (reply.status, reply.body, reply.headers, reply.off_spec)
        }
        None => {
            let (status, answer) =
                default_answer(&inner, endpoint, &path, &query, &parts.headers, &body);
            (
                status,
                answer,
                vec![("x-request-id", ZERNIO_REQUEST_ID.to_owned())],
                false,
            )
        }
    };
    let known = contract::contract()
        .operation(parts.method.as_str(), &path)
        .is_some();
    let checked = if !off_spec && known {
        contract::validate_response(parts.method.as_str(), &path, status, Some(&answer))
    } else {
        Ok(())
    };
    if let Err(errors) = checked {
        lock(&inner.violations).extend(errors.into_iter().map(|e| format!("fake answered: {e}")));
    }
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(answer),
    )
        .into_response();
    for (name, value) in headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": message, "type": kind, "code": code}),
    )
}

/// Zernio's answer when no test scripted one.
fn default_answer(
    inner: &Inner,
    endpoint: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Value,
) -> (u16, Value) {
    let id_of = |path: &str| {
        path.trim_start_matches("/api/v1/posts/")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let pairs = query_pairs(query);
    match endpoint {
        "create" => create(inner, headers, body),
        "get" | "retry" => {
            let id = id_of(path);
            match lock(&inner.posts)
                .iter_mut()
                .find(|p| p["_id"] == id.as_str())
            {
                Some(post) => {
                    if endpoint == "retry" {
                        post["status"] = json!("publishing");
                        post["updatedAt"] = json!(time(now()));
                        (
                            200,
                            json!({"message": "Post retry initiated", "post": post.clone()}),
                        )
                    } else {
                        (200, json!({"post": post.clone()}))
                    }
                }
                None => (404, json!({"error": "Post not found"})),
            }
        }
        "update" => {
            let id = id_of(path);
            let mut posts = lock(&inner.posts);
            match posts.iter_mut().find(|p| p["_id"] == id.as_str()) {
                Some(post) => {
                    for field in [
                        "scheduledFor",
                        "content",
                        "mediaItems",
                        "timezone",
                        "tiktokSettings",
                    ] {
                        if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
                            post[field] = v.clone();
                        }
                    }
                    if body.get("scheduledFor").is_some_and(|v| !v.is_null()) {
                        post["status"] = json!("scheduled");
                    }
                    post["updatedAt"] = json!(time(now()));
                    (
                        200,
                        json!({"message": "Post updated successfully", "post": post.clone()}),
                    )
                }
                None => (404, json!({"error": "Post not found"})),
            }
        }
        "delete" => {
            let id = id_of(path);
            let mut posts = lock(&inner.posts);
            let before = posts.len();
            posts.retain(|p| p["_id"] != id.as_str());
            if posts.len() < before {
                (200, json!({"message": "Post deleted successfully"}))
            } else {
                (404, json!({"error": "Post not found"}))
            }
        }
        "list" => list(inner, &pairs),
        "accounts" => {
            let accounts: Vec<Value> = ACCOUNTS
                .iter()
                .map(|id| {
                    json!({
                        "_id": id, "platform": "tiktok", "profileId": "prof_1",
                        "username": format!("user_{id}"), "displayName": format!("User {id}"),
                        "isActive": true, "needsReconnection": *id == "acc_a2"
                    })
                })
                .collect();
            (
                200,
                json!({"accounts": accounts, "hasAnalyticsAccess": true}),
            )
        }
        "creator_info" => (
            200,
            creator_info_body(param(&pairs, &["mediaType"]) == Some("photo")),
        ),
        "account_health" => (
            200,
            json!({"accountId": id_of(path), "platform": "tiktok", "status": "healthy", "canPost": true}),
        ),
        "presign" => (
            200,
            json!({"uploadUrl": "https://upload.example.com/put/abc", "publicUrl": "https://cdn.example.com/media/abc.mp4", "key": "media/abc.mp4", "expiresIn": 3600}),
        ),
        "analytics" => analytics(inner, &pairs),
        "webhooks" => (
            200,
            json!({"success": true, "webhook": {
                "_id": "0123456789abcdef01234567",
                "name": body.get("name").and_then(Value::as_str).unwrap_or("webhook"),
                "url": body.get("url").cloned().unwrap_or(Value::Null),
                "events": body.get("events").cloned().unwrap_or(json!([])),
                "isActive": body.get("isActive").cloned().unwrap_or(json!(true))
            }}),
        ),
        _ => (404, json!({"error": "Not found"})),
    }
}

fn create(inner: &Inner, headers: &HeaderMap, body: &Value) -> (u16, Value) {
    let at = now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let key = header("idempotency-key");
    let request_id = header("x-request-id");
    if inner.no_dedupe.load(Ordering::SeqCst) {
        return made(inner, body, at);
    }
    let replay = |id: &str| {
        lock(&inner.posts)
            .iter()
            .find(|p| p["_id"] == id)
            .cloned()
            .map(|post| {
                (
                    200,
                    json!({"message": "Post already exists (idempotent retry)", "post": post}),
                )
            })
    };
    // 1. The Idempotency-Key alone, whatever the body.
    if let Some(k) = &key {
        let known = lock(&inner.keys)
            .get(k)
            .filter(|(t, _)| at - *t < DAY)
            .cloned();
        if let Some((_, id)) = known
            && let Some(answer) = replay(&id)
        {
            return answer;
        }
    }
    // 2. The same x-request-id within minutes.
    if let Some(r) = &request_id {
        let known = lock(&inner.request_ids)
            .get(r)
            .filter(|(t, _)| at - *t < REQUEST_ID_WINDOW)
            .cloned();
        if let Some((_, id)) = known
            && let Some(answer) = replay(&id)
        {
            return answer;
        }
    }
    let mode = mode_of(body);
    // 3. The content hash: same account, content and media within 24 h.
    let account = body["platforms"][0]["accountId"].clone();
    if mode != "draft" {
        let existing = lock(&inner.posts)
            .iter()
            .find(|p| {
                p["status"] != "draft"
                    && p["platforms"][0]["accountId"] == account
                    && p["content"] == body["content"]
                    && media_urls(&p["mediaItems"]) == media_urls(&body["mediaItems"])
                    && p["createdAt"]
                        .as_str()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|t| at - t.with_timezone(&Utc) < DAY)
            })
            .and_then(|p| p["_id"].as_str().map(str::to_owned));
        if let Some(existing) = existing {
            let (status, mut answer) = error(
                409,
                "invalid_request_error",
                "DUPLICATE_CONTENT",
                "Duplicate content detected. This exact content was already posted to this account within the last 24 hours.",
            );
            answer["details"] =
                json!({"accountId": account, "platform": "tiktok", "existingPostId": existing});
            return (status, answer);
        }
    }
    let n = inner.next_id.fetch_add(1, Ordering::SeqCst) + 1;
    let id = format!("post_{n}");
    let post = post_from_create(&id, body, mode, at);
    lock(&inner.posts).push(post.clone());
    if let Some(k) = key {
        lock(&inner.keys).insert(k, (at, id.clone()));
    }
    if let Some(r) = request_id {
        lock(&inner.request_ids).insert(r, (at, id));
    }
    (
        201,
        json!({"message": "Post created successfully", "post": post}),
    )
}

/// A new post, whatever came before.
fn made(inner: &Inner, body: &Value, at: DateTime<Utc>) -> (u16, Value) {
    let n = inner.next_id.fetch_add(1, Ordering::SeqCst) + 1;
    let post = post_from_create(&format!("post_{n}"), body, mode_of(body), at);
    lock(&inner.posts).push(post.clone());
    (
        201,
        json!({"message": "Post created successfully", "post": post}),
    )
}

fn raw(status: u16, content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(content_type),
    );
    response
}

/// A create answered with `fault` (`coin`: whether an ambiguous fault made the post anyway).
/// Not held to the spec: none of this is Zernio's contract.
async fn chaotic(
    inner: &Inner,
    fault: Fault,
    coin: bool,
    plan: &Chaos,
    hangup: Option<Hangup>,
    headers: &HeaderMap,
    body: &Value,
) -> Response {
    let hang_up = || async {
        if let Some(h) = &hangup {
            h.0.notify_one();
        }
        std::future::pending::<()>().await;
    };
    let page = |status: u16, title: &str| {
        raw(
            status,
            "text/html",
            format!(
                "<html><head><title>{status} {title}</title></head><body><h1>{title}</h1><p>upstream 10.0.3.7:8080</p></body></html>"
            ),
        )
    };
    match fault {
        Fault::None => {
            let (status, answer) = create(inner, headers, body);
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                axum::Json(answer),
            )
                .into_response()
        }
        Fault::Late => {
            let (status, answer) = create(inner, headers, body);
            tokio::time::sleep(plan.late).await;
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                axum::Json(answer),
            )
                .into_response()
        }
        Fault::Zernio500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": "Internal server error", "type": "api_error"})),
        )
            .into_response(),
        Fault::Bare500 => {
            if coin {
                made(inner, body, now());
            }
            page(500, "Internal Server Error")
        }
        Fault::Proxy502 => {
            if coin {
                made(inner, body, now());
            }
            page(502, "Bad Gateway")
        }
        Fault::Unavailable503 => {
            if coin {
                made(inner, body, now());
            }
            raw(
                503,
                "application/json",
                r#"{"error":"Service temporarily unavailable"}"#,
            )
        }
        Fault::ResetBefore => {
            hang_up().await;
            unreachable!("a hung-up connection answers nothing")
        }
        Fault::ResetAfter => {
            made(inner, body, now());
            hang_up().await;
            unreachable!("a hung-up connection answers nothing")
        }
        Fault::Truncated => {
            let (_, answer) = made(inner, body, now());
            let text = answer.to_string();
            let cut = text.len() / 2;
            raw(201, "application/json", text[..cut].to_owned())
        }
        Fault::RateLimited => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"error": "Rate limit exceeded", "type": "rate_limit_error"})),
            )
                .into_response();
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            response
        }
        Fault::SlowDrip => {
            let (_, answer) = made(inner, body, now());
            let bytes = answer.to_string().into_bytes();
            let every = plan.drip_every;
            let stream = futures_util::stream::unfold(0usize, move |at| {
                let bytes = bytes.clone();
                async move {
                    if at >= bytes.len() {
                        return None;
                    }
                    tokio::time::sleep(every).await;
                    let chunk = Bytes::copy_from_slice(&bytes[at..at + 1]);
                    Some((Ok::<_, std::io::Error>(chunk), at + 1))
                }
            });
            raw(
                201,
                "application/json",
                axum::body::Body::from_stream(stream),
            )
        }
    }
}

/// Zernio's precedence: `isDraft` > `publishNow` > `scheduledFor`; none of them is a draft.
fn mode_of(body: &Value) -> &'static str {
    if body["isDraft"] == true {
        "draft"
    } else if body["publishNow"] == true {
        "published"
    } else if body["scheduledFor"].is_string() || body["platforms"][0]["scheduledFor"].is_string() {
        "scheduled"
    } else {
        "draft"
    }
}

fn media_urls(items: &Value) -> Vec<Value> {
    items
        .as_array()
        .map(|a| a.iter().map(|i| i["url"].clone()).collect())
        .unwrap_or_default()
}

/// Drops `null` members: where the spec types a field as a string, Zernio leaves it out.
fn compact(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

/// The post Zernio would make of a create body.
fn post_from_create(id: &str, body: &Value, status: &str, at: DateTime<Utc>) -> Value {
    let account = body["platforms"][0]["accountId"].clone();
    let scheduled = body
        .get("scheduledFor")
        .filter(|v| v.is_string())
        .or_else(|| {
            body["platforms"][0]
                .get("scheduledFor")
                .filter(|v| v.is_string())
        })
        .cloned()
        .unwrap_or_else(|| {
            if status == "published" {
                json!(time(at))
            } else {
                Value::Null
            }
        });
    let mut platform = json!({"platform": "tiktok", "accountId": account, "status": if status == "published" { "published" } else { "pending" }});
    if status == "published" {
        let video = id.trim_start_matches("post_");
        platform["platformPostId"] = json!(video);
        platform["platformPostUrl"] =
            json!(format!("https://www.tiktok.com/@creator/video/{video}"));
        platform["publishedAt"] = json!(time(at));
    }
    compact(json!({
        "_id": id,
        "content": body["content"],
        "mediaItems": body["mediaItems"],
        "status": status,
        "scheduledFor": scheduled,
        "timezone": body.get("timezone").cloned().unwrap_or(json!("UTC")),
        "platforms": [platform],
        "tiktokSettings": body.get("tiktokSettings"),
        "metadata": body.get("metadata"),
        "createdAt": time(at),
        "updatedAt": time(at),
    }))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

fn page_and_limit(pairs: &[(String, String)], default_limit: u64, max: u64) -> (u64, u64) {
    let number = |name: &str, default: u64| {
        param(pairs, &[name])
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(default)
    };
    (number("page", 1), number("limit", default_limit).min(max))
}

/// `GET /v1/posts`: filters `status`, `accountId`, `platform`, `fromDate`/`toDate` (and the
/// `dateFrom`/`dateTo` aliases, on the post's scheduled or created time), `sortBy`; paged.
fn list(inner: &Inner, pairs: &[(String, String)]) -> (u16, Value) {
    let (page, limit) = page_and_limit(pairs, 10, 500);
    let status = param(pairs, &["status"]);
    let account = param(pairs, &["accountId"]);
    let platform = param(pairs, &["platform"]);
    let from = param(pairs, &["fromDate", "dateFrom"]).and_then(parse_time);
    let to = param(pairs, &["toDate", "dateTo"]).and_then(|s| {
        // A bare date means the whole day.
        let t = parse_time(s)?;
        Some(if s.len() == 10 {
            t + chrono::Duration::days(1)
        } else {
            t
        })
    });
    let when = |p: &Value, field: &str| p[field].as_str().and_then(parse_time);
    let mut posts: Vec<Value> = lock(&inner.posts)
        .iter()
        .filter(|p| status.is_none_or(|s| p["status"] == s))
        .filter(|p| account.is_none_or(|a| p["platforms"][0]["accountId"] == a))
        .filter(|_| platform.is_none_or(|pl| pl == "tiktok"))
        .filter(|p| {
            let t = when(p, "scheduledFor").or_else(|| when(p, "createdAt"));
            from.is_none_or(|f| t.is_some_and(|t| t >= f))
                && to.is_none_or(|e| t.is_some_and(|t| t < e))
        })
        .cloned()
        .collect();
    // Insertion order is creation order: newest first unless asked otherwise.
    posts.reverse();
    match param(pairs, &["sortBy"]).unwrap_or("scheduled-desc") {
        "created-asc" => posts.reverse(),
        "scheduled-asc" => {
            posts.sort_by_key(|p| when(p, "scheduledFor").or_else(|| when(p, "createdAt")))
        }
        "scheduled-desc" => posts.sort_by_key(|p| {
            std::cmp::Reverse(when(p, "scheduledFor").or_else(|| when(p, "createdAt")))
        }),
        _ => {}
    }
    let total = posts.len() as u64;
    let start = ((page - 1).saturating_mul(limit)) as usize;
    let posts: Vec<Value> = posts.into_iter().skip(start).take(limit as usize).collect();
    (
        200,
        json!({"posts": posts, "pagination": {"page": page, "limit": limit, "total": total, "pages": total.div_ceil(limit)}}),
    )
}

/// `GET /v1/analytics`: the single-post shape with `postId`, else a page of the account's posts.
fn analytics(inner: &Inner, pairs: &[(String, String)]) -> (u16, Value) {
    let figures = json!({"likes": 10, "comments": 2, "shares": 1, "views": 100, "impressions": 120, "reach": 90});
    if let Some(post_id) = param(pairs, &["postId"]) {
        let post = lock(&inner.posts)
            .iter()
            .find(|p| p["_id"] == post_id)
            .cloned();
        return match post {
            Some(p) => (
                200,
                compact(json!({
                    "postId": post_id, "latePostId": post_id, "status": p["status"],
                    "content": p["content"], "platform": "tiktok",
                    "publishedAt": p["platforms"][0]["publishedAt"],
                    "analytics": figures, "syncStatus": "synced"
                })),
            ),
            None => (404, json!({"error": "Post not found"})),
        };
    }
    let account = param(pairs, &["accountId"]).unwrap_or_default().to_owned();
    let (page, limit) = page_and_limit(pairs, 50, 100);
    let posts = if page == 1 {
        vec![
            json!({"_id": format!("{account}_p1"), "accountId": account, "platform": "tiktok", "status": "published", "analytics": figures}),
        ]
    } else {
        Vec::new()
    };
    (
        200,
        json!({"overview": {"totalPosts": 1}, "posts": posts, "pagination": {"page": page, "limit": limit, "total": 1, "pages": 1}}),
    )
}

/// Zernio's creator-info answer for the fake's creator (a photo post's has no duet or stitch).
pub fn creator_info_body(photo: bool) -> Value {
    let toggle =
        |label: &str| json!({"enabled": true, "required": true, "default": false, "label": label});
    let (duet, stitch) = if photo {
        (Value::Null, Value::Null)
    } else {
        (toggle("Allow Duet"), toggle("Allow Stitch"))
    };
    json!({
        "creator": {"nickname": "Creator", "avatarUrl": "https://cdn.example.com/a.png", "isVerified": false, "canPostMore": true},
        "privacyLevels": [
            {"value": "PUBLIC_TO_EVERYONE", "label": "Everyone"},
            {"value": "MUTUAL_FOLLOW_FRIENDS", "label": "Friends"},
            {"value": "SELF_ONLY", "label": "Only me"}
        ],
        "postingLimits": {"maxVideoDurationSec": 600, "interactionSettings": {
            "allow_comment": toggle("Allow Comments"), "allow_duet": duet, "allow_stitch": stitch
        }},
        "commercialContentTypes": [
            {"value": "none", "label": "No commercial content", "requires": []},
            {"value": "brand_organic", "label": "Your brand", "requires": ["disclosure"]},
            {"value": "brand_content", "label": "Branded content", "requires": ["disclosure", "public_visibility"]}
        ]
    })
}
