//! The sandbox upstream: a simulated Zernio, served in-process on a loopback listener when no
//! `ZERNIO_API_KEY` is set, so that the gateway does its whole job end to end without reaching
//! TikTok.
//!
//! It answers every endpoint the client uses, at the same paths under `/api` (so the client's
//! base URL is `http://127.0.0.1:PORT/api`, shaped like `https://zernio.com/api`), with the
//! reference's behaviour:
//! - two creators: `sandbox_public` (PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY) and
//!   `sandbox_private` (FOLLOWER_OF_CREATOR, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY; duet and stitch
//!   disabled); a create must use one of the creator's privacy levels and give both consents;
//! - the daily cap per account over a rolling 24 h, videos, photo posts and Creator Inbox drafts
//!   counted apart (15 each by default), duplicate content (same account, caption and media)
//!   within 24 h (409 with `details.existingPostId`), `Idempotency-Key` replay (200 with the
//!   original post), `dryRun: true` (a `TikTokDryRunVerdict`, nothing stored);
//! - Zernio's scheduling precedence: `isDraft` > `publishNow` > `scheduledFor`, none of them a
//!   Zernio draft; TikTok settings in the root `tiktokSettings` or, winning field by field, in
//!   `platforms[].platformSpecificData`;
//! - publish now, schedule (moved to `published` when due: lazily on every request and by a
//!   background tick), Zernio drafts, Creator Inbox drafts, edit, cancel, retry;
//! - presigned uploads on its own address (the PUT is accepted and discarded), analytics that grow
//!   with time since publication, webhook registration and signed webhook deliveries.
//!
//! Media URLs are never fetched. Two reserved markers make failures reproducible: a media URL on
//! a host under `.invalid` (RFC 2606) fails like TikTok's download failure, and a caption
//! containing `#sandbox_spam` fails like a spam_risk flag; both answer 207 with a failed post.
//!
//! Creator Inbox drafts (`tiktokSettings.draft: true`): when due they are "delivered" to the
//! creator's inbox. Nothing is public, so the post's status stays `draft` (not `published`), its
//! `tiktokSettings.draft` stays `true` (the flag: see `Post::is_creator_inbox_draft`), and the
//! TikTok entry turns `published` with `publishedAt` as the delivery time and no URL. No webhook
//! is sent for the delivery, as `draft` is none of the post events. Such posts count toward the
//! daily cap and the duplicate guard, as they do reach TikTok.
//!
//! The daily cap is checked when a post is created (scheduled posts included), where Zernio would
//! fail a scheduled post only at publish time; that keeps the refusal where tests can see it.
//!
//! Its posts can be kept in a file ([`SandboxOptions::store_path`]; the gateway's development
//! profile uses `sandbox.json` beside its SQLite store) so that a restart keeps what was listed.
//! Every answer and webhook validates against Zernio's OpenAPI (tests/sandbox_contract.rs).
//!
//! The only traffic it ever sends is its webhooks, and only to loopback addresses.

mod handlers;
mod model;
mod webhooks;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use url::Url;

pub use handlers::router;
use model::Data;
use webhooks::Delivery;

/// The sandbox's time. Tests use [`Clock::fixed`] and [`Clock::advance`] to move time forward
/// without sleeping; the gateway uses [`Clock::system`].
#[derive(Clone)]
pub struct Clock {
    inner: Arc<ClockInner>,
}

struct ClockInner {
    /// `None`: the system clock. `Some`: time stands at this instant (plus the offset).
    start: Option<DateTime<Utc>>,
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn system() -> Self {
        Self::with_start(None)
    }

    /// A clock that only moves when [`Clock::advance`] is called.
    pub fn fixed(start: DateTime<Utc>) -> Self {
        Self::with_start(Some(start))
    }

    fn with_start(start: Option<DateTime<Utc>>) -> Self {
        Clock {
            inner: Arc::new(ClockInner {
                start,
                offset_ms: AtomicI64::new(0),
            }),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let base = self.inner.start.unwrap_or_else(Utc::now);
        let offset = chrono::Duration::milliseconds(self.inner.offset_ms.load(Ordering::Relaxed));
        base.checked_add_signed(offset).unwrap_or(base)
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // fetch_add wraps on overflow; saturate instead so time never runs backwards.
        let _ = self
            .inner
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            });
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

/// How the sandbox behaves. `Debug` leaves the webhook secret out.
#[derive(Clone)]
pub struct SandboxOptions {
    /// Posts per account and kind over a rolling 24 h: videos, photo posts and Creator Inbox
    /// drafts each have this many (TikTok for Business accounts: 15 videos and 15 photo posts).
    pub daily_cap: u32,
    /// The file posts are kept in across restarts (`None`: memory only, as tests want).
    pub store_path: Option<PathBuf>,
    /// Where to send webhooks from the start (a registration through
    /// `POST /v1/webhooks/settings` replaces it). Loopback URLs only.
    pub webhook_url: Option<Url>,
    pub webhook_secret: Option<String>,
    /// Requests per minute before the sandbox answers 429 (Zernio's 600 for 3+ accounts).
    pub requests_per_minute: u32,
    /// How often scheduled posts are checked when nobody asks (for webhooks).
    pub tick: Duration,
    pub clock: Clock,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            daily_cap: 15,
            store_path: None,
            webhook_url: None,
            webhook_secret: None,
            requests_per_minute: 600,
            tick: Duration::from_secs(1),
            clock: Clock::system(),
        }
    }
}

