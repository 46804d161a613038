//! TikTok posts: validate now; create, read, list, edit, cancel and retry through Zernio.

use axum::extract::State;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::PostsWrite;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::routes::schemas::NativePost;
use crate::tiktok::{self, Shape};

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
}

/// Runs the whole pipeline without sending: the exact Zernio payload, warnings, or every
/// violation at once.
#[utoipa::path(post, path = "/v1/tiktok/posts/validate", tag = "posts",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = NativePost, content_type = "application/json"),
    responses(
        (status = 200, description = "The post is valid; this is what would be sent", body = Validated),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope, or an account of another tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `errors` lists every violation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn validate(
    State(_state): State<AppState>,
    auth: Authenticated<PostsWrite>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<ApiJson<Validated>, ApiError> {
    let prepared =
        tiktok::prepare(Shape::Native, &body, None, Utc::now()).map_err(ApiError::Validation)?;
    auth.tenant.require_account(prepared.post.account())?;
    Ok(ApiJson(Validated {
        valid: true,
        zernio_payload: prepared.payload,
        warnings: prepared.warnings,
    }))
}
