//! Every Zernio or TikTok failure as one `UpstreamError` with a stable kind.
//!
//! The mapping reads, in this order, and the first that recognises the failure wins:
//! 1. Zernio's structured fields: `code` and `errorCategory` (and, in a 207 answer, each
//!    platform's `errorCategory`), because they do not change with wording;
//! 2. the messages of the reference's "Common Errors" table (`error`, `message`,
//!    `platformError`, `details.message`, a platform's `errorMessage`), case-insensitive;
//! 3. Zernio's coarse `type` where it is unambiguous (`authentication_error`, `rate_limit_error`,
//!    `not_found`): it ranks below the messages because a daily-limit refusal is also a
//!    `rate_limit_error`, and must not be read as the per-minute limit;
//! 4. the HTTP status.
//!
//! The kinds are the gateway's vocabulary; `code()` gives the stable problem code and `fix()` the
//! advice of the reference's "Fix" column. The HTTP status each one answers with is chosen in the
//! main crate's `error.rs`, not here; the comments on [`UpstreamKind`] only record what PRODUCT.md
//! says.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::types::{Post, PostStatus, message_of, str_at};

/// What went wrong upstream, in the gateway's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamKind {
    /// TikTok's daily API posting cap. PRODUCT.md: 429 `daily_limit_reached`.
    DailyLimitReached,
    /// No answer in time (transport timeout, Zernio's 504/408, or TikTok's "timeout waiting for
    /// platform response"); the post may still appear. PRODUCT.md: 504 `upstream_timeout`.
    Timeout,
    /// PRODUCT.md: 422 `privacy_level_unavailable`.
    PrivacyLevelUnavailable,
    /// PRODUCT.md: 422 `spam_risk`.
    SpamRisk,
    /// PRODUCT.md: 409 `duplicate_content`, naming the earlier post.
    DuplicateContent { existing_post_id: Option<String> },
    /// PRODUCT.md: 422 `media_download_failed`.
    MediaDownloadFailed,
    /// Missing OAuth scopes; reconnect. PRODUCT.md: 502 `missing_permissions`.
    MissingPermissions,
    /// 403 ACCOUNT_DISCONNECTED or an expired token. Not in PRODUCT.md (502 like
    /// `missing_permissions` would fit: only reconnecting helps).
    AccountDisconnected,
    /// Zernio's per-minute limit (429 with Retry-After). PRODUCT.md: 429 `upstream_rate_limited`.
    RateLimited,
    /// Zernio's velocity cap (25 posts an hour per account) or an account cooldown: this
    /// account waits, the key and every other account do not. 429 `account_velocity_limited`.
    AccountVelocityLimited,
    /// Zernio down or unreachable, 5xx, unreadable answers. PRODUCT.md: 502 `upstream_unavailable`.
    Unavailable,
    /// The operation's circuit breaker is open after consecutive failures: refused without
    /// sending anything (`not_sent`), `retry_after` the time left of the cool-down. 503
    /// `upstream_unavailable`.
    CircuitOpen,
    /// Zernio refused the gateway's own key (401). Not in PRODUCT.md (502: the caller cannot
    /// fix it).
    Unauthorized,
    /// 402, e.g. `analytics_addon_required`. Not in PRODUCT.md.
    PaymentRequired,
    /// 404. Not in PRODUCT.md beyond "answers 404" for missing objects.
    NotFound,
    /// 409 other than duplicate content: `idempotency_conflict`, retry while publishing. Not in
    /// PRODUCT.md.
    Conflict,
    /// 400/422 not recognised above. Not in PRODUCT.md.
    Invalid,
    /// 403 ACCOUNT_NOT_ENABLED_FOR_POSTING, kept apart from [`UpstreamKind::Forbidden`] so that
    /// callers can switch on it. Not in PRODUCT.md.
    AccountNotEnabled,
    /// Any other 403 (PROFILE_OVER_LIMIT, permission_error). Not in PRODUCT.md.
    Forbidden,
    /// A 207 whose post is `partial` or `failed` for a reason not recognised above; the post is
    /// in [`UpstreamFailure::post`]. Not in PRODUCT.md.
    Partial,
    /// 202 from analytics: a sync is pending. Not in PRODUCT.md.
    AnalyticsPending,
}

