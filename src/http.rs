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

/// Middleware: the whole request body must arrive within the configured time after the head.
/// A slower upload is answered 408 (the client was slow, not the gateway or Zernio, so not
/// the 504 of the request timeout), whatever the handler made of the failed read, and the
/// connection is closed because the rest of the body is still on the way.
pub async fn body_deadline(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
    let expired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::new(DeadlineBody {
        inner: body,
        deadline: tokio::time::Instant::now() + limit,
        sleep: None,
        expired: expired.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !expired.load(std::sync::atomic::Ordering::Relaxed) {
        return response;
    }
    // The Zernio-compatible surface has already answered in Zernio's own shape, at a status its
    // operation lists (Zernio has no 408): that answer stays, only the connection closes.
    if response
        .extensions()
        .get::<crate::error::OwnFormat>()
        .is_none()
    {
        response = crate::error::problem_response(crate::error::generic_problem(
            axum::http::StatusCode::REQUEST_TIMEOUT,
        ));
    }
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}

/// A request body that fails once its deadline passes. The timer is made only when a read
/// has to wait, so bodies that are already here (most, and every empty one) cost none.
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: tokio::time::Instant,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    expired: std::sync::Arc<std::sync::atomic::AtomicBool>,
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
