//! The create pipeline, shared by the native, Zernio-compatible and flat surfaces: own the
//! account, look the creator up, apply every rule, hold the daily budget and the duplicate
//! guard, send once, record, answer. Whatever shape came in, nothing here knows which.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits;
use crate::store::{Claim, CreateHold, HoldDecision, Lane, PostRecord};
use crate::tiktok::{self, Prepared, Shape};
use crate::upstream;
use crate::zernio::{self, CallContext, MediaKind, UpstreamError, UpstreamKind};

/// TikTok's window for the daily cap and for duplicate content.
pub const DAY: Duration = crate::store::BUDGET_WINDOW;
/// The metadata key that tags every create with the gateway's request id, so that a create
/// whose answer was lost can be found instead of sent again.
pub const REQUEST_TAG: &str = "gateway_request_id";

/// One request to create a post.
pub struct CreateRequest<'a> {
    pub shape: Shape,
    pub body: &'a Value,
    pub request_id: &'a str,
    /// The caller's `Idempotency-Key`, when it sent one.
    pub idempotency_key: Option<&'a str>,
}

/// A post that was created upstream and recorded.
pub struct Created {
    pub record: PostRecord,
    pub post: zernio::Post,
    pub warnings: Vec<tiktok::Warning>,
    /// Zernio's answer status (201, or 200 for its own idempotent replay).
    pub upstream_status: u16,
}

fn media_kind(prepared_kind: &str) -> MediaKind {
    if prepared_kind == "photo" {
        MediaKind::Photo
    } else {
        MediaKind::Video
    }
}

/// Everything short of sending: ownership, the creator's constraints, every rule. The
/// validate endpoint stops here.
pub async fn prepare(
    state: &AppState,
    caller: &Caller,
    shape: Shape,
    body: &Value,
    request_id: &str,
) -> Result<Prepared, ApiError> {
    if let Some(account) = tiktok::account_of(shape, body) {
        caller.tenant.require_account(&account)?;
    }
    let now = Utc::now();
    // The rules that need no creator first: a request broken anyway costs no upstream call.
    let checked = tiktok::check(shape, body, now).map_err(|e| state.rejected(e))?;
    let account = checked.post().account();
    caller.tenant.require_account(account)?;
    let ctx = CallContext { request_id };
    let kind = media_kind(checked.post().kind());
    let info = match state.upstream.cached_creator_info(account, kind) {
        Some(info) => info,
        None => {
            // A look-up that calls Zernio spends a unit of the upstream budget.
            limits::upstream::spend(state, &caller.tenant.id).await?;
            state.upstream.creator_info(&ctx, account, kind).await?
        }
    };
    let constraints = upstream::constraints(&info);
    checked
        .finish(Some(&constraints), now)
        .map_err(|e| state.rejected(e))
}

/// The key Zernio de-duplicates this create on: the caller's key scoped to its tenant (so a
/// retry after an upstream failure cannot post twice), else this request's id.
fn upstream_idempotency_key(tenant: &str, request: &CreateRequest<'_>) -> String {
    match request.idempotency_key {
        Some(key) => {
            let digest = Sha256::digest(format!("{tenant}\0{key}").as_bytes());
            format!("tgw-{}", hex::encode(&digest[..16]))
        }
        None => request.request_id.to_owned(),
    }
}

fn tag(payload: &mut Value, request_id: &str) {
    if let Some(body) = payload.as_object_mut() {
        let metadata = body
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(map) = metadata.as_object_mut() {
            map.insert(REQUEST_TAG.to_owned(), request_id.into());
        }
    }
}

/// Resources a create holds until it is known whether the post exists.
struct Held<'a> {
    state: &'a AppState,
    account: String,
    lane: Lane,
    slot: String,
    fingerprint: String,
}