impl UpstreamKind {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DailyLimitReached => "daily_limit_reached",
            Self::Timeout => "upstream_timeout",
            Self::PrivacyLevelUnavailable => "privacy_level_unavailable",
            Self::SpamRisk => "spam_risk",
            Self::DuplicateContent { .. } => "duplicate_content",
            Self::MediaDownloadFailed => "media_download_failed",
            Self::MissingPermissions => "missing_permissions",
            Self::AccountDisconnected => "account_disconnected",
            Self::RateLimited => "upstream_rate_limited",
            Self::AccountVelocityLimited => "account_velocity_limited",
            Self::Unavailable | Self::CircuitOpen => "upstream_unavailable",
            Self::Unauthorized => "upstream_unauthorized",
            Self::PaymentRequired => "analytics_addon_required",
            Self::NotFound => "not_found",
            Self::Conflict => "upstream_conflict",
            Self::Invalid => "upstream_invalid_request",
            Self::AccountNotEnabled => "account_not_enabled",
            Self::Forbidden => "upstream_forbidden",
            Self::Partial => "post_failed",
            Self::AnalyticsPending => "analytics_pending",
        }
    }

    /// What the caller can do about it; the first seven are the reference's "Fix" column.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::DailyLimitReached => {
                "Wait until limit resets (24h rolling) or post directly in TikTok app."
            }
            Self::Timeout => {
                "For large videos this can be normal. Check post status after a few minutes."
            }
            Self::PrivacyLevelUnavailable => {
                "Fetch creator info to get allowed privacy levels and use one of those."
            }
            Self::SpamRisk => {
                "Review content. TikTok's API moderation is stricter than the native app."
            }
            Self::DuplicateContent { .. } => "Modify the caption or media before retrying.",
            Self::MediaDownloadFailed => {
                "Ensure the URL is a direct download link, not a cloud storage sharing page."
            }
            Self::MissingPermissions => {
                "Reconnect the TikTok account with all required permissions."
            }
            Self::AccountDisconnected => "Reconnect the TikTok account, then retry.",
            Self::AccountVelocityLimited => {
                "Zernio allows 25 posts an hour per account; retry this account after Retry-After."
            }
            Self::RateLimited => {
                "Retry after the time given in Retry-After; calls to Zernio are held until then."
            }
            Self::Unavailable => "Retry later; Zernio could not be reached or failed.",
            Self::CircuitOpen => {
                "Zernio failed several times in a row; retry after the time given in Retry-After."
            }
            Self::Unauthorized => {
                "The gateway's Zernio API key was refused; an operator must check ZERNIO_API_KEY."
            }
            Self::PaymentRequired => "Enable Zernio's Analytics add-on for this workspace.",
            Self::NotFound => "Check the id: Zernio does not know this object.",
            Self::Conflict => {
                "Wait until the earlier request or the publication in progress finishes, then retry."
            }
            Self::Invalid => "Correct the request as the message says.",
            Self::AccountNotEnabled => "Enable the account for posting in Zernio, then retry.",
            Self::Forbidden => "Check the Zernio plan and the account's permissions.",
            Self::Partial => "Read the post's platform error, fix its cause, then retry the post.",
            Self::AnalyticsPending => "Zernio is syncing analytics; ask again in a few minutes.",
        }
    }
}

/// An upstream failure with everything Zernio said about it. The fields live in
/// [`UpstreamFailure`] behind one box (read and write them as `err.kind`, `err.message`, ...),
/// which keeps `Result<T, UpstreamError>` one pointer wide on the success path.
#[derive(Clone, thiserror::Error)]
#[error("zernio {}: {}", .0.kind.code(), .0.message)]
pub struct UpstreamError(Box<UpstreamFailure>);

/// The fields of an [`UpstreamError`].
#[derive(Debug, Clone)]
pub struct UpstreamFailure {
    pub kind: UpstreamKind,
    /// Zernio's HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    /// Zernio's `error` message, or ours when Zernio said nothing readable.
    pub message: String,
    /// Zernio's `X-Request-Id`.
    pub zernio_request_id: Option<String>,
    /// Zernio's `code` (or the failing platform's `errorCategory` in a 207).
    pub zernio_code: Option<String>,
    pub details: Option<Value>,
    /// From `Retry-After`, or the time left in the client's 429 pause.
    pub retry_after: Option<Duration>,
    /// The post of a 207 answer whose post failed (all 207-derived errors carry it).
    pub post: Option<Box<Post>>,
    /// Refused by the client before anything was sent (an open circuit breaker, the 429
    /// pause, an id or key that cannot be sent): Zernio cannot have acted on it.
    pub not_sent: bool,
    /// Whether the request may have taken effect although no readable answer says so: it was
    /// sent (or may have been) and what came back is not Zernio's refusal. False for anything
    /// refused before sending (a pause, a breaker, a bad header) and for Zernio's own errors.
    pub maybe_applied: bool,
}

impl std::ops::Deref for UpstreamError {
    type Target = UpstreamFailure;
    fn deref(&self) -> &UpstreamFailure {
        &self.0
    }
}

impl std::ops::DerefMut for UpstreamError {
    fn deref_mut(&mut self) -> &mut UpstreamFailure {
        &mut self.0
    }
}

impl std::fmt::Debug for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<UpstreamFailure> for UpstreamError {
    fn from(failure: UpstreamFailure) -> Self {
        UpstreamError(Box::new(failure))
    }
}

impl UpstreamError {
    pub fn new(kind: UpstreamKind, message: impl Into<String>) -> Self {
        UpstreamError::from(UpstreamFailure {
            kind,
            status: None,
            message: message.into(),
            zernio_request_id: None,
            zernio_code: None,
            details: None,
            retry_after: None,
            post: None,
            not_sent: false,
            maybe_applied: false,
        })
    }

