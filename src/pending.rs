//! Creates whose upstream outcome is unknown: Zernio may have made the post (a timeout, a
//! reset after sending, a proxy's 502, an unreadable answer) but said nothing the gateway could
//! read. Such a create is never sent again. It is looked up by its tag; while it is not found
//! it is a `pending` record under the id the gateway minted for it (its tag and budget slot),
//! holding its budget slot and its duplicate claim, so that no retry can post it twice.
//!
//! Once Zernio's post is found, it is recorded under Zernio's id (so that webhooks, the
//! reconciler and the compatible surface, which all name Zernio's ids, find it), the pending
//! record goes, and the minted id becomes an alias of Zernio's: a caller polling the id it was
//! given reads the post. Not found within `[reconcile] pending_window_secs`, the record is
//! `failed` with `upstream_outcome_unknown`, and the slot and the claim are given back.
//!
//! Aliases and the Idempotency-Key of a pending create are kept as store claims (a claim is an
//! atomic key-value with an expiry on every backend), read with `Store::peek_claim`, which
//! writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::error::ApiError;
use crate::store::{Claim, Lane, PostEvent, PostRecord};
use crate::zernio::{self, CallContext, PostStatus, UpstreamError};

/// A pending record's status.
pub const STATUS: &str = "pending";
/// The error code of a pending create that was never found.
pub const NEVER_FOUND: &str = "upstream_outcome_unknown";
/// How often a create is looked up before it is answered, and the pause between two looks.
const LOOKUPS: u32 = 2;
const LOOKUP_PAUSE: Duration = Duration::from_millis(750);
/// The reconciler's backoff for pending records: soon, as a caller is waiting.
const PENDING_BACKOFF_SECS: [i64; 5] = [5, 10, 20, 40, 60];
/// How far before the send a look-up searches (clocks differ).
const LOOKUP_SLACK: chrono::Duration = chrono::Duration::minutes(5);

const ALIAS_SCOPE: &str = "post-alias";
/// As long as Redis keeps a record: an alias outlives no post.
const ALIAS_KEEP: Duration = Duration::from_secs(90 * 24 * 3600);

fn key_scope(tenant: &str) -> String {
    format!("pending-key:{tenant}")
}

/// Keeps `value` under `key` in `scope`: over what is there with `replace`, else the first
/// writer wins. Another `put` between its two steps is waited out.
async fn put(state: &AppState, scope: &str, key: &str, value: &str, ttl: Duration, replace: bool) {
    for _ in 0..50 {
        match state.store.claim(scope, key, value, ttl).await {
            Ok(Claim::Acquired) => {
                if let Err(e) = state
                    .store
                    .complete_claim(scope, key, value.as_bytes(), ttl)
                    .await
                {
                    tracing::warn!(error = %e, scope, "could not keep a pending create's link");
                }
                return;
            }
            Ok(Claim::Done { payload, .. }) if replace && payload != value.as_bytes() => {
                if let Err(e) = state.store.release_claim(scope, key).await {
                    tracing::warn!(error = %e, scope, "could not keep a pending create's link");
                    return;
                }
            }
            Ok(Claim::Done { .. }) => return,
            Ok(Claim::Pending { .. }) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => {
                tracing::warn!(error = %e, scope, "could not keep a pending create's link");
                return;
            }
        }
    }
}

/// What `put` kept under `key`, if anything: a read, no claim taken.
async fn get(state: &AppState, scope: &str, key: &str) -> Result<Option<String>, ApiError> {
    Ok(match state.store.peek_claim(scope, key).await? {
        Some(Claim::Done { payload, .. }) => Some(String::from_utf8_lossy(&payload).into_owned()),
        // Nothing, or a `put` between its two steps: not kept yet.
        _ => None,
    })
}

/// Remembers that the create sent with this upstream idempotency key is pending as `id`, so
/// that the caller's retry with the same key answers it instead of meeting its own claim. The
/// key's latest pending create counts (an earlier one never found has freed its claim).
pub async fn remember_key(state: &AppState, tenant: &str, upstream_key: &str, id: &str) {
    put(
        state,
        &key_scope(tenant),
        upstream_key,
        id,
        crate::limits::idempotency::KEEP,
        true,
    )
    .await;
}

