//! The sandbox's HTTP surface: Zernio's paths under `/api`, Zernio's headers on every answer
//! (`X-Request-Id`, `X-RateLimit-*`), bearer auth, and the presigned-upload target.

use std::collections::HashMap;
use std::pin::Pin;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde_json::{Value, json};
use url::Url;

use super::SandboxState;
use super::model::{AnalyticsFilter, CREATORS, Kind, ListFilter, Rejection, creator};
use super::webhooks::compact;
use crate::zernio::types::parse_time_str;

/// The sandbox as a router: Zernio's endpoints at `/api/v1/...`, uploads at
/// `/api/sandbox/uploads/...`.
pub fn router(state: SandboxState) -> Router {
    let api = Router::new()
        .route("/v1/posts", post(create_post).get(list_posts))
        .route(
            "/v1/posts/{id}",
            get(get_post).put(update_post).delete(delete_post),
        )
        .route("/v1/posts/{id}/retry", post(retry_post))
        .route("/v1/accounts", get(accounts))
        .route("/v1/accounts/{id}/tiktok/creator-info", get(creator_info))
        .route("/v1/media/presign", post(presign))
        .route("/v1/analytics", get(analytics))
        .route("/v1/webhooks/settings", post(register_webhook))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            zernio_headers,
        ));
    // Presigned uploads carry no bearer token and may be large: no auth, no body limit.
    let uploads = Router::new()
        .route("/sandbox/uploads/{*key}", put(upload))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .nest("/api", api.merge(uploads))
        .fallback(|| async { reply(StatusCode::NOT_FOUND, json!({"error": "Not found"})) })
        .with_state(state)
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut resp = reply(status_of(self.status), self.body);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A post as Zernio's `Post` schema has it: fields it types as strings are left out when
/// unknown, never null.
fn post_json(post: &crate::zernio::types::Post) -> Value {
    compact(serde_json::to_value(post).unwrap_or(Value::Null))
}

fn parse_body(bytes: &Bytes) -> Result<Value, Rejection> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| Rejection::invalid("invalid_json", "The body is not valid JSON"))
}

fn query_map(raw: Option<String>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// A date filter: RFC 3339, or a plain date (as the start of that day, or for an upper bound
/// its end).
fn date_param(
    q: &HashMap<String, String>,
    key: &str,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, Rejection> {
    let Some(raw) = q.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = parse_time_str(raw).ok_or_else(|| {
        Rejection::invalid("invalid_date", &format!("{key} must be an ISO 8601 date"))
    })?;
    let date_only = raw.len() == 10;
    Ok(Some(if end_of_day && date_only {
        t + TimeDelta::days(1) - TimeDelta::milliseconds(1)
    } else {
        t
    }))
}

fn number_param(q: &HashMap<String, String>, key: &str, default: u64, max: u64) -> u64 {
    q.get(key)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(default)
        .clamp(1, max)
}

/// Another platform than TikTok asked for: the sandbox has nothing for it.
fn other_platform(q: &HashMap<String, String>) -> bool {
    q.get("platform")
        .is_some_and(|p| !p.is_empty() && !p.eq_ignore_ascii_case("tiktok"))
}

/// Zernio's cross-cutting behaviour: bearer auth, the per-minute limit, `X-Request-Id` and
/// `X-RateLimit-*` on every answer, and due scheduled posts published before anything is read.
async fn zernio_headers(State(state): State<SandboxState>, req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or(HeaderValue::from_static("sandbox"))
        });
    let authorised = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| !k.trim().is_empty());
    let (limit, remaining, reset, over) = state.count_request();
    let mut resp = if !authorised {
        reply(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}))
    } else if over {
        let wait = (reset - state.clock().now().timestamp()).max(1);
        let mut r = reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "Rate limit exceeded. Try again later.", "type": "rate_limit_error", "code": "rate_limit_exceeded"}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        r
    } else {
        state.tick();
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert("x-request-id", request_id);
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    resp
}

// -- posts --------------------------------------------------------------------------------------

async fn create_post(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if !k.trim().is_empty() && k.len() <= 255 => Some(k.trim().to_string()),
        Some(_) => {
            return Rejection::invalid(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 characters",
            )
            .into_response();
        }
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let now = state.clock().now();
    let cap = state.options().daily_cap;
    // A dry run checks what a create would, stores nothing and takes no slot (TikTok only, as
    // the spec says: the sandbox is nothing else).
    if body.get("dryRun") == Some(&Value::Bool(true)) {
        let verdict = state.data().dry_run(&body, cap, now);
        return reply(StatusCode::OK, verdict);
    }
    let (status, answer, events) = {
        let mut data = state.data();
        if let Some(k) = &key
            && let Some(first) = data.replay(k, now)
        {
            // A replay is answered 200, as Zernio does for an idempotent retry.
            return reply(StatusCode::OK, first);
        }
        match data.create(&body, cap, now) {
            Ok((status, post, events)) => {
                let message = if status == 207 {
                    "Post created but failed to publish"
                } else {
                    "Post created successfully"
                };
                let answer = json!({"message": message, "post": post_json(&post)});
                if let Some(k) = &key {
                    data.remember(k, answer.clone(), now);
                }
                (status, answer, events)
            }
            Err(r) => return r.into_response(),
        }
    };
    state.emit(events);
    reply(status_of(status), answer)
}

