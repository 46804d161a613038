//! Operations on a tenant's existing posts, shared by the native and the Zernio-compatible
//! routes (which differ only in shapes): each one first makes sure the post is the tenant's,
//! then asks Zernio, then keeps the gateway's record in step.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits;
use crate::record::{self, Observation};
use crate::store::{ChangeSource, PostRecord};
use crate::tiktok;
use crate::zernio::{self, CallContext};

/// The tenant's record of a post, or 404 (whether it does not exist or is another tenant's).
/// A pending create's id reads the post Zernio made once it is found.
pub async fn owned(state: &AppState, tenant: &str, id: &str) -> Result<PostRecord, ApiError> {
    crate::pending::tenant_post(state, tenant, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The record as it is: no upstream call.
    Record,
    /// Confirmed by Zernio within this long, else read from Zernio (`max-age=N`; 0 is `no-cache`).
    MaxAge(std::time::Duration),
}

/// The tenant's post for a read: from the record (which webhooks and the reconciler keep
/// true), or from Zernio when the record is older than the caller accepts. Concurrent reads of
/// one post that must ask Zernio share one call: the first asks, the others wait for it and
/// take what it recorded, as that is as fresh as they asked for.
pub async fn read(
    state: &AppState,
    tenant: &str,
    id: &str,
    freshness: Freshness,
    request_id: &str,
) -> Result<Arc<PostRecord>, ApiError> {
    let record = match state.store.shared_post(tenant, id).await? {
        Some(record) => record,
        // The id a pending create was answered with, found since under Zernio's.
        None => Arc::new(owned(state, tenant, id).await?),
    };
    let id = record.id.as_str();
    let Freshness::MaxAge(max_age) = freshness else {
        state.metrics.read_model().read("record");
        return Ok(record);
    };
    if record.id == record.request_id && record.status != crate::pending::STATUS {
        // Under the gateway's own id: a create never found, which Zernio knows nothing of.
        state.metrics.read_model().read("record");
        return Ok(record);
    }
    if record.status == crate::pending::STATUS {
        // Zernio knows no post by this id: asking now is one more look-up by its tag.
        crate::limits::upstream::spend(state, tenant).await?;
        let settled = crate::pending::settle(state, &CallContext { request_id }, &record).await?;
        state.metrics.read_model().read("upstream");
        return Ok(Arc::new(settled.record()));
    }
    // At the record's precision: a confirmation in the same millisecond is fresh enough.
    let asked = crate::store::kept(Utc::now());
    let oldest = asked - chrono::TimeDelta::from_std(max_age).unwrap_or(chrono::TimeDelta::MAX);
    if max_age > std::time::Duration::ZERO && record.sync.synced_at.is_some_and(|t| t >= oldest) {
        state.metrics.read_model().read("record");
        return Ok(record);
    }
    let _turn = state.reads.turn(id.to_owned()).await;
    {
        // Another read's call ended while this one waited: what it recorded is fresh enough.
        let current = owned(state, tenant, id).await?;
        if current.sync.synced_at.is_some_and(|t| t >= asked) {
            state.metrics.read_model().read("shared");
            return Ok(Arc::new(current));
        }
        crate::limits::upstream::spend(state, tenant).await?;
        let post = state
            .upstream
            .client
            .get_post_once(&CallContext { request_id }, id)
            .await?;
        state.metrics.read_model().read("upstream");
        let now = crate::store::kept(Utc::now());
        let seen = Observation::of_post(&post, ChangeSource::Read, now);
        // Nothing new: the confirmation is shown from the cache and written at most every
        // `confirm_write_every_ms` per post (a no-cache poller wrote the record on every read).
        let every = std::time::Duration::from_millis(state.config.reconcile.confirm_write_every_ms);
        let mut current = current;
        // A second look when the first fails: the record read before the call may have left
        // the cache since, or been replaced by a newer one (a write, a change heard from another
        // replica). Reading it again puts it back, so a poller whose entry was dropped confirms
        // in place instead of writing.
        for look in 0..2 {
            if record::only_confirms(&current, &seen, now)
                && let Some(confirmed) =
                    state
                        .store
                        .confirm_cached(id, current.sync.revision, now, every)
            {
                return Ok(confirmed);
            }
            if look > 0 {
                break;
            }
            match state.store.post_by_id(id).await? {
                Some(fresh) => current = fresh,
                None => break,
            }
        }
        let applied = record::apply(state, id, &seen, Some(&post)).await?;
        Ok(Arc::new(applied.map(|a| a.record).unwrap_or(current)))
    }
}

/// The single-flight gates of reads that ask Zernio, one per post being read.
pub type Reads = crate::single_flight::Gates<String>;

/// Waits until the tenant's post no longer has the tag `seen` (its state changed) or `wait`
/// passes, and answers the record as it is then. Costs no upstream call: it listens to the
/// store's change feed (this replica's writes and, on Redis, the others').
pub async fn wait_for_change(
    state: &AppState,
    tenant: &str,
    id: &str,
    seen: &str,
    wait: std::time::Duration,
    tag: impl Fn(&PostRecord) -> String,
) -> Result<Arc<PostRecord>, ApiError> {
    use tokio::sync::broadcast::error::RecvError;
    let deadline = tokio::time::Instant::now() + wait;
    // Listening starts before the record is read again, so no change can fall in between.
    let mut changes = state.store.changes();
    loop {
        let record = state
            .store
            .shared_post(tenant, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if tag(&record) != seen {
            return Ok(record);
        }
        let Some(feed) = changes.as_mut() else {
            tokio::time::sleep_until(deadline).await;
            return Ok(record);
        };
        loop {
            match tokio::time::timeout_at(deadline, feed.recv()).await {
                Err(_) => return Ok(record),
                Ok(Ok(changed)) if changed != id && changed != crate::store::redis::ALL_CHANGED => {
                    continue;
                }
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep_until(deadline).await;
                    return Ok(record);
                }
                // This post, everything, or missed some: look again.
                Ok(_) => break,
            }
        }
    }
}

/// A new time, time zone or caption for a scheduled post or a draft.
pub struct Edit<'a> {
    pub schedule_at: Option<DateTime<Utc>>,
    pub timezone: Option<&'a str>,
    pub caption: Option<&'a str>,
}

