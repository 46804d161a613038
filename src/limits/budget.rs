//! The daily budget over a post's life: TikTok counts a post when it is published, so a
//! post's slot is at its publication time (`store::slot_at`), checked by the rolling rule there
//! (`store::rolling`). A create takes the slot (`pipeline`); here, what happens to it after:
//! a reschedule moves it, and a cancel before TikTok published the post gives it back.
//!
//! A post's slot is named by its create's id, which its record keeps as `request_id`.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::error::ApiError;
use crate::pipeline::DAY;
use crate::store::{Lane, PostRecord, SlotMove, slot_at};

/// Whether TikTok has counted the post already: then its slot stays where it is, whatever is
/// asked of it afterwards. A post published (or publishing) is counted; a Creator Inbox draft
/// is "published" to the inbox, but what its lane counts is the shares still pending there, so a
/// draft Zernio agreed to delete or move counts no more where it was.
fn counted_by_tiktok(record: &PostRecord) -> bool {
    lane_of(record) != Lane::Draft
        && matches!(
            record.status.as_str(),
            "published" | "partial" | "publishing"
        )
}

/// Whether the post holds a slot at all: a Zernio draft (`saved`) reaches no TikTok and holds
/// none, as at its create.
fn holds_a_slot(record: &PostRecord) -> bool {
    record.mode != "saved"
}

fn lane_of(record: &PostRecord) -> Lane {
    Lane::for_post(&record.kind, &record.mode)
}

/// The refusal of a post for the budget at `at`, counted. A post now says when the next post
/// is possible; a scheduled one names its own time (see `ApiError::DailyLimitReached`).
pub fn refused(
    state: &AppState,
    tenant: &str,
    account: &str,
    lane: Lane,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    retry_at: DateTime<Utc>,
) -> ApiError {
    let scheduled = at > now;
    // The gauge is the window of now, which a scheduled post's refusal says nothing about.
    if !scheduled {
        state.metrics.budget_remaining(account, lane.as_str(), 0);
    }
    state.metrics.limit_refused(tenant, "daily");
    ApiError::DailyLimitReached {
        account: account.to_owned(),
        retry_at,
        schedule_at: scheduled.then_some(at),
    }
}

/// Sends an edit (`send`, not started yet) with the post's slot moved to the new time
/// `schedule_at` first: refused with `daily_limit_reached` when the windows around that time
/// are full, and then `send` never runs, so nothing changes upstream. When `send` fails, the
/// slot goes back where it was. An edit without a new time, of a Zernio draft, or of a post
/// TikTok counted already sends as it is.
pub async fn reschedule<T, E>(
    state: &AppState,
    record: &PostRecord,
    schedule_at: Option<DateTime<Utc>>,
    send: impl Future<Output = Result<T, E>>,
) -> Result<T, ApiError>
where
    E: Into<ApiError>,
{
    let Some(schedule_at) =
        schedule_at.filter(|_| holds_a_slot(record) && !counted_by_tiktok(record))
    else {
        return send.await.map_err(Into::into);
    };
    let lane = lane_of(record);
    let limit = state
        .auth
        .tenant(&record.tenant)
        .map(|t| t.daily_limit(&record.account, lane))
        .ok_or(ApiError::NotFound)?;
    let now = Utc::now();
    let at = slot_at(now, Some(schedule_at));
    let moved = state
        .store
        .move_slot(
            &record.account,
            lane,
            &record.request_id,
            at,
            limit,
            DAY,
            now,
        )
        .await?;
    let from = match moved {
        SlotMove::Full { retry_at } => {
            return Err(refused(
                state,
                &record.tenant,
                &record.account,
                lane,
                at,
                now,
                retry_at,
            ));
        }
        SlotMove::Moved { from, .. } => from,
    };
    match send.await {
        Ok(answer) => Ok(answer),
        Err(e) => {
            put_back(state, record, lane, from, now).await;
            Err(e.into())
        }
    }
}

/// Undoes a move whose edit failed: the slot where it was, or none if it had none. Without a
/// limit: it held that place a moment ago.
async fn put_back(
    state: &AppState,
    record: &PostRecord,
    lane: Lane,
    from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let (account, slot) = (&record.account, &record.request_id);
    let undone = match from {
        Some(at) => state
            .store
            .move_slot(account, lane, slot, at, u32::MAX, DAY, now)
            .await
            .map(|m| matches!(m, SlotMove::Moved { .. })),
        None => state
            .store
            .release_slot(account, lane, slot)
            .await
            .map(|()| true),
    };
    match undone {
        Ok(true) => {}
        // Only an exhaustion marked meanwhile refuses an unlimited move: the slot stays at the
        // new time, counting against the account, which errs on TikTok's side.
        Ok(false) => {
            tracing::warn!(post = %record.id, "a failed reschedule's slot stayed at its new time")
        }
        Err(e) => {
            tracing::warn!(post = %record.id, error = %e, "could not put a failed reschedule's slot back")
        }
    }
}

/// After Zernio cancelled a post (a scheduled post or a draft): its slot is free again, unless
/// TikTok counted the post already. Zernio has cancelled it whatever happens here, so a store
/// failure is logged, not answered: the slot then frees when its window passes.
pub async fn cancelled(state: &AppState, record: &PostRecord) {
    if !holds_a_slot(record) || counted_by_tiktok(record) {
        return;
    }
    if let Err(e) = state
        .store
        .release_slot(&record.account, lane_of(record), &record.request_id)
        .await
    {
        tracing::warn!(post = %record.id, error = %e, "could not give a cancelled post's slot back");
    }
}
