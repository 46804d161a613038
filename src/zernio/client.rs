//! The typed Zernio client: one pooled `reqwest::Client`, Zernio's endpoints as methods, a
//! circuit breaker per endpoint ([`super::breaker`]), the shared 429 pause, and the last
//! rate-limit headers seen. Nothing is retried here: each method sends at most one request,
//! so a failing Zernio sees one call per caller's call, never three, and callers that have a
//! schedule of their own (the reconciler, a caller's poll) keep it.
//!
//! It knows nothing of tenants or policy: it sends what it is given and reports what Zernio said
//! as typed values or an [`UpstreamError`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::breaker::{BreakerConfig, Breakers, Change};
use super::errors::{UpstreamError, UpstreamKind, parse_retry_after};
use super::types::{
    Account, Analytics, AnalyticsQuery, CreateOutcome, CreatorInfo, ListPosts, MediaKind, Post,
    PostPage, PresignRequest, Presigned, RateLimitInfo, WebhookSettings, warnings_of,
};

/// The default cap on the pause after Zernio's API rate limit ([`ClientConfig::max_pause`]).
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// `find_post_by_metadata` looks at most at this many pages of this size.
const FIND_PAGE_SIZE: u32 = 100;
const FIND_MAX_PAGES: u32 = 20;
/// Zernio's cap on `limit` for `GET /v1/posts`.
const MAX_LIST_LIMIT: u32 = 500;

/// Zernio's largest analytics page.
pub const ANALYTICS_PAGE_SIZE: u32 = 100;
/// How many analytics pages one read follows: 5,000 posts an account.
pub const ANALYTICS_MAX_PAGES: u32 = 50;

/// How to reach Zernio. `Debug` never shows the key.
#[derive(Clone)]
pub struct ClientConfig {
    /// e.g. `https://zernio.com/api`; `/v1/...` is appended.
    pub base_url: Url,
    pub api_key: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// The longest a 429 of Zernio's API rate limit holds every call, whatever its
    /// `Retry-After` says.
    pub max_pause: Duration,
    /// When an endpoint's breaker opens and for how long.
    pub breaker: BreakerConfig,
}

impl ClientConfig {
    /// Defaults of 5 s to connect, 30 s per request and a pause of at most 60 s.
    pub fn new(base_url: Url, api_key: impl Into<String>) -> Self {
        ClientConfig {
            base_url,
            api_key: api_key.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_pause: MAX_PAUSE,
            breaker: BreakerConfig::default(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_pause", &self.max_pause)
            .field("breaker", &self.breaker)
            .finish()
    }
}

/// Per-call context: the caller's request id, for logs and correlation only. Zernio gets a
/// fresh UUID as `x-request-id` for every logical call, because it de-duplicates creates on that
/// header: a caller's id reused for two posts would make Zernio answer the first post for both.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    pub request_id: &'a str,
}

/// Called after every upstream exchange (the main crate implements it with Prometheus).
///
/// `endpoint` is the method name (`create_post`, `get_post`, ...). `outcome` is `ok`, the
/// [`UpstreamKind::code`] of the failure, `paused` for a call refused locally during a 429
/// pause, or `circuit_open` for one refused by the endpoint's open breaker (for both,
/// `seconds` is 0 and nothing was sent).
pub trait Observer: Send + Sync + 'static {
    fn upstream_call(&self, endpoint: &'static str, outcome: &'static str, seconds: f64);
    fn rate_limit(&self, _info: &RateLimitInfo) {}
    /// An endpoint's breaker opened (`true`) or closed again (`false`).
    fn breaker(&self, _endpoint: &'static str, _open: bool) {}
}

/// An observer that ignores everything, for tests and tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn upstream_call(&self, _endpoint: &'static str, _outcome: &'static str, _seconds: f64) {}
}

/// The Zernio client. Cheap to clone; all clones share the connection pool, the pause and the
/// rate-limit cell.
#[derive(Clone)]
pub struct ZernioClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    observer: Arc<dyn Observer>,
    rate: RateCell,
    /// Unix millis until which no call goes out (0: no pause). Shared by every caller so that a
    /// 429 for one tenant holds all of them, as Zernio's limit is per key.
    paused_until_ms: AtomicU64,
    max_pause: Duration,
    breakers: Breakers,
}

