//! The upstream budget: one Zernio key serves every tenant, so the gateway keeps all of them
//! together under the Zernio plan's per-minute limit, and shares it fairly. Each tenant has a
//! reserved minimum of its own; what is left of the ceiling is a shared pool that any tenant
//! may use once its own share is spent. A busy tenant can drain the pool, never another
//! tenant's reserve. (Zernio's own 429 pauses every call in the client, for everyone.)
//!
//! Charged for each call the gateway makes to Zernio, before it makes it. Most routes make
//! one, charged by this layer before the handler runs. The create pipeline charges its own:
//! the creator look-up only when the cache misses, and the post in the same store step that
//! holds its daily slot and duplicate claim (`Store::hold`), so a create refused for its
//! content, its budget or a duplicate spends nothing of Zernio's, and the charge costs no
//! store round trip of its own.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::{RatePolicy, UpstreamCharge};
use crate::zernio::{UpstreamError, UpstreamKind};

/// How much of Zernio a request to this route spends.
fn cost(method: &Method, route: &str) -> u32 {
    match (method.as_str(), route) {
        // Answered from the gateway's own records; a read that asks Zernio on purpose
        // (`Cache-Control: no-cache`) charges its own call.
        (
            "GET",
            "/v1/me"
            | "/v1/tiktok/posts"
            | "/v1/tiktok/posts/{id}"
            | "/v1/tiktok/posts/{id}/events"
            | "/api/v1/posts"
            | "/api/v1/posts/{id}",
        ) => 0,
        // Subscriptions and deliveries live in the gateway only.
        (_, route) if route.starts_with("/v1/webhooks/") => 0,
        // The pipeline charges these call by call (see the module's note).
        (
            "POST",
            "/v1/tiktok/posts/validate"
            | "/v1/tiktok/posts"
            | "/v1/hooks/tiktok/posts"
            | "/api/v1/posts",
        ) => 0,
        _ => 1,
    }
}

/// The reserved and shared policies for one tenant, from the configured ceiling.
pub fn policies(state: &AppState, tenant: &str) -> (RatePolicy, RatePolicy) {
    let budget = &state.config.upstream;
    let tenants = state.config.tenants.len() as u32;
    let reserved = budget.tenant_minimum(tenants);
    // The reconciler's share comes off the top.
    let reconcile = state
        .config
        .reconcile
        .per_minute(budget.requests_per_minute);
    let shared = budget
        .requests_per_minute
        .saturating_sub(reserved * tenants)
        .saturating_sub(reconcile)
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

/// The reconciler's own budget: its share of the ceiling, never the tenants'.
pub fn reconcile_policy(state: &AppState) -> RatePolicy {
    let rate = state
        .config
        .reconcile
        .per_minute(state.config.upstream.requests_per_minute)
        .max(1);
    RatePolicy {
        rate,
        period: Duration::from_secs(60),
        burst: (rate / 6).max(1),
    }
}

/// The limiter key of the reconciler's budget.
pub const RECONCILE_KEY: &str = "upstream:reconcile";

/// The keys and policies of one unit for `tenant`, as `Store::hold` takes them.
pub fn charge(state: &AppState, tenant: &str) -> UpstreamCharge {
    let (reserve, pool) = policies(state, tenant);
    UpstreamCharge {
        reserve_key: format!("upstream:tenant:{tenant}"),
        reserve,
        pool_key: "upstream:shared".to_owned(),
        pool,
    }
}

/// Takes one unit for `tenant`: from its reserve, else from the pool, else refuses.
pub async fn spend(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    let charge = charge(state, tenant);
    let reserve = state
        .store
        .rate_limit(&charge.reserve_key, charge.reserve)
        .await?;
    if reserve.allowed {
        return Ok(());
    }
    let pool = state
        .store
        .rate_limit(&charge.pool_key, charge.pool)
        .await?;
    if pool.allowed {
        return Ok(());
    }
    Err(busy(
        state,
        tenant,
        reserve.retry_after.min(pool.retry_after),
    ))
}

/// The refusal of a call the budget has no unit for before `retry_after`.
pub fn busy(state: &AppState, tenant: &str, retry_after: Duration) -> ApiError {
    state.metrics.limit_refused(tenant, "upstream");
    let mut error = UpstreamError::new(
        UpstreamKind::RateLimited,
        "the gateway is holding calls to Zernio under the plan's per-minute limit; \
         retry after the time given",
    );
    error.retry_after = Some(retry_after);
    ApiError::Upstream(error)
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
    if cost(request.method(), &route) > 0 {
        spend(&state, &caller.tenant.id).await?;
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::cost;
    use axum::http::Method;

    #[test]
    fn reads_of_own_records_cost_nothing_and_creates_are_charged_by_the_pipeline() {
        assert_eq!(cost(&Method::GET, "/v1/tiktok/posts"), 0);
        assert_eq!(cost(&Method::GET, "/v1/tiktok/posts/{id}"), 0);
        assert_eq!(cost(&Method::GET, "/api/v1/posts/{id}"), 0);
        assert_eq!(
            cost(&Method::GET, "/v1/tiktok/accounts/{id}/creator-info"),
            1
        );
        assert_eq!(cost(&Method::POST, "/v1/tiktok/posts"), 0);
        assert_eq!(cost(&Method::POST, "/api/v1/posts"), 0);
        assert_eq!(cost(&Method::POST, "/v1/tiktok/posts/validate"), 0);
    }
}