/// The pending create (by its minted id) sent with this upstream idempotency key, if any.
pub async fn for_key(
    state: &AppState,
    tenant: &str,
    upstream_key: &str,
) -> Result<Option<String>, ApiError> {
    get(state, &key_scope(tenant), upstream_key).await
}

/// The tenant's post by an id it was given: Zernio's, or the minted id of a create that was
/// pending and has been found since.
pub async fn tenant_post(
    state: &AppState,
    tenant: &str,
    id: &str,
) -> Result<Option<PostRecord>, ApiError> {
    if let Some(record) = state.store.post(tenant, id).await? {
        return Ok(Some(record));
    }
    match get(state, ALIAS_SCOPE, id).await? {
        Some(real) => Ok(state.store.post(tenant, &real).await?),
        None => Ok(None),
    }
}

/// How long a create may stay pending.
fn window(state: &AppState) -> chrono::Duration {
    chrono::Duration::seconds(
        i64::try_from(state.config.reconcile.pending_window_secs).unwrap_or(900),
    )
}

/// The record of a create whose outcome is unknown, under its minted id.
pub fn record(state: &AppState, mut record: PostRecord, now: DateTime<Utc>) -> PostRecord {
    record.status = STATUS.to_owned();
    record.tiktok_url = None;
    record.error = None;
    crate::record::created(&mut record, now);
    record.sync.synced_at = None;
    let first = now + chrono::Duration::seconds(PENDING_BACKOFF_SECS[0]);
    record.sync.next_sync_at = Some(first.min(record.created_at + window(state)));
    record
}

/// Looks the create up by its tag, a few times within a few seconds, each look a unit of the
/// tenant's upstream budget (an exhausted budget ends the search).
pub async fn look_up(
    state: &AppState,
    ctx: &CallContext<'_>,
    tenant: &str,
    account: &str,
    tag: &str,
    sent_at: DateTime<Utc>,
) -> Option<zernio::Post> {
    for attempt in 0..LOOKUPS {
        if attempt > 0 {
            tokio::time::sleep(LOOKUP_PAUSE).await;
        }
        if crate::limits::upstream::spend(state, tenant).await.is_err() {
            return None;
        }
        match find(state, ctx, account, tag, sent_at).await {
            Ok(Some(post)) => return Some(post),
            Ok(None) => {}
            Err(e) => tracing::info!(code = e.code(), "looking up a create failed"),
        }
    }
    None
}

async fn find(
    state: &AppState,
    ctx: &CallContext<'_>,
    account: &str,
    tag: &str,
    sent_at: DateTime<Utc>,
) -> Result<Option<zernio::Post>, UpstreamError> {
    state
        .upstream
        .client
        .find_post_by_metadata(
            ctx,
            account,
            crate::pipeline::REQUEST_TAG,
            tag,
            sent_at - LOOKUP_SLACK,
        )
        .await
}

/// What became of a pending record after one look.
pub enum Settled {
    /// Zernio's post, recorded under its id.
    Found(PostRecord),
    /// Still unknown (or failed at the end of its window): the record as it now is.
    Unknown(PostRecord),
}

impl Settled {
    pub fn record(self) -> PostRecord {
        match self {
            Settled::Found(r) | Settled::Unknown(r) => r,
        }
    }
}

