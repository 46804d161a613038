//! The create pipeline, shared by the native, Zernio-compatible and flat surfaces: own the
//! account, look the creator up, apply every rule, hold the daily budget and the duplicate
//! guard, send once, record, answer. Whatever shape came in, nothing here knows which.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits;
use crate::pending;
use crate::store::{AuditAppend, Claim, CreateHold, HoldDecision, Lane, PostRecord};
use crate::tiktok::{self, Prepared, Shape};
use crate::upstream;
use crate::zernio::{self, CallContext, MediaKind, UpstreamError, UpstreamKind};

/// TikTok's window for the daily cap and for duplicate content.
pub const DAY: Duration = crate::store::BUDGET_WINDOW;
/// The metadata key that tags every create with the id the gateway minted for it, so that a
/// create whose answer was lost can be found instead of sent again.
pub const REQUEST_TAG: &str = "gateway_request_id";
/// The audit trail's name for a create.
const CREATE_ACTION: &str = "post.create";
/// How long an account waits after Zernio's velocity cap when its 429 names no `Retry-After`.
const VELOCITY_HOLD: Duration = Duration::from_secs(600);

/// One request to create a post.
pub struct CreateRequest<'a> {
    pub shape: Shape,
    pub body: &'a Value,
    pub request_id: &'a str,
    /// The caller's `Idempotency-Key`, when it sent one.
    pub idempotency_key: Option<&'a str>,
}

/// A post that was created upstream and recorded, or whose create is pending.
pub struct Created {
    pub record: PostRecord,
    /// Zernio's answer's post; `None` when the answer is the record's (a pending create, or a
    /// retry of one).
    pub post: Option<zernio::Post>,
    pub warnings: Vec<tiktok::Warning>,
    /// Zernio's answer status (201, or 200 for its own idempotent replay).
    pub upstream_status: u16,
    /// Zernio's outcome is unknown: the record is `pending` under the gateway's id (202).
    pub pending: bool,
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
    let now = tiktok::Moment::new(Utc::now(), state.config.posts.schedule_horizon_days)
        .with_media_hosts(&state.config.media.allowed_hosts);
    let ctx = CallContext { request_id };
    let checked = match tiktok::check(shape, body, now) {
        Ok(checked) => checked,
        Err(unchecked) => {
            let violations = every_violation(state, caller, &ctx, unchecked, now).await;
            return Err(state.rejected(violations));
        }
    };
    let account = checked.post().account();
    caller.tenant.require_account(account)?;
    let kind = media_kind(checked.post().kind());
    // The media probe runs beside the creator look-up, so it costs no time on top of it.
    let fields = checked.media_fields();
    let probing = state.probe.probe_post(
        state.config.probe_mode(&caller.tenant.id),
        checked.post(),
        &fields,
    );
    let (info, probed) = tokio::join!(creator_info(state, caller, &ctx, account, kind), probing);
    let info = match info {
        Ok(info) => info,
        // Creator info answers 429 when the creator reached TikTok's daily limit.
        Err(ApiError::Upstream(e)) if e.kind == UpstreamKind::DailyLimitReached => {
            let lane = Lane::for_post(checked.post().kind(), checked.post().mode());
            return Err(exhausted(state, &caller.tenant.id, account, lane, e).await);
        }
        Err(e) => return Err(e),
    };
    let constraints = upstream::constraints(&info);
    let media = tiktok::media_rules::check(
        &probed,
        Some(&constraints),
        state.config.media.on_unreachable == crate::config::OnUnreachable::Warn,
    );
    state.probe.count_findings(&media.broken);
    match checked.finish(Some(&constraints), now) {
        Ok(_) if !media.violations.is_empty() => Err(state.rejected(media.violations)),
        Ok(mut prepared) => {
            prepared.warnings.extend(media.warnings);
            prepared.probed = probed;
            Ok(prepared)
        }
        Err(mut violations) => {
            violations.extend(media.violations);
            Err(state.rejected(violations))
        }
    }
}