    /// An error for a call refused before sending (see [`UpstreamFailure::not_sent`]).
    pub fn unsent(kind: UpstreamKind, message: impl Into<String>) -> Self {
        let mut e = UpstreamError::new(kind, message);
        e.not_sent = true;
        e
    }

    /// Whether a create that failed so may still have made its post: a timeout, a reset or
    /// any transport failure once the request was sent, a truncated or unreadable answer, a
    /// 502/503/504 from Zernio or anything in front of it, a 500 without Zernio's error
    /// shape. Such a create is looked up by its tag, never sent again. Not unknown: Zernio's
    /// own refusals (a 4xx with its `ErrorResponse`) and anything refused before it was sent.
    pub fn outcome_unknown(&self) -> bool {
        self.maybe_applied
    }

    /// The fields, unboxed.
    pub fn into_failure(self) -> UpstreamFailure {
        *self.0
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn fix(&self) -> &'static str {
        self.kind.fix()
    }

    /// Maps a non-success answer. `body` may be anything, JSON or not.
    pub fn from_answer(
        status: u16,
        body: &[u8],
        zernio_request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
        let signals = match &json {
            Some(v) => Signals::from_error_body(v),
            None => Signals::from_text(body),
        };
        let details = json.as_ref().and_then(|v| v.get("details")).cloned();
        let existing = json.as_ref().and_then(existing_post_id);
        let kind = signals
            .structured()
            .or_else(|| signals.by_message())
            .or_else(|| signals.by_type())
            .unwrap_or_else(|| by_status(status, existing.is_some()));
        let kind = with_existing(kind, existing);
        let message = signals
            .primary_message()
            .and_then(|raw| passable(raw, json.is_some(), status, &kind))
            .unwrap_or_else(|| format!("Zernio answered HTTP {status} ({})", kind.code()));
        // Zernio's own error answers carry `error`; a proxy's page or an empty 500 does not,
        // and says nothing about whether the request went through.
        let zernio_shaped = json
            .as_ref()
            .is_some_and(|v| v.get("error").is_some_and(|e| !e.is_null()));
        let maybe_applied = matches!(status, 408 | 502..=504)
            || (status >= 500 && !zernio_shaped)
            || kind == UpstreamKind::Timeout;
        UpstreamError::from(UpstreamFailure {
            kind,
            status: Some(status),
            message,
            zernio_request_id: zernio_request_id.filter(|id| token_like(id)),
            zernio_code: signals.code.clone().filter(|c| token_like(c)),
            details,
            retry_after,
            post: None,
            not_sent: false,
            maybe_applied,
        })
    }

    /// Maps a 207 (or any answer) whose post is `partial` or `failed`, reading the platforms'
    /// `errorCategory` and `errorMessage`. Returns `None` for a post in any other status.
    pub fn from_failed_post(
        status: u16,
        post: Post,
        zernio_request_id: Option<String>,
    ) -> Option<Self> {
        if !matches!(post.status, PostStatus::Partial | PostStatus::Failed) {
            return None;
        }
        let failing: Vec<_> = post
            .platforms
            .iter()
            .filter(|p| p.error_message.is_some() || p.error_category.is_some())
            .collect();
        let signals = Signals {
            messages: failing
                .iter()
                .filter_map(|p| p.error_message.clone())
                .collect(),
            code: failing.iter().find_map(|p| p.error_category.clone()),
            category: None,
            kind_type: None,
        };
        let kind = signals
            .structured()
            .or_else(|| signals.by_message())
            .unwrap_or(UpstreamKind::Partial);
        let message = signals
            .primary_message()
            .and_then(|raw| passable(raw, true, status, &kind))
            .unwrap_or_else(|| format!("The post is {}", post.status.as_str()));
        Some(UpstreamError::from(UpstreamFailure {
            kind,
            status: Some(status),
            message,
            zernio_request_id: zernio_request_id.filter(|id| token_like(id)),
            zernio_code: signals.code.filter(|c| token_like(c)),
            details: None,
            retry_after: None,
            post: Some(Box::new(post)),
            not_sent: false,
            maybe_applied: false,
        }))
    }

    /// A transport failure: no usable answer came. Built from the error's kind only, so no URL
    /// or header can leak into the message.
    pub(crate) fn transport(err: &reqwest::Error, waited: Duration) -> Self {
        let mut e = if err.is_timeout() {
            UpstreamError::new(
                UpstreamKind::Timeout,
                format!(
                    "Zernio did not answer within {:.1} s; the request may still take effect",
                    waited.as_secs_f64()
                ),
            )
        } else if err.is_connect() {
            UpstreamError::new(UpstreamKind::Unavailable, "Could not connect to Zernio")
        } else if err.is_body() || err.is_decode() {
            UpstreamError::new(
                UpstreamKind::Unavailable,
                "Zernio's answer broke off before it was complete",
            )
        } else {
            UpstreamError::new(
                UpstreamKind::Unavailable,
                "Transport error talking to Zernio",
            )
        };
        // A failed connect sent nothing; after that, the request may have reached Zernio.
        e.maybe_applied = !err.is_connect();
        e
    }
}

