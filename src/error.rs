//! The one error type of the HTTP surface and the one place where a failure becomes a status
//! code and an RFC 9457 `application/problem+json` body.
//!
//! Handlers return `ApiError`; `into_response` only chooses status, code and headers and parks
//! the problem in the response's extensions. The frame (`frame::FrameService`) then writes the
//! body with the request id, and turns any other error answer (axum's rejections, tower-http's
//! 408/413, an unknown route) into the same format, so a caller never sees two error shapes.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AuthFailure, Scope};

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// No error answer is larger than this, whatever the request was: a long text is cut, a long
/// list shortened, and as a last resort only the problem's core members are kept.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// `value` as JSON of at most `max` bytes (an error body: a problem, or Zernio's
/// `ErrorResponse`). Serialised by serde_json, so it is valid JSON however it is cut; when
/// nothing else fits, only the members named in `core` are kept (strings cut to 200 bytes).
pub fn bounded_json(mut value: serde_json::Value, max: usize, core: &[&str]) -> Vec<u8> {
    let fits = |v: &serde_json::Value| serde_json::to_vec(v).ok().filter(|b| b.len() <= max);
    if let Some(bytes) = fits(&value) {
        return bytes;
    }
    for (text, items) in [(1000, 50), (200, 10)] {
        shrink(&mut value, text, items);
        if let Some(bytes) = fits(&value) {
            return bytes;
        }
    }
    if let serde_json::Value::Object(map) = &mut value {
        map.retain(|k, _| core.contains(&k.as_str()));
        shrink(&mut value, 200, 0);
    }
    fits(&value).unwrap_or_else(|| br#"{"error":"the answer was too large"}"#.to_vec())
}

/// Cuts every string to `text` bytes (on a character boundary) and every array to `items`.
fn shrink(value: &mut serde_json::Value, text: usize, items: usize) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.len() > text => {
            let mut end = text;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s.push('…');
        }
        Value::Array(list) => {
            list.truncate(items);
            list.iter_mut().for_each(|v| shrink(v, text, items));
        }
        Value::Object(map) => map.values_mut().for_each(|v| shrink(v, text, items)),
        _ => {}
    }
}

/// The members every problem keeps however it is cut (RFC 9457's and ours).
const PROBLEM_CORE: [&str; 7] = [
    "type",
    "title",
    "status",
    "detail",
    "code",
    "request_id",
    "errors_truncated",
];