/// The creator's info, from the cache or from Zernio.
async fn creator_info(
    state: &AppState,
    caller: &Caller,
    ctx: &CallContext<'_>,
    account: &str,
    kind: MediaKind,
) -> Result<std::sync::Arc<zernio::CreatorInfo>, ApiError> {
    if let Some(info) = state.upstream.cached_creator_info(account, kind) {
        return Ok(info);
    }
    // Concurrent creates for one creator wait for one look-up and take what it cached, so a
    // burst spends one unit and one call, not one each.
    let _turn = state.upstream.creator_lookup_turn(account, kind).await;
    if let Some(info) = state.upstream.cached_creator_info(account, kind) {
        return Ok(info);
    }
    // A look-up that calls Zernio spends a unit of the upstream budget.
    limits::upstream::spend(state, &caller.tenant.id).await?;
    Ok(state.upstream.creator_info(ctx, account, kind).await?)
}

/// A request broken anyway still hears every violation at once: when it names an account of
/// the tenant and one kind of media, the creator's constraints are held against it in the same
/// pass (one creator-info read at most, cached as for a create). A look-up that fails takes
/// nothing away: the violations found without it are the answer.
async fn every_violation(
    state: &AppState,
    caller: &Caller,
    ctx: &CallContext<'_>,
    unchecked: tiktok::Unchecked,
    now: tiktok::Moment<'_>,
) -> Vec<tiktok::Violation> {
    let Some((account, kind)) = unchecked
        .creator_key()
        .filter(|(account, _)| caller.tenant.owns(account))
        .map(|(account, kind)| (account.to_owned(), media_kind(kind)))
    else {
        return unchecked.violations();
    };
    match creator_info(state, caller, ctx, &account, kind).await {
        Ok(info) => unchecked.with_creator(&upstream::constraints(&info), now),
        Err(e) => {
            tracing::debug!(error = %e, "creator info unavailable for a refused request");
            unchecked.violations()
        }
    }
}

/// The key Zernio de-duplicates this create on: the caller's key scoped to its tenant (so a
/// retry after an upstream failure cannot post twice), else the create's own id, minted here.
/// Never a caller's request id: two tenants, or two posts, may send the same one.
fn upstream_idempotency_key(tenant: &str, request: &CreateRequest<'_>, create_id: &str) -> String {
    match request.idempotency_key {
        Some(key) => {
            let digest = Sha256::digest(format!("{tenant}\0{key}").as_bytes());
            format!("tgw-{}", hex::encode(&digest[..16]))
        }
        None => create_id.to_owned(),
    }
}

/// The id the gateway gives a create: its budget slot, its tag in Zernio's metadata (found by it
/// when the answer is lost) and Zernio's idempotency key when the caller gave none.
fn mint_create_id() -> String {
    uuid::Uuid::new_v4().to_string()
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
    /// Whether anything is held (a Zernio draft holds nothing).
    active: bool,
}

impl Held<'_> {
    /// Nothing was posted: the slot and the duplicate claim are free again.
    async fn release(&self) {
        if !self.active {
            return;
        }
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

/// Creates a post, and leaves its entry in the audit trail whatever the outcome.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    request: CreateRequest<'_>,
) -> Result<Created, ApiError> {
    let request_id = request.request_id;
    let mut facts = audit::Facts {
        account: tiktok::account_of(request.shape, request.body),
        ..audit::Facts::default()
    };
    let result = create_post(state, caller, request, &mut facts).await;
    let mut status = 201;
    if let Ok(created) = &result {
        facts.object_id = Some(created.record.id.clone());
        if created.pending {
            status = 202;
        }
    }
    audit::record(
        state,
        caller,
        request_id,
        CREATE_ACTION,
        facts,
        audit::outcome(&result, status),
    )
    .await;
    result
}

