//! Configuration: a TOML file, then environment variables over it, checked as a whole at
//! start-up so that a wrong value stops the gateway with one line naming the key, instead of
//! failing later on a request.
//!
//! Environment names: `GATEWAY_<KEY>` for top-level keys and `GATEWAY_<SECTION>__<KEY>` inside
//! sections (`GATEWAY_ZERNIO__BASE_URL`), plus the contract's own `ZERNIO_BASE_URL`. Secrets come
//! from the environment only (`ZERNIO_API_KEY`, `ZERNIO_WEBHOOK_SECRET`, the JWT secret named by
//! `auth.jwt.secret_env`) and are held in `Secret`, whose `Debug` never shows them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::Deserialize;

use crate::auth::Scope;

/// The tenant and accounts of the development profile; the sandbox upstream knows the same two.
pub const DEV_TENANT: &str = "demo";
/// The development tenant's burst (the default is 20).
const DEV_BURST: u32 = 60;
pub const SANDBOX_ACCOUNTS: [&str; 2] = ["sandbox_public", "sandbox_private"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A second listener for operators: when set, `/metrics` is served there only (not on
    /// `listen`), beside `/healthz` and `/readyz`.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default = "default_store")]
    pub store: StoreUrl,
    /// How long start-up waits for the store to answer.
    #[serde(default = "default_store_connect_timeout_secs")]
    pub store_connect_timeout_secs: u64,
    /// What start-up does when the store does not answer in time.
    #[serde(default)]
    pub on_store_unreachable: OnStoreUnreachable,
    #[serde(default)]
    pub zernio: ZernioConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub sandbox: SandboxConfig,
    #[serde(default)]
    pub upstream: UpstreamBudgetConfig,
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub posts: PostsConfig,
    #[serde(default)]
    pub media: MediaConfig,
    /// From `ZERNIO_API_KEY` only; `None` runs the sandbox upstream.
    #[serde(skip)]
    pub zernio_api_key: Option<Secret>,
    /// From `ZERNIO_WEBHOOK_SECRET` only; `None` makes the webhook receiver answer 503.
    #[serde(skip)]
    pub zernio_webhook_secret: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZernioConfig {
    #[serde(default = "default_base_url")]
    pub base_url: url::Url,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long a creator's info (privacy options, interaction flags) is reused.
    #[serde(default = "default_creator_info_ttl_secs")]
    pub creator_info_ttl_secs: u64,
    /// The longest Zernio's API rate limit (a 429 with `Retry-After`) may hold every call: a
    /// bogus or huge `Retry-After` must not freeze every tenant for an hour.
    #[serde(default = "default_max_pause_secs")]
    pub max_pause_secs: u64,
    /// Consecutive failures (no answer, a timeout, a 5xx) of one Zernio operation that open its
    /// circuit breaker: its calls are then refused at once with 503 `upstream_unavailable`.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before one probe may go through.
    #[serde(default = "default_breaker_cool_down_ms")]
    pub breaker_cool_down_ms: u64,
}

impl Default for ZernioConfig {
    fn default() -> Self {
        ZernioConfig {
            base_url: default_base_url(),
            connect_timeout_ms: default_connect_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            creator_info_ttl_secs: default_creator_info_ttl_secs(),
            max_pause_secs: default_max_pause_secs(),
            breaker_failures: default_breaker_failures(),
            breaker_cool_down_ms: default_breaker_cool_down_ms(),
        }
    }
}

fn default_max_pause_secs() -> u64 {
    60
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_cool_down_ms() -> u64 {
    10_000
}

/// Limits of the HTTP server itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The longest a request may take end to end before the gateway answers 504 itself.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Largest request body accepted; a 35-photo post with a 4,000-character description is far below.
    #[serde(default = "default_body_limit_bytes")]
    pub body_limit_bytes: usize,
    /// A request's head (request line and headers) must have arrived this long after the
    /// gateway began waiting for it: after the connection opened, or after the previous answer
    /// on a kept-alive one. Cuts slowloris clients, which trickle a head forever.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight and no byte received for this long is closed:
    /// silent sockets cost a file descriptor and a slot each, and give nothing.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// A request's body must have arrived whole this long after its head; a slower upload is
    /// answered 408 and its connection closed.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Open connections served at once; further ones are closed as soon as they are accepted,
    /// except those the probe reserve takes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections accepted beyond `max_connections` for one request each, answered only when
    /// it is `GET /healthz` or `/readyz` (503 otherwise), so that a full server still says it lives.
    #[serde(default = "default_probe_reserve")]
    pub probe_reserve: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout_secs: default_request_timeout_secs(),
            body_limit_bytes: default_body_limit_bytes(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            body_read_timeout_ms: default_body_read_timeout_ms(),
            max_connections: default_max_connections(),
            probe_reserve: default_probe_reserve(),
        }
    }
}

impl HttpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        // Zero would disable a timer (hyper reads `None` as never) or serve nothing at all.
        for (key, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
        ] {
            if !(1..=3_600_000).contains(&value) {
                return Err(err(format!("http.{key}: must be between 1 and 3600000")));
            }
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(err("http.max_connections: must be between 1 and 1000000"));
        }
        if !(1..=1_000).contains(&self.probe_reserve) {
            return Err(err("http.probe_reserve: must be between 1 and 1000"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub jwt: Option<JwtConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    ES256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub algorithm: JwtAlgorithm,
    pub public_key_file: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    /// Name of the environment variable holding the HS256 secret (never the secret itself).
    pub secret_env: Option<String>,
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default = "default_requests_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Posts of each kind per account in a trailing 24 h: videos, photo posts and Creator
    /// Inbox drafts are counted apart, each up to this unless set below.
    #[serde(default = "default_daily_posts")]
    pub daily_posts_per_account: u32,
    pub daily_videos_per_account: Option<u32>,
    pub daily_photos_per_account: Option<u32>,
    pub daily_drafts_per_account: Option<u32>,
    /// Per-account overrides, e.g. `[tenants.account_daily_limits.acc_1] videos = 5`.
    #[serde(default)]
    pub account_daily_limits: std::collections::BTreeMap<String, DailyLimitsConfig>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// This tenant's own media probe, e.g. `[tenants.media] probe = "headers"`.
    #[serde(default)]
    pub media: TenantMediaConfig,
}

/// What one tenant overrides of `[media]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantMediaConfig {
    pub probe: Option<ProbeMode>,
}

/// One account's own daily limits; what is left out is the tenant's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyLimitsConfig {
    pub videos: Option<u32>,
    pub photos: Option<u32>,
    pub drafts: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub id: String,
    pub sha256: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    /// A limit of this key's own, inside the tenant's (e.g. for one noisy automation).
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
}

/// The budget of calls to Zernio, shared by every tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamBudgetConfig {
    /// The Zernio plan's per-minute limit for the key (60, 600 or 1,200).
    #[serde(default = "default_upstream_per_minute")]
    pub requests_per_minute: u32,
    /// Calls per minute each tenant always keeps for itself; by default half of the ceiling
    /// divided evenly, the other half shared.
    pub tenant_minimum_per_minute: Option<u32>,
}

