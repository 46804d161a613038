//! The delivery worker: leases due deliveries from the outbox, sends each as a Standard Webhook,
//! and records what came of it.
//!
//! - A 2xx is success. A `410 Gone` unsubscribes the target (REST Hooks). Anything else, or no
//!   answer, is retried on the configured schedule with ±20 % jitter, never sooner than a 429's
//!   or 503's `Retry-After`; after the last wait the delivery is kept as `failed`.
//! - One shared HTTP client: a timeout per attempt, no redirects (a redirect could lead anywhere,
//!   including the gateway's own network), no proxies from the environment, and a resolver that
//!   refuses private addresses for hosts the operator did not allow.
//! - Fair across tenants: one replica attempts at most `max_in_flight` deliveries at once, and
//!   of those at most `max_in_flight_per_tenant` of one tenant; the store hands out due
//!   deliveries round by tenant within those shares. A tenant whose targets are slow fills its
//!   own share, never the others' slots.
//! - The worker sleeps until it is woken (an event was enqueued here), a retry of its own comes
//!   due, or the poll interval passes (work enqueued by another replica). On shutdown it lets
//!   attempts in flight finish for a moment, then gives their leases back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::Hub;
use super::signing;
use super::targets::TargetPolicy;
use crate::AppState;
use crate::config::WebhooksConfig;
use crate::metrics::WebhookMetrics;
use crate::store::{Attempt, Delivery, DeliveryStatus, Fairness, Store};

/// The longest a `Retry-After` is honoured for; a target asking for more is retried then.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How often the outbox gauges are refreshed at most.
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// A running worker; `stop` ends it cleanly.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops leasing, lets attempts in flight finish (up to the attempt timeout), gives back
    /// the leases of those that did not, and waits for the worker to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "webhook worker ended abnormally");
        }
    }
}

struct Shared {
    store: Arc<dyn Store>,
    metrics: WebhookMetrics,
    http: reqwest::Client,
    policy: TargetPolicy,
    schedule: Vec<Duration>,
    sealer: crate::secrets::Sealer,
}

/// Starts this replica's delivery worker.
pub fn spawn(state: &AppState) -> anyhow::Result<WorkerHandle> {
    let config = &state.config.webhooks;
    let policy = TargetPolicy::new(config);
    let timeout = Duration::from_secs_f64(config.request_timeout_secs);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .dns_resolver(Arc::new(policy.resolver()))
        .user_agent(concat!(
            "tiktok-gateway-webhooks/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()?;
    let shared = Arc::new(Shared {
        store: state.store.clone(),
        metrics: state.metrics.webhooks().clone(),
        http,
        policy,
        schedule: config
            .retry_schedule_secs
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect(),
        sealer: state.secrets.clone(),
    });
    let (stop, stopped) = watch::channel(false);
    let worker = Worker {
        shared,
        hub: state.webhooks.clone(),
        config: config.clone(),
        timeout,
    };
    let task = tokio::spawn(worker.run(stopped));
    Ok(WorkerHandle { stop, task })
}

struct Worker {
    shared: Arc<Shared>,
    hub: Hub,
    config: WebhooksConfig,
    timeout: Duration,
}

impl Worker {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let lease = Duration::from_secs_f64(self.config.lease_secs);
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut in_flight: JoinSet<Option<DateTime<Utc>>> = JoinSet::new();
        let mut leases: HashMap<tokio::task::Id, Leased> = HashMap::new();
        let per_tenant = self.config.per_tenant_in_flight();
        let mut next_retry: Option<Instant> = None;
        let mut gauges_at: Option<Instant> = None;
        let mut store_failing = false;
        loop {
            if *stopped.borrow() {
                break;
            }
            if gauges_at.is_none_or(|at| at.elapsed() >= GAUGE_INTERVAL) {
                self.refresh_gauges().await;
                gauges_at = Some(Instant::now());
            }
            if next_retry.is_some_and(|at| at <= Instant::now()) {
                next_retry = None;
            }
            let free = (self.config.max_in_flight as usize).saturating_sub(in_flight.len());
            if free > 0 {
                let fairness = Fairness {
                    per_tenant,
                    in_flight: tenants_in_flight(&leases),
                };
                match self
                    .shared
                    .store
                    .lease_deliveries_fairly(Utc::now(), lease, free as u32, &fairness)
                    .await
                {
                    Ok(batch) => {
                        store_failing = false;
                        for delivery in batch {
                            let Some(token) = delivery.lease.clone() else {
                                continue;
                            };
                            let leased = Leased {
                                id: delivery.id.clone(),
                                token,
                                tenant: delivery.tenant.clone(),
                                running: true,
                            };
                            let shared = self.shared.clone();
                            let handle =
                                in_flight.spawn(async move { attempt(&shared, delivery).await });
                            leases.insert(handle.id(), leased);
                        }
                    }
                    Err(e) => {
                        // Said once per outage, not once per poll.
                        if !store_failing {
                            tracing::warn!(error = %e, "webhook outbox unavailable");
                        }
                        store_failing = true;
                    }
                }
            }
            let wake_at = next_retry
                .map(|at| at.min(Instant::now() + poll))
                .unwrap_or_else(|| Instant::now() + poll);
            tokio::select! {
                _ = stopped.changed() => {}
                _ = self.hub.notified() => {}
                _ = tokio::time::sleep_until(wake_at) => {}
                Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    if let Some(at) = finished(&mut leases, done) {
                        let wait = (at - Utc::now()).to_std().unwrap_or_default();
                        let at = Instant::now() + wait;
                        next_retry = Some(next_retry.map_or(at, |n| n.min(at)));
                    }
                }
            }
        }
        self.drain(in_flight, leases).await;
    }

    async fn refresh_gauges(&self) {
        match self.shared.store.outbox_stats().await {
            Ok(stats) => {
                let age = stats
                    .oldest_pending
                    .map(|t| (Utc::now() - t).num_milliseconds() as f64 / 1000.0)
                    .unwrap_or(0.0);
                self.shared.metrics.outbox(stats.pending, age);
            }
            Err(e) => tracing::debug!(error = %e, "outbox stats unavailable"),
        }
    }

    /// Shutdown: attempts in flight get as long as one attempt may take; the rest are given back.
    async fn drain(
        &self,
        mut in_flight: JoinSet<Option<DateTime<Utc>>>,
        mut leases: HashMap<tokio::task::Id, Leased>,
    ) {
        let deadline = Instant::now() + self.timeout + Duration::from_secs(1);
        while !in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, in_flight.join_next_with_id()).await {
                Ok(Some(done)) => {
                    finished(&mut leases, done);
                }
                Ok(None) => break,
                Err(_) => {
                    in_flight.abort_all();
                    while in_flight.join_next().await.is_some() {}
                    break;
                }
            }
        }
        for leased in leases.into_values() {
            if let Err(e) = self
                .shared
                .store
                .release_delivery(&leased.id, &leased.token)
                .await
            {
                tracing::warn!(error = %e, delivery = %leased.id, "could not give a webhook lease back; it runs out by itself");
            }
        }
    }
}