/// Edits a post, and leaves its entry in the audit trail whatever the outcome.
pub async fn edit(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request_id: &str,
    edit: Edit<'_>,
) -> Result<(PostRecord, zernio::Post), ApiError> {
    let mut facts = audit::Facts::default();
    let result = edit_post(state, &caller.tenant.id, id, request_id, edit, &mut facts).await;
    audit::record(
        state,
        caller,
        request_id,
        "post.edit",
        facts,
        audit::outcome(&result, 200),
    )
    .await;
    result
}

async fn edit_post(
    state: &AppState,
    tenant: &str,
    id: &str,
    request_id: &str,
    edit: Edit<'_>,
    facts: &mut audit::Facts,
) -> Result<(PostRecord, zernio::Post), ApiError> {
    let ctx = CallContext { request_id };
    let found = owned(state, tenant, id).await?;
    *facts = audit::Facts::of_record(&found);
    let mut record = crate::pending::for_action(state, &ctx, found, "edited").await?;
    *facts = audit::Facts::of_record(&record);
    editable(&record)?;
    let body = tiktok::edit_payload(
        &record.kind,
        edit.schedule_at,
        edit.timezone,
        edit.caption,
        tiktok::Moment::new(Utc::now(), state.config.posts.schedule_horizon_days),
    )
    .map_err(|e| state.rejected(e))?;
    facts.payload_sha256 = Some(audit::digest_of(&body));
    let send = state.upstream.client.update_post(&ctx, &record.id, &body);
    let post = limits::budget::reschedule(state, &record, edit.schedule_at, send).await?;
    let mut seen = Observation::new(ChangeSource::Edit, Utc::now());
    seen.status = Some(post.status.as_str().to_owned());
    seen.schedule_at = edit.schedule_at.map(Some);
    if let Some(applied) = record::apply(state, &record.id, &seen, Some(&post)).await? {
        record = applied.record;
    }
    Ok((record, post))
}

/// A Creator Inbox draft's status says where Zernio's delivery stands, not that the creator
/// posted it: what can still change about it is Zernio's to say.
const INBOX_DRAFT: &str = "draft";

