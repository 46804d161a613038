//! Zernio's own API shapes under `/api/v1`, TikTok only, so that the official SDKs work with
//! their base URL set to `<gateway>/api` and a gateway key as their API key. Everything goes
//! through the same pipeline and tenant checks as the native routes; only the shapes differ.
//!
//! The SDKs send extra query parameters and body keys of their own: those are ignored, never
//! forwarded. Errors are Zernio's `ErrorResponse` at the statuses Zernio lists for each
//! operation (`errors`); the native surface keeps RFC 9457.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::{AnalyticsRead, MediaWrite, PostsRead, PostsWrite};
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::limits::idempotency::IdempotencyKey;
use crate::pipeline::{self, CreateRequest};
use crate::routes::conditional::{self, ReadHeaders};
use crate::routes::posts::{owned, request_id};
use crate::tiktok::{self, Shape};
use crate::zernio::{AnalyticsQuery, CallContext, MediaKind, PresignRequest};

mod errors;
mod list;

pub use errors::zernio_errors;
pub use list::ListParams;

fn ctx(request_id: &str) -> CallContext<'_> {
    CallContext { request_id }
}

/// Zernio's create: `{message, post}`.
#[utoipa::path(post, path = "/api/v1/posts", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = Object, description = "Zernio's create-post body (TikTok only)", content_type = "application/json", example = json!({
        "content": "Golden hour on the coast #sunset",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/golden-hour.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "sandbox_public"}],
        "tiktokSettings": {
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "allow_comment": true, "allow_duet": true, "allow_stitch": true,
            "content_preview_confirmed": true, "express_consent_given": true
        },
        "publishNow": true
    })),
    responses(
        (status = 200, description = "`dryRun: true`: Zernio's `TikTokDryRunVerdict`, nothing created", body = Object),
        (status = 201, description = "`{message, post, warnings}` as Zernio answers", body = Object),
        (status = 207, description = "Created, but the publish failed: Zernio's `{message, error, post, platformResults}`; the post can be retried", body = Object),
        (status = 400, description = "`validation_failed` (TikTok's rules, each in `details.errors` with its fix), a body that is not JSON, a platform other than TikTok", body = errors::ErrorBody, content_type = "application/json"),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 403, description = "Missing scope, an account of another tenant (no `code`), or `ACCOUNT_DISCONNECTED` / `ACCOUNT_NOT_ENABLED_FOR_POSTING`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 409, description = "`duplicate_content` (`details.existingPostId`) or `idempotency_conflict`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer. When Zernio's outcome is unknown, `details.postId` names the pending post (readable at `/api/v1/posts/{id}`) and `details.status` is `pending`: a retry with the same Idempotency-Key gets the post, one without a 409 naming it; it is never sent twice", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    key: Option<axum::Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let request_id = request_id(&headers);
    if body.get("dryRun").and_then(Value::as_bool) == Some(true) {
        return dry_run(&state, &auth, &body, &request_id).await;
    }
    let created = pipeline::create(
        &state,
        &auth,
        CreateRequest {
            shape: Shape::ZernioCompat,
            body: &body,
            request_id: &request_id,
            idempotency_key: key.as_ref().map(|k| k.0.0.as_str()),
        },
    )
    .await;
    let created = match created {
        Ok(created) => created,
        // Zernio's 207: the post exists (the gateway recorded it) but its publish failed;
        // Zernio's SDKs read the post from a 2xx, so it is answered as Zernio answers it.
        Err(ApiError::Upstream(e)) if e.status == Some(207) && e.post.is_some() => {
            return Ok(incomplete(&e));
        }
        Err(e) => return Err(e),
    };
    if created.pending {
        return Ok(create_pending(&created.record));
    }
    let warnings: Vec<&str> = created
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    let post = match &created.post {
        Some(post) => list::spec_post(post),
        None => list::post_of_record(&created.record),
    };
    Ok((
        StatusCode::CREATED,
        ApiJson(json!({"message": "Post created", "post": post, "warnings": warnings})),
    )
        .into_response())
}

