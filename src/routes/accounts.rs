//! The tenant's TikTok accounts, with what is left of each one's daily budget, and a creator's
//! current TikTok constraints.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::PostsRead;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::pipeline::DAY;
use crate::routes::posts::request_id;
use crate::store::Lane;
use crate::zernio::{CallContext, MediaKind, UpstreamKind};

/// An account's use of one of TikTok's daily counts over the rolling 24 hours that end now.
/// TikTok counts a post when it is published, so a scheduled post is not in `used` until its
/// time comes (it counts in the windows around its own time: `scheduled`), and a post now must
/// also fit with the posts scheduled in the next 24 hours.
#[derive(Serialize, ToSchema)]
pub struct Budget {
    #[schema(example = 15)]
    pub limit: u32,
    /// Posts of the last 24 hours up to now (published, or due and publishing).
    #[schema(example = 3)]
    pub used: u32,
    /// `limit - used` (0 while exhausted).
    #[schema(example = 12)]
    pub remaining: u32,
    /// Posts scheduled after now.
    #[schema(example = 2)]
    pub scheduled: u32,
    /// When the next slot frees (the oldest post leaves the window), if any is used.
    pub frees_at: Option<DateTime<Utc>>,
    /// Set when TikTok said the account is out of posts: none will pass before it.
    pub exhausted_until: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    #[schema(example = "sandbox_public")]
    pub id: String,
    #[schema(example = "sandbox_public")]
    pub username: String,
    pub display_name: Option<String>,
    pub is_active: bool,
    /// The account must be reconnected in Zernio before it can post.
    pub needs_reconnection: bool,
    /// Videos posted directly (published or scheduled).
    pub videos: Budget,
    /// Photo posts, which TikTok counts apart from videos.
    pub photos: Budget,
    /// Creator Inbox drafts, counted apart again.
    pub drafts: Budget,
}

#[derive(Serialize, ToSchema)]
pub struct AccountList {
    pub items: Vec<AccountView>,
}

async fn budget(
    state: &AppState,
    account: &str,
    lane: Lane,
    limit: u32,
) -> Result<Budget, ApiError> {
    let usage = state
        .store
        .slot_usage(account, lane, DAY, Utc::now())
        .await?;
    let remaining = if usage.exhausted_until.is_some() {
        0
    } else {
        limit.saturating_sub(usage.used)
    };
    state
        .metrics
        .budget_remaining(account, lane.as_str(), remaining);
    Ok(Budget {
        limit,
        used: usage.used,
        remaining,
        scheduled: usage.scheduled,
        frees_at: usage.frees_at,
        exhausted_until: usage.exhausted_until,
    })
}

/// The tenant's TikTok accounts, each with its remaining daily budget.
#[utoipa::path(get, path = "/v1/tiktok/accounts", tag = "accounts",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The tenant's accounts", body = AccountList),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    headers: HeaderMap,
) -> Result<ApiJson<AccountList>, ApiError> {
    let request_id = request_id(&headers);
    let accounts = state
        .upstream
        .client
        .accounts(&CallContext {
            request_id: &request_id,
        })
        .await?;
    let tenant = &auth.tenant;
    let mut items = Vec::new();
    // Only the tenant's: Zernio lists every account of the shared key.
    for account in accounts.into_iter().filter(|a| tenant.owns(&a.id)) {
        let lane = |lane| {
            budget(
                &state,
                &account.id,
                lane,
                tenant.daily_limit(&account.id, lane),
            )
        };
        items.push(AccountView {
            videos: lane(Lane::Video).await?,
            photos: lane(Lane::Photo).await?,
            drafts: lane(Lane::Draft).await?,
            id: account.id,
            username: account.username,
            display_name: account.display_name,
            is_active: account.is_active,
            needs_reconnection: account.needs_reconnection,
        });
    }
    Ok(ApiJson(AccountList { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreatorQuery {
    /// `video` (default) or `photo`: TikTok may answer differently for each.
    pub media_type: Option<MediaType>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Video,
    Photo,
}

#[derive(Serialize, ToSchema)]
pub struct CreatorView {
    pub account: String,
    pub nickname: Option<String>,
    pub is_verified: bool,
    /// False when TikTok says the creator cannot post more today.
    pub can_post_more: bool,
    /// The only privacy levels a post to this creator may use.
    #[schema(example = json!(["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]))]
    pub privacy_levels: Vec<String>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    pub max_video_duration_sec: Option<u32>,
    /// How long this answer is reused before TikTok is asked again.
    pub cached_for_secs: u64,
}

/// A creator's allowed privacy levels, interaction settings and maximum video duration.
#[utoipa::path(get, path = "/v1/tiktok/accounts/{id}/creator-info", tag = "accounts",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The account id"), CreatorQuery),
    responses(
        (status = 200, description = "The creator's constraints", body = CreatorView),
        (status = 400, description = "A bad media_type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited, or the creator reached the daily limit", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn creator_info(
    State(state): State<AppState>,
    auth: Authenticated<PostsRead>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<CreatorQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<CreatorView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    if !auth.tenant.owns(&id) {
        return Err(ApiError::NotFound);
    }
    let kind = match query.media_type {
        Some(MediaType::Photo) => MediaKind::Photo,
        _ => MediaKind::Video,
    };
    let request_id = request_id(&headers);
    let ctx = CallContext {
        request_id: &request_id,
    };
    let info = match state.upstream.creator_info(&ctx, &id, kind).await {
        Ok(info) => info,
        // The creator reached TikTok's daily cap: mark the account, as a create would.
        Err(e) if e.kind == UpstreamKind::DailyLimitReached => {
            let lane = match kind {
                MediaKind::Photo => Lane::Photo,
                MediaKind::Video => Lane::Video,
            };
            return Err(crate::pipeline::exhausted(&state, &auth.tenant.id, &id, lane, e).await);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(ApiJson(CreatorView {
        account: id,
        nickname: info.nickname.clone(),
        is_verified: info.is_verified,
        can_post_more: info.can_post_more,
        privacy_levels: info.privacy_levels.clone(),
        comment_disabled: info.comment_disabled,
        duet_disabled: info.duet_disabled,
        stitch_disabled: info.stitch_disabled,
        max_video_duration_sec: info.max_video_duration_sec,
        cached_for_secs: Duration::from_secs(state.config.zernio.creator_info_ttl_secs).as_secs(),
    }))
}