/// Zernio edits draft, scheduled, failed, partial and cancelled posts (its OpenAPI, `PUT
/// /v1/posts/{postId}`). A published post is final, and a publishing one is in TikTok's hands:
/// the record knows both, so the caller hears why at once instead of Zernio's bare refusal, and
/// no upstream call is spent. Any other status goes to Zernio, which has the last word.
fn editable(record: &PostRecord) -> Result<(), ApiError> {
    if crate::pending::never_made(record) {
        return Err(ApiError::PostStatusConflict {
            code: "post_not_editable",
            detail: never_made_detail(record),
        });
    }
    if record.mode == INBOX_DRAFT {
        return Ok(());
    }
    let id = &record.id;
    let detail = match record.status.as_str() {
        "published" => format!(
            "post `{id}` is published: TikTok does not let a published post be edited or \
             rescheduled. Change it in the TikTok app, or delete it there and create a new post"
        ),
        "publishing" => format!(
            "post `{id}` is publishing: it can no longer be edited. Wait for its outcome \
             (GET /v1/tiktok/posts/{id}); a failed post can be edited, then retried"
        ),
        _ => return Ok(()),
    };
    Err(ApiError::PostStatusConflict {
        code: "post_not_editable",
        detail,
    })
}

/// A create whose outcome stayed unknown and that was never found: Zernio has no such post.
fn never_made_detail(record: &PostRecord) -> String {
    format!(
        "post `{}` was never made: Zernio's answer to its create was lost and no post with its \
         tag appeared within the pending window. Nothing reached TikTok; create it again",
        record.id
    )
}

/// Zernio deletes a post in any status but published (its OpenAPI, `DELETE
/// /v1/posts/{postId}`: "Published posts cannot be deleted").
fn cancellable(record: &PostRecord) -> Result<(), ApiError> {
    if crate::pending::never_made(record) {
        return Err(ApiError::PostStatusConflict {
            code: "post_not_cancellable",
            detail: never_made_detail(record),
        });
    }
    if record.status != "published" || record.mode == INBOX_DRAFT {
        return Ok(());
    }
    Err(ApiError::PostStatusConflict {
        code: "post_not_cancellable",
        detail: format!(
            "post `{}` is published: it can no longer be cancelled. Delete it in the TikTok app",
            record.id
        ),
    })
}

/// Cancels a post, and leaves its entry in the audit trail whatever the outcome.
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request_id: &str,
) -> Result<(), ApiError> {
    let mut facts = audit::Facts::default();
    let result = cancel_post(state, &caller.tenant.id, id, request_id, &mut facts).await;
    audit::record(
        state,
        caller,
        request_id,
        "post.cancel",
        facts,
        audit::outcome(&result, 204),
    )
    .await;
    result
}

async fn cancel_post(
    state: &AppState,
    tenant: &str,
    id: &str,
    request_id: &str,
    facts: &mut audit::Facts,
) -> Result<(), ApiError> {
    let ctx = CallContext { request_id };
    let found = owned(state, tenant, id).await?;
    *facts = audit::Facts::of_record(&found);
    let record = crate::pending::for_action(state, &ctx, found, "cancelled").await?;
    *facts = audit::Facts::of_record(&record);
    cancellable(&record)?;
    state.upstream.client.delete_post(&ctx, &record.id).await?;
    limits::budget::cancelled(state, &record).await;
    let mut seen = Observation::new(ChangeSource::Cancel, Utc::now());
    seen.status = Some("cancelled".to_owned());
    record::apply(state, &record.id, &seen, None).await?;
    Ok(())
}

/// Retries a failed post, and leaves its entry in the audit trail whatever the outcome.
pub async fn retry(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request_id: &str,
) -> Result<(PostRecord, zernio::Post), ApiError> {
    let mut facts = audit::Facts::default();
    let result = retry_post(state, &caller.tenant.id, id, request_id, &mut facts).await;
    audit::record(
        state,
        caller,
        request_id,
        "post.retry",
        facts,
        audit::outcome(&result, 200),
    )
    .await;
    result
}

async fn retry_post(
    state: &AppState,
    tenant: &str,
    id: &str,
    request_id: &str,
    facts: &mut audit::Facts,
) -> Result<(PostRecord, zernio::Post), ApiError> {
    let ctx = CallContext { request_id };
    let found = owned(state, tenant, id).await?;
    *facts = audit::Facts::of_record(&found);
    let mut record = crate::pending::for_action(state, &ctx, found, "retried").await?;
    *facts = audit::Facts::of_record(&record);
    if crate::pending::never_made(&record) {
        return Err(ApiError::PostStatusConflict {
            code: "post_not_retryable",
            detail: never_made_detail(&record),
        });
    }
    let post = state.upstream.client.retry_post(&ctx, &record.id).await?;
    let mut seen = Observation::new(ChangeSource::Retry, Utc::now());
    seen.status = Some(post.status.as_str().to_owned());
    seen.error = Some(None);
    if let Some(applied) = record::apply(state, &record.id, &seen, Some(&post)).await? {
        record = applied.record;
    }
    Ok((record, post))
}