/// One look for a pending record (the caller has paid for it): found, it is resolved; past its
/// window, failed; else it waits for the reconciler's next look.
pub async fn settle(
    state: &AppState,
    ctx: &CallContext<'_>,
    pending: &PostRecord,
) -> Result<Settled, ApiError> {
    let looked = match find(
        state,
        ctx,
        &pending.account,
        &pending.id,
        pending.created_at,
    )
    .await
    {
        Ok(Some(post)) => return Ok(Settled::Found(resolve(state, pending, &post).await?)),
        Ok(None) => true,
        Err(e) => {
            tracing::info!(post = %pending.id, code = e.code(), "pending look-up failed");
            false
        }
    };
    let now = Utc::now();
    let window = window(state);
    // Only a look that worked and found nothing says the post was not made: a failed look
    // says nothing, and the record waits for the next.
    if looked && now >= pending.created_at + window {
        return Ok(Settled::Unknown(fail(state, pending, now).await?));
    }
    let mut next = pending.clone();
    next.sync.sync_attempts = pending.sync.sync_attempts.saturating_add(1);
    let step = (next.sync.sync_attempts as usize).min(PENDING_BACKOFF_SECS.len() - 1);
    let later = now + chrono::Duration::seconds(PENDING_BACKOFF_SECS[step]);
    // The window's end gets a look of its own; past it, the backoff alone.
    let deadline = pending.created_at + window;
    let at = if deadline > now {
        later.min(deadline)
    } else {
        later
    };
    next.sync.next_sync_at = Some(at);
    next.sync.revision = pending.sync.revision + 1;
    if state
        .store
        .replace_post(&next, pending.sync.revision, None)
        .await?
    {
        return Ok(Settled::Unknown(next));
    }
    // Another writer (a resolution) got there first: what it wrote stands.
    match tenant_post(state, &pending.tenant, &pending.id).await? {
        Some(current) if current.status != STATUS => Ok(Settled::Found(current)),
        Some(current) => Ok(Settled::Unknown(current)),
        None => Ok(Settled::Unknown(next)),
    }
}

/// Records Zernio's post in place of the pending record and makes the minted id its alias.
pub async fn resolve(
    state: &AppState,
    pending: &PostRecord,
    post: &zernio::Post,
) -> Result<PostRecord, ApiError> {
    let now = Utc::now();
    let tiktok = post.tiktok();
    let mut record = pending.clone();
    record.id = post.id.clone();
    record.status = post.status.as_str().to_owned();
    record.tiktok_url = tiktok
        .and_then(|p| p.platform_post_url.clone())
        .filter(|u| !u.is_empty());
    record.error = tiktok.and_then(|p| p.error_message.clone());
    record.created_at = post.created_at.unwrap_or(pending.created_at);
    record.sync = Default::default();
    crate::record::created(&mut record, now);
    // Found failed: the stable code, as a failed create or a webhook would give it.
    if matches!(post.status, PostStatus::Failed | PostStatus::Partial) {
        let (code, message) = crate::record::failure(post);
        record.sync.error_code = Some(code);
        record.error = record.error.or(Some(message));
    }
    // In this order, so that the post is readable by one of its ids at every moment.
    if record.mode == "saved" {
        state.store.insert_post(&record).await.or_else(|e| {
            // Recorded already by another resolution of the same create.
            tracing::debug!(error = %e, "a resolved pending post was recorded already");
            Ok::<(), crate::store::StoreError>(())
        })?;
    } else {
        state
            .store
            .record_created(&record, crate::pipeline::DAY, None)
            .await?;
    }
    put(
        state,
        ALIAS_SCOPE,
        &pending.id,
        &record.id,
        ALIAS_KEEP,
        false,
    )
    .await;
    state.store.delete_post(pending).await?;
    state.metrics.post(
        &record.tenant,
        &record.kind,
        &record.mode,
        "pending_resolved",
    );
    tracing::info!(pending = %pending.id, post = %record.id, "a pending create was found");
    let recorded = state
        .store
        .post(&record.tenant, &record.id)
        .await?
        .unwrap_or(record);
    // Found settled (failed, published), the post may never be read again nor its webhook
    // come again: the tenant hears of its state now, once, as of any other post's.
    Ok(crate::record::announce(state, recorded, Some(post))
        .await?
        .0)
}

