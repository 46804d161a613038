//! tiktok-gateway: a multi-tenant gateway between internal callers and the Zernio API for
//! TikTok publishing and analytics. This crate root builds the application (router, layers,
//! state) for `main.rs` and for the tests; it decides nothing itself.
#![forbid(unsafe_code)]

pub mod address;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod frame;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod not_ready;
pub mod openapi;
pub mod pending;
pub mod pipeline;
pub mod posts;
pub mod private_files;
pub mod probe;
pub mod reconcile;
pub mod record;
pub mod routes;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod single_flight;
pub mod store;
pub mod telemetry;
pub mod tiktok;
pub mod upstream;
pub mod webhooks;
pub mod zernio;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{Request, StatusCode};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Authenticator;
use crate::config::{Config, Environment};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::upstream::Upstream;

/// What every handler can reach. One `Arc`: each layer clones the state for each request, and
/// one reference count is all that should cost (it was a measurable share of the read path).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub auth: Authenticator,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub upstream: Upstream,
    /// Wakes this replica's webhook worker when deliveries are enqueued.
    pub webhooks: webhooks::Hub,
    /// Reads of posts that ask Zernio, one call per post at a time.
    pub reads: posts::Reads,
    /// Seals the subscriptions' secrets before the store sees them.
    pub secrets: secrets::Sealer,
    /// Reads every media URL of a post before it is sent (`[media]`).
    pub probe: probe::Prober,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// A request that breaks TikTok's rules: counted by rule, answered with every violation.
    pub fn rejected(&self, violations: Vec<tiktok::Violation>) -> error::ApiError {
        for v in violations
            .iter()
            .filter(|v| v.code != tiktok::rules::TRUNCATED)
        {
            self.metrics.validation_rejected(v.code);
        }
        error::ApiError::Validation(violations)
    }
}

impl FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Metrics {
        state.metrics.clone()
    }
}

/// Opens the configured store within `store_connect_timeout_secs`; the error names the store
/// without its password.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let wait = Duration::from_secs(config.store_connect_timeout_secs.max(1));
    match tokio::time::timeout(wait, store::open(&config.store)).await {
        Ok(opened) => opened.map_err(|e| {
            anyhow::anyhow!("store {} cannot be opened: {e}", config.store.redacted())
        }),
        Err(_) => anyhow::bail!(
            "store {} did not answer within {} s (store_connect_timeout_secs)",
            config.store.redacted(),
            wait.as_secs()
        ),
    }
}

/// A configured gateway, ready to serve.
pub struct Gateway {
    state: AppState,
}

impl Gateway {
    /// Opens the store and prepares authentication; fails on what the configuration names but
    /// cannot be had (an unreadable key file, a store that does not open).
    pub async fn build(config: Config, env: &Environment) -> anyhow::Result<Gateway> {
        Gateway::build_with(config, env, None).await
    }

    async fn build_with(
        mut config: Config,
        env: &Environment,
        opened: Option<Arc<dyn Store>>,
    ) -> anyhow::Result<Gateway> {
        // The sandbox signs its webhooks to this gateway with a secret of this run, unless the
        // operator gave one.
        if config.is_sandbox() && config.zernio_webhook_secret.is_none() {
            config.zernio_webhook_secret =
                Some(config::Secret::new(webhooks::signing::new_secret()));
        }
        tracing::debug!(?config, "configuration");
        let auth = Authenticator::from_config(&config, env)?;
        let store = match opened {
            Some(store) => store,
            None => open_store(&config).await?,
        };
        // After the store: a start-up that fails there writes no key file.
        let sealer = secrets::from_environment(&config, env)?;
        let tenant_ids: Vec<&str> = config.tenants.iter().map(|t| t.id.as_str()).collect();
        match secrets::reseal_subscriptions(store.as_ref(), &sealer, &tenant_ids).await {
            Ok(done) if done.resealed > 0 || done.unopened > 0 => tracing::info!(
                resealed = done.resealed,
                unopened = done.unopened,
                key = sealer.key_id(),
                "subscription secrets sealed again with the current key"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not re-seal subscription secrets; start-up goes on")
            }
        }
        let metrics = Metrics::new();
        metrics.set_per_account(config.metrics.per_account);
        let tenants: Vec<&str> = config.tenants.iter().map(|t| t.id.as_str()).collect();
        metrics.prepare(&tenants);
        let upstream = Upstream::start(&config, &metrics).await?;
        let probe = probe::Prober::new(&config.media, &metrics).map_err(anyhow::Error::msg)?;
        let state = AppState(Arc::new(Shared {
            config,
            auth,
            store,
            metrics,
            upstream,
            webhooks: webhooks::Hub::default(),
            reads: posts::Reads::default(),
            secrets: sealer,
            probe,
        }));
        Ok(Gateway { state })
    }

