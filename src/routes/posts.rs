//! TikTok posts in the gateway's own shape: validate, create, read, list, edit, cancel, retry.
//! Every post route is held to the caller's tenant: another tenant's post is a 404, exactly like
//! a post that does not exist.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::{PostsRead, PostsWrite};
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::limits::idempotency::IdempotencyKey;
use crate::pipeline::{self, CreateRequest};
use crate::routes::conditional::{self, ReadHeaders};
use crate::routes::schemas::NativePost;
use crate::store::{PostCursor, PostFilter, PostRecord};
use crate::tiktok::{self, Shape};
use crate::zernio;

/// Something the gateway changed on the way, e.g. the photo title it built.
#[derive(Serialize, ToSchema)]
pub struct WarningDoc {
    #[schema(example = "title")]
    pub field: String,
    #[schema(example = "title_adjusted")]
    pub code: String,
    pub message: String,
}

/// A violation of one rule; a refusal lists all of them.
#[derive(Serialize, ToSchema)]
pub struct ViolationDoc {
    #[schema(example = "caption")]
    pub field: String,
    #[schema(example = "caption_too_long")]
    pub code: String,
    pub message: String,
    pub fix: String,
}

#[derive(Serialize, ToSchema)]
pub struct Validated {
    #[schema(example = true)]
    pub valid: bool,
    /// Exactly the body the gateway would send to Zernio's `POST /v1/posts`.
    #[schema(value_type = Object)]
    pub zernio_payload: serde_json::Value,
    #[schema(value_type = Vec<WarningDoc>)]
    pub warnings: Vec<tiktok::Warning>,
    /// What the media probe found of each media item (`[media] probe`); empty when it is off.
    pub media: Vec<ProbedMedia>,
}

impl Validated {
    /// The answer of a validate endpoint, whichever shape it read.
    pub fn of(prepared: tiktok::Prepared) -> Validated {
        Validated {
            valid: true,
            zernio_payload: prepared.payload,
            warnings: prepared.warnings,
            media: prepared.probed.iter().map(ProbedMedia::of).collect(),
        }
    }
}

/// One media item as the probe found it: the file's own headers, not what the request declared.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbedMedia {
    #[schema(example = "video.url")]
    pub field: String,
    #[schema(example = "https://cdn.example.com/sunset-video.mp4")]
    pub url: String,
    /// `ok` (the file was read), `status` (it answered something else than 2xx), `unreachable`
    /// or `timeout`.
    #[schema(example = "ok")]
    pub outcome: &'static str,
    /// The status it answered, when it answered.
    #[schema(example = 206)]
    pub status: Option<u16>,
    /// The format its first bytes show: jpeg, png, webp, mp4, mov, webm, heic, avif, html,
    /// unknown (absent in `headers` mode).
    #[schema(example = "mp4")]
    pub format: Option<String>,
    #[schema(example = "video/mp4")]
    pub content_type: Option<String>,
    #[schema(example = 4_718_592)]
    pub size_bytes: Option<u64>,
    #[schema(example = 1080)]
    pub width: Option<u64>,
    #[schema(example = 1920)]
    pub height: Option<u64>,
    #[schema(example = 15_000)]
    pub duration_ms: Option<u64>,
    #[schema(example = 30.0)]
    pub fps: Option<f64>,
    #[schema(example = "H.264")]
    pub codec: Option<String>,
    /// Why it could not be read, for `unreachable` and `timeout`.
    pub reason: Option<String>,
}

