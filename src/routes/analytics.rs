//! Likes, comments, shares and views of the tenant's posts, from Zernio's analytics.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Authenticated;
use crate::auth::tenant::AnalyticsRead;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::routes::posts::{owned, request_id};
use crate::zernio::{AnalyticsQuery, CallContext};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// Only this account's posts.
    pub account: Option<String>,
    /// Only this post.
    pub post: Option<String>,
    /// First day (YYYY-MM-DD).
    pub from: Option<NaiveDate>,
    /// Last day (YYYY-MM-DD).
    pub to: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct PostFigures {
    /// Zernio's post id.
    pub post_id: Option<String>,
    pub account: String,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub views: u64,
}

#[derive(Serialize, ToSchema)]
pub struct AnalyticsView {
    pub items: Vec<PostFigures>,
}

/// Figures per post for the tenant's accounts (TikTok's analytics are limited to these four).
#[utoipa::path(get, path = "/v1/tiktok/analytics", tag = "analytics",
    security(("bearer" = []), ("api_key" = [])),
    params(AnalyticsParams),
    responses(
        (status = 200, description = "Figures per post", body = AnalyticsView),
        (status = 400, description = "A bad date", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Zernio's Analytics add-on is required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or post for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Zernio failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Zernio is syncing analytics; retry later", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: Authenticated<AnalyticsRead>,
    headers: HeaderMap,
    params: Result<Query<AnalyticsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<AnalyticsView>, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let tenant = &auth.tenant;
    // Which accounts (and post) to ask about, all of them the tenant's.
    let (accounts, post) = match (&params.post, &params.account) {
        (Some(post), account) => {
            let record = owned(&state, &tenant.id, post).await?;
            if account.as_ref().is_some_and(|a| *a != record.account) {
                return Err(ApiError::NotFound);
            }
            (vec![record.account], Some(record.id))
        }
        (None, Some(account)) if tenant.owns(account) => (vec![account.clone()], None),
        (None, Some(_)) => return Err(ApiError::NotFound),
        (None, None) => (tenant.accounts.clone(), None),
    };
    let request_id = request_id(&headers);
    let ctx = CallContext {
        request_id: &request_id,
    };
    let mut items = Vec::new();
    for account in accounts {
        let query = AnalyticsQuery {
            account_id: Some(account.clone()),
            post_id: post.clone(),
            from_date: params.from,
            to_date: params.to,
            ..AnalyticsQuery::default()
        };
        let answer = state.upstream.client.analytics_all(&ctx, &query).await?;
        items.extend(answer.posts.iter().map(|p| PostFigures {
            post_id: p.post_id().map(str::to_owned),
            account: account.clone(),
            likes: p.analytics.likes,
            comments: p.analytics.comments,
            shares: p.analytics.shares,
            views: p.analytics.views,
        }));
    }
    Ok(ApiJson(AnalyticsView { items }))
}
