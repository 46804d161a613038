//! The compatible surface's errors: Zernio's `ErrorResponse` (`error`, `type`, `code`, `param`,
//! `details`) at the statuses Zernio's OpenAPI lists for each operation, made from the same
//! problem the native surface answers with RFC 9457. The SDKs switch on the status and `code`
//! and show `error`, so those three carry the failure; everything else goes into `details`.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::error::{PROBLEM_JSON, Problem};

/// The Zernio operation a compatible route stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreatePost,
    ListPosts,
    GetPost,
    UpdatePost,
    DeletePost,
    RetryPost,
    ListAccounts,
    CreatorInfo,
    Presign,
    Analytics,
}

impl Operation {
    /// By method and the route's template (axum's `MatchedPath`).
    pub fn of(method: &Method, route: &str) -> Option<Operation> {
        use Operation::*;
        Some(match (method.as_str(), route) {
            ("POST", "/api/v1/posts") => CreatePost,
            ("GET", "/api/v1/posts") => ListPosts,
            ("GET", "/api/v1/posts/{id}") => GetPost,
            ("PUT", "/api/v1/posts/{id}") => UpdatePost,
            ("DELETE", "/api/v1/posts/{id}") => DeletePost,
            ("POST", "/api/v1/posts/{id}/retry") => RetryPost,
            ("GET", "/api/v1/accounts") => ListAccounts,
            ("GET", "/api/v1/accounts/{id}/tiktok/creator-info") => CreatorInfo,
            ("POST", "/api/v1/media/presign") => Presign,
            ("GET", "/api/v1/analytics") => Analytics,
            _ => return None,
        })
    }

    /// The error statuses Zernio's OpenAPI 1.444.0 lists for the operation.
    pub fn error_statuses(self) -> &'static [u16] {
        use Operation::*;
        match self {
            CreatePost => &[400, 401, 403, 409, 429, 503],
            ListPosts => &[400, 401],
            GetPost => &[400, 401, 403, 404],
            UpdatePost => &[400, 401, 403, 404, 409, 429, 503],
            DeletePost => &[400, 401, 403, 404],
            RetryPost => &[400, 401, 402, 403, 404, 409, 429],
            ListAccounts => &[400, 401, 503],
            CreatorInfo => &[400, 401, 404, 429],
            Presign => &[400, 401],
            Analytics => &[400, 401, 402, 404, 500],
        }
    }
}

/// `ErrorResponse.type`, the spec's enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    Platform,
    Api,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Permission => "permission_error",
            ErrorType::NotFound => "not_found",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::Platform => "platform_error",
            ErrorType::Api => "api_error",
        }
    }
}

/// Zernio's `ErrorResponse`, for the document (answers are built as JSON by [`error_response`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
#[schema(as = ZernioErrorResponse)]
pub struct ErrorBody {
    /// What failed and how to fix it: the first violations with their fixes.
    error: String,
    #[schema(rename = "type", value_type = String, example = "invalid_request_error")]
    kind: String,
    /// Zernio's code (`missing_credentials`, `ACCOUNT_DISCONNECTED`, `temporarily_unavailable`,
    /// ...) or the gateway's own (`validation_failed`, `duplicate_content`, ...).
    code: Option<String>,
    /// The first field at fault.
    param: Option<String>,
    /// `errors[]` (`{field, code, message, fix}`), `existingPostId`, `gatewayCode`, `requestId`.
    #[schema(value_type = Object)]
    details: Option<serde_json::Value>,
}

/// Where a native problem lands on Zernio's surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub status: u16,
    pub kind: ErrorType,
    /// Zernio's `code`; `None` keeps the native code, which is as stable.
    pub code: Option<&'static str>,
}

const fn to(status: u16, kind: ErrorType, code: Option<&'static str>) -> Mapping {
    Mapping { status, kind, code }
}

