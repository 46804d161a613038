//! Request rate limits with GCRA (the generic cell rate algorithm): one timestamp per key, the
//! "theoretical arrival time", says everything. The same arithmetic runs here for a single
//! instance and as a Lua script in Redis for several (see `store::redis`), so both answer alike.
//!
//! Hand-written rather than taken from `governor`: the Redis side must be written anyway, the
//! `RateLimit` headers need the arrival time that governor keeps private, and keeping one
//! arithmetic for both backends is what makes two replicas hold the same limit as one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use dashmap::DashMap;

use crate::store::{RateDecision, RatePolicy};

/// The arithmetic, in nanoseconds on any monotonic clock. `tat` is the stored theoretical
/// arrival time (0 for a key never seen). Returns the new `tat` to store when allowed.
pub fn gcra(tat: u64, now: u64, policy: RatePolicy) -> (Option<u64>, RateDecision) {
    let rate = u64::from(policy.rate.max(1));
    let burst = u64::from(policy.burst.max(1));
    let interval = (policy.period.as_nanos() as u64 / rate).max(1);
    let tolerance = interval.saturating_mul(burst);
    let tat = tat.max(now);
    let new_tat = tat.saturating_add(interval);
    if new_tat - now > tolerance {
        let decision = RateDecision {
            allowed: false,
            remaining: 0,
            reset_after: Duration::from_nanos(tat - now),
            retry_after: Duration::from_nanos(new_tat - tolerance - now),
        };
        return (None, decision);
    }
    let remaining = (tolerance - (new_tat - now)) / interval;
    let decision = RateDecision {
        allowed: true,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset_after: Duration::from_nanos(new_tat - now),
        retry_after: Duration::ZERO,
    };
    (Some(new_tat), decision)
}

/// In-process limiter for a single instance: a sharded map of atomics, no global lock.
pub struct LocalRateLimiter {
    epoch: Instant,
    cells: DashMap<String, AtomicU64>,
}

impl Default for LocalRateLimiter {
    fn default() -> Self {
        LocalRateLimiter {
            epoch: Instant::now(),
            // Offset so that 0 always means "never seen", whatever the first `now` is.
            cells: DashMap::new(),
        }
    }
}

impl LocalRateLimiter {
    pub fn check(&self, key: &str, policy: RatePolicy) -> RateDecision {
        let now = self.epoch.elapsed().as_nanos() as u64 + 1;
        if let Some(cell) = self.cells.get(key) {
            return Self::update(&cell, now, policy);
        }
        let cell = self
            .cells
            .entry(key.to_owned())
            .or_insert_with(|| AtomicU64::new(0));
        Self::update(&cell, now, policy)
    }

