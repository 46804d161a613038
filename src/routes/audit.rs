//! The tenant's audit trail: who did what, with which consent, and how it ended. Read-only;
//! held to the caller's tenant like everything else.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::audit::{AuditEntry, AuditFilter};
use crate::auth::Authenticated;
use crate::auth::tenant::AuditRead;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action (`post.create`, `post.edit`, `post.cancel`, `post.retry`,
    /// `subscription.create`, `subscription.delete`).
    pub action: Option<String>,
    /// Only entries about this account.
    pub account: Option<String>,
    /// Only entries about this post (or subscription).
    pub post: Option<String>,
    /// At or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// At or before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A page of the trail, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn cursor_ok(cursor: &str) -> bool {
    !cursor.is_empty()
        && cursor.len() <= 64
        && cursor.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// The tenant's audit trail, newest first, in cursor pages.
#[utoipa::path(get, path = "/v1/audit", tag = "operations",
    security(("bearer" = []), ("api_key" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the trail", body = AuditPage),
        (status = 400, description = "A bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope `audit:read`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated<AuditRead>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiJson<AuditPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 200",
        ));
    }
    if query.cursor.as_deref().is_some_and(|c| !cursor_ok(c)) {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            "cursor is not one we gave",
        ));
    }
    let filter = AuditFilter {
        action: query.action,
        account: query.account,
        object_id: query.post,
        since: query.since,
        until: query.until,
    };
    let mut items = state
        .store
        .audit_entries(&auth.tenant.id, &filter, query.cursor.as_deref(), limit + 1)
        .await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more.then(|| items.last().map(|e| e.id.clone())).flatten();
    Ok(ApiJson(AuditPage { items, next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Entries at or after this time (RFC 3339).
    pub since: DateTime<Utc>,
}

/// Entries of one export answer at most; the `Link`-free way on is `since` of the last one.
const EXPORT_MAX: u32 = 100_000;

/// The tenant's trail since a time, oldest first, one JSON entry per line (NDJSON), for
/// archives and SIEMs.
#[utoipa::path(get, path = "/v1/audit/export", tag = "operations",
    security(("bearer" = []), ("api_key" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "One entry per line, oldest first (at most 100,000)", body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "`since` missing or not a time", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope `audit:read`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    auth: Authenticated<AuditRead>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let mut body = Vec::new();
    let mut after: Option<String> = None;
    let mut written = 0;
    while written < EXPORT_MAX {
        let batch = state
            .store
            .audit_since(&auth.tenant.id, query.since, after.as_deref(), 1000)
            .await?;
        for entry in &batch {
            if serde_json::to_writer(&mut body, entry).is_ok() {
                body.push(b'\n');
                written += 1;
            }
        }
        match batch.last() {
            Some(last) if batch.len() == 1000 => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