/// The longest upstream message passed on to callers.
pub const MAX_PASSED_MESSAGE: usize = 300;

/// Zernio's message if it may reach the caller, else `None` (the caller gets a message of the
/// gateway's own, naming the status and the mapped code). What passes: the `error` of a JSON
/// body (Zernio's `ErrorResponse`: its validation messages tell the caller what to correct), of
/// at most [`MAX_PASSED_MESSAGE`] characters, with nothing that names a machine: no URL, IP
/// address, `host:port`, internal host name or markup, and no control character. Anything else
/// (a proxy's HTML page, an internal address in a stack trace) goes to the log only, cut short.
fn passable(raw: String, from_json: bool, status: u16, kind: &UpstreamKind) -> Option<String> {
    if from_json && is_safe_text(&raw) {
        return Some(raw);
    }
    let shown: String = raw.chars().take(MAX_PASSED_MESSAGE).collect();
    tracing::warn!(
        status,
        code = kind.code(),
        upstream_message = %shown.escape_debug(),
        "Zernio's error message withheld from the caller"
    );
    None
}

/// Whether a text is short, plain, and names no machine (see [`passable`]).
pub fn is_safe_text(text: &str) -> bool {
    if text.trim().is_empty()
        || text.chars().count() > MAX_PASSED_MESSAGE
        || text
            .chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>'))
    {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains("localhost") {
        return false;
    }
    !lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"' | '\'' | '`'))
        .map(|t| t.trim_matches(|c: char| matches!(c, '.' | '!' | '?' | '[' | ']')))
        .any(names_a_machine)
}

/// An IPv4 or IPv6 address, `host:port`, or a host under a private suffix.
fn names_a_machine(token: &str) -> bool {
    const PRIVATE_SUFFIXES: [&str; 7] = [
        ".internal",
        ".local",
        ".localdomain",
        ".lan",
        ".corp",
        ".svc",
        ".cluster.local",
    ];
    if token.is_empty() {
        return false;
    }
    let ipv4 = token.split('.').count() == 4
        && token
            .split(['.', ':', '/'])
            .take(4)
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    // An address with a zone (`fe80::1%eth0`) is an address too.
    let address = token.split('%').next().unwrap_or(token);
    let ipv6 = address.matches(':').count() >= 2
        && address
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'%' | b'/'));
    let host_port = token.rsplit_once(':').is_some_and(|(host, port)| {
        host.contains('.')
            && !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
    });
    let private = PRIVATE_SUFFIXES.iter().any(|s| {
        token.ends_with(s) || token.contains(&format!("{s}:")) || token.contains(&format!("{s}/"))
    });
    ipv4 || ipv6 || host_port || private
}

/// An id or code fit to pass on: short, one token of plain characters.
fn token_like(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        && !names_a_machine(&text.to_ascii_lowercase())
}

/// The recognisable parts of an error body or a failed post.
struct Signals {
    messages: Vec<String>,
    code: Option<String>,
    category: Option<String>,
    kind_type: Option<String>,
}

impl Signals {
    fn from_error_body(v: &Value) -> Self {
        let mut messages = Vec::new();
        for key in ["error", "message"] {
            if let Some(m) = v.get(key).and_then(message_of) {
                messages.push(m);
            }
        }
        if let Some(m) = v.get("platformError").and_then(message_of) {
            messages.push(m);
        }
        let details = v.get("details").unwrap_or(&Value::Null);
        if let Some(m) = details.get("message").and_then(message_of) {
            messages.push(m);
        }
        // `error` may itself be an object carrying the code (older shape).
        let nested = v
            .get("error")
            .filter(|e| e.is_object())
            .unwrap_or(&Value::Null);
        Signals {
            messages,
            code: str_at(v, &["code"]).or_else(|| str_at(nested, &["code"])),
            category: str_at(v, &["errorCategory", "error_category"])
                .or_else(|| str_at(details, &["errorCategory", "error_category"])),
            kind_type: str_at(v, &["type"]).or_else(|| str_at(nested, &["type"])),
        }
    }

    fn from_text(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let messages = if text.is_empty() {
            Vec::new()
        } else {
            // Keep a proxy's HTML page from flooding logs and answers.
            vec![text.chars().take(300).collect()]
        };
        Signals {
            messages,
            code: None,
            category: None,
            kind_type: None,
        }
    }

    fn primary_message(&self) -> Option<String> {
        self.messages.first().cloned()
    }

    fn structured(&self) -> Option<UpstreamKind> {
        [&self.code, &self.category]
            .into_iter()
            .flatten()
            .find_map(|c| by_code(&c.to_ascii_lowercase()))
    }

    fn by_message(&self) -> Option<UpstreamKind> {
        self.messages
            .iter()
            .find_map(|m| by_message(&m.to_ascii_lowercase()))
    }