/// Every way a request can fail, as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication failed: {0:?}")]
    Unauthenticated(AuthFailure),
    #[error("missing scope {0}")]
    InsufficientScope(Scope),
    #[error("account not allowed")]
    AccountNotAllowed(String),
    #[error("not found")]
    NotFound,
    #[error("validation failed")]
    Validation(Vec<crate::tiktok::Violation>),
    #[error("bad request: {detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("rate limited")]
    RateLimited {
        retry_after: std::time::Duration,
        headers: HeaderMap,
    },
    #[error("idempotency key reused with another request")]
    IdempotencyKeyReused,
    #[error("idempotency conflict")]
    IdempotencyConflict,
    #[error("daily limit reached")]
    /// No room in the account's rolling 24 h for a post at its time. Posting now: `retry_at`
    /// is when the next post is possible. A scheduled post (`schedule_at`): the windows around
    /// its time are full, waiting changes nothing, and `retry_at` is the earliest time it could
    /// be scheduled for instead.
    DailyLimitReached {
        account: String,
        retry_at: chrono::DateTime<chrono::Utc>,
        schedule_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    #[error("duplicate content")]
    DuplicateContent { existing_post_id: Option<String> },
    #[error("upstream: {0}")]
    Upstream(#[from] crate::zernio::UpstreamError),
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    #[error("unprocessable: {detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// The post's recorded status does not allow the change (`post_not_editable`,
    /// `post_not_cancellable`); refused before any upstream call.
    #[error("conflict with the post's status: {detail}")]
    PostStatusConflict { code: &'static str, detail: String },
    /// An edit, cancel or retry of a post whose create is still `pending`: Zernio's answer was
    /// lost and the post is not found yet, so there is nothing upstream to act on. It may be
    /// found any moment (or fail at the end of its window): the caller is to ask again.
    #[error("post {id} is pending")]
    PostPending {
        id: String,
        /// `edited`, `cancelled`, `retried`.
        action: &'static str,
        retry_after_secs: u64,
    },
    /// A Zernio webhook whose `X-Zernio-Signature` is missing or wrong.
    #[error("invalid webhook signature")]
    WebhookSignatureInvalid,
    /// No `ZERNIO_WEBHOOK_SECRET`: Zernio's webhooks cannot be verified, so none is accepted.
    #[error("webhook receiver not configured")]
    WebhooksNotConfigured,
    /// A Zernio event about a post this gateway made but has not recorded yet (the event came
    /// before the answer that created the post): Zernio is to send it again.
    #[error("post {0} not recorded yet")]
    PostNotRecordedYet(String),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// The RFC 9457 body. `code` is the stable, machine-readable name callers switch on; `type` is
/// the same name as a URN so that it stays a URI without promising a web page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "urn:tiktok-gateway:problem:missing_credentials")]
    pub kind: String,
    #[schema(example = "Authentication required")]
    pub title: String,
    #[schema(example = 401)]
    pub status: u16,
    pub detail: String,
    #[schema(example = "missing_credentials")]
    pub code: String,
    /// The `x-request-id` of the request, to quote when reporting a problem.
    pub request_id: Option<String>,
    /// Further members of a specific problem (e.g. `errors` of a validation failure).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:tiktok-gateway:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            request_id: None,
            extensions: serde_json::Map::new(),
        }
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    /// The answer's status and stable code, for records of what happened (the audit trail).
    pub fn status_and_code(&self) -> (u16, String) {
        let problem = self.problem();
        (problem.status, problem.code)
    }

    /// Status, stable code, title, detail: the whole mapping, in one match.
    pub(crate) fn problem(&self) -> Problem {
        use ApiError::*;
        let (status, code, title, detail) = match self {
            Unauthenticated(f) => (
                StatusCode::UNAUTHORIZED,
                f.code(),
                "Authentication failed",
                f.detail().to_owned(),
            ),
            InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "Missing scope",
                format!(
                    "this operation needs the `{scope}` scope, which the credential does not carry"
                ),
            ),
            AccountNotAllowed(account) => (
                StatusCode::FORBIDDEN,
                "account_not_allowed",
                "Account not allowed",
                format!("account `{account}` does not belong to your tenant"),
            ),
            NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "no such object".to_owned(),
            ),
            Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The post breaks TikTok's rules",
                match listed(errors) {
                    (_, true) => format!(
                        "more rules are broken than are listed; `errors` lists the first {} with \
                         their fixes",
                        listed(errors).0.len()
                    ),
                    (list, false) if list.len() == 1 => {
                        "1 rule is broken; `errors` says which and how to fix it".to_owned()
                    }
                    (list, false) => format!(
                        "{} rules are broken; `errors` lists each with its fix",
                        list.len()
                    ),
                },
            ),
            BadRequest { code, detail } => (
                StatusCode::BAD_REQUEST,
                *code,
                "Bad request",
                detail.clone(),
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as application/json".to_owned(),
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
                "the request body is over the gateway's limit".to_owned(),
            ),
            RateLimited { retry_after, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                format!(
                    "your request rate is over the limit; retry in {} s",
                    crate::limits::rate::retry_after_secs(*retry_after)
                ),
            ),
            IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                "this Idempotency-Key was used with a different request in the last 24 hours; \
                 use a new key for a new request"
                    .to_owned(),
            ),
            IdempotencyConflict => (
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "Request in flight",
                "a request with this Idempotency-Key is still being processed; retry shortly"
                    .to_owned(),
            ),
            DailyLimitReached {
                account,
                retry_at,
                schedule_at: None,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "daily_limit_reached",
                "Daily posting limit reached",
                format!(
                    "account `{account}` has used its posts for the rolling 24 hours; the next one \
                     is possible at {}. Wait until then or post directly in the TikTok app",
                    rfc3339(retry_at)
                ),
            ),
            DailyLimitReached {
                account,
                retry_at,
                schedule_at: Some(at),
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "daily_limit_reached",
                "Daily posting limit reached",
                format!(
                    "account `{account}` has no room for another post in the rolling 24 hours \
                     around {}: TikTok counts a scheduled post when it is published. Schedule it \
                     for {} or later, or cancel or move another post scheduled around that time",
                    rfc3339(at),
                    rfc3339(retry_at)
                ),
            ),
            DuplicateContent { existing_post_id } => (
                StatusCode::CONFLICT,
                "duplicate_content",
                "Duplicate content",
                match existing_post_id {
                    Some(id) => format!(
                        "the same account, caption and media were posted in the last 24 hours as \
                         post `{id}`; TikTok would refuse it. Modify the caption or media"
                    ),
                    None => "an identical post for this account is being created right now; \
                             modify the caption or media, or wait for the other one"
                        .to_owned(),
                },
            ),
            Upstream(e) => (
                upstream_status(&e.kind),
                e.code(),
                upstream_title(&e.kind),
                e.message.clone(),
            ),
            StoreUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "Store unavailable",
                "the gateway's store does not answer; try again shortly".to_owned(),
            ),
            Unprocessable { code, detail } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                *code,
                "Unprocessable request",
                detail.clone(),
            ),
            PostStatusConflict { code, detail } => (
                StatusCode::CONFLICT,
                *code,
                "Not possible in the post's status",
                detail.clone(),
            ),
            PostPending { id, action, .. } => (
                StatusCode::CONFLICT,
                "post_pending",
                "Post outcome not known yet",
                format!(
                    "post `{id}` is pending: Zernio's answer to its create was lost and the post \
                     has not been found by its tag yet, so it cannot be {action} now. Ask again \
                     after Retry-After (or poll GET /v1/tiktok/posts/{id}): it becomes Zernio's \
                     post, or `failed` with `upstream_outcome_unknown` at the end of \
                     `[reconcile] pending_window_secs`"
                ),
            ),
            WebhookSignatureInvalid => (
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "Invalid webhook signature",
                "X-Zernio-Signature is missing or is not the HMAC-SHA256 of this body under the \
                 configured secret"
                    .to_owned(),
            ),
            WebhooksNotConfigured => (
                StatusCode::SERVICE_UNAVAILABLE,
                "webhooks_not_configured",
                "Webhook receiver not configured",
                "ZERNIO_WEBHOOK_SECRET is not set, so Zernio's events cannot be verified"
                    .to_owned(),
            ),
            // 409, not 503: nothing is wrong with the gateway, the event merely came early.
            PostNotRecordedYet(id) => (
                StatusCode::CONFLICT,
                "post_not_recorded_yet",
                "Post not recorded yet",
                format!(
                    "post `{id}` was made by this gateway but is not recorded yet; send the event again"
                ),
            ),
            // The cause goes to the log, never to the caller: it may name internals.
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
                "the gateway failed to handle this request; quote the request id when reporting it"
                    .to_owned(),
            ),
        };
        Problem::new(status, code, title, detail)
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match self {
            ApiError::Unauthenticated(f) => {
                let value = match f {
                    AuthFailure::MissingCredentials => {
                        r#"Bearer realm="tiktok-gateway""#.to_owned()
                    }
                    other => format!(
                        r#"Bearer realm="tiktok-gateway", error="invalid_token", error_description="{}""#,
                        other.code()
                    ),
                };
                insert(&mut headers, header::WWW_AUTHENTICATE, &value);
            }
            ApiError::InsufficientScope(scope) => insert(
                &mut headers,
                header::WWW_AUTHENTICATE,
                &format!(
                    r#"Bearer realm="tiktok-gateway", error="insufficient_scope", scope="{scope}""#
                ),
            ),
            ApiError::RateLimited {
                retry_after,
                headers: limit_headers,
            } => {
                headers.extend(limit_headers.clone());
                insert(
                    &mut headers,
                    header::RETRY_AFTER,
                    &crate::limits::rate::retry_after_secs(*retry_after).to_string(),
                );
            }
            ApiError::IdempotencyConflict => {
                insert(&mut headers, header::RETRY_AFTER, "1");
            }
            ApiError::PostNotRecordedYet(_) => {
                insert(&mut headers, header::RETRY_AFTER, "1");
            }
            ApiError::PostPending {
                retry_after_secs, ..
            } => {
                insert(
                    &mut headers,
                    header::RETRY_AFTER,
                    &retry_after_secs.to_string(),
                );
            }
            // A scheduled post's refusal has none: the windows around its time do not empty
            // by waiting (its body names a time with room instead).
            ApiError::DailyLimitReached {
                retry_at,
                schedule_at: None,
                ..
            } => {
                let wait = (*retry_at - chrono::Utc::now()).num_seconds().max(1);
                insert(&mut headers, header::RETRY_AFTER, &wait.to_string());
            }
            ApiError::Upstream(e) => {
                if let Some(wait) = e.retry_after {
                    insert(
                        &mut headers,
                        header::RETRY_AFTER,
                        &crate::limits::rate::retry_after_secs(wait).to_string(),
                    );
                }
            }
            _ => {}
        }
        headers
    }
}

