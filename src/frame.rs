//! The frame every request passes through, as two hand-written tower services instead of
//! `from_fn` middlewares: the request id around everything (outside the trace span), and, inside
//! the span, the body deadline, problem rendering and the HTTP metrics.
//!
//! Why not `from_fn`: axum applies router layers to each route's service, and a `from_fn`
//! layer clones the whole service under it on every request (to hand `Next` an owned one),
//! which for a route means every method's handler chain, box by box. Four of them cost more
//! than all the rest of a served read. These call the service under them in place: one boxed
//! future each, no clone.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tower::{Layer, Service};

use crate::http::{DeadlineBody, REQUEST_ID, is_sane_request_id};
use crate::metrics::Metrics;

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// A fresh request id: a UUID v4 from the thread's generator (`Uuid::new_v4` asks the kernel
/// for each one, a system call per request), written into a stack buffer.
pub fn new_request_id() -> HeaderValue {
    let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut buf))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// Outermost: a caller's request id is kept when it is sane (`http::is_sane_request_id`),
/// replaced by a fresh one otherwise or when there is none; the answer carries it back unless
/// it already names one.
#[derive(Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

#[derive(Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

impl<S> Service<Request> for RequestIdService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let id = match request.headers().get(&REQUEST_ID) {
            Some(value) if is_sane_request_id(value) => value.clone(),
            _ => {
                let id = new_request_id();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if !response.headers().contains_key(&REQUEST_ID) {
                response.headers_mut().insert(REQUEST_ID, id);
            }
            Ok(response)
        })
    }
}

/// Inside the trace span: the body deadline (`[http] body_read_timeout_ms`), problem bodies
/// with the request id (`error::render_now`), and the request's count and duration under its
/// route template.
#[derive(Clone)]
pub struct FrameLayer {
    metrics: Metrics,
    body_read_timeout: Duration,
}

impl FrameLayer {
    pub fn new(metrics: Metrics, body_read_timeout: Duration) -> Self {
        FrameLayer {
            metrics,
            body_read_timeout,
        }
    }
}

impl<S> Layer<S> for FrameLayer {
    type Service = FrameService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        FrameService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct FrameService<S> {
    inner: S,
    layer: FrameLayer,
}

impl<S> Service<Request> for FrameService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let start = Instant::now();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = crate::metrics::method_label(request.method());
        let request_id = request.headers().get(&REQUEST_ID).cloned();
        // Only a post route's id is kept from the path: no copy of every path.
        let path_post = route
            .as_ref()
            .and_then(|r| post_in_path(r.as_str(), request.uri().path()))
            .map(str::to_owned);
        // A body that has already ended (every GET and HEAD without one) cannot be slow: no
        // wrapper, no flag.
        let (request, expired) = if request.body().is_end_stream() {
            (request, None)
        } else {
            let expired = Arc::new(AtomicBool::new(false));
            let (parts, body) = request.into_parts();
            let body = Body::new(DeadlineBody::new(
                body,
                tokio::time::Instant::now() + self.layer.body_read_timeout,
                expired.clone(),
            ));
            (Request::from_parts(parts, body), Some(expired))
        };
        let answer = self.inner.call(request);
        let metrics = self.layer.metrics.clone();
        Box::pin(async move {
            let mut response = answer.await?;
            if expired.is_some_and(|e| e.load(Ordering::Relaxed)) {
                response = slow_body(response);
            }
            let request_id = request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let code = response
                .extensions()
                .get::<crate::error::Problem>()
                .map(|p| p.code.clone());
            let response = crate::error::render_now(response, request_id);
            let elapsed = start.elapsed();
            let route = route.as_ref().map(MatchedPath::as_str);
            metrics.http_request(route, method, response.status(), elapsed);
            log_request(
                &metrics,
                route,
                path_post.as_deref(),
                &response,
                code.as_deref(),
                elapsed,
            );
            Ok(response)
        })
    }
}

/// The request's one log line, inside its span (request id, method, route, path): who called
/// (tenant and credential), the status, the latency in milliseconds as a number, the post when
/// there is one, the problem code of a refusal. A 5xx is a warning. Also the per-tenant counts.
fn log_request(
    metrics: &Metrics,
    route: Option<&str>,
    path_post: Option<&str>,
    response: &Response,
    code: Option<&str>,
    elapsed: Duration,
) {
    let caller = response.extensions().get::<crate::auth::Caller>();
    let tenant = caller.map(|c| c.tenant.id.as_str());
    let status = response.status().as_u16();
    // Problems carry their code; a 4xx or 5xx without one (the compatible surface's own shape)
    // is counted by its status.
    let status_code =
        (status >= 400 && code.is_none()).then(|| response.status().as_str().to_owned());
    metrics.tenant_request(tenant, status, code.or(status_code.as_deref()));
    let credential = caller.map(|c| match &c.principal {
        crate::auth::Principal::ApiKey(id) => format!("api_key:{id}"),
        crate::auth::Principal::Token(sub) => format!("jwt:{}", sub.as_deref().unwrap_or("-")),
    });
    let post = path_post.or_else(|| created_post(route, response));
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(
            status, latency_ms, tenant, credential, post, code, "request"
        );
    } else {
        tracing::info!(
            status, latency_ms, tenant, credential, post, code, "request"
        );
    }
}

/// The `{id}` of a post route, from the request's path.
fn post_in_path<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    if !(route.starts_with("/v1/tiktok/posts/{id}") || route.starts_with("/api/v1/posts/{id}")) {
        return None;
    }
    let at = route.split('/').position(|s| s == "{id}")?;
    path.split('/').nth(at)
}

/// The post a create made, from its answer's `Location`.
fn created_post<'a>(route: Option<&str>, response: &'a Response) -> Option<&'a str> {
    let route = route?;
    if response.status() == axum::http::StatusCode::CREATED && route.contains("posts") {
        let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
        return location.rsplit('/').next();
    }
    None
}

/// The answer to a request whose body did not arrive in time: 408 (the client was slow, not
/// the gateway or Zernio, so not the 504 of the request timeout), whatever the handler made of
/// the failed read, and the connection is closed because the rest of the body is still on the
/// way. The Zernio-compatible surface has already answered in Zernio's own shape, at a status
/// its operation lists (Zernio has no 408): that answer stays, only the connection closes.
fn slow_body(mut response: Response) -> Response {
    if response
        .extensions()
        .get::<crate::error::OwnFormat>()
        .is_none()
    {
        response = crate::error::problem_response(crate::error::generic_problem(
            axum::http::StatusCode::REQUEST_TIMEOUT,
        ));
    }
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_request_ids_are_sane_distinct_uuids() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert!(is_sane_request_id(&a));
        let text = a.to_str().unwrap();
        let uuid = uuid::Uuid::parse_str(text).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(text.len(), 36);
    }
}