/// A create whose outcome Zernio left unknown. Zernio's contract has no 202 for a create; its
/// 503 `temporarily_unavailable` says "retry later" and its SDKs do. The retry cannot post
/// twice: with the same Idempotency-Key it gets the post, without one a 409 naming it in
/// `details.existingPostId`, as Zernio answers a duplicate.
fn create_pending(record: &crate::store::PostRecord) -> Response {
    let body = json!({
        "error": "Zernio's answer to this create was lost; the post may exist. Retry with the same Idempotency-Key, or read the post in details.postId.",
        "type": "api_error",
        "code": "temporarily_unavailable",
        "details": {"postId": record.id, "status": crate::pending::STATUS},
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, ApiJson(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    // Already Zernio's shape: the error frame leaves it as it is.
    response.extensions_mut().insert(crate::error::OwnFormat);
    response
}

/// Zernio's `PostPublishIncompleteResponse` for a post created but not published.
fn incomplete(e: &crate::zernio::UpstreamError) -> Response {
    let post = e
        .post
        .as_deref()
        .map(list::spec_post)
        .unwrap_or(Value::Null);
    let status = post
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("failed")
        .to_owned();
    let body = json!({
        "message": "Post created, but publishing did not complete",
        "error": e.message,
        "post": post,
        "platformResults": [{"platform": "tiktok", "status": status, "error": e.message}],
    });
    (StatusCode::MULTI_STATUS, ApiJson(body)).into_response()
}

/// `dryRun: true`: the validate pipeline (ownership, the creator's options, every rule) and a
/// look at the account's daily budget, answered as Zernio's `TikTokDryRunVerdict`. Nothing that
/// creates is sent and nothing is held: no slot, no duplicate claim. A post that breaks a rule
/// is refused as its create would be; the verdict says whether the account can take it now.
async fn dry_run(
    state: &AppState,
    caller: &crate::auth::Caller,
    body: &Value,
    request_id: &str,
) -> Result<Response, ApiError> {
    let prepared = pipeline::prepare(state, caller, Shape::ZernioCompat, body, request_id).await?;
    let account = prepared.post.account().to_owned();
    let lane = crate::store::Lane::for_post(prepared.post.kind(), prepared.post.mode());
    let now = Utc::now();
    let usage = state
        .store
        .slot_usage(&account, lane, pipeline::DAY, now)
        .await?;
    let limit = caller.tenant.daily_limit(&account, lane);
    let exhausted = usage.exhausted_until.is_some_and(|until| until > now);
    let (can_publish, reason) = if exhausted || usage.used >= limit {
        (
            false,
            "The account reached its daily TikTok posting limit; wait until the oldest post of \
             the last 24 hours leaves the window, or post in the TikTok app."
                .to_owned(),
        )
    } else {
        let mut reason = "The post passes TikTok's rules for this creator.".to_owned();
        for w in &prepared.warnings {
            reason.push(' ');
            reason.push_str(&w.message);
        }
        (true, reason)
    };
    let verdict = json!({
        "dryRun": true,
        "canPublish": can_publish,
        "tiktok": [{
            "accountId": account,
            "canPublish": can_publish,
            "alreadyPostedToday": usage.used > 0,
            "reason": reason,
        }],
    });
    Ok((StatusCode::OK, ApiJson(verdict)).into_response())
}

/// Zernio's get: `{post}`.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "`{post}` from the gateway's record (`Cache-Control: no-cache` asks Zernio)", body = Object),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 403, description = "Missing scope", body = errors::ErrorBody, content_type = "application/json"),
        (status = 404, description = "No such post for this tenant", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // From the record, as the native read; `no-cache` asks Zernio.
    let read = ReadHeaders::of(&headers);
    let record = crate::posts::read(
        &state,
        &auth.tenant.id,
        &id,
        read.freshness,
        &request_id(&headers),
    )
    .await?;
    // Zernio's spec has no 304 for this read, so the tag is given but not answered to.
    let tag = conditional::etag(&record);
    let mut response = ApiJson(json!({ "post": list::post_of_record(&record) })).into_response();
    conditional::decorate(response.headers_mut(), &tag, None);
    Ok(response)
}

/// Zernio's list: the tenant's posts, `{posts, pagination}`.
#[utoipa::path(get, path = "/api/v1/posts", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "`{posts, pagination}`", body = Object),
        (status = 400, description = "A bad page, limit, date, status or sortBy", body = errors::ErrorBody, content_type = "application/json"),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<Value>, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    Ok(ApiJson(
        list::list(state.store.as_ref(), &auth.tenant.id, params).await?,
    ))
}

/// Zernio's edit of a scheduled post or draft (`content`, `scheduledFor`, `timezone`).
#[utoipa::path(put, path = "/api/v1/posts/{id}", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body(content = Object, content_type = "application/json", example = json!({
        "content": "Launch day, one day later", "scheduledFor": "2027-09-02T09:00:00Z", "timezone": "UTC"
    })),
    responses(
        (status = 200, description = "`{message, post}`", body = Object),
        (status = 400, description = "A body that is not JSON, or `validation_failed`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 403, description = "Missing scope", body = errors::ErrorBody, content_type = "application/json"),
        (status = 404, description = "No such post for this tenant", body = errors::ErrorBody, content_type = "application/json"),
        (status = 409, description = "`post_not_editable`: published or publishing, as the gateway's record knows (Zernio not asked), or a pending create never found. `post_pending` (with `Retry-After`, `details.postId`): the post's create is still pending (its id the gateway's; one look-up is made first, and a post found is acted on)", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<Value>, ApiError> {
    let schedule_at = match body.get("scheduledFor").and_then(Value::as_str) {
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    state.rejected(vec![tiktok::Violation {
                        field: "scheduledFor".to_owned(),
                        code: "invalid_schedule",
                        message: format!("`{text}` is not an RFC 3339 time"),
                        fix: "Give a time such as 2030-01-01T09:00:00Z.".to_owned(),
                    }])
                })?,
        ),
        None => None,
    };
    let (_, post) = crate::posts::edit(
        &state,
        &auth,
        &id,
        &request_id(&headers),
        crate::posts::Edit {
            schedule_at,
            timezone: body.get("timezone").and_then(Value::as_str),
            caption: body.get("content").and_then(Value::as_str),
        },
    )
    .await?;
    Ok(ApiJson(
        json!({"message": "Post updated", "post": list::spec_post(&post)}),
    ))
}