async fn get_post(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    match state.data().get(&id) {
        Some(post) => reply(StatusCode::OK, json!({"post": post_json(&post)})),
        None => Rejection::not_found("Post not found").into_response(),
    }
}

async fn list_posts(State(state): State<SandboxState>, RawQuery(raw): RawQuery) -> Response {
    let q = query_map(raw);
    let filter = match (
        date_param(&q, "fromDate", false),
        date_param(&q, "toDate", true),
    ) {
        (Ok(from), Ok(to)) => ListFilter {
            page: number_param(&q, "page", 1, u64::from(u32::MAX)),
            limit: number_param(&q, "limit", 10, 500),
            status: q.get("status").filter(|s| !s.is_empty()).cloned(),
            account_id: q.get("accountId").filter(|s| !s.is_empty()).cloned(),
            from,
            to,
        },
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let (posts, total) = if other_platform(&q) {
        (Vec::new(), 0)
    } else {
        state.data().list(&filter)
    };
    let posts: Vec<Value> = posts.iter().map(post_json).collect();
    reply(
        StatusCode::OK,
        json!({
            "posts": posts,
            "pagination": {
                "page": filter.page,
                "limit": filter.limit,
                "total": total,
                "pages": total.div_ceil(filter.limit),
            }
        }),
    )
}

async fn update_post(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let now = state.clock().now();
    let result = state.data().update(&id, &body, now);
    match result {
        Ok((post, events)) => {
            state.emit(events);
            reply(
                StatusCode::OK,
                json!({"message": "Post updated successfully", "post": post_json(&post)}),
            )
        }
        Err(r) => r.into_response(),
    }
}

async fn delete_post(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    let now = state.clock().now();
    let result = state.data().cancel(&id, now);
    match result {
        Ok(events) => {
            state.emit(events);
            reply(
                StatusCode::OK,
                json!({"message": "Post deleted successfully"}),
            )
        }
        Err(r) => r.into_response(),
    }
}

async fn retry_post(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    let now = state.clock().now();
    let result = state.data().retry(&id, now);
    match result {
        Ok((status, post, events)) => {
            state.emit(events);
            let message = if status == 207 {
                "Retry failed"
            } else {
                "Post retried successfully"
            };
            reply(
                status_of(status),
                json!({"message": message, "post": post_json(&post)}),
            )
        }
        Err(r) => r.into_response(),
    }
}

// -- accounts -----------------------------------------------------------------------------------

async fn accounts(RawQuery(raw): RawQuery) -> Response {
    let q = query_map(raw);
    let accounts: Vec<Value> = if other_platform(&q) {
        Vec::new()
    } else {
        CREATORS
            .iter()
            .map(|c| {
                json!({
                    "_id": c.id,
                    "platform": "tiktok",
                    "profileId": "sandbox_profile",
                    "username": c.id,
                    "displayName": c.display_name,
                    "isActive": true,
                    "needsReconnection": false,
                })
            })
            .collect()
    };
    reply(
        StatusCode::OK,
        json!({"accounts": accounts, "hasAnalyticsAccess": true}),
    )
}

async fn creator_info(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_map(raw);
    let is_photo = match q.get("mediaType").map(String::as_str) {
        None | Some("") | Some("video") => false,
        Some("photo") => true,
        Some(_) => {
            return Rejection::invalid("invalid_media_type", "mediaType must be video or photo")
                .into_response();
        }
    };
    let Some(c) = creator(&id) else {
        return Rejection::not_found("Account not found").into_response();
    };
    let now = state.clock().now();
    // A creator at the daily cap makes this look-up answer 429, as Zernio's does.
    let kind = if is_photo { Kind::Photo } else { Kind::Video };
    if let Some(r) = state
        .data()
        .daily_cap_rejection(c.id, kind, state.options().daily_cap, now)
    {
        return r.into_response();
    }
    let toggle = |label: &str, disabled: bool| json!({"enabled": !disabled, "required": true, "default": false, "label": label});
    let levels: Vec<Value> = c
        .privacy
        .iter()
        .map(|v| json!({"value": v, "label": privacy_label(v)}))
        .collect();
    let (duet, stitch) = if is_photo {
        (Value::Null, Value::Null)
    } else {
        (
            toggle("Allow Duet", c.duet_disabled),
            toggle("Allow Stitch", c.stitch_disabled),
        )
    };
    reply(
        StatusCode::OK,
        json!({
            "creator": {
                "nickname": c.display_name,
                "username": c.id,
                "isVerified": false,
                "canPostMore": true,
            },
            "privacyLevels": levels,
            "postingLimits": {
                "maxVideoDurationSec": 600,
                "interactionSettings": {
                    "allow_comment": toggle("Allow Comments", c.comment_disabled),
                    "allow_duet": duet,
                    "allow_stitch": stitch,
                },
            },
            "commercialContentTypes": [
                {"value": "none", "label": "No commercial content", "requires": []},
                {"value": "brand_organic", "label": "Your brand", "requires": ["disclosure"]},
                {"value": "brand_content", "label": "Branded content", "requires": ["disclosure", "not_private"]},
            ],
        }),
    )
}

fn privacy_label(v: &str) -> &'static str {
    match v {
        "PUBLIC_TO_EVERYONE" => "Everyone",
        "MUTUAL_FOLLOW_FRIENDS" => "Friends",
        "FOLLOWER_OF_CREATOR" => "Followers",
        "SELF_ONLY" => "Only me",
        _ => "Other",
    }
}