impl fmt::Debug for ZernioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZernioClient")
            .field("base_url", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// The last `X-RateLimit-*` values, one atomic each (`NONE` = header not seen). The three are
/// not updated as one unit: a reader may see a limit from one answer and a remaining count from
/// the next, which is harmless for a gauge and keeps every answer free of locks.
struct RateCell {
    limit: AtomicU64,
    remaining: AtomicU64,
    reset: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl RateCell {
    fn new() -> Self {
        RateCell {
            limit: AtomicU64::new(NONE),
            remaining: AtomicU64::new(NONE),
            reset: AtomicU64::new(NONE),
        }
    }

    fn store(&self, headers: &HeaderMap) -> Option<RateLimitInfo> {
        let read = |name: &str| -> Option<u64> {
            headers
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v != NONE)
        };
        let (limit, remaining, reset) = (
            read("x-ratelimit-limit"),
            read("x-ratelimit-remaining"),
            read("x-ratelimit-reset"),
        );
        if limit.is_none() && remaining.is_none() && reset.is_none() {
            return None;
        }
        self.limit.store(limit.unwrap_or(NONE), Ordering::Relaxed);
        self.remaining
            .store(remaining.unwrap_or(NONE), Ordering::Relaxed);
        self.reset.store(reset.unwrap_or(NONE), Ordering::Relaxed);
        Some(info(limit, remaining, reset))
    }

    fn load(&self) -> Option<RateLimitInfo> {
        let get = |a: &AtomicU64| Some(a.load(Ordering::Relaxed)).filter(|v| *v != NONE);
        let (limit, remaining, reset) = (get(&self.limit), get(&self.remaining), get(&self.reset));
        if limit.is_none() && remaining.is_none() && reset.is_none() {
            return None;
        }
        Some(info(limit, remaining, reset))
    }
}

fn info(limit: Option<u64>, remaining: Option<u64>, reset: Option<u64>) -> RateLimitInfo {
    RateLimitInfo {
        limit,
        remaining,
        reset: reset
            .and_then(|s| i64::try_from(s).ok())
            .and_then(|s| Utc.timestamp_opt(s, 0).single()),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A `format: date` query value.
fn day(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// One request to make.
/// A JSON value as a request body (a `Value` always serialises: its keys are strings).
fn json_body(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

struct Call<'a> {
    endpoint: &'static str,
    method: Method,
    url: Url,
    /// JSON, serialised once by whoever made the call.
    body: Option<Bytes>,
    idempotency_key: Option<&'a str>,
}

/// A 2xx answer.
struct Answer {
    status: u16,
    body: Bytes,
    request_id: Option<String>,
    retry_after: Option<Duration>,
}

impl Answer {
    fn json(&self) -> Result<Value, UpstreamError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            let mut e = UpstreamError::new(
                UpstreamKind::Unavailable,
                format!(
                    "Zernio answered {} with a body that is not JSON",
                    self.status
                ),
            );
            e.status = Some(self.status);
            e.zernio_request_id = self.request_id.clone();
            e
        })
    }

    fn missing(&self, what: &str) -> UpstreamError {
        let mut e = UpstreamError::new(
            UpstreamKind::Unavailable,
            format!("Zernio's answer had no {what}"),
        );
        e.status = Some(self.status);
        e.zernio_request_id = self.request_id.clone();
        e
    }
}

/// `{post}`, `{existingPost}` (an older answer's idempotent replay) or, in older answers, the
/// post itself at the top level.
fn post_of(v: &Value) -> Option<Post> {
    match v.get("post").or_else(|| v.get("existingPost")) {
        Some(p) if p.is_object() => Some(Post::from(p.clone())),
        _ if v.get("_id").is_some() || v.get("id").is_some() => Some(Post::from(v.clone())),
        _ => None,
    }
}

/// An id used as a path segment. The URL library drops `.` and `..` segments (and an empty one
/// would change the path), so those could turn `GET /v1/posts/{id}` into another endpoint:
/// they name no object, and are refused without a request.
fn id_segment(id: &str) -> Result<&str, UpstreamError> {
    if id.trim().is_empty() || id == "." || id == ".." {
        return Err(UpstreamError::unsent(
            UpstreamKind::NotFound,
            "There is no object with an empty or dot-only id",
        ));
    }
    Ok(id)
}

impl ZernioClient {
    pub fn new(config: ClientConfig, observer: Arc<dyn Observer>) -> Result<Self, UpstreamError> {
        let invalid = |m: &str| UpstreamError::new(UpstreamKind::Invalid, m);
        let mut base = config.base_url;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("Zernio base URL must be an http(s) URL"));
        }
        base.set_query(None);
        base.set_fragment(None);
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.api_key.trim()))
            .map_err(|_| invalid("Zernio API key contains characters not allowed in a header"))?;
        auth.set_sensitive(true);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("tiktok-gateway/", env!("CARGO_PKG_VERSION")))
            // An API has no business redirecting; following one could replay a create.
            .redirect(reqwest::redirect::Policy::none());
        if is_loopback(&base) {
            // A proxy from the environment must never see sandbox or test traffic.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|_| invalid("Could not build the HTTP client for Zernio"))?;
        Ok(ZernioClient {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                observer,
                rate: RateCell::new(),
                paused_until_ms: AtomicU64::new(0),
                max_pause: config.max_pause,
                breakers: Breakers::new(config.breaker),
            }),
        })
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The last `X-RateLimit-*` seen, if any answer carried them.
    pub fn rate_limit(&self) -> Option<RateLimitInfo> {
        self.inner.rate.load()
    }

    /// Whether `endpoint`'s breaker refuses calls now.
    pub fn breaker_open(&self, endpoint: &'static str) -> bool {
        self.inner.breakers.is_open(endpoint)
    }

    /// How long calls are still held after a 429, if they are.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = self.inner.paused_until_ms.load(Ordering::Relaxed);
        let now = now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }

    // -----------------------------------------------------------------------------------------
    // Endpoints
    // -----------------------------------------------------------------------------------------

    /// `POST /v1/posts`. Never retried: a timeout is [`UpstreamKind::Timeout`] and the caller
    /// looks the post up ([`ZernioClient::find_post_by_metadata`]) instead of sending it again.
    /// A 2xx whose post is `partial`/`failed` is an error carrying the post.
    pub async fn create_post(
        &self,
        ctx: &CallContext<'_>,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<CreateOutcome, UpstreamError> {
        self.create_post_bytes(ctx, json_body(body), idempotency_key)
            .await
    }

    /// [`ZernioClient::create_post`] of a body serialised already: the caller that keeps a
    /// digest of the exact bytes sent (the audit trail) serialises once.
    pub async fn create_post_bytes(
        &self,
        ctx: &CallContext<'_>,
        body: Bytes,
        idempotency_key: Option<&str>,
    ) -> Result<CreateOutcome, UpstreamError> {
        let answer = self
            .send(
                ctx,
                Call {
                    endpoint: "create_post",
                    method: Method::POST,
                    url: self.url(&["v1", "posts"], &[]),
                    body: Some(body),
                    idempotency_key,
                },
            )
            .await?;
        // Zernio took the create, so the post exists even if its answer is unreadable: report it
        // like a timeout, which makes the caller look the post up rather than re-send.
        let unreadable = |a: &Answer| {
            let mut e = UpstreamError::new(
                UpstreamKind::Timeout,
                "Zernio accepted the post but its answer could not be read; the post may exist",
            );
            e.status = Some(a.status);
            e.zernio_request_id = a.request_id.clone();
            e.maybe_applied = true;
            e
        };
        let v = answer.json().map_err(|_| unreadable(&answer))?;
        let post = post_of(&v).ok_or_else(|| unreadable(&answer))?;
        if let Some(err) =
            UpstreamError::from_failed_post(answer.status, post.clone(), answer.request_id.clone())
        {
            return Err(err);
        }
        Ok(CreateOutcome {
            status: answer.status,
            post,
            warnings: warnings_of(&v),
            message: v.get("message").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// `GET /v1/posts/{id}`.
    pub async fn get_post(&self, ctx: &CallContext<'_>, id: &str) -> Result<Post, UpstreamError> {
        let id = id_segment(id)?;
        let answer = self
            .send(ctx, self.get("get_post", &["v1", "posts", id], &[]))
            .await?;
        let v = answer.json()?;
        post_of(&v).ok_or_else(|| answer.missing("post"))
    }

    /// `GET /v1/posts/{id}`, as [`ZernioClient::get_post`]: no call of the client is retried
    /// (the name stays for readers that rely on it: the reconciler's backoff, a caller's poll).
    pub async fn get_post_once(
        &self,
        ctx: &CallContext<'_>,
        id: &str,
    ) -> Result<Post, UpstreamError> {
        self.get_post(ctx, id).await
    }

    /// `GET /v1/posts` with `platform=tiktok` and the given filters.
    pub async fn list_posts(
        &self,
        ctx: &CallContext<'_>,
        query: &ListPosts,
    ) -> Result<PostPage, UpstreamError> {
        let page = query.page.unwrap_or(1).max(1);
        let limit = query.limit.unwrap_or(10).clamp(1, MAX_LIST_LIMIT);
        let mut q = vec![
            ("page", page.to_string()),
            ("limit", limit.to_string()),
            ("platform", "tiktok".to_string()),
        ];
        if let Some(s) = &query.status {
            q.push(("status", s.clone()));
        }
        if let Some(a) = &query.account_id {
            q.push(("accountId", a.clone()));
        }
        if let Some(t) = &query.from_date {
            q.push(("fromDate", day(t)));
        }
        if let Some(t) = &query.to_date {
            q.push(("toDate", day(t)));
        }
        if let Some(sort) = query.sort_by {
            q.push(("sortBy", sort.to_owned()));
        }
        let answer = self
            .send(ctx, self.get("list_posts", &["v1", "posts"], &q))
            .await?;
        let v = answer.json()?;
        Ok(PostPage::from_value(&v, page, limit))
    }

    /// `PUT /v1/posts/{id}` (draft, scheduled, failed, partial or cancelled posts).
    pub async fn update_post(
        &self,
        ctx: &CallContext<'_>,
        id: &str,
        body: &Value,
    ) -> Result<Post, UpstreamError> {
        let id = id_segment(id)?;
        let answer = self
            .send(
                ctx,
                Call {
                    endpoint: "update_post",
                    method: Method::PUT,
                    url: self.url(&["v1", "posts", id], &[]),
                    body: Some(json_body(body)),
                    idempotency_key: None,
                },
            )
            .await?;
        let v = answer.json()?;
        post_of(&v).ok_or_else(|| answer.missing("post"))
    }

    /// `DELETE /v1/posts/{id}` (draft or scheduled posts).
    pub async fn delete_post(&self, ctx: &CallContext<'_>, id: &str) -> Result<(), UpstreamError> {
        let id = id_segment(id)?;
        self.send(
            ctx,
            Call {
                endpoint: "delete_post",
                method: Method::DELETE,
                url: self.url(&["v1", "posts", id], &[]),
                body: None,
                idempotency_key: None,
            },
        )
        .await
        .map(|_| ())
    }

    /// `POST /v1/posts/{id}/retry` (failed posts). A post that fails again is an error carrying
    /// the post, as for a create.
    pub async fn retry_post(&self, ctx: &CallContext<'_>, id: &str) -> Result<Post, UpstreamError> {
        let id = id_segment(id)?;
        let answer = self
            .send(
                ctx,
                Call {
                    endpoint: "retry_post",
                    method: Method::POST,
                    url: self.url(&["v1", "posts", id, "retry"], &[]),
                    body: None,
                    idempotency_key: None,
                },
            )
            .await?;
        let v = answer.json()?;
        let post = post_of(&v).ok_or_else(|| answer.missing("post"))?;
        match UpstreamError::from_failed_post(answer.status, post.clone(), answer.request_id) {
            Some(err) => Err(err),
            None => Ok(post),
        }
    }

    /// `GET /v1/accounts?platform=tiktok`.
    pub async fn accounts(&self, ctx: &CallContext<'_>) -> Result<Vec<Account>, UpstreamError> {
        let q = [("platform", "tiktok".to_string())];
        let answer = self
            .send(ctx, self.get("accounts", &["v1", "accounts"], &q))
            .await?;
        let v = answer.json()?;
        let items = match &v {
            Value::Array(items) => items.as_slice(),
            _ => match v.get("accounts") {
                Some(Value::Array(items)) => items.as_slice(),
                _ => return Err(answer.missing("accounts")),
            },
        };
        Ok(items
            .iter()
            .map(|a| Account::from(a.clone()))
            // The filter is ours too: an older Zernio may ignore `platform`.
            .filter(|a| a.platform.is_empty() || a.platform.eq_ignore_ascii_case("tiktok"))
            .collect())
    }

    /// `GET /v1/accounts/{id}/tiktok/creator-info?mediaType=...`; either spec's shape.
    pub async fn creator_info(
        &self,
        ctx: &CallContext<'_>,
        account_id: &str,
        media_type: MediaKind,
    ) -> Result<CreatorInfo, UpstreamError> {
        let account_id = id_segment(account_id)?;
        let q = [("mediaType", media_type.as_str().to_string())];
        let answer = self
            .send(
                ctx,
                self.get(
                    "creator_info",
                    &["v1", "accounts", account_id, "tiktok", "creator-info"],
                    &q,
                ),
            )
            .await?;
        Ok(CreatorInfo::from(answer.json()?))
    }

    /// `POST /v1/media/presign`.
    pub async fn presign(
        &self,
        ctx: &CallContext<'_>,
        req: &PresignRequest,
    ) -> Result<Presigned, UpstreamError> {
        let body = serde_json::to_value(req)
            .map_err(|_| UpstreamError::new(UpstreamKind::Invalid, "presign request"))?;
        let answer = self
            .send(
                ctx,
                Call {
                    endpoint: "presign",
                    method: Method::POST,
                    url: self.url(&["v1", "media", "presign"], &[]),
                    body: Some(json_body(&body)),
                    idempotency_key: None,
                },
            )
            .await?;
        let p = Presigned::from(answer.json()?);
        if p.upload_url.is_empty() || p.public_url.is_empty() {
            return Err(answer.missing("uploadUrl/publicUrl"));
        }
        Ok(p)
    }

    /// `GET /v1/analytics?platform=tiktok&...`. A 202 (sync pending) is
    /// [`UpstreamKind::AnalyticsPending`].
    pub async fn analytics(
        &self,
        ctx: &CallContext<'_>,
        query: &AnalyticsQuery,
    ) -> Result<Analytics, UpstreamError> {
        let mut q = vec![("platform", "tiktok".to_string())];
        if let Some(a) = &query.account_id {
            q.push(("accountId", a.clone()));
        }
        if let Some(p) = &query.post_id {
            q.push(("postId", p.clone()));
        }
        if let Some(d) = &query.from_date {
            q.push(("fromDate", d.format("%Y-%m-%d").to_string()));
        }
        if let Some(d) = &query.to_date {
            q.push(("toDate", d.format("%Y-%m-%d").to_string()));
        }
        if let Some(l) = query.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(p) = query.page {
            q.push(("page", p.to_string()));
        }
        let answer = self
            .send(ctx, self.get("analytics", &["v1", "analytics"], &q))
            .await?;
        if answer.status == StatusCode::ACCEPTED.as_u16() {
            let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            let mut e = UpstreamError::new(
                UpstreamKind::AnalyticsPending,
                v.get("message")
                    .and_then(Value::as_str)
                    .filter(|m| super::errors::is_safe_text(m))
                    .unwrap_or("Zernio is syncing analytics"),
            );
            e.status = Some(answer.status);
            e.zernio_request_id = answer.request_id;
            e.retry_after = answer.retry_after;
            e.details = v.get("details").cloned();
            return Err(e);
        }
        Ok(Analytics::from(answer.json()?))
    }

    /// Every page of a list (`page` and `limit` of `query` are set here): Zernio answers at
    /// most 100 posts a page, so one call sees only an account's newest. Stops at
    /// `pagination.pages`, at a short page, or after [`ANALYTICS_MAX_PAGES`]. With `postId` it
    /// is one call, as Zernio answers one post.
    pub async fn analytics_all(
        &self,
        ctx: &CallContext<'_>,
        query: &AnalyticsQuery,
    ) -> Result<Analytics, UpstreamError> {
        if query.post_id.is_some() {
            return self.analytics(ctx, query).await;
        }
        let mut all: Option<Analytics> = None;
        for page in 1..=ANALYTICS_MAX_PAGES {
            let mut q = query.clone();
            q.page = Some(page);
            q.limit = Some(ANALYTICS_PAGE_SIZE);
            let answer = self.analytics(ctx, &q).await?;
            let pages = answer
                .pagination
                .as_ref()
                .and_then(|p| p.get("pages"))
                .and_then(Value::as_u64);
            let short = answer.posts.len() < ANALYTICS_PAGE_SIZE as usize;
            match all.as_mut() {
                None => all = Some(answer),
                Some(all) => all.posts.extend(answer.posts),
            }
            if short || pages.is_none_or(|p| u64::from(page) >= p) {
                break;
            }
        }
        let mut all = all.unwrap_or_else(|| Analytics::from(Value::Null));
        let total = all.posts.len();
        all.pagination = Some(serde_json::json!({
            "page": 1, "limit": total, "total": total, "pages": 1
        }));
        Ok(all)
    }

    /// `POST /v1/webhooks/settings`; Zernio's answer is passed through.
    pub async fn register_webhook(
        &self,
        ctx: &CallContext<'_>,
        req: &WebhookSettings,
    ) -> Result<Value, UpstreamError> {
        let body = serde_json::to_value(req)
            .map_err(|_| UpstreamError::new(UpstreamKind::Invalid, "webhook settings"))?;
        let answer = self
            .send(
                ctx,
                Call {
                    endpoint: "register_webhook",
                    method: Method::POST,
                    url: self.url(&["v1", "webhooks", "settings"], &[]),
                    body: Some(json_body(&body)),
                    idempotency_key: None,
                },
            )
            .await?;
        if answer.body.is_empty() {
            return Ok(Value::Null);
        }
        answer.json()
    }

    /// Finds a post the gateway created with `metadata.<key> == value`, paging through
    /// `GET /v1/posts?accountId=..&fromDate=<since's day>&sortBy=created-desc`. Used after a create timed out:
    /// the create is never re-sent; the gateway looks for it instead. Looks at most at
    /// 20 pages of 100, far beyond a creator's daily cap.
    pub async fn find_post_by_metadata(
        &self,
        ctx: &CallContext<'_>,
        account_id: &str,
        key: &str,
        value: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Post>, UpstreamError> {
        for page in 1..=FIND_MAX_PAGES {
            let query = ListPosts {
                page: Some(page),
                limit: Some(FIND_PAGE_SIZE),
                account_id: Some(account_id.to_string()),
                from_date: Some(since),
                // Newest first, so the post just made is on the first page.
                sort_by: Some("created-desc"),
                ..ListPosts::default()
            };
            let found = self.list_posts(ctx, &query).await?;
            if let Some(post) = found.posts.iter().find(|p| metadata_matches(p, key, value)) {
                return Ok(Some(post.clone()));
            }
            if found.posts.is_empty() || page >= found.pages {
                break;
            }
        }
        Ok(None)
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing
    // -----------------------------------------------------------------------------------------

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.inner.base.clone();
        // Segments are percent-encoded one by one, so an id can never add a path or a query.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    fn get<'a>(
        &self,
        endpoint: &'static str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Call<'a> {
        Call {
            endpoint,
            method: Method::GET,
            url: self.url(segments, query),
            body: None,
            idempotency_key: None,
        }
    }

    /// Sends one request, once. Reads are not retried either: a failing Zernio would get
    /// three calls for each of the caller's, and the caller waits three times as long.
    async fn send(&self, ctx: &CallContext<'_>, call: Call<'_>) -> Result<Answer, UpstreamError> {
        // From the thread's generator: `Uuid::new_v4` asks the kernel for every one.
        let upstream_id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .to_string();
        self.attempt(ctx, &call, &upstream_id).await
    }

    async fn attempt(
        &self,
        ctx: &CallContext<'_>,
        call: &Call<'_>,
        upstream_id: &str,
    ) -> Result<Answer, UpstreamError> {
        let inner = &self.inner;
        if let Some(wait) = self.paused_for() {
            inner.observer.upstream_call(call.endpoint, "paused", 0.0);
            let mut e = UpstreamError::new(
                UpstreamKind::RateLimited,
                format!(
                    "Zernio's rate limit was hit; calls are held for another {} s",
                    wait.as_secs_f64().ceil() as u64
                ),
            );
            e.retry_after = Some(wait);
            e.not_sent = true;
            return Err(e);
        }
        let permit = match inner.breakers.admit(call.endpoint) {
            Ok(permit) => permit,
            Err(wait) => {
                inner
                    .observer
                    .upstream_call(call.endpoint, "circuit_open", 0.0);
                let mut e = UpstreamError::unsent(
                    UpstreamKind::CircuitOpen,
                    format!(
                        "Zernio failed several times in a row; {} calls are held for another {} s",
                        call.endpoint,
                        wait_secs(wait)
                    ),
                );
                e.retry_after = Some(wait);
                return Err(e);
            }
        };

        let mut req = inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, inner.auth.clone())
            .header(ACCEPT, "application/json");
        if let Ok(rid) = HeaderValue::from_str(upstream_id) {
            req = req.header("x-request-id", rid);
        }
        if let Some(key) = call.idempotency_key {
            let value = HeaderValue::from_str(key)
                .ok()
                .filter(|_| !key.is_empty() && key.len() <= 255);
            let Some(value) = value else {
                // Nothing was sent: the breaker learns nothing from it.
                drop(permit);
                return Err(UpstreamError::unsent(
                    UpstreamKind::Invalid,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                ));
            };
            req = req.header("Idempotency-Key", value);
        }
        if let Some(body) = &call.body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }

        let started = Instant::now();
        let result = self.exchange(req, started).await;
        let seconds = started.elapsed().as_secs_f64();
        let failed = result.as_ref().err().is_some_and(breaks);
        match permit.record(failed) {
            Some(Change::Opened) => {
                inner.observer.breaker(call.endpoint, true);
                tracing::warn!(
                    endpoint = call.endpoint,
                    "Zernio failed repeatedly: refusing these calls for the cool-down"
                );
            }
            Some(Change::Closed) => {
                inner.observer.breaker(call.endpoint, false);
                tracing::info!(
                    endpoint = call.endpoint,
                    "Zernio answers again: calls resume"
                );
            }
            None => {}
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        inner
            .observer
            .upstream_call(call.endpoint, outcome, seconds);
        match &result {
            Ok(a) => tracing::debug!(
                endpoint = call.endpoint,
                request_id = ctx.request_id,
                upstream_request_id = upstream_id,
                status = a.status,
                zernio_request_id = a.request_id.as_deref(),
                seconds,
                "zernio call"
            ),
            Err(e) => tracing::info!(
                endpoint = call.endpoint,
                request_id = ctx.request_id,
                upstream_request_id = upstream_id,
                status = e.status,
                code = e.code(),
                zernio_request_id = e.zernio_request_id.as_deref(),
                seconds,
                "zernio call failed"
            ),
        }
        result
    }

    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        started: Instant,
    ) -> Result<Answer, UpstreamError> {
        let resp = req
            .send()
            .await
            .map_err(|e| UpstreamError::transport(&e, started.elapsed()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers();
        if let Some(info) = self.inner.rate.store(headers) {
            self.inner.observer.rate_limit(&info);
        }
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = resp.bytes().await.map_err(|e| {
            let mut err = UpstreamError::transport(&e, started.elapsed());
            err.zernio_request_id = request_id.clone();
            if (200..300).contains(&status) {
                // Zernio said yes before the answer broke off: the request took effect, so a
                // create must be looked up, never re-sent, exactly as after a timeout.
                err.kind = UpstreamKind::Timeout;
                err.message = format!(
                    "Zernio answered {status} but the answer broke off; the request took effect"
                );
            } else {
                err.status = Some(status);
            }
            err
        })?;
        if (200..300).contains(&status) {
            return Ok(Answer {
                status,
                body,
                request_id,
                retry_after,
            });
        }
        let mut err = UpstreamError::from_answer(status, &body, request_id, retry_after);
        if status == 429 && err.kind == UpstreamKind::RateLimited {
            self.pause(&mut err);
        }
        Err(err)
    }

    /// Holds every call for the 429's `Retry-After` (or, without one, until the window's
    /// `X-RateLimit-Reset` when nothing remains), at most `max_pause`. Only Zernio's API rate
    /// limit gets here: a daily cap, a velocity cap or a cooldown concerns one account, not the
    /// key.
    fn pause(&self, err: &mut UpstreamError) {
        let wait = err.retry_after.or_else(|| {
            let info = self.inner.rate.load()?;
            if info.remaining != Some(0) {
                return None;
            }
            (info.reset? - Utc::now()).to_std().ok()
        });
        // The cap applies to the pause only; the error keeps what Zernio said.
        let Some(wait) = wait
            .map(|w| w.min(self.inner.max_pause))
            .filter(|w| !w.is_zero())
        else {
            return;
        };
        let until = now_ms().saturating_add(wait.as_millis() as u64);
        self.inner
            .paused_until_ms
            .fetch_max(until, Ordering::Relaxed);
        err.retry_after = Some(wait);
        tracing::warn!(
            seconds = wait.as_secs_f64(),
            "Zernio answered 429: holding all calls to Zernio"
        );
    }
}

/// Whether a failure counts against the endpoint's breaker: no answer (transport, timeout) or
/// a 5xx. A 4xx or 429 is Zernio answering, whatever it said.
fn breaks(e: &UpstreamError) -> bool {
    match e.status {
        None => !e.not_sent,
        Some(s) => s >= 500,
    }
}

/// Whole seconds to wait, rounded up, at least 1.
fn wait_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

fn metadata_matches(post: &Post, key: &str, value: &str) -> bool {
    match post.metadata.as_ref().and_then(|m| m.get(key)) {
        Some(Value::String(s)) => s == value,
        Some(Value::Number(n)) => n.to_string() == value,
        _ => false,
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> ZernioClient {
        let config = ClientConfig::new(Url::parse(base).unwrap(), "sk_secret");
        ZernioClient::new(config, Arc::new(NoopObserver)).unwrap()
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_ids() {
        let c = client("https://zernio.example/api");
        assert_eq!(
            c.url(&["v1", "posts", "a/b?c"], &[]).as_str(),
            "https://zernio.example/api/v1/posts/a%2Fb%3Fc"
        );
        let c = client("https://zernio.example/api/");
        assert_eq!(
            c.url(&["v1", "accounts"], &[("platform", "tiktok".into())])
                .as_str(),
            "https://zernio.example/api/v1/accounts?platform=tiktok"
        );
    }

    #[tokio::test]
    async fn dot_ids_are_refused_without_a_request() {
        // Nothing listens on port 9: any request would fail as Unavailable, not NotFound.
        let c = client("http://127.0.0.1:9/api");
        let ctx = CallContext { request_id: "r" };
        for id in ["", ".", "..", "  "] {
            let e = c.get_post(&ctx, id).await.unwrap_err();
            assert_eq!(e.kind, UpstreamKind::NotFound);
            assert_eq!(e.status, None);
        }
    }

    #[test]
    fn the_key_never_shows() {
        let config = ClientConfig::new(Url::parse("https://z.example/api").unwrap(), "sk_secret");
        assert!(!format!("{config:?}").contains("sk_secret"));
        let c = ZernioClient::new(config, Arc::new(NoopObserver)).unwrap();
        assert!(!format!("{c:?}").contains("sk_secret"));
        assert!(!format!("{:?}", c.inner.auth).contains("sk_secret"));
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = ClientConfig::new(Url::parse("mailto:a@b.c").unwrap(), "k");
        assert!(ZernioClient::new(bad, Arc::new(NoopObserver)).is_err());
        let bad = ClientConfig::new(Url::parse("https://z.example").unwrap(), "k\nx");
        let err = ZernioClient::new(bad, Arc::new(NoopObserver)).unwrap_err();
        assert!(!err.message.contains("k\nx"));
    }
}
