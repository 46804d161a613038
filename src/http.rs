//! HTTP plumbing shared by every route: the request id and the JSON body extractor whose
//! rejections are problems like every other error.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;

/// The header carrying the request id, on the way in, on the way out and to Zernio.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's request id is kept only when it is short and plain, so that it can go into logs,
/// problem bodies and the upstream request without escaping or log injection.
pub fn is_sane_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware: drops a request id that is not sane, so that the request-id layer after it
/// generates a fresh one.
pub async fn drop_insane_request_id(mut request: Request, next: Next) -> Response {
    if let Some(value) = request.headers().get(&REQUEST_ID)
        && !is_sane_request_id(value)
    {
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}

/// `axum::Json`, but a body that cannot be read becomes a 400 problem naming what is wrong.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status().as_u16() {
            413 => ApiError::PayloadTooLarge,
            415 => ApiError::UnsupportedMediaType,
            _ => ApiError::bad_request("invalid_json", rejection.body_text()),
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
