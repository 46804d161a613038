//! The upstream budget: one Zernio key serves every tenant, so the gateway keeps all of them
//! together under the Zernio plan's per-minute limit, and shares it fairly. Each tenant has a
//! reserved minimum of its own; what is left of the ceiling is a shared pool that any tenant
//! may use once its own share is spent. A busy tenant can drain the pool, never another
//! tenant's reserve. (Zernio's own 429 pauses every call in the client, for everyone.)
//!
//! Charged per request before the handler runs, by what the route costs upstream: a create
//! also looks the creator up, so it costs two calls.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::RatePolicy;
use crate::zernio::{UpstreamError, UpstreamKind};

/// How much of Zernio a request to this route spends.
fn cost(method: &Method, route: &str) -> u32 {
    match (method.as_str(), route) {
        // Answered from the gateway's own records.
        ("GET", "/v1/me" | "/v1/tiktok/posts" | "/api/v1/posts") => 0,
        // Subscriptions and deliveries live in the gateway only.
        (_, route) if route.starts_with("/v1/webhooks/") => 0,
        ("POST", "/v1/tiktok/posts/validate") => 1,
        ("POST", "/v1/tiktok/posts" | "/v1/hooks/tiktok/posts" | "/api/v1/posts") => 2,
        _ => 1,
    }
}

/// The reserved and shared policies for one tenant, from the configured ceiling.
pub fn policies(state: &AppState, tenant: &str) -> (RatePolicy, RatePolicy) {
    let budget = &state.config.upstream;
    let tenants = state.config.tenants.len() as u32;
    let reserved = budget.tenant_minimum(tenants);
    let shared = budget
        .requests_per_minute
        .saturating_sub(reserved * tenants)
        .max(1);
    let _ = tenant;
    // A few seconds of burst each: smooth enough for Zernio's one-minute window.
    let burst = |rate: u32| (rate / 6).max(1);
    (
        RatePolicy {
            rate: reserved.max(1),
            period: Duration::from_secs(60),
            burst: burst(reserved.max(1)),
        },
        RatePolicy {
            rate: shared,
            period: Duration::from_secs(60),
            burst: burst(shared),
        },
    )
}

/// Layer of the tenant routes, after authentication and the tenant's own rate limit.
pub async fn enforce(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return Ok(next.run(request).await);
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let units = cost(request.method(), &route);
    if units == 0 {
        return Ok(next.run(request).await);
    }
    let tenant = &caller.tenant.id;
    let (reserved, shared) = policies(&state, tenant);
    let own_key = format!("upstream:tenant:{tenant}");
    // The common case in one store round trip: all of the request's units from the tenant's
    // reserve (a refused weighted decision spends nothing). Otherwise unit by unit, each from
    // the reserve or else the pool, so that a request costing more than a small reserve's
    // burst still passes on the pool.
    if units > 1
        && state
            .store
            .rate_limit(&own_key, reserved, units)
            .await?
            .allowed
    {
        return Ok(next.run(request).await);
    }
    for _ in 0..units {
        let own = state.store.rate_limit(&own_key, reserved, 1).await?;
        if own.allowed {
            continue;
        }
        let pool = state.store.rate_limit("upstream:shared", shared, 1).await?;
        if !pool.allowed {
            state.metrics.limit_refused(tenant, "upstream");
            let mut error = UpstreamError::new(
                UpstreamKind::RateLimited,
                "the gateway is holding calls to Zernio under the plan's per-minute limit; \
                 retry after the time given",
            );
            error.retry_after = Some(own.retry_after.min(pool.retry_after));
            return Err(ApiError::Upstream(error));
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::cost;
    use axum::http::Method;

    #[test]
    fn reads_of_own_records_cost_nothing_and_creates_two() {
        assert_eq!(cost(&Method::GET, "/v1/tiktok/posts"), 0);
        assert_eq!(cost(&Method::GET, "/v1/tiktok/posts/{id}"), 1);
        assert_eq!(cost(&Method::POST, "/v1/tiktok/posts"), 2);
        assert_eq!(cost(&Method::POST, "/api/v1/posts"), 2);
    }
}