impl Held<'_> {
    /// Nothing was posted: the slot and the duplicate claim are free again.
    async fn release(&self) {
        if let Err(e) = self
            .state
            .store
            .release_hold(&self.account, self.lane, &self.slot, &self.fingerprint)
            .await
        {
            tracing::warn!(error = %e, "could not release a budget slot or duplicate claim");
        }
    }
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    request: CreateRequest<'_>,
) -> Result<Created, ApiError> {
    let Prepared {
        post,
        mut payload,
        warnings,
    } = prepare(
        state,
        caller,
        request.shape,
        request.body,
        request.request_id,
    )
    .await?;
    let tenant = &caller.tenant;
    let account = post.account().to_owned();
    let lane = Lane::for_mode(post.mode());
    let now = Utc::now();

    // The daily budget and the duplicate guard before anything else: a post over the budget
    // or already sent must not reach TikTok at all. One atomic store step, so two identical
    // posts sent at once are caught too; the post's unit of the upstream budget is taken in it.
    let fingerprint = post.content_fingerprint();
    let upstream_charge = limits::upstream::charge(state, &tenant.id);
    let held = Held {
        state,
        account: account.clone(),
        lane,
        slot: request.request_id.to_owned(),
        fingerprint: fingerprint.clone(),
    };
    let decision = state
        .store
        .hold(&CreateHold {
            account: &account,
            lane,
            slot: request.request_id,
            limit: tenant.daily_posts_per_account,
            window: DAY,
            now,
            fingerprint: &fingerprint,
            claim_ttl: Duration::from_secs(state.config.http.request_timeout_secs + 30),
            upstream: Some(&upstream_charge),
        })
        .await?;
    match decision {
        HoldDecision::Held { used } => state.metrics.budget_remaining(
            &account,
            lane.as_str(),
            tenant.daily_posts_per_account.saturating_sub(used),
        ),
        HoldDecision::Full { retry_at } => {
            state.metrics.budget_remaining(&account, lane.as_str(), 0);
            state.metrics.limit_refused(&tenant.id, "daily");
            return Err(ApiError::DailyLimitReached { account, retry_at });
        }
        HoldDecision::UpstreamBusy { retry_after } => {
            return Err(limits::upstream::busy(state, &tenant.id, retry_after));
        }
        HoldDecision::Duplicate(claim) => {
            state.metrics.duplicate_refused();
            return Err(ApiError::DuplicateContent {
                existing_post_id: match claim {
                    Claim::Done { payload, .. } => {
                        Some(String::from_utf8_lossy(&payload).into_owned())
                    }
                    _ => None,
                },
            });
        }
    }

    tag(&mut payload, request.request_id);
    let ctx = CallContext {
        request_id: request.request_id,
    };
    let key = upstream_idempotency_key(&tenant.id, &request);
    let sent_at = Utc::now();
    let outcome = match state
        .upstream
        .client
        .create_post(&ctx, &payload, Some(&key))
        .await
    {
        Ok(outcome) => Ok((outcome.status, outcome.post)),
        Err(e) => Err(e),
    };
    let (upstream_status, upstream_post) = match outcome {
        Ok(ok) => ok,
        Err(e) => {
            let e = recover(state, &ctx, &account, request.request_id, sent_at, e).await;
            match e {
                Ok(found) => (200, found),
                Err(e) => {
                    return Err(failed(state, caller, &post, &held, e, request.request_id).await);
                }
            }
        }
    };

    let record = record_of(caller, &post, &upstream_post, request.request_id, now);
    state.store.record_created(&record, DAY).await?;
    state.metrics.post(post.kind(), post.mode(), "created");
    Ok(Created {
        record,
        post: upstream_post,
        warnings,
        upstream_status,
    })
}