/// The violations an answer lists, and whether the list was cut: the domain's caps
/// (`tiktok::rules::MAX_VIOLATIONS_PER_RULE`, `MAX_VIOLATIONS`) end a cut list with a
/// `errors_truncated` entry, and a list made elsewhere is held to the same total here.
fn listed(errors: &[crate::tiktok::Violation]) -> (&[crate::tiktok::Violation], bool) {
    use crate::tiktok::rules::{MAX_VIOLATIONS, TRUNCATED};
    let marked = errors.last().is_some_and(|v| v.code == TRUNCATED);
    let list = if marked {
        &errors[..errors.len() - 1]
    } else {
        errors
    };
    match list.get(..MAX_VIOLATIONS) {
        Some(first) if list.len() > MAX_VIOLATIONS => (first, true),
        _ => (list, marked),
    }
}

fn rfc3339(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(e) => tracing::error!(error = %format!("{e:#}"), "request failed"),
            ApiError::StoreUnavailable(e) => tracing::warn!(error = %e, "store unavailable"),
            _ => {}
        }
        let mut problem = self.problem();
        let ext = &mut problem.extensions;
        match &self {
            ApiError::Validation(errors) => {
                let (list, truncated) = listed(errors);
                ext.insert(
                    "errors".to_owned(),
                    serde_json::to_value(list).unwrap_or_default(),
                );
                if truncated {
                    ext.insert("errors_truncated".to_owned(), true.into());
                }
            }
            ApiError::DuplicateContent {
                existing_post_id: Some(id),
            } => {
                ext.insert("existing_post_id".to_owned(), id.clone().into());
            }
            ApiError::PostPending { id, .. } => {
                ext.insert("post_id".to_owned(), id.clone().into());
            }
            ApiError::DailyLimitReached {
                retry_at,
                schedule_at,
                ..
            } => {
                ext.insert("retry_at".to_owned(), rfc3339(retry_at).into());
                if let Some(at) = schedule_at {
                    ext.insert("schedule_at".to_owned(), rfc3339(at).into());
                }
            }
            ApiError::Upstream(e) => {
                ext.insert("fix".to_owned(), e.fix().into());
                if let Some(id) = &e.zernio_request_id {
                    ext.insert("zernio_request_id".to_owned(), id.clone().into());
                }
                if let Some(code) = &e.zernio_code {
                    ext.insert("zernio_code".to_owned(), code.clone().into());
                }
                if let crate::zernio::UpstreamKind::DuplicateContent {
                    existing_post_id: Some(id),
                } = &e.kind
                {
                    ext.insert("existing_post_id".to_owned(), id.clone().into());
                }
                if let Some(post) = &e.post {
                    ext.insert("post_id".to_owned(), post.id.clone().into());
                }
            }
            _ => {}
        }
        let mut response = problem_response(problem);
        response.headers_mut().extend(self.headers());
        response
    }
}