/// Zernio's delete of a draft or scheduled post.
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "`{message}`", body = Object),
        (status = 400, description = "`post_not_cancellable`: published, as the gateway's record knows (Zernio not asked), or a pending create never found; or Zernio refused it in its status. `post_pending` (with `Retry-After`, `details.postId`): the post's create is still pending (its id the gateway's; one look-up is made first, and a post found is acted on) (400: Zernio's delete lists no 409)", body = errors::ErrorBody, content_type = "application/json"),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 403, description = "Missing scope", body = errors::ErrorBody, content_type = "application/json"),
        (status = 404, description = "No such post for this tenant", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiJson<Value>, ApiError> {
    crate::posts::cancel(&state, &auth, &id, &request_id(&headers)).await?;
    Ok(ApiJson(json!({"message": "Post deleted"})))
}

/// Zernio's retry of a failed post.
#[utoipa::path(post, path = "/api/v1/posts/{id}/retry", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "`{message, post}`", body = Object),
        (status = 207, description = "Retried and failed again: `{message, error, post, platformResults}`", body = Object),
        (status = 400, description = "A malformed Idempotency-Key", body = errors::ErrorBody, content_type = "application/json"),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 403, description = "Missing scope", body = errors::ErrorBody, content_type = "application/json"),
        (status = 404, description = "No such post for this tenant", body = errors::ErrorBody, content_type = "application/json"),
        (status = 409, description = "Only failed posts can be retried; `post_not_retryable`: a pending create never found. `post_pending` (with `Retry-After`, `details.postId`): the post's create is still pending (its id the gateway's; one look-up is made first, and a post found is acted on)", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let post = match crate::posts::retry(&state, &auth, &id, &request_id(&headers)).await {
        Ok((_, post)) => post,
        // Retried and failed again: Zernio's 207 with the post, as on create.
        Err(ApiError::Upstream(e)) if e.status == Some(207) && e.post.is_some() => {
            return Ok(incomplete(&e));
        }
        Err(e) => return Err(e),
    };
    Ok(
        ApiJson(json!({"message": "Retry started", "post": list::spec_post(&post)}))
            .into_response(),
    )
}

