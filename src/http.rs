//! HTTP plumbing shared by every route: the request id and the JSON body extractor whose
//! rejections are problems like every other error.

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderName, HeaderValue};
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

/// A request body that fails once its deadline passes. The timer is made only when a read
/// has to wait, so bodies that are already here (most, and every empty one) cost none.
/// Used by `frame::FrameService`, which answers 408 once `expired` is set.
pub(crate) struct DeadlineBody {
    inner: axum::body::Body,
    deadline: tokio::time::Instant,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    expired: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl DeadlineBody {
    pub(crate) fn new(
        inner: axum::body::Body,
        deadline: tokio::time::Instant,
        expired: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        DeadlineBody {
            inner,
            deadline,
            sleep: None,
            expired,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTooSlow;

impl axum::body::HttpBody for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