/// An answer whose body the frame writes once it knows the request id.
pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Body::empty()).into_response();
    response.extensions_mut().insert(problem);
    response
}

/// Writes a pending problem body now, for layers that must see the final bytes (idempotency
/// stores them); the frame leaves an answer rendered this way untouched.
pub fn render_now(mut response: Response, request_id: Option<String>) -> Response {
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if is_foreign_error(&response) => generic_problem(response.status()),
        None => return response,
    };
    finish(response, problem, request_id)
}

/// Marks an error answer a surface wrote in its own format (the Zernio-compatible routes answer
/// Zernio's `ErrorResponse`): the frame leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct OwnFormat;

fn is_foreign_error(response: &Response) -> bool {
    if response.extensions().get::<OwnFormat>().is_some() {
        return false;
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE);
    content_type.is_none_or(|ct| ct.as_bytes() != PROBLEM_JSON.as_bytes())
}

/// The problem for an error answer produced outside our handlers, chosen by status alone.
pub fn generic_problem(status: StatusCode) -> Problem {
    let (code, title, detail) = match status.as_u16() {
        400 => (
            "bad_request",
            "Bad request",
            "the request could not be read",
        ),
        404 => ("route_not_found", "Not found", "no route matches this path"),
        405 => (
            "method_not_allowed",
            "Method not allowed",
            "this path does not take that method",
        ),
        408 => (
            "request_timeout",
            "Request timeout",
            "the request took too long",
        ),
        413 => (
            "payload_too_large",
            "Payload too large",
            "the request body is over the gateway's limit",
        ),
        415 => (
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as application/json",
        ),
        422 => (
            "unprocessable_entity",
            "Unprocessable entity",
            "the request body does not have the expected shape",
        ),
        503 => (
            "service_unavailable",
            "Service unavailable",
            "the gateway cannot serve this request now",
        ),
        504 => (
            "gateway_timeout",
            "Gateway timeout",
            "the gateway did not finish the request in time",
        ),
        s if s >= 500 => (
            "internal_error",
            "Internal error",
            "the gateway failed to handle this request",
        ),
        _ => ("bad_request", "Bad request", "the request was refused"),
    };
    Problem::new(status, code, title, detail)
}