/// Zernio's account list, the tenant's TikTok accounts only.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{accounts, hasAnalyticsAccess}`", body = Object),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn accounts(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    headers: HeaderMap,
) -> Result<ApiJson<Value>, ApiError> {
    let accounts = state
        .upstream
        .client
        .accounts(&ctx(&request_id(&headers)))
        .await?;
    let accounts: Vec<Value> = accounts
        .into_iter()
        .filter(|a| auth.tenant.owns(&a.id))
        .map(|a| {
            let mut account = json!({
                "_id": a.id,
                "platform": "tiktok",
                "username": a.username,
                "isActive": a.is_active,
                "needsReconnection": a.needs_reconnection,
                // The SDK requires a profile; the tenant stands for it.
                "profileId": auth.tenant.id,
            });
            // The spec's displayName is a string: absent rather than null.
            if let Some(name) = a.display_name {
                account["displayName"] = name.into();
            }
            account
        })
        .collect();
    let analytics = auth.scopes.contains(crate::auth::Scope::AnalyticsRead);
    Ok(ApiJson(
        json!({"accounts": accounts, "hasAnalyticsAccess": analytics}),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreatorParams {
    /// `video` or `photo`.
    #[serde(rename = "mediaType")]
    #[param(rename = "mediaType")]
    pub media_type: Option<String>,
}

/// Zernio's TikTok creator info.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/tiktok/creator-info", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The account id"), CreatorParams),
    responses(
        (status = 200, description = "Zernio's creator info", body = Object),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 404, description = "No such account for this tenant", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "The creator reached the daily limit, or a rate limit; see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn creator_info(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<CreatorParams>,
) -> Result<ApiJson<Value>, ApiError> {
    if !auth.tenant.owns(&id) {
        return Err(ApiError::NotFound);
    }
    let kind = if params.media_type.as_deref() == Some("photo") {
        MediaKind::Photo
    } else {
        MediaKind::Video
    };
    let request_id = request_id(&headers);
    let info = state
        .upstream
        .creator_info(&ctx(&request_id), &id, kind)
        .await?;
    Ok(ApiJson(creator_answer(&info, kind)))
}

/// TikTok's names of its privacy levels and commercial content types, for `label`.
fn label(value: &str) -> String {
    match value {
        "PUBLIC_TO_EVERYONE" => "Everyone",
        "MUTUAL_FOLLOW_FRIENDS" => "Friends",
        "FOLLOWER_OF_CREATOR" => "Followers",
        "SELF_ONLY" => "Only me",
        "none" => "None",
        "brand_organic" => "Your brand",
        "brand_content" => "Branded content",
        other => other,
    }
    .to_owned()
}

/// Zernio's creator-info answer from the normalised creator: interaction settings as
/// `{enabled, required, default, label}` (duet and stitch `null` for photos, as Zernio sends
/// them), commercial content types as `{value, label, requires}`.
fn creator_answer(info: &crate::zernio::CreatorInfo, kind: MediaKind) -> Value {
    let levels: Vec<Value> = info
        .privacy_levels
        .iter()
        .map(|l| json!({"value": l, "label": label(l)}))
        .collect();
    // TikTok requires each interaction to be chosen (none preselected), so required and off.
    let setting = |disabled: bool, name: &str| json!({"enabled": !disabled, "required": true, "default": false, "label": name});
    let video_only = |disabled: bool, name: &str| match kind {
        MediaKind::Video => setting(disabled, name),
        MediaKind::Photo => Value::Null,
    };
    let commercial: Vec<Value> = info
        .commercial_content_types
        .iter()
        .map(|value| {
            // Branded content cannot be private (TikTok's content-sharing guidelines).
            let requires: Vec<&str> = if value == "brand_content" {
                vec!["privacy_level_not_self_only"]
            } else {
                Vec::new()
            };
            json!({"value": value, "label": label(value), "requires": requires})
        })
        .collect();
    let mut creator = serde_json::Map::new();
    if let Some(nickname) = &info.nickname {
        creator.insert("nickname".to_owned(), nickname.clone().into());
    }
    if let Some(avatar) = &info.avatar_url {
        creator.insert("avatarUrl".to_owned(), avatar.clone().into());
    }
    creator.insert("isVerified".to_owned(), info.is_verified.into());
    creator.insert("canPostMore".to_owned(), info.can_post_more.into());
    let mut limits = json!({
        "interactionSettings": {
            "allow_comment": setting(info.comment_disabled, "Allow comments"),
            "allow_duet": video_only(info.duet_disabled, "Allow duets"),
            "allow_stitch": video_only(info.stitch_disabled, "Allow stitches"),
        }
    });
    if let Some(max) = info.max_video_duration_sec {
        limits["maxVideoDurationSec"] = max.into();
    }
    json!({
        "creator": creator,
        "privacyLevels": levels,
        "postingLimits": limits,
        "commercialContentTypes": commercial,
    })
}

/// The body of Zernio's media presign, for the document (the handler reads it leniently, as
/// Zernio does).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
#[schema(as = ZernioPresignInput)]
struct PresignBody {
    filename: String,
    #[schema(rename = "contentType")]
    content_type: String,
    size: Option<u64>,
}

/// Zernio's media presign (`{filename, contentType, size?}`).
#[utoipa::path(post, path = "/api/v1/media/presign", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = PresignBody, content_type = "application/json", example = json!({
        "filename": "sunset.mp4", "contentType": "video/mp4", "size": 10485760
    })),
    responses(
        (status = 200, description = "`{uploadUrl, publicUrl, key, expiresIn}`", body = Object),
        (status = 400, description = "filename or contentType missing, or a type TikTok does not take", body = errors::ErrorBody, content_type = "application/json"),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 503, description = "`temporarily_unavailable`: Zernio or the store did not answer; a timed-out create may still appear", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn presign(
    State(state): State<AppState>,
    _auth: Authenticated<MediaWrite>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<Value>, ApiError> {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(filename), Some(content_type)) = (text("filename"), text("contentType")) else {
        return Err(ApiError::bad_request(
            "invalid_json",
            "filename and contentType are required",
        ));
    };
    // A size, when given, is a byte count: a negative or fractional one is a caller's mistake
    // to hear about, not to drop (schemathesis found `-1` accepted).
    let size = match body.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::bad_request(
                "invalid_json",
                "size is the file's size in bytes, 0 or more",
            )
        })?),
    };
    if tiktok::Format::from_mime(&content_type).is_none() {
        return Err(state.rejected(vec![tiktok::Violation {
            field: "contentType".to_owned(),
            code: "unsupported_format",
            message: format!("`{content_type}` is not a type TikTok accepts"),
            fix: "Upload JPEG, PNG or WebP images, or MP4, MOV or WebM videos.".to_owned(),
        }]));
    }
    let presigned = state
        .upstream
        .client
        .presign(
            &ctx(&request_id(&headers)),
            &PresignRequest {
                filename,
                content_type,
                size,
            },
        )
        .await?;
    let mut answer = json!({
        "uploadUrl": presigned.upload_url,
        "publicUrl": presigned.public_url,
        "key": presigned.key,
    });
    // An integer in the spec: absent rather than null when Zernio did not say.
    if let Some(expires) = presigned.expires_in {
        answer["expiresIn"] = expires.into();
    }
    Ok(ApiJson(answer))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    #[serde(rename = "accountId")]
    #[param(rename = "accountId")]
    pub account_id: Option<String>,
    #[serde(rename = "postId")]
    #[param(rename = "postId")]
    pub post_id: Option<String>,
    #[serde(rename = "fromDate")]
    #[param(rename = "fromDate")]
    pub from_date: Option<NaiveDate>,
    #[serde(rename = "toDate")]
    #[param(rename = "toDate")]
    pub to_date: Option<NaiveDate>,
    /// 1-based page of the tenant's posts.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Posts per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Zernio's analytics, for the tenant's accounts only.