async fn create_post(
    state: &AppState,
    caller: &Caller,
    request: CreateRequest<'_>,
    facts: &mut audit::Facts,
) -> Result<Created, ApiError> {
    let Prepared {
        post,
        mut payload,
        warnings,
        ..
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
    facts.account = Some(account.clone());
    facts.kind = Some(post.kind().to_owned());
    facts.consent = Some(post.consent.into());
    let lane = Lane::for_post(post.kind(), post.mode());
    let now = Utc::now();
    let create_id = mint_create_id();

    // A Zernio draft reaches no TikTok yet: it takes no daily slot and no content claim (a
    // draft must not stop its own publication as a duplicate), only its upstream unit.
    let reaches_tiktok = post.reaches_tiktok();
    let fingerprint = post.content_fingerprint();
    let held = Held {
        state,
        account: account.clone(),
        lane,
        slot: create_id.clone(),
        fingerprint: fingerprint.clone(),
        active: reaches_tiktok,
    };
    let key = upstream_idempotency_key(&tenant.id, &request, &create_id);
    if reaches_tiktok {
        // A scheduled post's slot is at its time: TikTok counts it when it is published.
        let at = crate::store::slot_at(now, post.schedule_at());
        // A retry that finds its own pending create failed for good takes the freed claim and
        // sends the post (under the same upstream key) once.
        let mut tries = 0u64;
        loop {
            tries += 1;
            let held = hold(
                state,
                tenant,
                &account,
                lane,
                &create_id,
                &fingerprint,
                at,
                now,
            )
            .await;
            let existing = match held {
                Ok(()) => break,
                // The claim may be this very request's, sent before with the same key and left
                // pending: the retry gets that post, never a refusal of itself.
                Err(ApiError::DuplicateContent {
                    existing_post_id: Some(existing),
                }) if request.idempotency_key.is_some() => existing,
                Err(e) => return Err(e),
            };
            let ctx = CallContext {
                request_id: request.request_id,
            };
            match own_create(state, &ctx, &tenant.id, &key, &existing).await? {
                Own::Post(own) => {
                    return Ok(Created {
                        pending: own.status == pending::STATUS,
                        record: *own,
                        post: None,
                        warnings,
                        upstream_status: 200,
                    });
                }
                // The claim is given back right after the record fails (by whoever failed it,
                // maybe the reconciler at this moment): a moment later it is free.
                Own::Freed if tries < 5 => {
                    tokio::time::sleep(Duration::from_millis(20 * tries)).await;
                    continue;
                }
                _ => {
                    return Err(ApiError::DuplicateContent {
                        existing_post_id: Some(existing),
                    });
                }
            }
        }
    } else {
        limits::upstream::spend(state, &tenant.id).await?;
    }

    tag(&mut payload, &create_id);
    let ctx = CallContext {
        request_id: request.request_id,
    };
    // Serialised once: the audit digest is of the very bytes sent.
    let body = axum::body::Bytes::from(serde_json::to_vec(&payload).unwrap_or_default());
    facts.payload_sha256 = Some(audit::digest_of_bytes(&body));
    drop(payload);
    let sent_at = Utc::now();
    let outcome = match state
        .upstream
        .client
        .create_post_bytes(&ctx, body, Some(&key))
        .await
    {
        Ok(outcome) => Ok((outcome.status, outcome.post)),
        Err(e) => Err(e),
    };
    let (upstream_status, upstream_post) = match outcome {
        Ok(ok) => ok,
        Err(e) if e.outcome_unknown() => {
            tracing::info!(
                code = e.code(),
                status = e.status,
                "create outcome unknown; looking it up"
            );
            match pending::look_up(state, &ctx, &tenant.id, &account, &create_id, sent_at).await {
                // As Zernio's replay is: recorded once, whoever records it first.
                Some(found) => (200, found),
                None => {
                    // Still unknown: the slot and the claim stay held, and the caller gets the
                    // id to poll. Never sent again.
                    let base = placeholder_record(caller, &post, &create_id, now);
                    let record = pending::record(state, base, Utc::now());
                    if reaches_tiktok {
                        state.store.record_created(&record, DAY, None).await?;
                    } else {
                        state.store.insert_post(&record).await?;
                    }
                    if request.idempotency_key.is_some() {
                        pending::remember_key(state, &tenant.id, &key, &record.id).await;
                    }
                    state
                        .metrics
                        .post(&tenant.id, post.kind(), post.mode(), pending::STATUS);
                    return Ok(Created {
                        record,
                        post: None,
                        warnings,
                        upstream_status: 0,
                        pending: true,
                    });
                }
            }
        }
        Err(e) => {
            return Err(failed(state, caller, &post, &held, e, &create_id).await);
        }
    };

    // A 200 is Zernio's replay of a post it already made (same idempotency key): recorded
    // once, answered as the original, and this create's own slot given back.
    if upstream_status == 200
        && let Some(existing) = state.store.post_by_id(&upstream_post.id).await?
    {
        if existing.tenant != tenant.id {
            tracing::error!(post = %existing.id, "Zernio replayed a post another tenant recorded");
            held.release().await;
            return Err(ApiError::Upstream(UpstreamError::new(
                UpstreamKind::Conflict,
                "Zernio answered with a post this gateway recorded for someone else",
            )));
        }
        if existing.fingerprint == fingerprint && reaches_tiktok {
            // Settles this create's pending content claim with the original post.
            state.store.record_created(&existing, DAY, None).await?;
            if let Err(e) = state.store.release_slot(&account, lane, &create_id).await {
                tracing::warn!(error = %e, "could not release a replayed create's budget slot");
            }
        } else {
            held.release().await;
        }
        return Ok(Created {
            record: existing,
            post: Some(upstream_post),
            warnings,
            upstream_status,
            pending: false,
        });
    }
    let record = record_of(caller, &post, &upstream_post, &create_id, now);
    if reaches_tiktok {
        // The audit entry of this outcome (201) goes in the same store step as the record. If
        // that step fails, neither is written and `create` appends the entry of the failure.
        let mut done = facts.clone();
        done.object_id = Some(record.id.clone());
        let entry = audit::entry(caller, request.request_id, CREATE_ACTION, done, (201, None));
        let audit = AuditAppend {
            entry: &entry,
            retention: audit::retention(state),
        };
        state
            .store
            .record_created(&record, DAY, Some(audit))
            .await?;
        audit::appended(state, CREATE_ACTION, facts);
    } else {
        state.store.insert_post(&record).await?;
    }
    state
        .metrics
        .post(&caller.tenant.id, post.kind(), post.mode(), "created");
    Ok(Created {
        record,
        post: Some(upstream_post),
        warnings,
        upstream_status,
        pending: false,
    })
}

/// What a keyed create's duplicate claim turned out to be.
enum Own {
    /// The post this key's earlier create made (found since, or still pending).
    Post(Box<PostRecord>),
    /// This key's earlier create was never made and has just given its claim back.
    Freed,
    /// Another post's claim.
    Other,
}

/// Whether the duplicate claim `existing` is the one a create sent before with the same key
/// holds: then the answer is that post as it is now (still pending, it is looked up once more).
async fn own_create(
    state: &AppState,
    ctx: &CallContext<'_>,
    tenant: &str,
    upstream_key: &str,
    existing: &str,
) -> Result<Own, ApiError> {
    let Some(first) = pending::for_key(state, tenant, upstream_key).await? else {
        return Ok(Own::Other);
    };
    let Some(record) = pending::tenant_post(state, tenant, &first).await? else {
        return Ok(Own::Other);
    };
    if record.id != existing && first != existing {
        return Ok(Own::Other);
    }
    if record.sync.error_code.as_deref() == Some(pending::NEVER_FOUND) {
        return Ok(Own::Freed);
    }
    if record.status != pending::STATUS {
        return Ok(Own::Post(Box::new(record)));
    }
    // The caller asks again: one more look (a unit of its budget) before answering.
    if limits::upstream::spend(state, tenant).await.is_err() {
        return Ok(Own::Post(Box::new(record)));
    }
    let now = pending::settle(state, ctx, &record).await?.record();
    if now.sync.error_code.as_deref() == Some(pending::NEVER_FOUND) {
        return Ok(Own::Freed);
    }
    Ok(Own::Post(Box::new(now)))
}

/// The daily budget and the duplicate guard before anything else: a post over the budget or
/// already sent must not reach TikTok at all. One atomic store step, so two identical posts sent
/// at once are caught too; the post's unit of the upstream budget is taken in it. An account
/// Zernio's velocity cap holds is refused before it, without a call.
#[allow(clippy::too_many_arguments)]
async fn hold(
    state: &AppState,
    tenant: &crate::auth::Tenant,
    account: &str,
    lane: Lane,
    slot: &str,
    fingerprint: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(wait) = state.upstream.account_held_for(account) {
        let mut e = UpstreamError::new(
            UpstreamKind::AccountVelocityLimited,
            "Zernio's hourly posting limit for this account was reached",
        );
        e.retry_after = Some(wait);
        state.metrics.limit_refused(&tenant.id, "velocity");
        return Err(ApiError::Upstream(e));
    }
    let limit = tenant.daily_limit(account, lane);
    let upstream_charge = limits::upstream::charge(state, &tenant.id);
    let decision = state
        .store
        .hold(&CreateHold {
            account,
            lane,
            slot,
            limit,
            window: DAY,
            at,
            now,
            fingerprint,
            claim_ttl: Duration::from_secs(state.config.http.request_timeout_secs + 30),
            upstream: Some(&upstream_charge),
        })
        .await?;
    match decision {
        HoldDecision::Held { used } => {
            // The gauge is the window of now: a scheduled post's is another one.
            if at <= now {
                state
                    .metrics
                    .budget_remaining(account, lane.as_str(), limit.saturating_sub(used));
            }
            Ok(())
        }
        HoldDecision::Full { retry_at } => Err(limits::budget::refused(
            state, &tenant.id, account, lane, at, now, retry_at,
        )),
        HoldDecision::UpstreamBusy { retry_after } => {
            Err(limits::upstream::busy(state, &tenant.id, retry_after))
        }
        HoldDecision::Duplicate(claim) => {
            state.metrics.duplicate_refused();
            Err(ApiError::DuplicateContent {
                existing_post_id: match claim {
                    Claim::Done { payload, .. } => {
                        Some(String::from_utf8_lossy(&payload).into_owned())
                    }
                    _ => None,
                },
            })
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
    state
        .metrics
        .post(&caller.tenant.id, post.kind(), post.mode(), error.code());
    match &error.kind {
        // The post may still appear: keep its slot and its duplicate claim.
        UpstreamKind::Timeout => {}
        UpstreamKind::DailyLimitReached => {
            held.release().await;
            return exhausted(state, &caller.tenant.id, &held.account, held.lane, error).await;
        }
        UpstreamKind::AccountVelocityLimited => {
            // Nothing was posted; the account waits, nobody else does.
            held.release().await;
            let mut error = error;
            let wait = error.retry_after.unwrap_or(VELOCITY_HOLD);
            state.upstream.hold_account(&held.account, wait);
            error.retry_after = Some(wait);
            state.metrics.limit_refused(&caller.tenant.id, "velocity");
            return ApiError::Upstream(error);
        }
        _ => {
            // A failed post that Zernio kept (207) exists and is the caller's: record it, so
            // that it can be read and retried.
            if let Some(upstream_post) = &error.post {
                let mut record = record_of(caller, post, upstream_post, request_id, Utc::now());
                // The code the caller was just answered: a read must name the same one, and
                // Zernio's webhook about this failure, dated no later, changes nothing.
                record.sync.error_code = Some(error.code().to_owned());
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

/// Zernio said the account reached TikTok's daily cap: the account is marked exhausted for the
/// lane until its oldest post leaves the window, so the next create is refused without a call.
pub async fn exhausted(
    state: &AppState,
    tenant: &str,
    account: &str,
    lane: Lane,
    error: UpstreamError,
) -> ApiError {
    let usage = state
        .store
        .slot_usage(account, lane, DAY, Utc::now())
        .await
        .ok();
    let until = usage
        .and_then(|u| u.frees_at)
        .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(24));
    if let Err(e) = state.store.mark_exhausted(account, lane, until).await {
        tracing::warn!(error = %e, "could not mark the account exhausted");
    }
    state.metrics.limit_refused(tenant, "daily");
    // Zernio's own answer, kept (its request id and message), told when to come back.
    let mut error = error;
    error.retry_after = (until - Utc::now()).to_std().ok();
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
    let mut record = PostRecord {
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
        sync: Default::default(),
    };
    // A post Zernio kept as failed (207) carries its stable code from the first read, as one
    // that failed later does (`record::apply`).
    if matches!(
        upstream_post.status,
        zernio::PostStatus::Failed | zernio::PostStatus::Partial
    ) {
        record.sync.error_code = Some(crate::record::failure(upstream_post).0);
    }
    crate::record::created(&mut record, now);
    record
}

/// The record of a create before Zernio's answer: under the gateway's id for it.
fn placeholder_record(
    caller: &Caller,
    post: &tiktok::TikTokPost,
    create_id: &str,
    now: DateTime<Utc>,
) -> PostRecord {
    PostRecord {
        id: create_id.to_owned(),
        tenant: caller.tenant.id.clone(),
        account: post.account().to_owned(),
        kind: post.kind().to_owned(),
        mode: post.mode().to_owned(),
        status: pending::STATUS.to_owned(),
        schedule_at: post.schedule_at(),
        tiktok_url: None,
        error: None,
        fingerprint: post.content_fingerprint(),
        request_id: create_id.to_owned(),
        created_at: now,
        content: Some(post.caption.clone()),
        media_items: media_of(post),
        sync: Default::default(),
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
