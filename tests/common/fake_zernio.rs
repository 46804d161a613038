//! A fake Zernio on 127.0.0.1:0 that records every request it receives and answers like Zernio
//! (or as a test scripts it), so that tests can assert on the exact upstream traffic.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
    /// A create scripted with this still makes its post, as Zernio does when only its answer
    /// is lost (late, reset, or replaced by a proxy's error).
    pub creates: bool,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("x-request-id", "zr-req-1".to_owned())],
            body,
            delay: None,
            creates: false,
        }
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
}

#[derive(Default)]
struct Inner {
    recorded: Mutex<Vec<Recorded>>,
    scripts: Mutex<HashMap<&'static str, VecDeque<Reply>>>,
    posts: Mutex<Vec<Value>>,
    next_id: AtomicU64,
}

#[derive(Clone)]
pub struct FakeZernio {
    pub base_url: String,
    inner: Arc<Inner>,
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
            let _ = axum::serve(listener, app).await;
        });
        FakeZernio {
            base_url: format!("http://{addr}/api"),
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
        ("POST", ["media", "presign"]) => "presign",
        ("GET", ["analytics"]) => "analytics",
        ("POST", ["webhooks", "settings"]) => "webhooks",
        _ => "unknown",
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    lock(&inner.recorded).push(Recorded {
        method: parts.method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let endpoint = endpoint_of(&parts.method, &path);
    let scripted = lock(&inner.scripts)
        .get_mut(endpoint)
        .and_then(VecDeque::pop_front);
    if let Some(reply) = scripted {
        if reply.creates && endpoint == "create" {
            let n = inner.next_id.fetch_add(1, Ordering::SeqCst) + 1;
            lock(&inner.posts).push(post_from_create(&format!("post_{n}"), &body));
        }
        if let Some(delay) = reply.delay {
            tokio::time::sleep(delay).await;
        }
        let mut response = (
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(reply.body),
        )
            .into_response();
        for (name, value) in reply.headers {
            if let Ok(v) = value.parse() {
                response.headers_mut().insert(name, v);
            }
        }
        return response;
    }
    let id_of = |path: &str| {
        path.trim_start_matches("/api/v1/posts/")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let (status, answer) = match endpoint {
        "create" => {
            let n = inner.next_id.fetch_add(1, Ordering::SeqCst) + 1;
            let post = post_from_create(&format!("post_{n}"), &body);
            lock(&inner.posts).push(post.clone());
            (201, json!({"message": "Post created", "post": post}))
        }
        "get" | "retry" => {
            let id = id_of(&path);
            match lock(&inner.posts)
                .iter()
                .find(|p| p["_id"] == id.as_str())
                .cloned()
            {
                Some(mut post) => {
                    if endpoint == "retry" {
                        post["status"] = json!("publishing");
                    }
                    (200, json!({"post": post}))
                }
                None => (404, json!({"error": "Post not found"})),
            }
        }
        "update" => {
            let id = id_of(&path);
            let mut posts = lock(&inner.posts);
            match posts.iter_mut().find(|p| p["_id"] == id.as_str()) {
                Some(post) => {
                    if let Some(at) = body.get("scheduledFor") {
                        post["scheduledFor"] = at.clone();
                    }
                    if let Some(content) = body.get("content") {
                        post["content"] = content.clone();
                    }
                    (200, json!({"post": post.clone()}))
                }
                None => (404, json!({"error": "Post not found"})),
            }
        }
        "delete" => (200, json!({"message": "Post deleted"})),
        "list" => {
            let posts: Vec<Value> = lock(&inner.posts).iter().rev().cloned().collect();
            let total = posts.len();
            (
                200,
                json!({"posts": posts, "pagination": {"page": 1, "limit": 100, "total": total, "pages": 1}}),
            )
        }
        "accounts" => {
            let accounts: Vec<Value> = ACCOUNTS
                .iter()
                .map(|id| json!({"_id": id, "platform": "tiktok", "username": format!("user_{id}"), "displayName": format!("User {id}"), "isActive": true, "needsReconnection": *id == "acc_a2"}))
                .collect();
            (200, json!({"accounts": accounts}))
        }
        "creator_info" => (
            200,
            json!({
                "creator": {"nickname": "Creator", "avatarUrl": "https://cdn.example.com/a.png", "isVerified": false, "canPostMore": true},
                "privacyLevels": [
                    {"value": "PUBLIC_TO_EVERYONE", "label": "Everyone"},
                    {"value": "MUTUAL_FOLLOW_FRIENDS", "label": "Friends"},
                    {"value": "SELF_ONLY", "label": "Only me"}
                ],
                "postingLimits": {"maxVideoDurationSec": 600, "interactionSettings": {"allow_comment": true, "allow_duet": true, "allow_stitch": true}},
                "commercialContentTypes": ["none", "brand_organic", "brand_content"]
            }),
        ),
        "presign" => (
            200,
            json!({"uploadUrl": "https://upload.example.com/put/abc", "publicUrl": "https://cdn.example.com/media/abc.mp4", "key": "media/abc.mp4", "expiresIn": 3600}),
        ),
        "analytics" => {
            let account = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("accountId="))
                .unwrap_or_default()
                .to_owned();
            (
                200,
                json!({"overview": {}, "posts": [{"_id": format!("{account}_p1"), "accountId": account, "analytics": {"likes": 10, "comments": 2, "shares": 1, "views": 100}}], "pagination": {"page": 1, "limit": 50, "total": 1, "pages": 1}}),
            )
        }
        _ => (404, json!({"error": "Not found"})),
    };
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(answer),
    )
        .into_response();
    if let Ok(v) = "zr-req-1".parse() {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// The post Zernio would make of a create body.
fn post_from_create(id: &str, body: &Value) -> Value {
    let account = body["platforms"][0]["accountId"].clone();
    let scheduled = body.get("scheduledFor").cloned();
    let status = if scheduled.is_some() {
        "scheduled"
    } else {
        "published"
    };
    let url = if status == "published" {
        json!(format!(
            "https://www.tiktok.com/@creator/video/{}",
            id.trim_start_matches("post_")
        ))
    } else {
        Value::Null
    };
    json!({
        "_id": id,
        "content": body["content"],
        "mediaItems": body["mediaItems"],
        "status": status,
        "scheduledFor": scheduled,
        "timezone": body.get("timezone"),
        "platforms": [{"platform": "tiktok", "accountId": account, "status": status, "platformPostUrl": url}],
        "metadata": body.get("metadata"),
        "createdAt": chrono::Utc::now().to_rfc3339(),
    })
}