impl Default for UpstreamBudgetConfig {
    fn default() -> Self {
        UpstreamBudgetConfig {
            requests_per_minute: default_upstream_per_minute(),
            tenant_minimum_per_minute: None,
        }
    }
}

impl UpstreamBudgetConfig {
    pub fn tenant_minimum(&self, tenants: u32) -> u32 {
        self.tenant_minimum_per_minute
            .unwrap_or(self.requests_per_minute / (2 * tenants.max(1)))
            .max(1)
    }
}

/// Rules of the gateway's own for posts, beyond TikTok's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostsConfig {
    /// How far ahead a post may be scheduled, in days (`schedule_too_far` beyond).
    #[serde(default = "default_schedule_horizon_days")]
    pub schedule_horizon_days: u32,
}

impl Default for PostsConfig {
    fn default() -> Self {
        PostsConfig {
            schedule_horizon_days: default_schedule_horizon_days(),
        }
    }
}

fn default_schedule_horizon_days() -> u32 {
    crate::tiktok::DEFAULT_SCHEDULE_HORIZON_DAYS
}

/// What `/metrics` shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Series per TikTok account (`daily_budget_remaining`): off by default, as account ids are
    /// many and not the operator's to publish.
    #[serde(default)]
    pub per_account: bool,
}

/// The audit trail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// How long entries are kept (days).
    #[serde(default = "default_audit_retention_days")]
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: default_audit_retention_days(),
        }
    }
}

fn default_audit_retention_days() -> u32 {
    400
}

