//! Operations on a tenant's existing posts, shared by the native and the Zernio-compatible
//! routes (which differ only in shapes): each one first makes sure the post is the tenant's,
//! then asks Zernio, then keeps the gateway's record in step.

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::error::ApiError;
use crate::limits;
use crate::store::{PostRecord, PostUpdate};
use crate::tiktok;
use crate::zernio::{self, CallContext};

/// The tenant's record of a post, or 404 (whether it does not exist or is another tenant's).
pub async fn owned(state: &AppState, tenant: &str, id: &str) -> Result<PostRecord, ApiError> {
    state
        .store
        .post(tenant, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The post as Zernio has it now. Reads write nothing.
pub async fn fetch(
    state: &AppState,
    tenant: &str,
    id: &str,
    request_id: &str,
) -> Result<(PostRecord, zernio::Post), ApiError> {
    let record = owned(state, tenant, id).await?;
    let post = state
        .upstream
        .client
        .get_post(&CallContext { request_id }, &record.id)
        .await?;
    Ok((record, post))
}

/// A new time, time zone or caption for a scheduled post or a draft.
pub struct Edit<'a> {
    pub schedule_at: Option<DateTime<Utc>>,
    pub timezone: Option<&'a str>,
    pub caption: Option<&'a str>,
}

pub async fn edit(
    state: &AppState,
    tenant: &str,
    id: &str,
    request_id: &str,
    edit: Edit<'_>,
) -> Result<(PostRecord, zernio::Post), ApiError> {
    let mut record = owned(state, tenant, id).await?;
    let body = tiktok::edit_payload(
        &record.kind,
        edit.schedule_at,
        edit.timezone,
        edit.caption,
        Utc::now(),
    )
    .map_err(|e| state.rejected(e))?;
    let ctx = CallContext { request_id };
    let send = state.upstream.client.update_post(&ctx, &record.id, &body);
    let post = limits::budget::reschedule(state, &record, edit.schedule_at, send).await?;
    let update = PostUpdate {
        status: Some(post.status.as_str().to_owned()),
        schedule_at: edit.schedule_at.map(Some),
        ..PostUpdate::default()
    };
    state.store.update_post(&record.id, &update).await?;
    // The record as just written, without reading it back.
    record.status = post.status.as_str().to_owned();
    if edit.schedule_at.is_some() {
        record.schedule_at = edit.schedule_at;
    }
    Ok((record, post))
}

pub async fn cancel(
    state: &AppState,
    tenant: &str,
    id: &str,
    request_id: &str,
) -> Result<(), ApiError> {
    let record = owned(state, tenant, id).await?;
    state
        .upstream
        .client
        .delete_post(&CallContext { request_id }, &record.id)
        .await?;
    limits::budget::cancelled(state, &record).await;
    let update = PostUpdate {
        status: Some("cancelled".to_owned()),
        ..PostUpdate::default()
    };
    state.store.update_post(&record.id, &update).await?;
    Ok(())
}

pub async fn retry(
    state: &AppState,
    tenant: &str,
    id: &str,
    request_id: &str,
) -> Result<(PostRecord, zernio::Post), ApiError> {
    let mut record = owned(state, tenant, id).await?;
    let post = state
        .upstream
        .client
        .retry_post(&CallContext { request_id }, &record.id)
        .await?;
    let update = PostUpdate {
        status: Some(post.status.as_str().to_owned()),
        error: Some(None),
        ..PostUpdate::default()
    };
    state.store.update_post(&record.id, &update).await?;
    record.status = post.status.as_str().to_owned();
    record.error = None;
    Ok((record, post))
}