    /// [`Gateway::build`], but with `on_store_unreachable = "wait"` a store that cannot be
    /// reached yet does not stop start-up: `listener` (and `admin_listen`) answer not-ready
    /// until it opens, and every failed attempt is logged.
    pub async fn start(
        config: Config,
        env: &Environment,
        listener: &TcpListener,
    ) -> anyhow::Result<Gateway> {
        if config.on_store_unreachable == config::OnStoreUnreachable::Fail {
            return Gateway::build(config, env).await;
        }
        // Whatever else is wrong with the configuration is said now, not after the store.
        Authenticator::from_config(&config, env)?;
        let store = match open_store(&config).await {
            Ok(store) => store,
            Err(error) => not_ready::wait_for_store(&config, listener, error).await?,
        };
        Gateway::build_with(config, env, Some(store)).await
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The whole application: routes, docs, and the layers every request passes through.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        let limit = state.config.http.body_limit_bytes;
        let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
        let (api, mut spec) = routes::app(&state).split_for_parts();
        openapi::common_answers(&mut spec);
        routes::know_methods(&spec);
        let body_read_timeout = Duration::from_millis(state.config.http.body_read_timeout_ms);
        api.merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
            .with_state(state.clone())
            // Each `layer` wraps all before it, so read upwards for the order a request takes:
            // the request id exists before anything logs, the frame's metrics see the final
            // status, and every error answer, however produced, leaves as a problem with that id.
            .layer(DefaultBodyLimit::max(limit))
            .layer(RequestBodyLimitLayer::new(limit))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                timeout,
            ))
            .layer(CatchPanicLayer::custom(|_| {
                error::problem_response(error::generic_problem(StatusCode::INTERNAL_SERVER_ERROR))
            }))
            .layer(frame::FrameLayer::new(
                state.metrics.clone(),
                body_read_timeout,
            ))
            .layer(
                // The frame writes the request's one line (who, what, how long, why refused).
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(())
                    .on_failure(()),
            )
            .layer(frame::RequestIdLayer)
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let admin = match self.state.config.admin_listen {
            Some(address) => Some(TcpListener::bind(address).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}"))
            })?),
            None => None,
        };
        self.serve_with_admin(listener, admin, shutdown).await
    }

    /// [`Gateway::serve`] with the admin listener bound by the caller (`admin_listen`, or a
    /// test's port 0): `/metrics`, `/healthz` and `/readyz` there, and `/metrics` off `listener`
    /// whenever `admin_listen` is configured.
    pub async fn serve_with_admin(
        self,
        listener: TcpListener,
        admin: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stop = Arc::new(stop);
        let on_signal = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = on_signal.send(true);
        });
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let admin_task = admin.map(|admin| {
            if let Ok(address) = admin.local_addr() {
                tracing::info!(%address, "admin listener: /metrics, /healthz, /readyz");
            }
            let router = routes::admin(&self.state);
            let limits = server::Limits::from_config(&self.state.config.http);
            tokio::spawn(server::serve(
                admin,
                router,
                limits,
                until_stopped(stopped.clone()),
            ))
        });
        let shutdown = until_stopped(stopped);
        let router = self.router();
        let store = self.state.store.clone();
        if let (Ok(address), Some(secret)) = (
            listener.local_addr(),
            &self.state.config.zernio_webhook_secret,
        ) {
            self.state
                .upstream
                .send_sandbox_webhooks_to(address, secret);
        }
        let worker = webhooks::outbound::spawn(&self.state).map_err(std::io::Error::other)?;
        let reconciler = reconcile::spawn(&self.state);
        let limits = server::Limits::from_config(&self.state.config.http);
        let result = server::serve(listener, router, limits, shutdown).await;
        // However the public listener ended, the admin one ends with it.
        let _ = stop.send(true);
        if let Some(task) = admin_task {
            match task.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "the admin listener failed"),
                Err(e) => tracing::warn!(error = %e, "the admin listener stopped abnormally"),
                Ok(Ok(())) => {}
            }
        }
        reconciler.stop().await;
        worker.stop().await;
        store.close().await;
        result
    }
}

fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("unmatched");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route,
        path = %request.uri().path(),
    )
}