#[utoipa::path(get, path = "/api/v1/analytics", tag = "zernio-compatible",
    security(("bearer" = []), ("api_key" = [])),
    params(AnalyticsParams),
    responses(
        (status = 200, description = "With `postId`, Zernio's `AnalyticsSinglePostResponse`; else `{overview, posts, pagination, accounts, hasAnalyticsAccess}`", body = Object),
        (status = 202, description = "With `postId`: Zernio is still syncing the post's analytics (`syncStatus: pending`)", body = Object),
        (status = 400, description = "A bad date or paging", body = errors::ErrorBody, content_type = "application/json"),
        (status = 401, description = "No valid credential: `missing_credentials` or `invalid_credentials`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 402, description = "`analytics_addon_required`", body = errors::ErrorBody, content_type = "application/json"),
        (status = 404, description = "No such account or post for this tenant", body = errors::ErrorBody, content_type = "application/json"),
        (status = 424, description = "With `postId`: the post failed everywhere, so it has no analytics", body = Object),
        (status = 429, description = "A limit (the tenant's, the key's, Zernio's); see Retry-After", body = errors::ErrorBody, content_type = "application/json"),
        (status = 500, description = "Zernio or the store did not answer", body = errors::ErrorBody, content_type = "application/json"),
    ))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: Authenticated<AnalyticsRead>,
    headers: HeaderMap,
    params: Result<Query<AnalyticsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let tenant = &auth.tenant;
    let request_id = request_id(&headers);
    if let Some(post) = &params.post_id {
        let record = owned(&state, &tenant.id, post).await?;
        return single_post_analytics(&state, &request_id, &record).await;
    }
    let page = params.page.unwrap_or(1);
    let limit = params.limit.unwrap_or(50);
    // The document's int32 is the page's bound.
    if page == 0 || page > i32::MAX as u32 || !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "page is 1 to 2147483647 and limit is 1 to 100",
        ));
    }
    let accounts = match &params.account_id {
        Some(account) if tenant.owns(account) => vec![account.clone()],
        Some(_) => return Err(ApiError::NotFound),
        None => tenant.accounts.clone(),
    };
    // Every upstream page of every account, then the caller's page of them.
    let mut posts = Vec::new();
    for account in accounts {
        let query = AnalyticsQuery {
            account_id: Some(account),
            from_date: params.from_date,
            to_date: params.to_date,
            ..AnalyticsQuery::default()
        };
        let answer = state
            .upstream
            .client
            .analytics_all(&ctx(&request_id), &query)
            .await?;
        posts.extend(answer.posts);
    }
    let total = posts.len() as u64;
    let skip = usize::try_from(u64::from(page - 1) * u64::from(limit)).unwrap_or(usize::MAX);
    let posts: Vec<Value> = posts
        .into_iter()
        .skip(skip)
        .take(limit as usize)
        .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
        .collect();
    Ok(ApiJson(json!({
        "posts": posts,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "pages": total.div_ceil(u64::from(limit)),
        },
        "hasAnalyticsAccess": true,
    }))
    .into_response())
}