/// The reconciler: re-reads from Zernio the posts whose state can still change, so that the
/// record is true when webhooks are lost or late.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The share of `[upstream] requests_per_minute` kept for the reconciler's reads (percent,
    /// 1 to 50); the tenants share the rest.
    #[serde(default = "default_reconcile_share")]
    pub upstream_share_percent: u32,
    /// How often the reconciler looks for posts that are due.
    #[serde(default = "default_reconcile_interval_ms")]
    pub interval_ms: u64,
    /// Posts read per look, at most.
    #[serde(default = "default_reconcile_batch")]
    pub batch: u32,
    /// How long a create whose outcome Zernio left unknown stays `pending` (looked up by its
    /// tag) before it is `failed` with `upstream_outcome_unknown` and its slot given back.
    #[serde(default = "default_pending_window_secs")]
    pub pending_window_secs: u64,
    /// A read that asked Zernio and found nothing new shows its `synced_at` at once but writes
    /// it at most this often per post (0: every time); other replicas see it this late at most.
    #[serde(default = "default_confirm_write_every_ms")]
    pub confirm_write_every_ms: u64,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            enabled: true,
            upstream_share_percent: default_reconcile_share(),
            interval_ms: default_reconcile_interval_ms(),
            batch: default_reconcile_batch(),
            pending_window_secs: default_pending_window_secs(),
            confirm_write_every_ms: default_confirm_write_every_ms(),
        }
    }
}

impl ReconcileConfig {
    /// The reconciler's reads per minute out of the upstream ceiling.
    pub fn per_minute(&self, ceiling: u32) -> u32 {
        if !self.enabled {
            return 0;
        }
        (ceiling.saturating_mul(self.upstream_share_percent) / 100).max(1)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=50).contains(&self.upstream_share_percent) {
            return Err(err(
                "reconcile.upstream_share_percent: must be between 1 and 50",
            ));
        }
        if !(1..=86_400).contains(&self.pending_window_secs) {
            return Err(err(
                "reconcile.pending_window_secs: must be between 1 and 86400",
            ));
        }
        if !(10..=3_600_000).contains(&self.interval_ms) {
            return Err(err("reconcile.interval_ms: must be between 10 and 3600000"));
        }
        if !(1..=1000).contains(&self.batch) {
            return Err(err("reconcile.batch: must be between 1 and 1000"));
        }
        if self.confirm_write_every_ms > 60_000 {
            return Err(err(
                "reconcile.confirm_write_every_ms: must be between 0 and 60000",
            ));
        }
        Ok(())
    }
}

fn default_true() -> bool {
    true
}
fn default_reconcile_share() -> u32 {
    10
}
fn default_pending_window_secs() -> u64 {
    900
}

fn default_confirm_write_every_ms() -> u64 {
    1000
}

fn default_reconcile_interval_ms() -> u64 {
    1000
}
fn default_reconcile_batch() -> u32 {
    50
}

/// The simulated Zernio used while no `ZERNIO_API_KEY` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Posts per account per rolling 24 h before the sandbox answers TikTok's "too many posts".
    #[serde(default = "default_daily_posts")]
    pub daily_cap: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            daily_cap: default_daily_posts(),
        }
    }
}

/// How much of a post's media the gateway reads before the post spends a daily slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeMode {
    /// Nothing is fetched: the declared extension, type, size and duration are all there is.
    Off,
    /// A HEAD of every media URL: reachable, not a web page, its size.
    Headers,
    /// HEAD, then the file's first bytes (and an MP4's `moov` where it sits at the end): the
    /// real format, dimensions, duration, frame rate and codec.
    Full,
}

impl ProbeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeMode::Off => "off",
            ProbeMode::Headers => "headers",
            ProbeMode::Full => "full",
        }
    }
}

/// What the gateway does with a media URL it could not read in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnreachable {
    /// Refused (`media_unreachable`): TikTok's download would fail the same way.
    #[default]
    Refuse,
    /// A warning, and the post goes on: for hosts that refuse the gateway but serve TikTok.
    Warn,
}

/// The media probe (issue 14): every media URL of a post read, safely, before it is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Unset: `full` with a real Zernio key, `off` on the sandbox (whose media is never
    /// downloaded by anyone).
    #[serde(default)]
    pub probe: Option<ProbeMode>,
    /// The whole probe of one post, every item at once, HEAD and ranged GETs included.
    #[serde(default = "default_probe_timeout_ms")]
    pub probe_timeout_ms: u64,
    /// The most bytes read of one media file (its head, and an MP4's tail).
    #[serde(default = "default_max_probe_bytes")]
    pub max_probe_bytes: u64,
    /// How long what a probe found is reused for the same URL and ETag.
    #[serde(default = "default_probe_cache_ttl_secs")]
    pub cache_ttl_secs: u64,
    /// URLs remembered at most.
    #[serde(default = "default_probe_cache_entries")]
    pub cache_entries: u64,
    #[serde(default)]
    pub on_unreachable: OnUnreachable,
    /// Hosts the probe may reach over plain http or at a private or loopback address
    /// (development, tests); every other media URL must be public https.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            probe: None,
            probe_timeout_ms: default_probe_timeout_ms(),
            max_probe_bytes: default_max_probe_bytes(),
            cache_ttl_secs: default_probe_cache_ttl_secs(),
            cache_entries: default_probe_cache_entries(),
            on_unreachable: OnUnreachable::default(),
            allowed_hosts: Vec::new(),
        }
    }
}