impl ProbedMedia {
    pub(crate) fn of(probed: &tiktok::media_rules::Probed) -> Self {
        use tiktok::media_rules::Outcome;
        let mut view = ProbedMedia {
            field: probed.field.clone(),
            url: probed.url.clone(),
            outcome: "ok",
            status: None,
            format: None,
            content_type: None,
            size_bytes: None,
            width: None,
            height: None,
            duration_ms: None,
            fps: None,
            codec: None,
            reason: None,
        };
        match &probed.outcome {
            Outcome::Found(found) => {
                view.status = Some(found.status);
                view.format = found.container.and_then(|c| {
                    serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                });
                view.content_type = found.content_type.clone();
                view.size_bytes = found.size_bytes;
                view.width = found.width;
                view.height = found.height;
                view.duration_ms = found.duration_ms;
                view.fps = found.fps.map(|f| (f * 100.0).round() / 100.0);
                view.codec = found.codec.as_ref().map(|c| c.name());
            }
            Outcome::Status { status, .. } => {
                view.outcome = "status";
                view.status = Some(*status);
            }
            Outcome::Unreachable { reason, timed_out } => {
                view.outcome = if *timed_out { "timeout" } else { "unreachable" };
                view.reason = Some(reason.clone());
            }
        }
        view
    }
}

/// A post as the gateway shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostView {
    /// Zernio's post id (the gateway's own id for a create still `pending`, and for one never
    /// found; that id reads Zernio's post once it is found).
    #[schema(example = "65f1c0a1b2c3d4e5f6a7b8c9")]
    pub id: String,
    #[schema(example = "sandbox_public")]
    pub account: String,
    /// Zernio's status: draft, scheduled, publishing, published, partial, failed, cancelled; or
    /// `pending` while a create's outcome is unknown (see the create's 202).
    #[schema(example = "published")]
    pub status: String,
    /// `video` or `photo`.
    #[schema(example = "video")]
    pub kind: String,
    /// `now`, `scheduled`, `draft` (sent to the Creator Inbox) or `saved` (a Zernio draft, made
    /// through `/api/v1/posts` with no time: kept in Zernio, not sent to TikTok).
    #[schema(example = "now")]
    pub mode: String,
    pub schedule_at: Option<DateTime<Utc>>,
    /// The TikTok URL once TikTok has published it (it may come later than the status).
    pub tiktok_url: Option<String>,
    /// Why TikTok refused or failed the post.
    pub error: Option<String>,
    /// The stable code of `error`, as the create endpoint names it (e.g. `spam_risk`).
    #[schema(example = json!(null))]
    pub error_code: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the gateway's record of the post last changed.
    pub updated_at: DateTime<Utc>,
    /// When Zernio last confirmed the record (an answer, a webhook, a reconcile read).
    pub synced_at: Option<DateTime<Utc>>,
    #[schema(value_type = Vec<WarningDoc>)]
    pub warnings: Vec<tiktok::Warning>,
}

impl PostView {
    pub fn from_record(record: &PostRecord) -> PostView {
        PostView {
            id: record.id.clone(),
            account: record.account.clone(),
            status: record.status.clone(),
            kind: record.kind.clone(),
            mode: record.mode.clone(),
            schedule_at: record.schedule_at,
            tiktok_url: record.tiktok_url.clone(),
            error: record.error.clone(),
            error_code: record.sync.error_code.clone(),
            created_at: record.created_at,
            updated_at: record.updated_at(),
            synced_at: record.sync.synced_at,
            warnings: Vec::new(),
        }
    }

    /// The record, with what Zernio says now.
    pub fn from_upstream(record: &PostRecord, post: &zernio::Post) -> PostView {
        let mut view = PostView::from_record(record);
        view.status = post.status.as_str().to_owned();
        if let Some(tiktok) = post.tiktok() {
            if let Some(url) = tiktok.platform_post_url.clone().filter(|u| !u.is_empty()) {
                view.tiktok_url = Some(url);
            }
            if let Some(message) = tiktok.error_message.clone() {
                view.error = Some(message);
            }
        }
        // Zernio stamps every post with a time; only a scheduled one has a schedule.
        if record.mode == "scheduled" && post.scheduled_for.is_some() {
            view.schedule_at = post.scheduled_for;
        }
        view
    }
}

