//! The reconciler: the record stays true when Zernio's webhooks are lost or late. A worker
//! reads from Zernio the posts whose state can still change (publishing; scheduled and due;
//! published without its TikTok URL; a draft waiting in the Creator Inbox), each on the backoff
//! of `record::next_sync` (15 s, 30 s, 1 min, 2 min, 5 min ... hourly, giving up after 48 h),
//! out of a share of the upstream budget of its own, and applies what it finds exactly as a
//! webhook would be applied (`record::apply`): in order, announced to the tenant once.
//!
//! A `pending` create (Zernio's outcome unknown) is looked up by its tag instead, on a short
//! backoff of its own, until it is found or its window ends (`pending.rs`).
//!
//! Replicas on one store share the schedule; a lease on each post (a store claim) keeps two of
//! them from reading the same post at once, and the schedule read again under the lease keeps
//! the second from reading what the first has just read.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::limits::upstream::{RECONCILE_KEY, reconcile_policy};
use crate::record::{self, Observation};
use crate::store::{ChangeSource, Claim};
use crate::zernio::{CallContext, UpstreamKind};

/// The claim scope of the reconciler's leases.
const LEASE_SCOPE: &str = "reconcile";
/// Long enough for one read; a replica that dies holding it frees it by then.
const LEASE: Duration = Duration::from_secs(30);

/// The running worker.
pub struct Reconciler {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Reconciler {
    /// Stops the worker after the read in progress, if any.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Starts the worker, unless `[reconcile] enabled = false`.
pub fn spawn(state: &AppState) -> Reconciler {
    let (stop, mut stopped) = watch::channel(false);
    let task = state.config.reconcile.enabled.then(|| {
        let state = state.clone();
        let every = Duration::from_millis(state.config.reconcile.interval_ms);
        let owner = format!("reconciler-{}", uuid::Uuid::new_v4().simple());
        tokio::spawn(async move {
            loop {
                let pause = match pass(&state, &owner).await {
                    Ok(Some(wait)) => wait.max(every),
                    Ok(None) => every,
                    Err(e) => {
                        tracing::warn!(error = %e, "reconcile pass failed");
                        every
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stopped.changed() => return,
                }
            }
        })
    });
    Reconciler { stop, task }
}

/// One look at the schedule: reads every post that is due, as far as the budget allows.
/// `Some(wait)` when the budget ran out (until it has a unit again).
pub async fn pass(
    state: &AppState,
    owner: &str,
) -> Result<Option<Duration>, crate::error::ApiError> {
    let due = state
        .store
        .due_for_sync(Utc::now(), state.config.reconcile.batch)
        .await?;
    // The backlog, for the dashboard: how many are due and how late the soonest due one is.
    let lag = match due.first() {
        Some(first) => state
            .store
            .post_by_id(first)
            .await?
            .and_then(|r| r.sync.next_sync_at)
            .map(|at| (Utc::now() - at).num_milliseconds() as f64 / 1000.0)
            .unwrap_or(0.0),
        None => 0.0,
    };
    state.metrics.ops().reconcile_backlog(due.len(), lag);
    for id in due {
        match state.store.claim(LEASE_SCOPE, &id, owner, LEASE).await? {
            Claim::Acquired => {}
            // Another replica reads it now.
            _ => continue,
        }
        let outcome = reconcile(state, &id).await;
        if let Err(e) = state.store.release_claim(LEASE_SCOPE, &id).await {
            tracing::warn!(error = %e, post = %id, "could not release a reconcile lease");
        }
        if let Some(wait) = outcome? {
            return Ok(Some(wait));
        }
    }
    Ok(None)
}

/// Reads one post from Zernio if it is still due; `Some(wait)` when the budget has no unit.
async fn reconcile(state: &AppState, id: &str) -> Result<Option<Duration>, crate::error::ApiError> {
    let metrics = state.metrics.read_model();
    // Under the lease, the schedule again: another replica may have just read it.
    let Some(record) = state.store.post_by_id(id).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    if record.sync.next_sync_at.is_none_or(|at| at > now) {
        return Ok(None);
    }
    let unit = state
        .store
        .rate_limit(RECONCILE_KEY, reconcile_policy(state))
        .await?;
    if !unit.allowed {
        return Ok(Some(unit.retry_after));
    }
    let request_id = format!("reconcile-{}", uuid::Uuid::new_v4().simple());
    if record.status == crate::pending::STATUS {
        // Zernio knows no post by the gateway's id: a pending create is found by its tag.
        let ctx = CallContext {
            request_id: &request_id,
        };
        let outcome = match crate::pending::settle(state, &ctx, &record).await? {
            crate::pending::Settled::Found(_) => "found",
            crate::pending::Settled::Unknown(r) if r.status == crate::pending::STATUS => "pending",
            crate::pending::Settled::Unknown(_) => "never_found",
        };
        metrics.reconciled(outcome);
        return Ok(None);
    }
    let read = state
        .upstream
        .client
        .get_post_once(
            &CallContext {
                request_id: &request_id,
            },
            id,
        )
        .await;
    let (seen, post) = match read {
        Ok(post) => (
            Observation::of_post(&post, ChangeSource::Reconcile, Utc::now()),
            Some(post),
        ),
        Err(e) => {
            // Nothing learnt: the post waits its next step of the backoff.
            let outcome = if e.kind == UpstreamKind::NotFound {
                "gone"
            } else {
                "failed"
            };
            metrics.reconciled(outcome);
            tracing::info!(post = %id, code = e.code(), "reconcile read failed");
            let mut seen = Observation::new(ChangeSource::Reconcile, Utc::now());
            seen.confirmed = false;
            (seen, None)
        }
    };
    if let Some(applied) = record::apply(state, id, &seen, post.as_ref()).await?
        && post.is_some()
    {
        metrics.reconciled(if applied.changed {
            "changed"
        } else {
            "unchanged"
        });
    }
    Ok(None)
}