    fn by_type(&self) -> Option<UpstreamKind> {
        match self.kind_type.as_deref()?.to_ascii_lowercase().as_str() {
            "authentication_error" => Some(UpstreamKind::Unauthorized),
            "rate_limit_error" => Some(UpstreamKind::RateLimited),
            "not_found" | "not_found_error" => Some(UpstreamKind::NotFound),
            // invalid_request_error, permission_error, api_error and platform_error cover
            // several statuses (400/409, 403 subtypes); the status tells them apart better.
            _ => None,
        }
    }
}

/// Zernio `code`s, Zernio `errorCategory`s and TikTok error codes, lower-cased. Order matters:
/// TikTok's `spam_risk_too_many_posts` is the daily cap, not a moderation flag.
fn by_code(c: &str) -> Option<UpstreamKind> {
    let has = |s: &str| c.contains(s);
    let kind = if has("too_many_posts")
        || has("pending_share")
        || (has("daily") && has("limit"))
        || has("posting_limit")
    {
        UpstreamKind::DailyLimitReached
    } else if has("velocity") || has("cooldown") {
        UpstreamKind::AccountVelocityLimited
    } else if has("duplicate") {
        UpstreamKind::DuplicateContent {
            existing_post_id: None,
        }
    } else if has("privacy_level") {
        UpstreamKind::PrivacyLevelUnavailable
    } else if has("spam") || has("content_policy") || has("moderation") {
        UpstreamKind::SpamRisk
    } else if has("pull_failed") || has("download") || has("url_ownership") {
        UpstreamKind::MediaDownloadFailed
    } else if has("auth_removed") || has("scope") || has("missing_permission") {
        UpstreamKind::MissingPermissions
    } else if has("disconnected") || has("token_expired") || has("reauth") || has("reconnect") {
        UpstreamKind::AccountDisconnected
    } else if has("account_not_enabled") {
        UpstreamKind::AccountNotEnabled
    } else if has("profile_over_limit") {
        UpstreamKind::Forbidden
    } else if has("addon_required") || has("payment_required") {
        UpstreamKind::PaymentRequired
    } else if has("idempotency") {
        UpstreamKind::Conflict
    } else if has("timeout") || has("timed_out") {
        UpstreamKind::Timeout
    } else if has("invalid_credentials") || has("missing_credentials") || has("invalid_api_key") {
        UpstreamKind::Unauthorized
    } else {
        return None;
    };
    Some(kind)
}

/// The reference's "Common Errors" table, by message (lower-cased).
fn by_message(m: &str) -> Option<UpstreamKind> {
    let has = |s: &str| m.contains(s);
    let kind = if has("too many posts in the last 24 hours")
        || has("too_many_posts")
        || (has("daily") && has("limit"))
        || has("posting limit")
    {
        // e.g. creator-info's 429: "TikTok creator has reached the daily posting limit".
        UpstreamKind::DailyLimitReached
    } else if has("velocity")
        || has("cooldown")
        || has("posts per hour")
        || has("posts/hour")
        || has("posts an hour")
    {
        UpstreamKind::AccountVelocityLimited
    } else if has("timeout waiting for platform response") {
        UpstreamKind::Timeout
    } else if has("privacy level") && has("not available") {
        UpstreamKind::PrivacyLevelUnavailable
    } else if has("duplicate content detected") {
        UpstreamKind::DuplicateContent {
            existing_post_id: None,
        }
    } else if has("spam_risk") || has("flagged") {
        UpstreamKind::SpamRisk
    } else if has("download failed") || has("video_pull_failed") || has("photo_pull_failed") {
        UpstreamKind::MediaDownloadFailed
    } else if has("missing required tiktok permissions") || has("auth_removed") || has("scope") {
        UpstreamKind::MissingPermissions
    } else {
        return None;
    };
    Some(kind)
}

fn by_status(status: u16, has_existing_post: bool) -> UpstreamKind {
    match status {
        400 | 422 => UpstreamKind::Invalid,
        401 => UpstreamKind::Unauthorized,
        402 => UpstreamKind::PaymentRequired,
        403 => UpstreamKind::Forbidden,
        404 | 410 => UpstreamKind::NotFound,
        408 => UpstreamKind::Timeout,
        409 if has_existing_post => UpstreamKind::DuplicateContent {
            existing_post_id: None,
        },
        409 => UpstreamKind::Conflict,
        429 => UpstreamKind::RateLimited,
        // A gateway timeout in front of Zernio: the request may have gone through, so it must be
        // treated like our own timeout (look the post up, never re-send).
        504 => UpstreamKind::Timeout,
        405..=499 => UpstreamKind::Invalid,
        _ => UpstreamKind::Unavailable,
    }
}

fn existing_post_id(v: &Value) -> Option<String> {
    let details = v.get("details").unwrap_or(&Value::Null);
    str_at(details, &["existingPostId", "existing_post_id", "postId"])
        .or_else(|| str_at(v, &["existingPostId"]))
}