/// A page of posts, newest first.
#[derive(Serialize, ToSchema)]
pub struct PostPage {
    pub items: Vec<PostView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(crate::http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

/// Runs the whole pipeline without sending: the exact Zernio payload, warnings, or every
/// violation at once. The creator's current constraints are looked up, as for a create.
#[utoipa::path(post, path = "/v1/tiktok/posts/validate", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = NativePost, content_type = "application/json", example = json!({
        "account": "sandbox_private",
        "caption": "Behind the scenes #launch",
        "video": {"url": "https://cdn.example.com/behind-the-scenes.mp4"},
        "privacy": "followers", "allow_comment": true, "allow_duet": false, "allow_stitch": false,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })),
    responses(
        (status = 200, description = "The post is valid; this is what would be sent", body = Validated),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope, or an account of another tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `errors` lists every violation", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn validate(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<ApiJson<Validated>, ApiError> {
    let prepared =
        pipeline::prepare(&state, &auth, Shape::Native, &body, &request_id(&headers)).await?;
    Ok(ApiJson(Validated::of(prepared)))
}

/// Creates a post: publish now, schedule (`schedule_at`), or send to the Creator Inbox (`draft`).
#[utoipa::path(post, path = "/v1/tiktok/posts", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h replays the first answer")),
    request_body(content = NativePost, content_type = "application/json", example = json!({
        "account": "sandbox_public",
        "caption": "Check out this amazing sunset! #sunset #nature",
        "video": {"url": "https://cdn.example.com/sunset-video.mp4", "cover_timestamp_ms": 3000},
        "privacy": "public", "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })),
    responses(
        (status = 201, description = "Created", body = PostView),
        (status = 202, description = "`status: pending`: Zernio's outcome is unknown (its answer was lost); the post is looked up by its tag and never sent twice. Poll `Location` (with `Cache-Control: no-cache` to look now) or retry with the same Idempotency-Key; it becomes Zernio's post, or `failed` with `upstream_outcome_unknown` after `[reconcile] pending_window_secs`", body = PostView, headers(("Location" = String, description = "The post to poll"))),
        (status = 400, description = "The body is not JSON, or a bad Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope, or an account of another tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`duplicate_content`, or `idempotency_conflict` while the first request runs", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, or TikTok refused the post (`spam_risk`, `privacy_level_unavailable`, ...)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`daily_limit_reached`, `rate_limited` or `upstream_rate_limited`, with Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed or the account needs reconnecting", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    key: Option<axum::Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let request_id = request_id(&headers);
    let created = pipeline::create(
        &state,
        &auth,
        CreateRequest {
            shape: Shape::Native,
            body: &body,
            request_id: &request_id,
            idempotency_key: key.as_ref().map(|k| k.0.0.as_str()),
        },
    )
    .await?;
    let mut view = match &created.post {
        Some(post) => PostView::from_upstream(&created.record, post),
        None => PostView::from_record(&created.record),
    };
    view.warnings = created.warnings;
    let location = format!("/v1/tiktok/posts/{}", view.id);
    // 202: Zernio's outcome is unknown; the post is `pending` under this id until it is found
    // (then the id reads Zernio's post) or the window ends (`failed`).
    let status = if created.pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, [(header::LOCATION, location)], ApiJson(view)).into_response())
}

pub use crate::posts::owned;

/// One post with its TikTok status, URL and error, from the gateway's record (which Zernio's
/// webhooks and the reconciler keep true): no call to Zernio. `Cache-Control: no-cache` (or
/// `max-age=N`) asks Zernio when the record is older, for one unit of the upstream budget;
/// `If-None-Match` answers 304 while the post is unchanged, and with `Prefer: wait=N` the
/// answer waits up to N seconds (at most 60) for a change.
#[utoipa::path(get, path = "/v1/tiktok/posts/{id}", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    params(
        ("id" = String, Path, description = "The post id"),
        ("Cache-Control" = Option<String>, Header, description = "`no-cache` or `max-age=N`: read Zernio when the record is older"),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of an earlier answer: 304 while the post is unchanged"),
        ("Prefer" = Option<String>, Header, description = "`wait=N` (N <= 60) with If-None-Match: hold the answer until the post changes or N seconds pass"),
    ),
    responses(
        (status = 200, description = "The post", body = PostView, headers(("ETag" = String, description = "The post's state"))),
        (status = 304, description = "Unchanged since the ETag given", headers(("ETag" = String, description = "The post's state"))),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed (only a read that asked it)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let read = ReadHeaders::of(&headers);
    let tenant = &auth.tenant.id;
    let mut record =
        crate::posts::read(&state, tenant, &id, read.freshness, &request_id(&headers)).await?;
    let mut tag = conditional::etag(&record);
    let waited = match read.wait {
        Some(wait) if read.has(&tag) => {
            let wait = wait.min(longest_wait(&state));
            record =
                crate::posts::wait_for_change(&state, tenant, &id, &tag, wait, conditional::etag)
                    .await?;
            tag = conditional::etag(&record);
            Some(wait)
        }
        _ => None,
    };
    if read.has(&tag) {
        state.metrics.read_model().read("not_modified");
        return Ok(conditional::not_modified(&tag, waited));
    }
    let mut response = ApiJson(PostView::from_record(&record)).into_response();
    conditional::decorate(response.headers_mut(), &tag, waited);
    Ok(response)
}

/// A wait ends before the request's own deadline cuts it.
fn longest_wait(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_secs(state.config.http.request_timeout_secs.saturating_sub(1))
        .min(conditional::MAX_WAIT)
}

/// One status change of a post.
#[derive(Serialize, ToSchema)]
pub struct PostEventView {
    #[schema(example = "published")]
    pub status: String,
    /// The status before; absent on the creation.
    #[schema(example = "publishing")]
    pub previous: Option<String>,
    /// When the change held, as its source dated it.
    pub at: DateTime<Utc>,
    /// When the gateway recorded it.
    pub recorded_at: DateTime<Utc>,
    /// `create`, `webhook`, `reconcile`, `read` (a `no-cache` read), `edit`, `cancel`, `retry`.
    #[schema(example = "webhook")]
    pub source: String,
    /// The stable code of a failure.
    pub error_code: Option<String>,
}

/// A post's history, oldest first.
#[derive(Serialize, ToSchema)]
pub struct PostEvents {
    pub items: Vec<PostEventView>,
}

/// Every status change of the post, with its time and source, oldest first (the creation,
/// then the last 100 changes).
#[utoipa::path(get, path = "/v1/tiktok/posts/{id}/events", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "The post's history", body = PostEvents),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    Path(id): Path<String>,
) -> Result<ApiJson<PostEvents>, ApiError> {
    let record = crate::posts::owned(&state, &auth.tenant.id, &id).await?;
    let changes = state.store.post_events(&record.id).await?;
    // The creation is not stored as a change: the first change names the status it left.
    let first = changes
        .first()
        .and_then(|e| e.previous.clone())
        .unwrap_or_else(|| record.status.clone());
    // With no change since, the record's code is the creation's: a post that failed at create.
    let first_code = changes
        .is_empty()
        .then(|| record.sync.error_code.clone())
        .flatten();
    let mut items = vec![PostEventView {
        status: first,
        previous: None,
        at: record.created_at,
        recorded_at: record.created_at,
        source: "create".to_owned(),
        error_code: first_code,
    }];
    items.extend(changes.into_iter().map(|e| PostEventView {
        status: e.status,
        previous: e.previous,
        at: e.at,
        recorded_at: e.recorded_at,
        source: e.source.as_str().to_owned(),
        error_code: e.error_code,
    }));
    Ok(ApiJson(PostEvents { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only posts in this status.
    pub status: Option<String>,
    /// Only posts of this account.
    pub account: Option<String>,
    /// Only posts created at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn encode_cursor(record: &PostRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        record.created_at.timestamp_millis(),
        record.id
    ))
}

fn decode_cursor(cursor: &str) -> Option<PostCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ms, id) = text.split_once(':')?;
    Some(PostCursor {
        created_at: DateTime::from_timestamp_millis(ms.parse().ok()?)?,
        id: id.to_owned(),
    })
}