    /// Compare-and-swap until our decision is the one stored: concurrent requests on one key
    /// never both take the last unit.
    fn update(cell: &AtomicU64, now: u64, policy: RatePolicy) -> RateDecision {
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let (new_tat, decision) = gcra(current, now, policy);
            let Some(new_tat) = new_tat else {
                return decision;
            };
            match cell.compare_exchange_weak(current, new_tat, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return decision,
                Err(actual) => current = actual,
            }
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The reported state of the tightest limit a request passed, for its answer's headers.
pub struct Passed {
    name: &'static str,
    policy: RatePolicy,
    decision: RateDecision,
}

impl Passed {
    /// Tells the answer where the caller stands (`RateLimit-Policy`, `RateLimit`).
    pub fn annotate(self, response: &mut axum::response::Response) {
        let headers = response.headers_mut();
        let [(policy_name, policy_value), (state_name, state_value)] =
            header_values(self.name, self.policy, self.decision);
        if let Some(v) = policy_value {
            headers.insert(policy_name, v);
        }
        if let Some(v) = state_value {
            headers.insert(state_name, v);
        }
    }
}

/// Step of the tenant routes' guard (`routes::guard`), right after authentication: refuses a
/// request over its tenant's (or key's) limit with 429 `rate_limited`; what it passed is for
/// every answer's `RateLimit-Policy` and `RateLimit` headers. The key's own limit is checked
/// first, so that a noisy key refused by it spends none of its tenant's.
pub async fn check(
    state: &crate::AppState,
    caller: &crate::auth::Caller,
) -> Result<Passed, crate::error::ApiError> {
    let mut reported: Option<Passed> = None;
    if let (Some(policy), crate::auth::Principal::ApiKey(id)) =
        (caller.key_limit, &caller.principal)
    {
        let key = format!("key:{}:{id}", caller.tenant.id);
        reported = Some(decide(state, caller, "key", &key, policy).await?);
    }
    let tenant = decide(
        state,
        caller,
        "tenant",
        caller.tenant.rate_key(),
        caller.tenant.rate_policy(),
    )
    .await?;
    // The tightest of the limits is the one reported.
    Ok(match reported {
        Some(key) if key.decision.remaining <= tenant.decision.remaining => key,
        _ => tenant,
    })
}

async fn decide(
    state: &crate::AppState,
    caller: &crate::auth::Caller,
    name: &'static str,
    key: &str,
    policy: RatePolicy,
) -> Result<Passed, crate::error::ApiError> {
    let decision = state.store.rate_limit_request(key, policy).await?;
    if !decision.allowed {
        state.metrics.limit_refused(&caller.tenant.id, name);
        return Err(crate::error::ApiError::RateLimited {
            retry_after: decision.retry_after,
            headers: headers(name, policy, decision),
        });
    }
    Ok(Passed {
        name,
        policy,
        decision,
    })
}

/// `RateLimit-Policy: "tenant";q=120;w=60` and `RateLimit: "tenant";r=19;t=1`
/// (draft-ietf-httpapi-ratelimit-headers, structured-field syntax).
fn headers(name: &str, policy: RatePolicy, decision: RateDecision) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::with_capacity(2);
    for (header, value) in header_values(name, policy, decision) {
        if let Some(v) = value {
            headers.insert(header, v);
        }
    }
    headers
}

const RATELIMIT_POLICY: axum::http::HeaderName =
    axum::http::HeaderName::from_static("ratelimit-policy");
const RATELIMIT: axum::http::HeaderName = axum::http::HeaderName::from_static("ratelimit");

/// The two values, each formatted once into the buffer the header keeps (no copy).
fn header_values(
    name: &str,
    policy: RatePolicy,
    decision: RateDecision,
) -> [(axum::http::HeaderName, Option<axum::http::HeaderValue>); 2] {
    let value = |text: String| axum::http::HeaderValue::from_maybe_shared(Bytes::from(text)).ok();
    [
        (
            RATELIMIT_POLICY,
            value(format!(
                "\"{name}\";q={};w={}",
                policy.rate,
                policy.period.as_secs().max(1)
            )),
        ),
        (
            RATELIMIT,
            value(format!(
                "\"{name}\";r={};t={}",
                decision.remaining,
                seconds_to_report(decision)
            )),
        ),
    ]
}

/// The `t=` of `RateLimit`. A refusal's is the wait until the next request passes, the very
/// figure its `Retry-After` gives (`retry_after_secs` of the same decision): a client that reads
/// either header waits as long. A pass reports when the whole burst is back.
fn seconds_to_report(decision: RateDecision) -> u64 {
    if decision.allowed {
        ceil_secs(decision.reset_after)
    } else {
        retry_after_secs(decision.retry_after)
    }
}

/// Whole seconds to wait, never 0 for a refusal (a client would retry at once).
pub fn retry_after_secs(d: Duration) -> u64 {
    ceil_secs(d).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn per_minute(rate: u32, burst: u32) -> RatePolicy {
        RatePolicy {
            rate,
            period: Duration::from_secs(60),
            burst,
        }
    }

    #[test]
    fn a_burst_passes_then_one_request_per_interval() {
        let policy = per_minute(60, 3);
        let mut tat = 0;
        let now = 1_000 * SECOND;
        for expected_remaining in [2, 1, 0] {
            let (new_tat, d) = gcra(tat, now, policy);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            tat = new_tat.unwrap();
        }
        let (none, d) = gcra(tat, now, policy);
        assert!(none.is_none() && !d.allowed);
        assert_eq!(d.retry_after, Duration::from_secs(1));
        assert_eq!(d.reset_after, Duration::from_secs(3));
        // One interval later exactly one more passes.
        let (new_tat, d) = gcra(tat, now + SECOND, policy);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!gcra(new_tat.unwrap(), now + SECOND, policy).1.allowed);
    }

    #[test]
    fn an_idle_key_recovers_its_whole_burst_and_no_more() {
        let policy = per_minute(120, 5);
        let (tat, _) = gcra(0, SECOND, policy);
        let (_, d) = gcra(tat.unwrap(), 3_600 * SECOND, policy);
        assert_eq!(d.remaining, 4);
    }

    #[test]
    fn the_local_limiter_admits_exactly_the_burst_across_threads() {
        let limiter = std::sync::Arc::new(LocalRateLimiter::default());
        let policy = per_minute(1, 50);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| limiter.check("tenant", policy).allowed)
                        .count()
                })
            })
            .collect();
        let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(admitted, 50);
        assert!(
            limiter.check("other", policy).allowed,
            "keys are independent"
        );
    }
}