fn with_existing(kind: UpstreamKind, existing: Option<String>) -> UpstreamKind {
    match kind {
        UpstreamKind::DuplicateContent { .. } => UpstreamKind::DuplicateContent {
            existing_post_id: existing,
        },
        other => other,
    }
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past is zero.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(1e9)));
        }
        return None;
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(status: u16, body: Value) -> UpstreamError {
        UpstreamError::from_answer(
            status,
            body.to_string().as_bytes(),
            Some("req-1".into()),
            None,
        )
    }

    #[test]
    fn an_outcome_is_unknown_only_when_the_request_may_have_taken_effect() {
        let raw = |status: u16, body: &[u8]| UpstreamError::from_answer(status, body, None, None);
        // Something in between answered, or Zernio failed without saying what.
        for status in [502, 503, 504, 408] {
            assert!(
                map(status, json!({"error": "x"})).outcome_unknown(),
                "{status}"
            );
            assert!(raw(status, b"<html>Bad Gateway</html>").outcome_unknown());
        }
        assert!(raw(500, b"<html>Internal Server Error</html>").outcome_unknown());
        assert!(raw(500, b"").outcome_unknown());
        assert!(map(500, json!({"message": "no error member"})).outcome_unknown());
        // Zernio's own answers: it said what happened.
        assert!(
            !map(500, json!({"error": "Internal error", "type": "api_error"})).outcome_unknown()
        );
        for status in [400, 401, 403, 404, 409, 422, 429] {
            assert!(
                !map(status, json!({"error": "refused"})).outcome_unknown(),
                "{status}"
            );
        }
        // Refused before sending (a pause, a breaker): nothing was sent.
        assert!(!UpstreamError::new(UpstreamKind::Unavailable, "open").outcome_unknown());
        assert!(!UpstreamError::new(UpstreamKind::RateLimited, "paused").outcome_unknown());
    }

    fn failed_post(message: &str, category: Option<&str>) -> Post {
        serde_json::from_value(json!({
            "_id": "p1", "status": "failed",
            "platforms": [{"platform": "tiktok", "accountId": "a", "status": "failed",
                           "errorMessage": message, "errorCategory": category}]
        }))
        .unwrap()
    }

    // One test per row of the reference's "Common Errors" table, by message alone.

    #[test]
    fn row_daily_limit() {
        let e = map(
            429,
            json!({"error": "You have created too many posts in the last 24 hours via the API."}),
        );
        assert_eq!(e.kind, UpstreamKind::DailyLimitReached);
        assert_eq!(e.code(), "daily_limit_reached");
        assert_eq!(
            e.fix(),
            "Wait until limit resets (24h rolling) or post directly in TikTok app."
        );
        assert_eq!(e.zernio_request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn row_platform_timeout() {
        let e = map(
            500,
            json!({"error": "Publishing failed during platform API call (timeout waiting for platform response)"}),
        );
        assert_eq!(e.kind, UpstreamKind::Timeout);
        assert_eq!(e.code(), "upstream_timeout");
    }

    #[test]
    fn row_privacy_level() {
        let e = map(
            400,
            json!({"error": "Selected privacy level 'PUBLIC_TO_EVERYONE' is not available for this creator. Available options: SELF_ONLY", "type": "invalid_request_error"}),
        );
        assert_eq!(e.kind, UpstreamKind::PrivacyLevelUnavailable);
        assert_eq!(e.code(), "privacy_level_unavailable");
        assert!(
            e.message
                .starts_with("Selected privacy level 'PUBLIC_TO_EVERYONE'")
        );
    }

    #[test]
    fn row_spam_risk() {
        let e = map(
            400,
            json!({"error": "TikTok flagged this post as potentially risky (spam_risk)"}),
        );
        assert_eq!(e.kind, UpstreamKind::SpamRisk);
        assert_eq!(e.code(), "spam_risk");
    }

    #[test]
    fn row_duplicate_content() {
        let e = map(
            409,
            json!({"error": "Duplicate content detected.", "details": {"accountId": "a", "platform": "tiktok", "existingPostId": "p0"}}),
        );
        assert_eq!(
            e.kind,
            UpstreamKind::DuplicateContent {
                existing_post_id: Some("p0".into())
            }
        );
        assert_eq!(e.code(), "duplicate_content");
        assert_eq!(e.details.as_ref().unwrap()["accountId"], "a");
    }

    #[test]
    fn row_download_failed() {
        let e = map(
            400,
            json!({"error": "TikTok video upload failed: Your video URL returned an error (download failed)"}),
        );
        assert_eq!(e.kind, UpstreamKind::MediaDownloadFailed);
        assert_eq!(e.code(), "media_download_failed");
    }

    #[test]
    fn row_missing_permissions() {
        let e = map(
            403,
            json!({"error": "Missing required TikTok permissions. Please reconnect with all required scopes."}),
        );
        assert_eq!(e.kind, UpstreamKind::MissingPermissions);
        assert_eq!(e.code(), "missing_permissions");
    }

    // Structured fields first.

    #[test]
    fn code_beats_message_and_tiktok_spam_risk_too_many_posts_is_the_daily_cap() {
        let e = map(
            400,
            json!({"error": "spam_risk_too_many_posts", "code": "spam_risk_too_many_posts"}),
        );
        assert_eq!(e.kind, UpstreamKind::DailyLimitReached);
        let e = map(
            422,
            json!({"error": "Something else", "code": "privacy_level_option_mismatch"}),
        );
        assert_eq!(e.kind, UpstreamKind::PrivacyLevelUnavailable);
        assert_eq!(
            e.zernio_code.as_deref(),
            Some("privacy_level_option_mismatch")
        );
        let e = map(
            400,
            json!({"error": "x", "errorCategory": "video_pull_failed"}),
        );
        assert_eq!(e.kind, UpstreamKind::MediaDownloadFailed);
    }

    #[test]
    fn daily_limit_429_is_not_the_per_minute_limit() {
        let e = map(
            429,
            json!({"error": "You have created too many posts in the last 24 hours via the API.", "type": "rate_limit_error"}),
        );
        assert_eq!(e.kind, UpstreamKind::DailyLimitReached);
    }

    // Per status.

    #[test]
    fn status_401_with_only_error() {
        let e = map(401, json!({"error": "Unauthorized"}));
        assert_eq!(e.kind, UpstreamKind::Unauthorized);
        assert_eq!(e.code(), "upstream_unauthorized");
        assert_eq!(e.message, "Unauthorized");
    }

    #[test]
    fn status_402_addon() {
        let e = map(
            402,
            json!({"error": "Analytics add-on required", "code": "analytics_addon_required"}),
        );
        assert_eq!(e.kind, UpstreamKind::PaymentRequired);
        assert_eq!(e.code(), "analytics_addon_required");
        let e = map(402, json!({}));
        assert_eq!(e.kind, UpstreamKind::PaymentRequired);
    }

    #[test]
    fn status_403_codes() {
        let e = map(
            403,
            json!({"error": "Account disconnected", "code": "ACCOUNT_DISCONNECTED", "type": "permission_error"}),
        );
        assert_eq!(e.kind, UpstreamKind::AccountDisconnected);
        assert_eq!(e.code(), "account_disconnected");
        let e = map(
            403,
            json!({"error": "Not enabled", "code": "ACCOUNT_NOT_ENABLED_FOR_POSTING"}),
        );
        assert_eq!(e.kind, UpstreamKind::AccountNotEnabled);
        assert_eq!(e.code(), "account_not_enabled");
        let e = map(
            403,
            json!({"error": "Too many profiles", "code": "PROFILE_OVER_LIMIT"}),
        );
        assert_eq!(e.kind, UpstreamKind::Forbidden);
        assert_eq!(e.code(), "upstream_forbidden");
        let e = map(403, json!({"error": "nope", "type": "permission_error"}));
        assert_eq!(e.kind, UpstreamKind::Forbidden);
    }

    #[test]
    fn status_404_with_only_error() {
        let e = map(404, json!({"error": "Post not found"}));
        assert_eq!(e.kind, UpstreamKind::NotFound);
        assert_eq!(e.code(), "not_found");
    }

    #[test]
    fn status_409_variants() {
        let e = map(
            409,
            json!({"error": "Conflict", "details": {"existingPostId": "p9"}}),
        );
        assert_eq!(
            e.kind,
            UpstreamKind::DuplicateContent {
                existing_post_id: Some("p9".into())
            }
        );
        let e = map(
            409,
            json!({"error": "A request with this key is in progress", "code": "idempotency_conflict"}),
        );
        assert_eq!(e.kind, UpstreamKind::Conflict);
        assert_eq!(e.code(), "upstream_conflict");
        let e = map(409, json!({"error": "Post is currently publishing"}));
        assert_eq!(e.kind, UpstreamKind::Conflict);
    }

    #[test]
    fn status_400_and_422_invalid() {
        assert_eq!(
            map(400, json!({"error": "content is required"})).kind,
            UpstreamKind::Invalid
        );
        assert_eq!(
            map(422, json!({"error": "bad"})).kind,
            UpstreamKind::Invalid
        );
        assert_eq!(map(400, json!({})).code(), "upstream_invalid_request");
    }

    #[test]
    fn status_429_rate_limited() {
        let e = UpstreamError::from_answer(
            429,
            br#"{"error":"Rate limit exceeded","type":"rate_limit_error"}"#,
            None,
            Some(Duration::from_secs(3)),
        );
        assert_eq!(e.kind, UpstreamKind::RateLimited);
        assert_eq!(e.code(), "upstream_rate_limited");
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn status_5xx_and_non_json_bodies() {
        let e = UpstreamError::from_answer(502, b"<html>Bad gateway</html>", None, None);
        assert_eq!(e.kind, UpstreamKind::Unavailable);
        assert_eq!(e.message, "Zernio answered HTTP 502 (upstream_unavailable)");
        let e = UpstreamError::from_answer(500, b"", None, None);
        assert_eq!(e.kind, UpstreamKind::Unavailable);
        assert_eq!(e.message, "Zernio answered HTTP 500 (upstream_unavailable)");
        assert_eq!(
            UpstreamError::from_answer(503, b"\xff\xfe", None, None).kind,
            UpstreamKind::Unavailable
        );
        assert_eq!(
            UpstreamError::from_answer(504, b"[1,2]", None, None).kind,
            UpstreamKind::Timeout
        );
        let long = "x".repeat(5000);
        assert_eq!(
            UpstreamError::from_answer(500, long.as_bytes(), None, None).message,
            "Zernio answered HTTP 500 (upstream_unavailable)"
        );
    }

    #[test]
    fn only_plain_zernio_messages_reach_the_caller() {
        // Zernio's own validation message passes: it says what to correct.
        let e = map(
            400,
            json!({"error": "content is required when mediaItems is empty", "type": "invalid_request_error"}),
        );
        assert_eq!(e.message, "content is required when mediaItems is empty");
        // Anything naming a machine, markup, or too long is replaced by the mapped code.
        for raw in [
            "connect ECONNREFUSED 10.0.3.7:5432",
            "upstream error at http://zernio-api.internal/v1/posts",
            "fetch failed: 169.254.169.254 unreachable",
            "db-primary.prod.svc:6379 timed out",
            "mongo.cluster.local refused",
            "fe80::1%eth0 unreachable",
            "<html><body>502 Bad Gateway</body></html>",
            "line one\nline two",
        ] {
            let e = map(500, json!({"error": raw}));
            assert_eq!(
                e.message, "Zernio answered HTTP 500 (upstream_unavailable)",
                "{raw}"
            );
        }
        let long = "word ".repeat(100);
        let e = map(400, json!({"error": long}));
        assert_eq!(
            e.message,
            "Zernio answered HTTP 400 (upstream_invalid_request)"
        );
        // The classification still reads the raw text.
        let e = map(
            400,
            json!({"error": "Duplicate content detected at https://internal.example/x"}),
        );
        assert!(matches!(e.kind, UpstreamKind::DuplicateContent { .. }));
        assert_eq!(e.message, "Zernio answered HTTP 400 (duplicate_content)");
        // Codes and request ids pass only as plain tokens.
        let e = UpstreamError::from_answer(
            400,
            br#"{"error":"bad","code":"<b>x</b>"}"#,
            Some("10.1.2.3:80".into()),
            None,
        );
        assert_eq!(e.zernio_code, None);
        assert_eq!(e.zernio_request_id, None);
        for ok in [
            "Selected privacy level 'PUBLIC_TO_EVERYONE' is not available for this creator. Available options: SELF_ONLY",
            "TikTok video upload failed: Your video URL returned an error (download failed)",
            "Scheduled for 2026-05-01T18:30:00Z, which is in the past.",
            "video.mp4 is not a supported format",
        ] {
            assert!(is_safe_text(ok), "{ok}");
        }
    }

    #[test]
    fn error_as_object_older_shape() {
        let e = map(
            400,
            json!({"error": {"message": "Duplicate content detected.", "code": "duplicate"}}),
        );
        assert!(matches!(e.kind, UpstreamKind::DuplicateContent { .. }));
        assert_eq!(e.message, "Duplicate content detected.");
    }

    // 207 bodies.

    #[test]
    fn failed_post_uses_platform_error() {
        let post = failed_post(
            "TikTok flagged this post as potentially risky (spam_risk)",
            None,
        );
        let e = UpstreamError::from_failed_post(207, post, None).unwrap();
        assert_eq!(e.kind, UpstreamKind::SpamRisk);
        assert_eq!(e.post.as_ref().unwrap().id, "p1");
        let post = failed_post("whatever", Some("auth_removed"));
        assert_eq!(
            UpstreamError::from_failed_post(207, post, None)
                .unwrap()
                .kind,
            UpstreamKind::MissingPermissions
        );
    }

    #[test]
    fn partial_and_unrecognised_failed_post_are_partial() {
        let post: Post = serde_json::from_value(json!({"_id": "p2", "status": "partial", "platforms": [
            {"platform": "tiktok", "status": "published"}, {"platform": "x", "status": "failed", "errorMessage": "x broke"}
        ]}))
        .unwrap();
        let e = UpstreamError::from_failed_post(207, post, Some("r".into())).unwrap();
        assert_eq!(e.kind, UpstreamKind::Partial);
        assert_eq!(e.code(), "post_failed");
        assert_eq!(e.message, "x broke");
        assert_eq!(e.status, Some(207));
        let post = failed_post("Unknown platform failure", None);
        assert_eq!(
            UpstreamError::from_failed_post(207, post, None)
                .unwrap()
                .kind,
            UpstreamKind::Partial
        );
        let scheduled: Post =
            serde_json::from_value(json!({"_id": "p3", "status": "scheduled"})).unwrap();
        assert!(UpstreamError::from_failed_post(207, scheduled, None).is_none());
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