impl MediaConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(100..=60_000).contains(&self.probe_timeout_ms) {
            return Err(err("media.probe_timeout_ms: must be between 100 and 60000"));
        }
        // Below 64 KiB a JPEG's or an MP4's header may not fit; above 64 MiB the probe is a
        // download.
        if !(65_536..=67_108_864).contains(&self.max_probe_bytes) {
            return Err(err(
                "media.max_probe_bytes: must be between 65536 and 67108864",
            ));
        }
        if self.cache_entries > 1_000_000 {
            return Err(err("media.cache_entries: at most 1000000"));
        }
        Ok(())
    }
}

fn default_probe_timeout_ms() -> u64 {
    3_000
}

fn default_max_probe_bytes() -> u64 {
    2 * 1024 * 1024
}

fn default_probe_cache_ttl_secs() -> u64 {
    600
}

fn default_probe_cache_entries() -> u64 {
    10_000
}

/// Webhooks to tenants: where they may go and how they are retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Hosts a subscription may target over plain http or at a private, loopback or link-local
    /// address (development, tests); every other target must be public https.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// The waits between attempts, in seconds; one attempt more than there are waits.
    #[serde(default = "default_retry_schedule_secs")]
    pub retry_schedule_secs: Vec<f64>,
    /// The longest one attempt may take, answer included.
    #[serde(default = "default_webhook_timeout_secs")]
    pub request_timeout_secs: f64,
    /// How long a worker holds a delivery it is attempting; another replica (or this one after a
    /// crash) may take it once the lease has run out, so it should be longer than the timeout.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: f64,
    /// How often the outbox is looked at when nothing woke the worker (deliveries enqueued by
    /// another replica, retries that came due).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Deliveries attempted at once by one replica.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// Deliveries of one tenant attempted at once by one replica, within `max_in_flight`: a
    /// tenant whose targets are slow holds at most this many slots, never every tenant's.
    /// Unset: a quarter of `max_in_flight`, at least 1.
    #[serde(default)]
    pub max_in_flight_per_tenant: Option<u32>,
    /// Zernio events dated further than this from now, in the past or the future, are
    /// acknowledged and dropped: a replay of an old signed body changes nothing.
    #[serde(default = "default_event_window_secs")]
    pub event_window_secs: u64,
    /// Subscriptions one tenant may hold.
    #[serde(default = "default_max_subscriptions")]
    pub max_subscriptions_per_tenant: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allowed_hosts: Vec::new(),
            retry_schedule_secs: default_retry_schedule_secs(),
            request_timeout_secs: default_webhook_timeout_secs(),
            lease_secs: default_lease_secs(),
            poll_interval_ms: default_poll_interval_ms(),
            max_in_flight: default_max_in_flight(),
            max_in_flight_per_tenant: None,
            event_window_secs: default_event_window_secs(),
            max_subscriptions_per_tenant: default_max_subscriptions(),
        }
    }
}

impl WebhooksConfig {
    /// The per-tenant share of `max_in_flight` in force.
    pub fn per_tenant_in_flight(&self) -> u32 {
        self.max_in_flight_per_tenant
            .unwrap_or(self.max_in_flight / 4)
            .clamp(1, self.max_in_flight.max(1))
    }
}

impl WebhooksConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_schedule_secs.len() > 20 {
            return Err(err("webhooks.retry_schedule_secs: at most 20 waits"));
        }
        if self
            .retry_schedule_secs
            .iter()
            .any(|s| !s.is_finite() || *s < 0.0 || *s > 7.0 * 86_400.0)
        {
            return Err(err(
                "webhooks.retry_schedule_secs: each wait must be between 0 and 604800 seconds",
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0 && v <= 3_600.0;
        if !positive(self.request_timeout_secs) {
            return Err(err(
                "webhooks.request_timeout_secs: must be more than 0 and at most 3600",
            ));
        }
        if !positive(self.lease_secs) {
            return Err(err(
                "webhooks.lease_secs: must be more than 0 and at most 3600",
            ));
        }
        if !(10..=600_000).contains(&self.poll_interval_ms) {
            return Err(err(
                "webhooks.poll_interval_ms: must be between 10 and 600000",
            ));
        }
        if !(1..=1_000).contains(&self.max_in_flight) {
            return Err(err("webhooks.max_in_flight: must be between 1 and 1000"));
        }
        if let Some(share) = self.max_in_flight_per_tenant
            && !(1..=self.max_in_flight).contains(&share)
        {
            return Err(err(
                "webhooks.max_in_flight_per_tenant: must be between 1 and max_in_flight",
            ));
        }
        if !(60..=31_536_000).contains(&self.event_window_secs) {
            return Err(err(
                "webhooks.event_window_secs: must be between 60 and 31536000 (a year)",
            ));
        }
        if self.max_subscriptions_per_tenant == 0 {
            return Err(err(
                "webhooks.max_subscriptions_per_tenant: must be at least 1",
            ));
        }
        if self.allowed_hosts.iter().any(|h| h.trim().is_empty()) {
            return Err(err("webhooks.allowed_hosts: a host is empty"));
        }
        Ok(())
    }
}

/// Where the gateway keeps its state.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Redis(String),
}