fn finish(response: Response, mut problem: Problem, request_id: Option<String>) -> Response {
    problem.request_id = request_id;
    let (mut parts, _) = response.into_parts();
    let body = match serde_json::to_value(&problem) {
        Ok(value) => bounded_json(value, MAX_ERROR_BODY, &PROBLEM_CORE),
        Err(_) => br#"{"type":"urn:tiktok-gateway:problem:internal_error","title":"Internal error","status":500,"detail":"the error could not be written","code":"internal_error"}"#.to_vec(),
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(m) => ApiError::StoreUnavailable(m),
            crate::store::StoreError::Other(m) => ApiError::Internal(anyhow::anyhow!(m)),
        }
    }
}

/// The status each upstream failure answers with (PRODUCT.md, "Upstream errors, mapped"):
/// what the caller or the account's owner can fix is 4xx (a disconnected account is 409: its
/// state conflicts with posting), what an operator must fix (our key, the plan) is 502, Zernio
/// being slow or down is 502/504.
fn upstream_status(kind: &crate::zernio::UpstreamKind) -> StatusCode {
    use crate::zernio::UpstreamKind::*;
    match kind {
        DailyLimitReached | RateLimited | AccountVelocityLimited => StatusCode::TOO_MANY_REQUESTS,
        Timeout => StatusCode::GATEWAY_TIMEOUT,
        PrivacyLevelUnavailable | SpamRisk | MediaDownloadFailed | Invalid | Partial => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DuplicateContent { .. } | Conflict => StatusCode::CONFLICT,
        // Only a reconnect (or enabling the account) fixes these: a 4xx, since a 5xx tells
        // automations to retry what retrying cannot fix.
        MissingPermissions | AccountDisconnected | AccountNotEnabled => StatusCode::CONFLICT,
        Forbidden | Unauthorized | Unavailable => StatusCode::BAD_GATEWAY,
        PaymentRequired => StatusCode::PAYMENT_REQUIRED,
        NotFound => StatusCode::NOT_FOUND,
        // Refused before sending, for a cool-down: "retry later", with Retry-After.
        AnalyticsPending | CircuitOpen => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn upstream_title(kind: &crate::zernio::UpstreamKind) -> &'static str {
    use crate::zernio::UpstreamKind::*;
    match kind {
        DailyLimitReached => "Daily posting limit reached",
        Timeout => "Zernio did not answer in time; the post may still appear",
        PrivacyLevelUnavailable => "Privacy level not available for this creator",
        SpamRisk => "TikTok flagged the post as potentially risky",
        DuplicateContent { .. } => "Duplicate content",
        MediaDownloadFailed => "TikTok could not download the media",
        MissingPermissions => "The TikTok account lacks permissions",
        AccountDisconnected => "The TikTok account is disconnected",
        RateLimited => "Zernio's rate limit is reached",
        AccountVelocityLimited => "Zernio's hourly posting limit for this account is reached",
        Unavailable => "Zernio is unavailable",
        CircuitOpen => "Zernio is failing; calls are held for a moment",
        Unauthorized => "The gateway's Zernio key was refused",
        PaymentRequired => "Zernio add-on required",
        NotFound => "Not found",
        Conflict => "Conflict at Zernio",
        Invalid => "Zernio refused the request",
        AccountNotEnabled => "The account is not enabled for posting",
        Forbidden => "Zernio refused access",
        Partial => "The post failed on TikTok",
        AnalyticsPending => "Analytics are being synced",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn an_error_body_is_bounded_and_stays_json() {
        let small = json!({"code": "x", "detail": "fine"});
        assert_eq!(
            bounded_json(small.clone(), MAX_ERROR_BODY, &PROBLEM_CORE),
            serde_json::to_vec(&small).unwrap()
        );
        // Long texts and long lists are cut; every cut is valid JSON under the cap.
        let big = json!({
            "code": "validation_failed",
            "detail": "é".repeat(100_000),
            "errors": (0..10_000).map(|i| json!({"field": format!("f{i}"), "message": "m".repeat(500)})).collect::<Vec<_>>(),
        });
        let bytes = bounded_json(big, MAX_ERROR_BODY, &PROBLEM_CORE);
        assert!(bytes.len() <= MAX_ERROR_BODY, "{}", bytes.len());
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["code"], "validation_failed");
        assert!(v["detail"].as_str().unwrap().ends_with('…'));
        assert!(!v["errors"].as_array().unwrap().is_empty());
        // Nothing else fits: the core members alone.
        let many_keys: serde_json::Map<String, Value> = (0..20_000)
            .map(|i| (format!("k{i}"), json!(i)))
            .chain([("code".to_owned(), json!("c"))])
            .collect();
        let bytes = bounded_json(Value::Object(many_keys), 1024, &PROBLEM_CORE);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v, json!({"code": "c"}));
    }

    #[test]
    fn a_cut_list_of_violations_says_so() {
        let v = |code: &'static str| crate::tiktok::Violation {
            field: "f".into(),
            code,
            message: "m".into(),
            fix: "x".into(),
        };
        let marked = vec![v("a"), v(crate::tiktok::rules::TRUNCATED)];
        assert_eq!(listed(&marked), (&marked[..1], true));
        let long: Vec<_> = (0..60).map(|_| v("a")).collect();
        let (list, cut) = listed(&long);
        assert_eq!((list.len(), cut), (50, true));
        let short = vec![v("a")];
        assert_eq!(listed(&short), (&short[..], false));
    }
}
