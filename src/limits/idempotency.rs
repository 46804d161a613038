//! `Idempotency-Key` on every request that changes something (IETF draft
//! httpapi-idempotency-key-header, with Stripe's semantics): the same key with the same request
//! within 24 h replays the first answer (`Idempotent-Replayed: true`); the same key with another
//! request is 422 `idempotency_key_reused`; while the first is in flight, 409
//! `idempotency_conflict`. Keys are scoped to the tenant.
//!
//! Claiming a key is one atomic store operation, so concurrent duplicates make one request.
//! Answers whose outcome is not final (5xx, 429, a pending create's 202) are not kept.

use std::time::Duration;

use axum::body::{Body, Bytes};
use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::Claim;

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a finished answer is kept for replay (the draft's and Stripe's 24 hours).
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
/// The draft's upper bound on a key's length.
pub const MAX_KEY_LEN: usize = 255;

/// The caller's key, for the handler: the upstream request is tagged with it, so that Zernio
/// de-duplicates too when a retry reaches it after an upstream failure.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

/// On an answer: the body a replay shows instead of the answer's own. An answer that shows a
/// secret once (a subscription's) sets it, so that the claims keep no copy of the secret.
#[derive(Debug, Clone)]
pub struct ReplayBody(pub Bytes);

/// What is kept of an answer to replay it.
#[derive(Serialize, Deserialize)]
struct Stored {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Headers that belong to the answer itself (not to this moment, like rate limits or dates).
const KEPT_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];

fn changes_something(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

fn valid_key(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.trim().is_empty()
        && text.len() <= MAX_KEY_LEN
        && text.bytes().all(|b| (0x20..0x7f).contains(&b));
    ok.then(|| text.to_owned())
}

/// Step of the tenant routes' guard (`routes::guard`), after authentication and the rate
/// limit: `next` is the rest of the request (the upstream budget, then the handler).
pub async fn enforce<F, A>(
    state: &AppState,
    caller: &Caller,
    request: Request,
    next: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Request) -> A,
    A: Future<Output = Response> + Send + 'static,
{
    if !changes_something(request.method()) {
        return Ok(next(request).await);
    }
    let Some(raw) = request.headers().get(&HEADER) else {
        return Ok(next(request).await);
    };
    let key = valid_key(raw).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
        )
    })?;
    let request_id = request
        .headers()
        .get(crate::http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let (parts, body) = request.into_parts();
    let limit = state.config.http.body_limit_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), parts.uri.query(), &bytes);
    let scope = format!("idem:{}", caller.tenant.id);
    // A claim outlives its request by a margin only: a crashed request frees its key soon.
    let pending_ttl = Duration::from_secs(state.config.http.request_timeout_secs + 30);

    match state
        .store
        .claim(&scope, &key, &fingerprint, pending_ttl)
        .await?
    {
        Claim::Acquired => {}
        Claim::Pending { fingerprint: first } => {
            let reused = first != fingerprint;
            state
                .metrics
                .idempotency(if reused { "reused" } else { "conflict" });
            return Err(if reused {
                ApiError::IdempotencyKeyReused
            } else {
                ApiError::IdempotencyConflict
            });
        }
        Claim::Done {
            fingerprint: first,
            payload,
        } => {
            if first != fingerprint {
                state.metrics.idempotency("reused");
                return Err(ApiError::IdempotencyKeyReused);
            }
            state.metrics.idempotency("replayed");
            return replay(&payload);
        }
    }

    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(IdempotencyKey(key.clone()));
    // Spawned, so that a caller who hangs up does not cancel a create half-way: the answer is
    // still stored, and the caller's retry replays it.
    let response = match tokio::spawn(next(request)).await {
        Ok(response) => response,
        Err(e) => {
            let _ = state.store.release_claim(&scope, &key).await;
            return Err(ApiError::Internal(anyhow::anyhow!("handler failed: {e}")));
        }
    };
    let response = crate::error::render_now(response, request_id);
    let status = response.status();
    // Transient failures are not kept: the caller's retry must be able to run again (and the
    // upstream request carries the key, so Zernio will not post twice). Nor is a pending
    // create's 202 (or the compatible surface's 503 for it): its state changes, so a retry
    // runs again and answers the post as it is then (the create pipeline knows the key's
    // pending post and never sends it twice, nor refuses it as its own duplicate).
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::ACCEPTED
    {
        state.store.release_claim(&scope, &key).await?;
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading the answer: {e}")))?;
    let kept = parts
        .extensions
        .remove::<ReplayBody>()
        .map_or_else(|| bytes.clone(), |replay| replay.0);
    let stored = Stored {
        status: parts.status.as_u16(),
        headers: KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect(),
        body: STANDARD.encode(&kept),
    };
    let payload = serde_json::to_vec(&stored).map_err(|e| ApiError::Internal(e.into()))?;
    state
        .store
        .complete_claim(&scope, &key, &payload, KEEP)
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn fingerprint(method: &Method, path: &str, query: Option<&str>, body: &Bytes) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update([0]);
    hash.update(path);
    hash.update([0]);
    hash.update(query.unwrap_or_default());
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

fn replay(payload: &[u8]) -> Result<Response, ApiError> {
    let stored: Stored = serde_json::from_slice(payload)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored answer unreadable: {e}")))?;
    let body = STANDARD
        .decode(&stored.body)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored answer unreadable: {e}")))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    *response.headers_mut() = headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_printable_ascii() {
        assert!(valid_key(&HeaderValue::from_static("order-123")).is_some());
        assert!(valid_key(&HeaderValue::from_static("  ")).is_none());
        assert!(valid_key(&HeaderValue::from_str(&"k".repeat(255)).unwrap()).is_some());
        assert!(valid_key(&HeaderValue::from_str(&"k".repeat(256)).unwrap()).is_none());
        assert!(valid_key(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_none());
    }

    #[test]
    fn the_fingerprint_covers_method_path_query_and_body() {
        let body = Bytes::from_static(b"{}");
        let base = fingerprint(&Method::POST, "/v1/x", None, &body);
        assert_eq!(base, fingerprint(&Method::POST, "/v1/x", None, &body));
        assert_ne!(base, fingerprint(&Method::PATCH, "/v1/x", None, &body));
        assert_ne!(base, fingerprint(&Method::POST, "/v1/y", None, &body));
        assert_ne!(
            base,
            fingerprint(&Method::POST, "/v1/x", Some("a=1"), &body)
        );
        assert_ne!(
            base,
            fingerprint(&Method::POST, "/v1/x", None, &Bytes::from_static(b"[]"))
        );
    }
}