/// A Redis URL may carry a password: it is shown without it.
impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for StoreUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        StoreUrl::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// `fail` stops start-up (an orchestrator restarts the process); `wait` listens at once, answers
/// not-ready until the store opens, and says so at every attempt: for platforms where a restart
/// loop is worse than a pod that is up but unready.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreUnreachable {
    #[default]
    Fail,
    Wait,
}

impl StoreUrl {
    /// The URL as logs and errors may show it: a password is replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            StoreUrl::Redis(raw) => match url::Url::parse(raw) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "redis://(unparsable)".to_owned(),
            },
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://data/gateway.db".into());
            }
            Ok(StoreUrl::Sqlite(PathBuf::from(path)))
        } else if raw.starts_with("redis://") || raw.starts_with("rediss://") {
            Ok(StoreUrl::Redis(raw.to_owned()))
        } else {
            Err(format!(
                "`{raw}` is neither sqlite://PATH nor redis://HOST:PORT/DB"
            ))
        }
    }
}

/// A secret value: usable, but never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A start-up failure: one line naming the key and why.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// What start-up decided: the configuration and, in the development profile, the one API key
/// that was made for this run (to print once).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub development_key: Option<String>,
    /// Said once at start-up: environment variables that look like settings and are not.
    pub warnings: Vec<String>,
}

/// The variables this module reads, as a map, so that loading is testable without touching
/// the process environment.
pub type Environment = HashMap<String, String>;

impl Config {
    /// Loads from the process environment and `GATEWAY_CONFIG` / `./gateway.toml`.
    pub fn load() -> Result<Loaded, ConfigError> {
        Self::load_from(&std::env::vars().collect())
    }