/// One post's analytics, Zernio's `AnalyticsSinglePostResponse`: 200 when synced, 202 while
/// Zernio syncs it (passed through: a retry later answers), 424 when it failed everywhere.
async fn single_post_analytics(
    state: &AppState,
    request_id: &str,
    record: &crate::store::PostRecord,
) -> Result<Response, ApiError> {
    let query = AnalyticsQuery {
        account_id: Some(record.account.clone()),
        post_id: Some(record.id.clone()),
        ..AnalyticsQuery::default()
    };
    let pending = |status: StatusCode, sync: &str, message: &str| {
        let mut body = json!({
            "postId": record.id,
            "status": list::spec_status(&record.status),
            "platform": "tiktok",
            "syncStatus": sync,
            "message": message,
        });
        if let Some(url) = &record.tiktok_url {
            body["platformPostUrl"] = url.clone().into();
        }
        let mut response = (status, ApiJson(body)).into_response();
        // A 424 is Zernio's analytics answer, not an error to rewrite.
        response.extensions_mut().insert(crate::error::OwnFormat);
        response
    };
    match state
        .upstream
        .client
        .analytics(&ctx(request_id), &query)
        .await
    {
        Ok(answer) => {
            let mut body = answer
                .posts
                .into_iter()
                .next()
                .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            // Zernio's own keys of a list item are not the single shape's.
            if let Some(map) = body.as_object_mut() {
                map.remove("_id");
                map.insert("postId".to_owned(), record.id.clone().into());
                map.entry("platform").or_insert_with(|| "tiktok".into());
            }
            Ok(ApiJson(body).into_response())
        }
        Err(e) if e.kind == crate::zernio::UpstreamKind::AnalyticsPending => {
            Ok(pending(StatusCode::ACCEPTED, "pending", &e.message))
        }
        Err(e) if e.status == Some(424) => Ok(pending(
            StatusCode::FAILED_DEPENDENCY,
            "unavailable",
            &e.message,
        )),
        Err(e) => Err(e.into()),
    }
}