/// A delivery being attempted: what gives its lease back, and whose share it takes.
struct Leased {
    id: String,
    token: String,
    tenant: String,
    running: bool,
}

/// Deliveries being attempted, by tenant.
fn tenants_in_flight(leases: &HashMap<tokio::task::Id, Leased>) -> HashMap<String, u32> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for leased in leases.values().filter(|l| l.running) {
        *counts.entry(leased.tenant.clone()).or_default() += 1;
    }
    counts
}

/// Forgets the lease of a finished attempt; its next attempt, when it has one.
fn finished(
    leases: &mut HashMap<tokio::task::Id, Leased>,
    done: Result<(tokio::task::Id, Option<DateTime<Utc>>), tokio::task::JoinError>,
) -> Option<DateTime<Utc>> {
    match done {
        Ok((id, next)) => {
            leases.remove(&id);
            next
        }
        Err(e) => {
            // A panicked attempt keeps its entry, so that its lease is given back at shutdown;
            // until then the lease runs out by itself. It no longer takes its tenant's share.
            if let Some(leased) = leases.get_mut(&e.id()) {
                leased.running = false;
            }
            tracing::error!(error = %e, "a webhook attempt failed abnormally");
            None
        }
    }
}

/// What the target answered, if anything.
struct Sent {
    status: Option<u16>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

/// One attempt of one delivery; the time of the next attempt, when there is one.
async fn attempt(shared: &Shared, delivery: Delivery) -> Option<DateTime<Utc>> {
    let lease = delivery.lease.clone()?;
    let subscription = match shared
        .store
        .subscription(&delivery.tenant, &delivery.subscription)
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            let result = Attempt {
                at: Utc::now(),
                status: DeliveryStatus::Failed,
                next_attempt_at: None,
                status_code: None,
                error: Some("the subscription was deleted".into()),
            };
            record(shared, &delivery, &lease, &result).await;
            shared.metrics.delivery("dropped");
            return None;
        }
        Err(e) => {
            // The lease runs out and the delivery is attempted again then.
            tracing::warn!(error = %e, delivery = %delivery.id, "cannot read a webhook subscription");
            return None;
        }
    };
    // A secret no configured key opens fails the attempt, retried on the schedule: the
    // operator who configures the key again in time loses no event.
    let sent = match shared.sealer.open(&subscription.secret, &subscription.id) {
        Ok(opened) => send(shared, &subscription.target_url, &opened.secret, &delivery).await,
        Err(e) => Sent {
            status: None,
            error: Some(format!("the subscription's secret cannot be opened: {e}")),
            retry_after: None,
        },
    };
    let now = Utc::now();
    let status = sent.status;
    let (result, outcome) = match status {
        Some(code) if (200..300).contains(&code) => (
            Attempt {
                at: now,
                status: DeliveryStatus::Delivered,
                next_attempt_at: None,
                status_code: status,
                error: None,
            },
            "delivered",
        ),
        Some(410) => (
            Attempt {
                at: now,
                status: DeliveryStatus::Failed,
                next_attempt_at: None,
                status_code: status,
                error: Some("the target answered 410 Gone: unsubscribed".into()),
            },
            "gone",
        ),
        _ => {
            let error = sent
                .error
                .or_else(|| status.map(|c| format!("the target answered {c}")));
            match next_attempt(shared, delivery.attempts, sent.retry_after, now) {
                Some(next) => (
                    Attempt {
                        at: now,
                        status: DeliveryStatus::Pending,
                        next_attempt_at: Some(next),
                        status_code: status,
                        error,
                    },
                    "retry",
                ),
                None => (
                    Attempt {
                        at: now,
                        status: DeliveryStatus::Failed,
                        next_attempt_at: None,
                        status_code: status,
                        error,
                    },
                    "failed",
                ),
            }
        }
    };
    let recorded = record(shared, &delivery, &lease, &result).await;
    shared.metrics.delivery(outcome);
    match outcome {
        "gone" => {
            tracing::info!(subscription = %subscription.id, "webhook target answered 410 Gone: unsubscribing");
            if let Err(e) = shared
                .store
                .delete_subscription(&subscription.tenant, &subscription.id)
                .await
            {
                tracing::warn!(error = %e, subscription = %subscription.id, "could not delete a gone subscription");
            }
        }
        "failed" => tracing::warn!(
            delivery = %delivery.id,
            subscription = %subscription.id,
            status = ?status,
            attempts = delivery.attempts + 1,
            "webhook delivery failed for good"
        ),
        _ => {}
    }
    if recorded {
        result.next_attempt_at
    } else {
        None
    }
}

