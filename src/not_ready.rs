//! Start-up while the store cannot be reached (`on_store_unreachable = "wait"`): the listeners
//! are up, liveness answers, readiness and everything else answer 503 `store_unavailable`, and
//! each failed attempt to open the store is one log line. An orchestrator then sees a live,
//! unready pod it keeps out of rotation, instead of a restart loop that hides the cause.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::{self, ApiError};
use crate::routes::ops;
use crate::server;
use crate::store::Store;

/// The pause between attempts: a silent store already costs `store_connect_timeout_secs` per
/// attempt, one that refuses costs nothing, and neither should be asked more than this often.
fn pause(config: &Config) -> Duration {
    Duration::from_secs(config.store_connect_timeout_secs.clamp(1, 5))
}

/// Answers not-ready on `listener` (and on `admin_listen`, where the probes are) until the store
/// opens, then hands the listener back with nothing refused: connections that arrive in between
/// wait in its backlog for the gateway.
pub async fn wait_for_store(
    config: &Config,
    listener: &TcpListener,
    first_error: anyhow::Error,
) -> anyhow::Result<Arc<dyn Store>> {
    let admin = match config.admin_listen {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?,
        ),
        None => None,
    };
    let limits = server::Limits::from_config(&config.http);
    let (opened_tx, opened_rx) = tokio::sync::watch::channel(false);
    let until_opened = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|opened| *opened).await;
    };
    let retry = pause(config);
    let public = server::serve_on(
        listener,
        router(retry),
        limits,
        until_opened(opened_rx.clone()),
    );
    let admin = async {
        match &admin {
            Some(admin) => {
                server::serve_on(admin, router(retry), limits, until_opened(opened_rx)).await
            }
            None => Ok(()),
        }
    };
    let opening = async {
        let mut error = first_error;
        let mut attempt = 1u32;
        loop {
            tracing::warn!(
                store = %config.store.redacted(),
                attempt,
                error = %format!("{error:#}"),
                "store not reachable: listening, but not ready (on_store_unreachable = \"wait\")"
            );
            tokio::time::sleep(pause(config)).await;
            attempt = attempt.saturating_add(1);
            match crate::open_store(config).await {
                Ok(store) => {
                    tracing::info!(store = %config.store.redacted(), attempt, "store reachable: starting");
                    let _ = opened_tx.send(true);
                    return store;
                }
                Err(e) => error = e,
            }
        }
    };
    let (store, public, admin) = tokio::join!(opening, public, admin);
    public?;
    admin?;
    Ok(store)
}

/// Liveness as always; readiness and every other path say what is missing.
fn router(retry: Duration) -> Router {
    let retry_after = HeaderValue::from(retry.as_secs());
    Router::new()
        .route("/healthz", get(ops::healthz))
        .fallback(move || not_ready(retry_after.clone()))
}

async fn not_ready(retry_after: HeaderValue) -> Response {
    // Not `into_response`: that logs each answer, and the attempts already say it.
    let problem = ApiError::StoreUnavailable(String::new()).problem();
    let mut answer = error::render_now(error::problem_response(problem), None);
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after);
    answer
}
