//! The create endpoint for automations (Zapier and the like): flat fields, as JSON or as a
//! form, through the same pipeline as every other create. Failures are 4xx problems, never a
//! 2xx with an error inside, so the automation's own retry and error handling work.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::PostsWrite;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::limits::idempotency::IdempotencyKey;
use crate::pipeline::{self, CreateRequest};
use crate::routes::posts::{PostView, Validated, request_id};
use crate::tiktok::{self, Shape};

/// The flat fields an automation sends (JSON or form fields). Each is documented with every
/// JSON type the flat reader takes for it (a form carries text only; an automation's JSON may
/// send a flag as a boolean or a number as a number), so what the spec calls invalid is what
/// the gateway refuses.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: the body is read by `tiktok::prepare`
pub struct FlatPost {
    #[schema(example = "sandbox_public")]
    account: String,
    #[schema(schema_with = text)]
    caption: Option<String>,
    #[schema(schema_with = video_url)]
    video_url: Option<String>,
    #[schema(schema_with = image_urls)]
    image_urls: Option<String>,
    #[schema(schema_with = whole_number)]
    size_bytes: Option<String>,
    #[schema(schema_with = whole_number)]
    duration_ms: Option<String>,
    #[schema(schema_with = text)]
    title: Option<String>,
    #[schema(schema_with = text)]
    description: Option<String>,
    #[schema(schema_with = privacy)]
    privacy: Option<String>,
    #[schema(schema_with = flag)]
    allow_comment: Option<String>,
    #[schema(schema_with = flag)]
    allow_duet: Option<String>,
    #[schema(schema_with = flag)]
    allow_stitch: Option<String>,
    #[schema(schema_with = flag)]
    auto_add_music: Option<String>,
    #[schema(schema_with = flag)]
    ai_generated: Option<String>,
    #[schema(schema_with = text)]
    commercial: Option<String>,
    #[schema(schema_with = whole_number)]
    cover_timestamp_ms: Option<String>,
    #[schema(schema_with = whole_number)]
    photo_cover_index: Option<String>,
    #[schema(schema_with = text)]
    schedule_at: Option<String>,
    #[schema(schema_with = text)]
    timezone: Option<String>,
    #[schema(schema_with = flag)]
    draft: Option<String>,
    #[schema(schema_with = consent)]
    consent: Option<String>,
    #[schema(schema_with = metadata)]
    metadata: Option<String>,
}

fn typed(types: &[Type], description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter(types.iter().cloned()))
        .description(Some(description))
}

/// Text; an empty value is no value (form tools send every field, filled or not).
fn text() -> Schema {
    typed(
        &[Type::String, Type::Number, Type::Null],
        "Text; empty is the same as absent",
    )
    .into()
}

fn privacy() -> Schema {
    typed(
        &[Type::String, Type::Null],
        "PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR, SELF_ONLY, or public, friends, followers, private",
    )
    .into()
}

/// A boolean, its words, or the numbers 1 and 0 (the bounds bind numbers only).
fn yes_no(description: &str) -> Schema {
    typed(
        &[Type::String, Type::Boolean, Type::Integer, Type::Null],
        description,
    )
    .minimum(Some(0))
    .maximum(Some(1))
    .into()
}

fn flag() -> Schema {
    yes_no("true/false, yes/no or 1/0; empty is the same as absent")
}

fn consent() -> Schema {
    yes_no("`true` asserts both of TikTok's consent flags (true/false, yes/no or 1/0)")
}

fn whole_number() -> Schema {
    typed(
        &[Type::String, Type::Integer, Type::Null],
        "A whole number, 0 or more, as a number or as text",
    )
    .into()
}

fn metadata() -> Schema {
    typed(
        &[Type::String, Type::Object, Type::Null],
        "A JSON object, or (in a form) a string holding one",
    )
    .into()
}

/// A field of one URL or a list of them: a form repeats the field, a JSON body may send an
/// array. An empty item is no URL, as an empty field is.
fn urls(description: &str) -> Schema {
    let item = || typed(&[Type::String, Type::Null], "A URL; empty is no URL");
    OneOfBuilder::new()
        .item(item())
        .item(ArrayBuilder::new().items(item()))
        .description(Some(description))
        .into()
}

fn video_url() -> Schema {
    urls("The video's URL (one)")
}

fn image_urls() -> Schema {
    urls("Photo URLs: comma or newline separated, repeated as form fields, or a JSON array")
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
    Ok(ApiJson(Validated::of(prepared)))
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