    pub fn load_from(env: &Environment) -> Result<Loaded, ConfigError> {
        let file = match env.get("GATEWAY_CONFIG") {
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(err(format!(
                        "GATEWAY_CONFIG: `{}` is not a readable file",
                        path.display()
                    )));
                }
                Some(path)
            }
            None => Some(PathBuf::from("gateway.toml")).filter(|p| p.is_file()),
        };
        let api_key = non_empty(env, "ZERNIO_API_KEY");
        let development = file.is_none() && api_key.is_none();

        let mut figment = Figment::new();
        if let Some(path) = &file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // A variable a `*_env` setting names holds a secret, not a setting.
        let named = env_names_in(&figment);
        let mut warnings = Vec::new();
        for (name, key, value) in env_overrides(env) {
            if named.contains(&name) {
                continue;
            }
            if !is_setting(&key, &value) {
                warnings.push(name);
                continue;
            }
            figment = figment.merge(Serialized::default(&key, value));
        }
        let warnings = if warnings.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "ignored environment variables that are not settings: {}",
                warnings.join(", ")
            )]
        };
        let mut config: Config = figment.extract().map_err(one_line)?;
        config.zernio_api_key = api_key.map(Secret::new);
        config.zernio_webhook_secret = non_empty(env, "ZERNIO_WEBHOOK_SECRET").map(Secret::new);

        let mut development_key = None;
        if development && config.tenants.is_empty() {
            let file = development_key_file(&config.store);
            let (key, digest) = crate::auth::api_key::development_key(&file).map_err(|e| {
                err(format!(
                    "the development key file {} cannot be written: {e}",
                    file.display()
                ))
            })?;
            config.tenants.push(TenantConfig {
                id: DEV_TENANT.to_owned(),
                accounts: SANDBOX_ACCOUNTS.iter().map(|s| s.to_string()).collect(),
                requests_per_minute: default_requests_per_minute(),
                // The README's walk-through, pasted at once, fits in one burst.
                burst: DEV_BURST,
                daily_posts_per_account: default_daily_posts(),
                daily_videos_per_account: None,
                daily_photos_per_account: None,
                daily_drafts_per_account: None,
                account_daily_limits: Default::default(),
                media: TenantMediaConfig::default(),
                api_keys: vec![ApiKeyConfig {
                    id: "development".to_owned(),
                    sha256: digest,
                    scopes: Scope::ALL.to_vec(),
                    expires_at: None,
                    requests_per_minute: None,
                    burst: None,
                }],
            });
            development_key = Some(key);
        }
        config.validate(env)?;
        Ok(Loaded {
            config,
            development_key,
            warnings,
        })
    }

    /// Parses a TOML document alone, no overrides; `env` only supplies the secrets the document
    /// names (`auth.jwt.secret_env`), as tests and tools need.
    pub fn from_toml(text: &str, env: &Environment) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Toml::string(text))
            .extract()
            .map_err(one_line)?;
        config.validate(env)?;
        Ok(config)
    }

    /// Checks what the types alone cannot: references between keys, uniqueness, ranges.
    pub fn validate(&self, env: &Environment) -> Result<(), ConfigError> {
        if self.tenants.is_empty() {
            return Err(err(if self.zernio_api_key.is_some() {
                "tenants: ZERNIO_API_KEY is set but no [[tenants]] are configured; \
                 name at least one tenant and its accounts in the config file"
            } else {
                "tenants: no [[tenants]] are configured"
            }));
        }
        let mut tenant_ids = HashSet::new();
        let mut account_owner: HashMap<&str, &str> = HashMap::new();
        let mut key_digests = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            if !is_identifier(&t.id) {
                return Err(err(format!(
                    "{at}.id: `{}` must be 1-64 characters of letters, digits, `-` or `_`",
                    t.id
                )));
            }
            if !tenant_ids.insert(t.id.as_str()) {
                return Err(err(format!(
                    "{at}.id: tenant `{}` is configured twice",
                    t.id
                )));
            }
            for account in &t.accounts {
                if account.trim().is_empty() {
                    return Err(err(format!("{at}.accounts: an account id is empty")));
                }
                // One owner per account: otherwise two tenants could see each other's posts.
                if let Some(other) = account_owner.insert(account, &t.id) {
                    return Err(err(format!(
                        "{at}.accounts: account `{account}` is already owned by tenant `{other}`"
                    )));
                }
            }
            if t.requests_per_minute == 0 {
                return Err(err(format!("{at}.requests_per_minute: must be at least 1")));
            }
            if t.burst == 0 {
                return Err(err(format!("{at}.burst: must be at least 1")));
            }
            let mut limits = vec![
                (
                    "daily_videos_per_account".to_owned(),
                    t.daily_videos_per_account,
                ),
                (
                    "daily_photos_per_account".to_owned(),
                    t.daily_photos_per_account,
                ),
                (
                    "daily_drafts_per_account".to_owned(),
                    t.daily_drafts_per_account,
                ),
            ];
            for (account, l) in &t.account_daily_limits {
                for (kind, limit) in [
                    ("videos", l.videos),
                    ("photos", l.photos),
                    ("drafts", l.drafts),
                ] {
                    limits.push((format!("account_daily_limits.{account}.{kind}"), limit));
                }
            }
            if let Some((name, _)) = limits.iter().find(|(_, limit)| *limit == Some(0)) {
                return Err(err(format!("{at}.{name}: must be at least 1")));
            }
            if let Some(account) = t
                .account_daily_limits
                .keys()
                .find(|a| !t.accounts.contains(a))
            {
                return Err(err(format!(
                    "{at}.account_daily_limits: `{account}` is not one of the tenant's accounts"
                )));
            }
            if t.daily_posts_per_account == 0 {
                return Err(err(format!(
                    "{at}.daily_posts_per_account: must be at least 1"
                )));
            }
            for (j, k) in t.api_keys.iter().enumerate() {
                let at = format!("{at}.api_keys[{j}]");
                if k.id.trim().is_empty() {
                    return Err(err(format!("{at}.id: must not be empty")));
                }
                if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(err(format!(
                        "{at}.sha256: must be 64 hex digits (the SHA-256 of the whole key); \
                         `tiktok-gateway key new` prints one"
                    )));
                }
                if !key_digests.insert(k.sha256.to_ascii_lowercase()) {
                    return Err(err(format!(
                        "{at}.sha256: the same key is configured twice"
                    )));
                }
                if k.requests_per_minute == Some(0) || k.burst == Some(0) {
                    return Err(err(format!(
                        "{at}: requests_per_minute and burst must be at least 1"
                    )));
                }
                if k.scopes.is_empty() {
                    return Err(err(format!("{at}.scopes: a key needs at least one scope")));
                }
            }
        }
        if let Some(jwt) = &self.auth.jwt {
            jwt.validate(env)?;
        }
        if self.zernio.connect_timeout_ms == 0 || self.zernio.request_timeout_ms == 0 {
            return Err(err("zernio: timeouts must be at least 1 ms"));
        }
        if self.zernio.breaker_failures == 0 {
            return Err(err("zernio.breaker_failures: must be at least 1"));
        }
        if !(1..=3_600_000).contains(&self.zernio.breaker_cool_down_ms) {
            return Err(err(
                "zernio.breaker_cool_down_ms: must be between 1 and 3600000",
            ));
        }
        if !matches!(self.zernio.base_url.scheme(), "http" | "https") {
            return Err(err("zernio.base_url: must be an http(s) URL"));
        }
        let tenants = self.tenants.len() as u32;
        if self.upstream.requests_per_minute == 0 {
            return Err(err("upstream.requests_per_minute: must be at least 1"));
        }
        if self
            .upstream
            .tenant_minimum(tenants)
            .saturating_mul(tenants)
            > self.upstream.requests_per_minute
        {
            return Err(err(format!(
                "upstream.tenant_minimum_per_minute: {} tenants x {} is more than the ceiling of {}",
                tenants,
                self.upstream.tenant_minimum(tenants),
                self.upstream.requests_per_minute
            )));
        }
        if self.http.request_timeout_secs == 0 {
            return Err(err("http.request_timeout_secs: must be at least 1"));
        }
        if self.http.body_limit_bytes < 1024 {
            return Err(err("http.body_limit_bytes: must be at least 1024"));
        }
        self.http.validate()?;
        self.webhooks.validate()?;
        self.media.validate()?;
        self.reconcile.validate()?;
        if !(1..=36_500).contains(&self.posts.schedule_horizon_days) {
            return Err(err(
                "posts.schedule_horizon_days: must be between 1 and 36500",
            ));
        }
        if !(1..=3650).contains(&self.audit.retention_days) {
            return Err(err("audit.retention_days: must be between 1 and 3650"));
        }
        Ok(())
    }

    pub fn is_sandbox(&self) -> bool {
        self.zernio_api_key.is_none()
    }

    /// The media probe in force for a tenant: its own, else `[media] probe`, else `full`
    /// against the real Zernio and `off` on the sandbox.
    pub fn probe_mode(&self, tenant: &str) -> ProbeMode {
        self.tenants
            .iter()
            .find(|t| t.id == tenant)
            .and_then(|t| t.media.probe)
            .or(self.media.probe)
            .unwrap_or(if self.is_sandbox() {
                ProbeMode::Off
            } else {
                ProbeMode::Full
            })
    }
}