/// The end of the window: the post never appeared. Its slot and duplicate claim are given back.
async fn fail(
    state: &AppState,
    pending: &PostRecord,
    now: DateTime<Utc>,
) -> Result<PostRecord, ApiError> {
    let now = crate::store::kept(now);
    let mut failed = pending.clone();
    failed.status = "failed".to_owned();
    failed.error = Some(
        "Zernio never confirmed this post and it was not found by its tag; it was not made"
            .to_owned(),
    );
    failed.sync.error_code = Some(NEVER_FOUND.to_owned());
    failed.sync.next_sync_at = None;
    failed.sync.updated_at = Some(now);
    failed.sync.status_at = Some(now);
    failed.sync.revision = pending.sync.revision + 1;
    let event = PostEvent {
        revision: failed.sync.revision,
        at: now,
        recorded_at: now,
        source: crate::store::ChangeSource::Reconcile,
        status: failed.status.clone(),
        previous: Some(STATUS.to_owned()),
        error_code: failed.sync.error_code.clone(),
    };
    if !state
        .store
        .replace_post(&failed, pending.sync.revision, Some(&event))
        .await?
    {
        return Ok(tenant_post(state, &pending.tenant, &pending.id)
            .await?
            .unwrap_or(failed));
    }
    let lane = Lane::for_post(&pending.kind, &pending.mode);
    if pending.mode != "saved"
        && let Err(e) = state
            .store
            .release_hold(
                &pending.account,
                lane,
                &pending.request_id,
                &pending.fingerprint,
            )
            .await
    {
        tracing::warn!(error = %e, "could not release a failed pending create's hold");
    }
    state
        .metrics
        .post(&pending.tenant, &pending.kind, &pending.mode, NEVER_FOUND);
    tracing::warn!(post = %pending.id, "a pending create was never found: failed");
    // A failed post, told to the tenant's subscriptions as any other failure is.
    Ok(crate::record::announce(state, failed, None).await?.0)
}

/// Whether the record is a create that was never found within its window: Zernio has no post
/// for it, so there is nothing upstream to edit, cancel or retry.
pub fn never_made(record: &PostRecord) -> bool {
    record.sync.error_code.as_deref() == Some(NEVER_FOUND)
}

/// The record a caller's edit, cancel or retry acts on. A create still pending is looked up
/// once more (a unit of the tenant's upstream budget): found, the action goes to Zernio's post;
/// still unknown, it is refused with `post_pending` and a Retry-After at the reconciler's next
/// look, never sent under the gateway's id, which Zernio does not know.
pub async fn for_action(
    state: &AppState,
    ctx: &CallContext<'_>,
    record: PostRecord,
    action: &'static str,
) -> Result<PostRecord, ApiError> {
    if record.status != STATUS {
        return Ok(record);
    }
    crate::limits::upstream::spend(state, &record.tenant).await?;
    let now = match settle(state, ctx, &record).await? {
        Settled::Found(found) => return Ok(found),
        Settled::Unknown(now) => now,
    };
    if now.status != STATUS {
        return Ok(now);
    }
    let wait = now
        .sync
        .next_sync_at
        .map(|at| (at - Utc::now()).num_seconds())
        .unwrap_or(PENDING_BACKOFF_SECS[0]);
    Err(ApiError::PostPending {
        id: now.id,
        action,
        retry_after_secs: wait.clamp(1, PENDING_BACKOFF_SECS[PENDING_BACKOFF_SECS.len() - 1])
            as u64,
    })
}

/// A Zernio webhook about a post the gateway has no record of, whose tag names a create still
/// pending here: Zernio made it and the event came before a look-up found it. The event names
/// Zernio's post, so it settles the pending record at once (as a look-up would have), and the
/// event then applies to it; `None` when the tag names no such create.
pub async fn settle_from_webhook(
    state: &AppState,
    post: &zernio::Post,
) -> Result<Option<PostRecord>, ApiError> {
    let Some(tag) = post.metadata_str(crate::pipeline::REQUEST_TAG) else {
        return Ok(None);
    };
    let Some(pending) = state.store.post_by_id(tag).await? else {
        return Ok(None);
    };
    if pending.status != STATUS || pending.id == post.id {
        return Ok(None);
    }
    // The tag is the create's own; a post on another account is not that create.
    let account = post.tiktok().and_then(|p| p.account_id.as_deref());
    if account.is_some_and(|a| a != pending.account) {
        tracing::warn!(post = %post.id, pending = %pending.id, "a webhook's tag names a pending create of another account: not settled");
        return Ok(None);
    }
    Ok(Some(resolve(state, &pending, post).await?))
}