// -- media --------------------------------------------------------------------------------------

async fn presign(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let filename = body
        .get("filename")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    let content_type = body
        .get("contentType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if filename.is_empty() {
        return Rejection::invalid("missing_required_field", "filename is required")
            .into_response();
    }
    let limit: u64 = if content_type.starts_with("image/") {
        20 * 1024 * 1024
    } else if content_type.starts_with("video/") {
        4 * 1024 * 1024 * 1024
    } else {
        return Rejection::invalid(
            "invalid_content_type",
            "contentType must be an image/* or video/* type",
        )
        .into_response();
    };
    if body
        .get("size")
        .and_then(Value::as_u64)
        .is_some_and(|s| s > limit)
    {
        return Rejection::invalid("file_too_large", "The file is larger than TikTok accepts")
            .into_response();
    }
    let safe: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let key = format!("sandbox/{}/{safe}", uuid::Uuid::new_v4().simple());
    let base = match state.base_url().cloned().or_else(|| host_base(&headers)) {
        Some(b) => b,
        None => {
            return Rejection::invalid("no_host", "The sandbox cannot tell its own address")
                .into_response();
        }
    };
    let at = |kind: &str| -> String {
        let mut u = base.clone();
        if let Ok(mut path) = u.path_segments_mut() {
            path.pop_if_empty().push("sandbox").push(kind);
            path.extend(key.split('/'));
        }
        u.to_string()
    };
    reply(
        StatusCode::OK,
        json!({
            "uploadUrl": at("uploads"),
            "publicUrl": at("media"),
            "key": key,
            "expiresIn": 3600,
        }),
    )
}

/// The sandbox's own base from the request's `Host`, for routers served without `spawn`.
fn host_base(headers: &HeaderMap) -> Option<Url> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    Url::parse(&format!("http://{host}/api")).ok()
}

/// Takes the presigned PUT and throws the bytes away as they arrive, so any size works.
async fn upload(request: Request) -> Response {
    let mut body: Body = request.into_body();
    let mut received: u64 = 0;
    loop {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    received += data.len() as u64;
                }
            }
            Some(Err(_)) => {
                return Rejection::invalid("upload_failed", "The upload broke off").into_response();
            }
            None => break,
        }
    }
    tracing::debug!(bytes = received, "sandbox upload discarded");
    StatusCode::OK.into_response()
}

// -- analytics and webhooks ---------------------------------------------------------------------

async fn analytics(State(state): State<SandboxState>, RawQuery(raw): RawQuery) -> Response {
    let q = query_map(raw);
    let filter = match (
        date_param(&q, "fromDate", false),
        date_param(&q, "toDate", true),
    ) {
        (Ok(from), Ok(to)) => AnalyticsFilter {
            account_id: q.get("accountId").filter(|s| !s.is_empty()).cloned(),
            post_id: q.get("postId").filter(|s| !s.is_empty()).cloned(),
            from,
            to,
            page: number_param(&q, "page", 1, u64::from(u32::MAX)),
            limit: number_param(&q, "limit", 50, 100),
        },
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    if other_platform(&q) {
        return reply(
            StatusCode::OK,
            json!({"overview": {"totalPosts": 0}, "posts": [], "pagination": {"page": 1, "limit": filter.limit, "total": 0, "pages": 0}}),
        );
    }
    let now = state.clock().now();
    let result = state.data().analytics(&filter, now);
    match result {
        Ok((status, v)) => reply(status_of(status), v),
        Err(r) => r.into_response(),
    }
}

async fn register_webhook(State(state): State<SandboxState>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let result = state.data().register_webhook(&body);
    match result {
        Ok(v) => reply(StatusCode::OK, v),
        Err(r) => r.into_response(),
    }
}