impl JwtConfig {
    fn validate(&self, env: &Environment) -> Result<(), ConfigError> {
        let sources = [
            self.public_key_file.is_some(),
            self.jwks_file.is_some(),
            self.secret_env.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(err(
                "auth.jwt: set exactly one of public_key_file, jwks_file, secret_env",
            ));
        }
        match (self.algorithm, &self.secret_env) {
            (JwtAlgorithm::HS256, None) => {
                return Err(err("auth.jwt.secret_env: HS256 needs a shared secret"));
            }
            (JwtAlgorithm::HS256, Some(name)) => match env.get(name) {
                Some(s) if s.len() >= 32 => {}
                Some(_) => {
                    return Err(err(format!(
                        "auth.jwt.secret_env: the secret in {name} must be at least 32 bytes"
                    )));
                }
                None => {
                    return Err(err(format!(
                        "auth.jwt.secret_env: environment variable {name} is not set"
                    )));
                }
            },
            (_, Some(_)) => {
                return Err(err(
                    "auth.jwt.secret_env: RS256 and ES256 take public_key_file or jwks_file",
                ));
            }
            (_, None) => {}
        }
        if self.tenant_claim.is_empty() {
            return Err(err("auth.jwt.tenant_claim: must not be empty"));
        }
        if self.leeway_secs > 300 {
            return Err(err("auth.jwt.leeway_secs: at most 300"));
        }
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn non_empty(env: &Environment, name: &str) -> Option<String> {
    env.get(name).filter(|v| !v.trim().is_empty()).cloned()
}

/// Where the development profile keeps its key: beside the SQLite file, else under `./data`.
pub fn development_key_file(store: &StoreUrl) -> PathBuf {
    let dir = match store {
        StoreUrl::Sqlite(path) => path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        StoreUrl::Redis(_) => PathBuf::from("data"),
    };
    dir.join("development-key")
}

/// The names of environment variables the configuration points at (`secret_env = "..."`, any
/// key ending in `_env`): those hold secrets and are never read as settings.
fn env_names_in(figment: &Figment) -> HashSet<String> {
    fn walk(value: &figment::value::Value, key: &str, found: &mut HashSet<String>) {
        use figment::value::Value;
        match value {
            Value::Dict(_, dict) => {
                for (k, v) in dict {
                    walk(v, k, found);
                }
            }
            Value::Array(_, items) => items.iter().for_each(|v| walk(v, key, found)),
            Value::String(_, s) if key.ends_with("_env") => {
                found.insert(s.clone());
            }
            _ => {}
        }
    }
    use figment::Provider;
    let mut found = HashSet::new();
    if let Ok(dict) = figment.data() {
        for data in dict.values() {
            for (k, v) in data {
                walk(v, k, &mut found);
            }
        }
    }
    found
}

/// Whether `key` names a setting: merged alone over the defaults, it is not an unknown field.
/// (A setting with a bad value still is one; its error comes with the whole configuration.)
fn is_setting(key: &str, value: &figment::value::Value) -> bool {
    let alone = Figment::new().merge(Serialized::default(key, value.clone()));
    match alone.extract::<Config>() {
        Ok(_) => true,
        Err(errors) => !errors
            .into_iter()
            .any(|e| matches!(e.kind, figment::error::Kind::UnknownField(..))),
    }
}

/// The environment's overrides as (variable, key path, value): `GATEWAY_ZERNIO__BASE_URL` is
/// `zernio.base_url`, and the contract's `ZERNIO_BASE_URL` means the same. Values are read as
/// figment reads them (`120` a number, `true` a boolean, `[...]` an array).
fn env_overrides(env: &Environment) -> Vec<(String, String, figment::value::Value)> {
    const NOT_CONFIG_KEYS: [&str; 4] = [
        "GATEWAY_CONFIG",
        "GATEWAY_LOG_FORMAT",
        crate::secrets::KEY_ENV,
        crate::secrets::PREVIOUS_KEY_ENV,
    ];
    let mut names: Vec<&String> = env.keys().collect();
    // Deterministic, and the contract's ZERNIO_BASE_URL merged last so that it wins.
    names.sort_by_key(|name| (name.as_str() == "ZERNIO_BASE_URL", name.as_str()));
    names
        .into_iter()
        .filter(|name| !NOT_CONFIG_KEYS.contains(&name.as_str()))
        .filter_map(|name| {
            let raw = env.get(name)?;
            let key = if name == "ZERNIO_BASE_URL" {
                "zernio.base_url".to_owned()
            } else {
                name.strip_prefix("GATEWAY_")?
                    .to_ascii_lowercase()
                    .replace("__", ".")
            };
            let value = raw
                .parse()
                .unwrap_or_else(|never: std::convert::Infallible| match never {});
            Some((name.clone(), key, value))
        })
        .collect()
}

/// Figment's errors name the key path; keep that, on one line.
fn one_line(error: figment::Error) -> ConfigError {
    let mut parts = Vec::new();
    for e in error {
        let key = e.path.join(".");
        let what = e.kind.to_string();
        parts.push(if key.is_empty() {
            what
        } else {
            format!("{key}: {what}")
        });
    }
    err(parts.join("; "))
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_store_connect_timeout_secs() -> u64 {
    10
}
fn default_store() -> StoreUrl {
    StoreUrl::Sqlite(Path::new("data").join("gateway.db"))
}
fn default_base_url() -> url::Url {
    url::Url::parse("https://zernio.com/api").expect("constant URL parses")
}
fn default_connect_timeout_ms() -> u64 {
    2_000
}
fn default_request_timeout_ms() -> u64 {
    20_000
}
fn default_upstream_per_minute() -> u32 {
    600
}
fn default_creator_info_ttl_secs() -> u64 {
    30
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_body_limit_bytes() -> usize {
    1024 * 1024
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_idle_timeout_ms() -> u64 {
    5_000
}
fn default_body_read_timeout_ms() -> u64 {
    10_000
}
fn default_max_connections() -> usize {
    1_024
}
fn default_probe_reserve() -> usize {
    8
}
fn default_tenant_claim() -> String {
    "tenant".to_owned()
}
fn default_leeway_secs() -> u64 {
    10
}
fn default_requests_per_minute() -> u32 {
    120
}
fn default_burst() -> u32 {
    20
}
fn default_daily_posts() -> u32 {
    15
}
/// PRODUCT.md's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h.
fn default_retry_schedule_secs() -> Vec<f64> {
    vec![5.0, 300.0, 1_800.0, 7_200.0, 18_000.0, 36_000.0]
}
fn default_webhook_timeout_secs() -> f64 {
    10.0
}
fn default_lease_secs() -> f64 {
    60.0
}
fn default_poll_interval_ms() -> u64 {
    1_000
}
fn default_max_in_flight() -> u32 {
    16
}
fn default_max_subscriptions() -> u32 {
    25
}
fn default_event_window_secs() -> u64 {
    7 * 86_400
}