/// When to try again after attempt number `attempts + 1` failed; `None` when it was the last.
fn next_attempt(
    shared: &Shared,
    attempts: u32,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let wait = *shared.schedule.get(attempts as usize)?;
    // Jitter spreads the retries of many deliveries that failed together (a target's outage).
    let jittered = wait.mul_f64(rand::rng().random_range(0.8..=1.2));
    let wait = match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    };
    let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::days(1));
    Some(now + wait)
}

async fn record(shared: &Shared, delivery: &Delivery, lease: &str, result: &Attempt) -> bool {
    match shared
        .store
        .record_attempt(&delivery.id, lease, result)
        .await
    {
        Ok(true) => true,
        Ok(false) => {
            tracing::info!(delivery = %delivery.id, "webhook lease ran out before the attempt was recorded");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, delivery = %delivery.id, "could not record a webhook attempt; it will be attempted again");
            false
        }
    }
}

async fn send(shared: &Shared, target: &str, secret: &str, delivery: &Delivery) -> Sent {
    let failed = |error: String| Sent {
        status: None,
        error: Some(error),
        retry_after: None,
    };
    let url = match shared.policy.check_static(target) {
        Ok(url) => url,
        Err(refused) => return failed(refused.detail),
    };
    let timestamp = Utc::now().timestamp();
    let Some(signature) =
        signing::sign(secret, &delivery.id, timestamp, delivery.payload.as_bytes())
    else {
        return failed("the subscription's secret is not a whsec_ secret".into());
    };
    let response = shared
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &delivery.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = matches!(status, 429 | 503)
                .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
                .flatten()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::zernio::parse_retry_after(v, Utc::now()));
            Sent {
                status: Some(status),
                error: None,
                retry_after,
            }
        }
        Err(e) => failed(transport_error(&e)),
    }
}

/// A transport failure in words, without the URL (a target's query may carry its token): the
/// causes below reqwest's own error, which is the part that names the URL.
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the target did not answer in time".into();
    }
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        "the target could not be reached".into()
    } else {
        format!("the target could not be reached: {}", causes.join(": "))
    }
}