/// A create whose answer was lost is never sent again: it is looked up by its request tag.
async fn recover(
    state: &AppState,
    ctx: &CallContext<'_>,
    account: &str,
    request_id: &str,
    sent_at: DateTime<Utc>,
    error: UpstreamError,
) -> Result<zernio::Post, UpstreamError> {
    if error.kind != UpstreamKind::Timeout {
        return Err(error);
    }
    let since = sent_at - chrono::Duration::minutes(5);
    match state
        .upstream
        .client
        .find_post_by_metadata(ctx, account, REQUEST_TAG, request_id, since)
        .await
    {
        Ok(Some(post)) => {
            tracing::info!(post = %post.id, "create timed out but the post exists; answering with it");
            Ok(post)
        }
        Ok(None) => Err(error),
        Err(lookup) => {
            tracing::warn!(error = %lookup, "looking up a timed-out create failed");
            Err(error)
        }
    }
}

/// Settles what a failed create held, records a post that exists despite the failure, and
/// turns the failure into the caller's answer.
async fn failed(
    state: &AppState,
    caller: &Caller,
    post: &tiktok::TikTokPost,
    held: &Held<'_>,
    error: UpstreamError,
    request_id: &str,
) -> ApiError {
    state.metrics.post(post.kind(), post.mode(), error.code());
    match &error.kind {
        // The post may still appear: keep its slot and its duplicate claim.
        UpstreamKind::Timeout => {}
        UpstreamKind::DailyLimitReached => {
            held.release().await;
            let usage = state
                .store
                .slot_usage(&held.account, held.lane, DAY, Utc::now())
                .await
                .ok();
            let until = usage
                .and_then(|u| u.frees_at)
                .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(24));
            if let Err(e) = state
                .store
                .mark_exhausted(&held.account, held.lane, until)
                .await
            {
                tracing::warn!(error = %e, "could not mark the account exhausted");
            }
            state.metrics.limit_refused(&caller.tenant.id, "daily");
            // Zernio's own answer, kept (its request id and message), told when to come back.
            let mut error = error;
            error.retry_after = (until - Utc::now()).to_std().ok();
            return ApiError::Upstream(error);
        }
        _ => {
            // A failed post that Zernio kept (207) exists and is the caller's: record it, so
            // that it can be read and retried.
            if let Some(upstream_post) = &error.post {
                let record = record_of(caller, post, upstream_post, request_id, Utc::now());
                if let Err(e) = state.store.insert_post(&record).await {
                    tracing::warn!(error = %e, "could not record a failed post");
                }
            } else {
                held.release().await;
            }
        }
    }
    ApiError::Upstream(error)
}

/// The gateway's record of a post it created.
pub fn record_of(
    caller: &Caller,
    post: &tiktok::TikTokPost,
    upstream_post: &zernio::Post,
    request_id: &str,
    now: DateTime<Utc>,
) -> PostRecord {
    let tiktok = upstream_post.tiktok();
    PostRecord {
        id: upstream_post.id.clone(),
        tenant: caller.tenant.id.clone(),
        account: post.account().to_owned(),
        kind: post.kind().to_owned(),
        mode: post.mode().to_owned(),
        status: upstream_post.status.as_str().to_owned(),
        schedule_at: post.schedule_at(),
        tiktok_url: tiktok
            .and_then(|p| p.platform_post_url.clone())
            .filter(|u| !u.is_empty()),
        error: tiktok.and_then(|p| p.error_message.clone()),
        fingerprint: post.content_fingerprint(),
        request_id: request_id.to_owned(),
        created_at: upstream_post.created_at.unwrap_or(now),
        content: Some(post.caption.clone()),
        media_items: media_of(post),
    }
}

/// The post's media as Zernio's `mediaItems` has them, for the compatible reads.
fn media_of(post: &tiktok::TikTokPost) -> Vec<crate::store::MediaRef> {
    let kind = if post.kind() == "video" {
        "video"
    } else {
        "image"
    };
    post.media_urls()
        .into_iter()
        .map(|url| crate::store::MediaRef {
            kind: kind.to_owned(),
            url: url.to_owned(),
        })
        .collect()
}