/// The tenant's posts, newest first, in cursor pages; each item's `id` is unique, so an
/// automation polling this list sees each post once.
#[utoipa::path(get, path = "/v1/tiktok/posts", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of posts", body = PostPage, headers(("ETag" = String, description = "The page's state"))),
        (status = 304, description = "Unchanged since the ETag given (`If-None-Match`)"),
        (status = 400, description = "A bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 100",
        ));
    }
    let after =
        match &query.cursor {
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor is not one we gave")
            })?),
            None => None,
        };
    let filter = PostFilter {
        status: query.status.clone(),
        account: query.account.clone(),
        since: query.since,
        until: None,
    };
    // One more than asked tells whether there is a next page.
    let mut records = state
        .store
        .posts(&auth.tenant.id, &filter, after.as_ref(), limit + 1)
        .await?;
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next_cursor = more.then(|| records.last().map(encode_cursor)).flatten();
    let tag = conditional::page_etag(records.iter(), next_cursor.as_deref());
    if ReadHeaders::of(&headers).has(&tag) {
        return Ok(conditional::not_modified(&tag, None));
    }
    let mut response = ApiJson(PostPage {
        items: records.iter().map(PostView::from_record).collect(),
        next_cursor,
    })
    .into_response();
    conditional::decorate(response.headers_mut(), &tag, None);
    Ok(response)
}

