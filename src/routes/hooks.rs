//! The create endpoint for automations (Zapier and the like): flat fields, as JSON or as a
//! form, through the same pipeline as every other create. Failures are 4xx problems, never a
//! 2xx with an error inside, so the automation's own retry and error handling work.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::PostsWrite;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::limits::idempotency::IdempotencyKey;
use crate::pipeline::{self, CreateRequest};
use crate::routes::posts::{PostView, Validated, request_id};
use crate::tiktok::{self, Shape};

/// The flat fields an automation sends (JSON or form fields).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: the body is read by `tiktok::prepare`
pub struct FlatPost {
    #[schema(example = "sandbox_public")]
    account: String,
    caption: Option<String>,
    #[schema(example = "https://cdn.example.com/sunset-video.mp4")]
    video_url: Option<String>,
    /// Comma or newline separated, or repeated.
    image_urls: Option<String>,
    title: Option<String>,
    description: Option<String>,
    /// PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR, SELF_ONLY, or public, friends, followers, private.
    #[schema(example = "public")]
    privacy: Option<String>,
    /// true/false/yes/no/1/0
    allow_comment: Option<String>,
    allow_duet: Option<String>,
    allow_stitch: Option<String>,
    auto_add_music: Option<String>,
    ai_generated: Option<String>,
    commercial: Option<String>,
    cover_timestamp_ms: Option<String>,
    photo_cover_index: Option<String>,
    schedule_at: Option<String>,
    timezone: Option<String>,
    draft: Option<String>,
    /// `true` asserts both of TikTok's consent flags.
    consent: Option<String>,
}

/// What the automation gets back: one flat object.
#[derive(Serialize, ToSchema)]
pub struct HookResult {
    /// The post id.
    pub id: String,
    pub status: String,
    pub account: String,
    pub kind: String,
    pub mode: String,
    pub tiktok_url: Option<String>,
}

/// Creates a post from flat automation fields.
#[utoipa::path(post, path = "/v1/hooks/tiktok/posts", tag = "automations",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body(content(
        (FlatPost = "application/json", example = json!({
            "account": "sandbox_public", "caption": "New on the blog: sunsets #news",
            "video_url": "https://cdn.example.com/blog-teaser.mp4", "privacy": "public",
            "allow_comment": "true", "allow_duet": "true", "allow_stitch": "true", "consent": "true"
        })),
        (FlatPost = "application/x-www-form-urlencoded", example = json!({
            "account": "sandbox_public", "caption": "From a form: sunsets #forms",
            "video_url": "https://cdn.example.com/form-teaser.mp4", "privacy": "public",
            "allow_comment": "yes", "allow_duet": "yes", "allow_stitch": "yes", "consent": "yes"
        })),
    )),
    responses(
        (status = 201, description = "Created", body = HookResult),
        (status = 202, description = "`status: pending`: Zernio's outcome is unknown; poll `/v1/tiktok/posts/{id}`", body = HookResult),
        (status = 400, description = "The body is neither JSON nor a form", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope, or an account of another tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate content, or the same request in flight", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or refused by TikTok", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "A limit; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    key: Option<axum::Extension<IdempotencyKey>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value = flat_value(&headers, &body)?;
    let request_id = request_id(&headers);
    let created = pipeline::create(
        &state,
        &auth,
        CreateRequest {
            shape: Shape::Flat,
            body: &value,
            request_id: &request_id,
            idempotency_key: key.as_ref().map(|k| k.0.0.as_str()),
        },
    )
    .await?;
    let view = match &created.post {
        Some(post) => PostView::from_upstream(&created.record, post),
        None => PostView::from_record(&created.record),
    };
    let status = if created.pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        ApiJson(HookResult {
            id: view.id,
            status: view.status,
            account: view.account,
            kind: view.kind,
            mode: view.mode,
            tiktok_url: view.tiktok_url,
        }),
    )
        .into_response())
}

/// Checks flat automation fields exactly as the create reads them, without sending: the Zernio
/// payload it would send, or every violation named by its flat field (`video_url`, `consent`),
/// so that an automation's "validate" step and its create agree.
#[utoipa::path(post, path = "/v1/hooks/tiktok/posts/validate", tag = "automations",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content(
        (FlatPost = "application/json", example = json!({
            "account": "sandbox_public", "caption": "Checked first: sunsets #news",
            "video_url": "https://cdn.example.com/blog-teaser.mp4", "privacy": "public",
            "allow_comment": "true", "allow_duet": "true", "allow_stitch": "true", "consent": "true"
        })),
        (FlatPost = "application/x-www-form-urlencoded", example = json!({
            "account": "sandbox_public", "caption": "Checked from a form: sunsets #forms",
            "video_url": "https://cdn.example.com/form-teaser.mp4", "privacy": "public",
            "allow_comment": "yes", "allow_duet": "yes", "allow_stitch": "yes", "consent": "yes"
        })),
    )),
    responses(
        (status = 200, description = "The post is valid; this is what would be sent", body = Validated),
        (status = 400, description = "The body is neither JSON nor a form", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope, or an account of another tenant", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `errors` lists every violation", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn validate(
    State(state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<Validated>, ApiError> {
    let value = flat_value(&headers, &body)?;
    let prepared =
        pipeline::prepare(&state, &auth, Shape::Flat, &value, &request_id(&headers)).await?;
    Ok(ApiJson(Validated {
        valid: true,
        zernio_payload: prepared.payload,
        warnings: prepared.warnings,
        media: prepared
            .probed
            .iter()
            .map(super::posts::ProbedMedia::of)
            .collect(),
    }))
}

/// The flat fields of a JSON or form body, as one JSON object for the pipeline.
fn flat_value(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let value = if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::bad_request("invalid_form", e.to_string()))?;
        tiktok::flat_from_form(&pairs)
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    } else {
        return Err(ApiError::UnsupportedMediaType);
    };
    Ok(value)
}