/// The one table: each native problem `code` to Zernio's status, `type` and `code`. What a
/// caller must correct is 400 (Zernio has no 422); what only a reconnect fixes is 403 with
/// Zernio's account codes; Zernio and the store being unreachable is 503, as Zernio's
/// `TemporarilyUnavailable` (a timed-out write may still have happened: the spec says so too).
pub fn mapping(native_code: &str, native_status: u16) -> Mapping {
    use ErrorType::*;
    match native_code {
        "missing_credentials" => to(401, Authentication, Some("missing_credentials")),
        c if c.starts_with("token_")
            || matches!(
                c,
                "invalid_api_key"
                    | "api_key_expired"
                    | "malformed_authorization"
                    | "ambiguous_credentials"
                    | "jwt_not_accepted"
            ) =>
        {
            to(401, Authentication, Some("invalid_credentials"))
        }
        "insufficient_scope" => to(403, Permission, None),
        // Zernio's own case: "a target accountId does not belong to the authenticated user".
        "account_not_allowed" => to(403, Permission, None),
        "account_disconnected" | "missing_permissions" => {
            to(403, Permission, Some("ACCOUNT_DISCONNECTED"))
        }
        "account_not_enabled" => to(403, Permission, Some("ACCOUNT_NOT_ENABLED_FOR_POSTING")),
        "not_found" | "route_not_found" => to(404, NotFound, Some("not_found")),
        "duplicate_content" => to(409, InvalidRequest, Some("duplicate_content")),
        "idempotency_conflict" => to(409, InvalidRequest, Some("idempotency_conflict")),
        "upstream_conflict" => to(409, InvalidRequest, None),
        "rate_limited" | "upstream_rate_limited" => to(429, RateLimit, Some("rate_limited")),
        "daily_limit_reached" | "account_velocity_limited" => to(429, RateLimit, None),
        "analytics_addon_required" => to(402, Permission, Some("analytics_addon_required")),
        "privacy_level_unavailable" | "spam_risk" | "media_download_failed" | "post_failed" => {
            to(400, Platform, None)
        }
        "upstream_timeout"
        | "upstream_unavailable"
        | "store_unavailable"
        | "request_timeout"
        | "service_unavailable"
        | "gateway_timeout" => to(503, Api, Some("temporarily_unavailable")),
        "upstream_unauthorized" | "upstream_forbidden" | "internal_error" => to(500, Api, None),
        _ => match native_status {
            s if s >= 500 => to(503, Api, Some("temporarily_unavailable")),
            401 => to(401, Authentication, None),
            403 => to(403, Permission, None),
            404 => to(404, NotFound, None),
            409 => to(409, InvalidRequest, None),
            429 => to(429, RateLimit, None),
            // validation_failed, invalid_json, invalid_query, payload_too_large, ...
            _ => to(400, InvalidRequest, None),
        },
    }
}

/// The status an operation answers for a mapped failure: the mapping's when the spec lists it
/// for the operation, else the nearest one it lists. Rate limits (429) and outages (503) keep
/// their status where the operation lists neither it nor another 5xx: Zernio documents both
/// for every call (a per-key rate limit; `TemporarilyUnavailable`), and an automation must be
/// able to tell "wait" and "retry" from "fix the request".
pub fn status_for(operation: Operation, wanted: u16) -> u16 {
    let listed = operation.error_statuses();
    if listed.contains(&wanted) {
        return wanted;
    }
    let fallbacks: &[u16] = match wanted {
        402 | 409 | 424 => &[400],
        403 => &[401],
        404 => &[400],
        500 => &[503],
        503 => &[500],
        _ => &[],
    };
    fallbacks
        .iter()
        .copied()
        .find(|s| listed.contains(s))
        .unwrap_or(wanted)
}

/// The codes of Zernio's create 403.
const ACCOUNT_CODES: [&str; 3] = [
    "ACCOUNT_DISCONNECTED",
    "ACCOUNT_NOT_ENABLED_FOR_POSTING",
    "PROFILE_OVER_LIMIT",
];