/// An edit of a scheduled post or a Creator Inbox draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    /// A new time (RFC 3339, in the future).
    pub schedule_at: Option<DateTime<Utc>>,
    /// IANA time zone shown with the schedule.
    pub timezone: Option<String>,
    /// A new caption (video: up to 2,200 UTF-16 units; photo: the title is rebuilt from it).
    pub caption: Option<String>,
}

/// Reschedules or edits a scheduled post or a draft.
#[utoipa::path(patch, path = "/v1/tiktok/posts/{id}", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body(content = PostEdit, content_type = "application/json", example = json!({
        "schedule_at": "2027-09-02T09:00:00Z", "caption": "Launch day, one day later"
    })),
    responses(
        (status = 200, description = "The edited post", body = PostView),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`post_pending`: the post's create is still `pending` (Zernio's answer was lost, the post not found yet; one look-up is made first, and a post found is acted on): ask again after `Retry-After`. `post_not_editable`: the post is published or publishing, or a pending create never found (the detail names its status and what can be done)", headers(("Retry-After" = u64, description = "With `post_pending`: seconds until the gateway looks the post up again")), body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn edit(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(edit): ApiJson<PostEdit>,
) -> Result<ApiJson<PostView>, ApiError> {
    let (record, post) = crate::posts::edit(
        &state,
        &auth,
        &id,
        &request_id(&headers),
        crate::posts::Edit {
            schedule_at: edit.schedule_at,
            timezone: edit.timezone.as_deref(),
            caption: edit.caption.as_deref(),
        },
    )
    .await?;
    let _ = post;
    Ok(ApiJson(PostView::from_record(&record)))
}

/// Cancels a scheduled post or deletes a draft.
#[utoipa::path(delete, path = "/v1/tiktok/posts/{id}", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`post_pending`: the post's create is still `pending` (Zernio's answer was lost, the post not found yet; one look-up is made first, and a post found is acted on): ask again after `Retry-After`. `post_not_cancellable`: the post is published (delete it in the TikTok app), or a pending create never found (nothing was made)", headers(("Retry-After" = u64, description = "With `post_pending`: seconds until the gateway looks the post up again")), body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    crate::posts::cancel(&state, &auth, &id, &request_id(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retries a failed post.
#[utoipa::path(post, path = "/v1/tiktok/posts/{id}/retry", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "The post, publishing again", body = PostView),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such post for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Only failed posts can be retried. `post_pending`: the post's create is still `pending` (Zernio's answer was lost, the post not found yet; one look-up is made first, and a post found is acted on): ask again after `Retry-After`. `post_not_retryable`: a pending create never found (nothing was made; create it again)", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "With `post_pending`: seconds until the gateway looks the post up again"))),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiJson<PostView>, ApiError> {
    let (record, post) = crate::posts::retry(&state, &auth, &id, &request_id(&headers)).await?;
    Ok(ApiJson(PostView::from_upstream(&record, &post)))
}