impl std::fmt::Debug for SandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxOptions")
            .field("daily_cap", &self.daily_cap)
            .field("store_path", &self.store_path)
            .field("webhook_url", &self.webhook_url.as_ref().map(Url::as_str))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("requests_per_minute", &self.requests_per_minute)
            .field("tick", &self.tick)
            .field("clock", &self.clock)
            .finish()
    }
}

/// The sandbox's shared state: the router's `State`. Cheap to clone.
#[derive(Clone)]
pub struct SandboxState {
    inner: Arc<Shared>,
}

struct Shared {
    options: SandboxOptions,
    data: Mutex<Data>,
    /// Per-minute request window: (minute number, requests in it).
    window: Mutex<(i64, u32)>,
    deliveries: Option<mpsc::UnboundedSender<Delivery>>,
    base_url: OnceLock<Url>,
}

impl SandboxState {
    /// Builds the state and, when called inside a Tokio runtime, starts the webhook worker (it
    /// stops when the last clone of the state is dropped). Outside a runtime webhooks are off.
    pub fn new(options: SandboxOptions) -> Self {
        let deliveries = match tokio::runtime::Handle::try_current() {
            Ok(handle) => Some(webhooks::start(&handle)),
            Err(_) => {
                tracing::warn!("sandbox state built outside a Tokio runtime: webhooks are off");
                None
            }
        };
        let (url, secret) = (options.webhook_url.clone(), options.webhook_secret.clone());
        let data = match &options.store_path {
            Some(path) => Data::open(url, secret, path.clone()),
            None => Data::new(url, secret),
        };
        SandboxState {
            inner: Arc::new(Shared {
                options,
                data: Mutex::new(data),
                window: Mutex::new((0, 0)),
                deliveries,
                base_url: OnceLock::new(),
            }),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.options.clock
    }

    pub fn options(&self) -> &SandboxOptions {
        &self.inner.options
    }

    /// Sets the address presigned URLs point at (`spawn` does it; tests that serve
    /// [`router`] themselves may too, else the request's `Host` is used).
    pub fn set_base_url(&self, url: Url) {
        let _ = self.inner.base_url.set(url);
    }

    pub fn base_url(&self) -> Option<&Url> {
        self.inner.base_url.get()
    }

    /// Sends every post event to `url`, signed with `secret`, as a registration through
    /// `POST /v1/webhooks/settings` would (for a gateway whose address is known only once it
    /// listens). Loopback URLs only, like every sandbox webhook.
    pub fn set_webhook_target(&self, url: Url, secret: &str) {
        self.data().set_webhook(url, secret.to_owned());
    }

    /// Moves the clock forward and publishes whatever became due (sending its webhooks).
    pub fn advance(&self, by: Duration) {
        self.clock().advance(by);
        self.tick();
    }

    /// Publishes every scheduled post that is due now, and sends the webhooks.
    pub fn tick(&self) {
        let now = self.clock().now();
        let events = self.data().promote_due(now);
        self.emit(events);
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while holding the lock cannot leave Data half-updated in a way that matters
        // more than stopping the whole sandbox would; carry on with what is there.
        self.inner.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends webhooks for status changes, if a target with a secret is configured.
    fn emit(&self, events: Vec<model::Event>) {
        if events.is_empty() {
            return;
        }
        let Some(tx) = &self.inner.deliveries else {
            return;
        };
        let target = self.data().webhook_target();
        let Some(target) = target else {
            return;
        };
        let now = self.clock().now();
        for event in events.iter().flat_map(model::Event::with_platform_events) {
            if !target.wants(event.name) {
                continue;
            }
            if let Some(delivery) = webhooks::delivery(&target, &event, now) {
                let _ = tx.send(delivery);
            }
        }
    }

    /// Counts a request against the per-minute window; returns (limit, remaining, reset unix s)
    /// and whether the request is over the limit.
    fn count_request(&self) -> (u32, u32, i64, bool) {
        let now = self.clock().now().timestamp();
        let minute = now.div_euclid(60);
        let limit = self.inner.options.requests_per_minute.max(1);
        let mut w = self.inner.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0 != minute {
            *w = (minute, 0);
        }
        w.1 = w.1.saturating_add(1);
        let over = w.1 > limit;
        (limit, limit.saturating_sub(w.1), (minute + 1) * 60, over)
    }
}

/// A running sandbox. Dropping it stops the server and the background tick.
pub struct Sandbox {
    /// `http://127.0.0.1:PORT/api`: the client's `base_url`.
    pub base_url: Url,
    state: SandboxState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: JoinHandle<()>,
}

impl Sandbox {
    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    pub fn clock(&self) -> &Clock {
        self.state.clock()
    }

    /// Stops accepting connections, lets requests in flight finish, and ends the tick.
    pub async fn stop(mut self) {
        self.ticker.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker.abort();
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Binds 127.0.0.1:0 and serves the sandbox there.
pub async fn spawn(options: SandboxOptions) -> std::io::Result<Sandbox> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let base_url = Url::parse(&format!("http://{addr}/api"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let tick = options.tick.max(Duration::from_millis(10));
    let state = SandboxState::new(options);
    state.set_base_url(base_url.clone());

    let (tx, rx) = oneshot::channel::<()>();
    let app = router(state.clone());
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    let ticking = state.clone();
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            ticking.tick();
        }
    });
    tracing::warn!(%base_url, "sandbox upstream running: nothing reaches TikTok");
    Ok(Sandbox {
        base_url,
        state,
        shutdown: Some(tx),
        server: Some(server),
        ticker,
    })
}