/// How much of a failure one answer carries: an answer stays small whatever the request was
/// (a body of thousands of broken media items is refused with the first of them).
const MAX_VIOLATIONS: usize = 50;
const MAX_TEXT: usize = 1000;
/// How many violations the `error` sentence names, and how much of a message or a fix it keeps.
const NAMED_IN_MESSAGE: usize = 3;
const NAMED_TEXT: usize = 200;
/// The largest already-rendered problem read back (the idempotency layer renders before this
/// layer sees the answer); a bigger one is answered from its status alone.
const MAX_RENDERED: usize = 4 * 1024 * 1024;

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// One violation as the `error` sentence names it: the field (unless its message names it
/// already), what is wrong, and the fix, each cut so that three fit in a line an SDK shows.
fn named_violation(field: &str, v: &Value) -> String {
    let what = cut(
        text_of(v.get("message"))
            .unwrap_or("is not accepted")
            .trim_end_matches('.'),
        NAMED_TEXT,
    );
    let what = if what.contains(field) {
        what
    } else {
        format!("{field}: {what}")
    };
    let mut named = match text_of(v.get("fix")) {
        Some(fix) => format!("{what}. Fix: {}", cut(fix, NAMED_TEXT)),
        None => what,
    };
    if !named.ends_with('.') {
        named.push('.');
    }
    named
}

fn text_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Zernio's `ErrorResponse` for a native problem (its JSON form) on one operation.
pub fn error_response(operation: Operation, problem: &Value) -> (StatusCode, Value) {
    let native_code = text_of(problem.get("code")).unwrap_or("bad_request");
    let native_status = problem
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(500);
    let m = mapping(native_code, native_status);
    let status = status_for(operation, m.status);
    let mut details = Map::new();
    let mut param = None;
    let mut message = text_of(problem.get("detail"))
        .or_else(|| text_of(problem.get("title")))
        .unwrap_or("the request failed")
        .to_owned();

    if let Some(errors) = problem.get("errors").and_then(Value::as_array) {
        let field = |v: &Value| text_of(v.get("field")).unwrap_or("body").to_owned();
        param = errors.first().map(field);
        let named: Vec<String> = errors
            .iter()
            .take(NAMED_IN_MESSAGE)
            .map(|v| named_violation(&field(v), v))
            .collect();
        if !named.is_empty() {
            message = named.join(" ");
            if errors.len() > NAMED_IN_MESSAGE {
                message.push_str(&format!(
                    " (and {} more in details.errors)",
                    errors.len() - NAMED_IN_MESSAGE
                ));
            }
        }
        let kept: Vec<Value> = errors
            .iter()
            .take(MAX_VIOLATIONS)
            .map(|v| {
                let mut e = Map::new();
                for key in ["field", "code", "message", "fix"] {
                    if let Some(text) = text_of(v.get(key)) {
                        e.insert(key.to_owned(), cut(text, MAX_TEXT).into());
                    }
                }
                Value::Object(e)
            })
            .collect();
        details.insert("errors".to_owned(), kept.into());
        if errors.len() > MAX_VIOLATIONS
            || problem.get("errors_truncated").and_then(Value::as_bool) == Some(true)
        {
            details.insert("errorsTruncated".to_owned(), true.into());
        }
    } else if let Some(fix) = text_of(problem.get("fix")) {
        message = format!("{message}. Fix: {fix}");
        details.insert("fix".to_owned(), cut(fix, MAX_TEXT).into());
    }
    for (native, zernio) in [
        ("existing_post_id", "existingPostId"),
        ("post_id", "postId"),
        ("zernio_request_id", "zernioRequestId"),
        ("zernio_code", "zernioCode"),
    ] {
        if let Some(text) = text_of(problem.get(native)) {
            details.insert(zernio.to_owned(), cut(text, MAX_TEXT).into());
        }
    }
    if details.contains_key("existingPostId") {
        details.insert("platform".to_owned(), "tiktok".into());
    }
    if matches!(native_code, "account_disconnected" | "missing_permissions") {
        details.insert("reason".to_owned(), native_code.into());
    }
    details.insert("gatewayCode".to_owned(), native_code.into());
    if let Some(id) = text_of(problem.get("request_id")) {
        details.insert("requestId".to_owned(), cut(id, MAX_TEXT).into());
    }

    let mut body = Map::new();
    body.insert("error".to_owned(), cut(&message, MAX_TEXT * 4).into());
    body.insert("type".to_owned(), m.kind.as_str().into());
    body.insert(
        "code".to_owned(),
        m.code.unwrap_or(native_code).to_owned().into(),
    );
    // Zernio's create answers its 403 with an account-state code or none (an account outside
    // the caller's reach): any other cause goes without one, named in details.gatewayCode.
    if operation == Operation::CreatePost
        && status == 403
        && !ACCOUNT_CODES.contains(&m.code.unwrap_or(native_code))
    {
        body.remove("code");
    }
    if let Some(param) = param {
        body.insert("param".to_owned(), cut(&param, MAX_TEXT).into());
    }
    body.insert("details".to_owned(), Value::Object(details));
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Value::Object(body))
}

