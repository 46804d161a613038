//! Upload URLs for callers without a CDN of their own.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::MediaWrite;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::routes::posts::request_id;
use crate::tiktok::{Format, Violation};
use crate::zernio::{CallContext, PresignRequest};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignInput {
    #[schema(example = "sunset.mp4")]
    pub filename: String,
    /// image/jpeg, image/png, image/webp, video/mp4, video/quicktime or video/webm.
    #[schema(example = "video/mp4")]
    pub content_type: String,
    /// The file's size in bytes, when known.
    pub size: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct PresignedView {
    /// PUT the file's bytes here.
    pub upload_url: String,
    /// Then use this URL as the post's media URL.
    pub public_url: String,
    pub key: String,
    /// Seconds the upload URL stays valid.
    pub expires_in: Option<u64>,
}

/// An upload URL for one media file.
#[utoipa::path(post, path = "/v1/media/presign", tag = "media",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = PresignInput, content_type = "application/json", example = json!({
        "filename": "sunset.mp4", "content_type": "video/mp4", "size": 10485760
    })),
    responses(
        (status = 200, description = "Where to upload, and the URL to post", body = PresignedView),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A type TikTok does not take", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn presign(
    State(state): State<AppState>,
    _auth: Authenticated<MediaWrite>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<PresignInput>,
) -> Result<ApiJson<PresignedView>, ApiError> {
    // Refused here rather than after the upload: TikTok would refuse the post later.
    if Format::from_mime(&input.content_type).is_none() {
        return Err(state.rejected(vec![Violation {
            field: "content_type".to_owned(),
            code: "unsupported_format",
            message: format!("`{}` is not a type TikTok accepts", input.content_type),
            fix: "Upload JPEG, PNG or WebP images, or MP4, MOV or WebM videos.".to_owned(),
        }]));
    }
    let request_id = request_id(&headers);
    let presigned = state
        .upstream
        .client
        .presign(
            &CallContext {
                request_id: &request_id,
            },
            &PresignRequest {
                filename: input.filename,
                content_type: input.content_type,
                size: input.size,
            },
        )
        .await?;
    Ok(ApiJson(PresignedView {
        upload_url: presigned.upload_url,
        public_url: presigned.public_url,
        key: presigned.key,
        expires_in: presigned.expires_in,
    }))
}