/// Layer of the compatible routes: every error answer becomes Zernio's `ErrorResponse`.
pub async fn zernio_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(crate::http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| Operation::of(request.method(), p.as_str()));
    let mut response = next.run(request).await;
    let status = response.status();
    let Some(operation) = operation else {
        return crate::error::render_now(response, request_id);
    };
    // A success, or an answer the handler wrote in Zernio's shape itself (analytics' 424).
    let own = response
        .extensions()
        .get::<crate::error::OwnFormat>()
        .is_some();
    if own || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(mut problem) => {
            problem.request_id = request_id.clone();
            serde_json::to_value(&problem).unwrap_or(Value::Null)
        }
        None => {
            let rendered = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|ct| ct.as_bytes() == PROBLEM_JSON.as_bytes());
            let (parts, body) = response.into_parts();
            let bytes = if rendered {
                axum::body::to_bytes(body, MAX_RENDERED)
                    .await
                    .unwrap_or_default()
            } else {
                Default::default()
            };
            response = Response::from_parts(parts, Body::empty());
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| {
                    let mut generic = crate::error::generic_problem(status);
                    generic.request_id = request_id.clone();
                    serde_json::to_value(&generic).unwrap_or(Value::Null)
                })
        }
    };
    let (status, body) = error_response(operation, &problem);
    let (mut parts, _) = response.into_parts();
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.extensions.insert(crate::error::OwnFormat);
    // Never empty and never over the cap, whatever the failure carried.
    let bytes = crate::error::bounded_json(
        body,
        crate::error::MAX_ERROR_BODY,
        &["error", "type", "code"],
    );
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validation(n: usize) -> Value {
        let errors: Vec<Value> = (0..n)
            .map(|i| {
                json!({"field": format!("mediaItems[{i}].url"), "code": "media_url_not_direct",
                       "message": "is a share page", "fix": "Use a direct link."})
            })
            .collect();
        json!({"code": "validation_failed", "status": 422, "detail": "n rules are broken",
               "errors": errors, "request_id": "r1"})
    }

    #[test]
    fn validation_is_400_naming_the_first_violations_and_their_fixes() {
        let (status, body) = error_response(Operation::CreatePost, &validation(5));
        assert_eq!(status, 400);
        assert_eq!(body["type"], "invalid_request_error");
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["param"], "mediaItems[0].url");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with(
                "mediaItems[0].url: is a share page. Fix: Use a direct link. mediaItems[1].url: is"
            ),
            "{error}"
        );
        assert!(error.ends_with("(and 2 more in details.errors)"), "{error}");
        assert_eq!(body["details"]["errors"].as_array().unwrap().len(), 5);
        assert_eq!(body["details"]["requestId"], "r1");
    }

    #[test]
    fn the_error_sentence_names_each_violation_once_and_cuts_long_ones() {
        let long = "x".repeat(5000);
        let problem = json!({"code": "validation_failed", "status": 422, "errors": [
            {"field": "content", "code": "caption_too_long", "message": "content is 2,300 UTF-16 units; TikTok takes 2,200.", "fix": "Shorten content."},
            {"field": "tiktokSettings.privacy_level", "code": "privacy_required", "message": long, "fix": long},
        ]});
        let (_, body) = error_response(Operation::CreatePost, &problem);
        let error = body["error"].as_str().unwrap();
        // The field is not said twice when the message names it.
        assert!(
            error.starts_with(
                "content is 2,300 UTF-16 units; TikTok takes 2,200. Fix: Shorten content. \
                 tiktokSettings.privacy_level: xxx"
            ),
            "{error}"
        );
        // Each message and fix is cut: the sentence stays short whatever Zernio or a rule said.
        assert!(error.chars().count() < 3 * NAMED_TEXT, "{}", error.len());
        assert!(error.contains("…. Fix: xxx"), "{error}");
        // The full texts stay in details (cut at their own bound).
        assert_eq!(
            body["details"]["errors"][1]["message"]
                .as_str()
                .unwrap()
                .len(),
            MAX_TEXT + 3
        );
    }

    #[test]
    fn an_answer_stays_small_whatever_the_number_of_violations() {
        let (_, body) = error_response(Operation::CreatePost, &validation(100_000));
        let bytes = serde_json::to_vec(&body).unwrap();
        assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
        assert_eq!(body["details"]["errorsTruncated"], true);
        assert_eq!(
            body["details"]["errors"].as_array().unwrap().len(),
            MAX_VIOLATIONS
        );
    }

    #[test]
    fn statuses_stay_within_what_the_operation_lists() {
        // An editable-state conflict on delete (no 409 listed) is a 400; a missing scope on
        // the list (no 403 listed) a 401; an outage on analytics (no 503 listed) a 500.
        assert_eq!(status_for(Operation::DeletePost, 409), 400);
        assert_eq!(status_for(Operation::ListPosts, 403), 401);
        assert_eq!(status_for(Operation::Analytics, 503), 500);
        assert_eq!(status_for(Operation::CreatePost, 503), 503);
        assert_eq!(status_for(Operation::CreatePost, 404), 400);
    }

    #[test]
    fn account_states_are_403_with_zernios_codes() {
        for (native, code) in [
            ("account_disconnected", "ACCOUNT_DISCONNECTED"),
            ("missing_permissions", "ACCOUNT_DISCONNECTED"),
            ("account_not_enabled", "ACCOUNT_NOT_ENABLED_FOR_POSTING"),
        ] {
            let problem =
                json!({"code": native, "status": 409, "detail": "x", "fix": "Reconnect."});
            let (status, body) = error_response(Operation::CreatePost, &problem);
            assert_eq!(status, 403, "{native}");
            assert_eq!(body["code"], code);
            assert_eq!(body["type"], "permission_error");
        }
    }

    #[test]
    fn an_account_of_another_tenant_has_no_code_as_zernio_answers_it() {
        let problem = json!({"code": "account_not_allowed", "status": 403, "detail": "x"});
        let (status, body) = error_response(Operation::CreatePost, &problem);
        assert_eq!(status, 403);
        assert!(body.get("code").is_none(), "{body}");
    }

    #[test]
    fn a_duplicate_names_the_existing_post() {
        let problem = json!({"code": "duplicate_content", "status": 409, "detail": "dup",
                             "existing_post_id": "p1"});
        let (status, body) = error_response(Operation::CreatePost, &problem);
        assert_eq!(status, 409);
        assert_eq!(body["details"]["existingPostId"], "p1");
        assert_eq!(body["details"]["platform"], "tiktok");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(2000);
        let out = cut(&text, 1001);
        assert!(out.ends_with('…'));
        assert!(out.len() <= 1004);
    }
}
