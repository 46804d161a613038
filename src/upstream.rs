//! The upstream as the gateway uses it: the Zernio client (to Zernio itself, or to the sandbox
//! served in-process when no key is configured), and the short-lived cache of creator info that
//! feeds TikTok's creator rules before every post. This is where Zernio's creator info becomes
//! the domain's `CreatorConstraints`: neither side knows the other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::config::{Config, Secret};
use crate::metrics::Metrics;
use crate::sandbox::{self, Sandbox, SandboxOptions};
use crate::tiktok::{CreatorConstraints, PrivacyLevel};
use crate::zernio::{
    CallContext, ClientConfig, CreatorInfo, MediaKind, UpstreamError, ZernioClient,
};

/// The client's settings from the gateway's `[zernio]` section.
pub fn client_config(
    zernio: &crate::config::ZernioConfig,
    base_url: url::Url,
    api_key: String,
) -> ClientConfig {
    ClientConfig {
        base_url,
        api_key,
        connect_timeout: Duration::from_millis(zernio.connect_timeout_ms),
        request_timeout: Duration::from_millis(zernio.request_timeout_ms),
        max_pause: Duration::from_secs(zernio.max_pause_secs),
        breaker: crate::zernio::BreakerConfig {
            failures: zernio.breaker_failures,
            cool_down: Duration::from_millis(zernio.breaker_cool_down_ms),
        },
    }
}

pub struct Upstream {
    pub client: ZernioClient,
    creators: DashMap<(String, MediaKind), (Instant, Arc<CreatorInfo>)>,
    creator_ttl: Duration,
    /// One look-up at a time per creator: a burst of creates for one account makes one call.
    creator_lookups: crate::single_flight::Gates<(String, MediaKind)>,
    /// Accounts Zernio's velocity cap or a cooldown holds, until when. Per process: another
    /// replica learns it from its own first refusal, which costs one refused call.
    held: DashMap<String, Instant>,
    /// Kept alive while the gateway runs, when the sandbox stands in for Zernio.
    sandbox: Option<Sandbox>,
}

impl Upstream {
    pub async fn start(config: &Config, metrics: &Metrics) -> anyhow::Result<Upstream> {
        let (base_url, api_key, sandbox) = match &config.zernio_api_key {
            Some(key) => (
                config.zernio.base_url.clone(),
                key.expose().to_owned(),
                None,
            ),
            None => {
                let sandbox = sandbox::spawn(SandboxOptions {
                    daily_cap: config.sandbox.daily_cap,
                    store_path: Some(sandbox_file(&config.store)),
                    ..SandboxOptions::default()
                })
                .await?;
                (
                    sandbox.base_url.clone(),
                    "sandbox".to_owned(),
                    Some(sandbox),
                )
            }
        };
        let client = ZernioClient::new(
            client_config(&config.zernio, base_url, api_key),
            Arc::new(metrics.clone()),
        )?;
        Ok(Upstream {
            client,
            creators: DashMap::new(),
            creator_ttl: Duration::from_secs(config.zernio.creator_info_ttl_secs),
            creator_lookups: Default::default(),
            held: DashMap::new(),
            sandbox,
        })
    }

    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// Points the sandbox's webhooks at the gateway listening on `address` (known only once it
    /// is bound), signed with `secret`, so that the whole loop runs without Zernio. Nothing
    /// happens when Zernio itself is the upstream.
    pub fn send_sandbox_webhooks_to(&self, address: std::net::SocketAddr, secret: &Secret) {
        let Some(sandbox) = &self.sandbox else {
            return;
        };
        // A wildcard listen address is reached through loopback, where the sandbox may send.
        let ip = match address.ip() {
            ip if !ip.is_unspecified() => ip,
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        let target = std::net::SocketAddr::new(ip, address.port());
        match url::Url::parse(&format!("http://{target}/v1/upstream/zernio/webhooks")) {
            // Registered as `zernio register-webhook` registers the gateway at Zernio.
            Ok(url) => sandbox.state().set_webhook_target(
                url,
                secret.expose(),
                &crate::webhooks::inbound::ZERNIO_POST_EVENTS,
            ),
            Err(e) => tracing::warn!(error = %e, "sandbox webhooks stay off"),
        }
    }

    /// Creator info, from the cache while it is fresh. TikTok wants a fresh look-up before each
    /// post; a few seconds of caching keeps a burst of posts from costing one call each.
    pub async fn creator_info(
        &self,
        ctx: &CallContext<'_>,
        account: &str,
        kind: MediaKind,
    ) -> Result<Arc<CreatorInfo>, UpstreamError> {
        if let Some(info) = self.cached_creator_info(account, kind) {
            return Ok(info);
        }
        let info = Arc::new(self.client.creator_info(ctx, account, kind).await?);
        self.creators
            .insert((account.to_owned(), kind), (Instant::now(), info.clone()));
        Ok(info)
    }

    /// Waits for the creator's look-up turn: whoever held it before may have filled the cache.
    /// `None` with no cache (`creator_info_ttl_secs = 0`): there is nothing to wait for.
    pub async fn creator_lookup_turn(
        &self,
        account: &str,
        kind: MediaKind,
    ) -> Option<crate::single_flight::Turn<'_, (String, MediaKind)>> {
        if self.creator_ttl.is_zero() {
            return None;
        }
        Some(self.creator_lookups.turn((account.to_owned(), kind)).await)
    }

    /// Creator info when the cache has it fresh; `None` means a look-up would call Zernio.
    pub fn cached_creator_info(&self, account: &str, kind: MediaKind) -> Option<Arc<CreatorInfo>> {
        self.creators
            .get(&(account.to_owned(), kind))
            .filter(|entry| entry.0.elapsed() < self.creator_ttl)
            .map(|entry| entry.1.clone())
    }

    /// Holds an account's posts for `wait` (Zernio's velocity cap or cooldown said so).
    pub fn hold_account(&self, account: &str, wait: Duration) {
        let until = Instant::now() + wait;
        self.held
            .entry(account.to_owned())
            .and_modify(|at| *at = (*at).max(until))
            .or_insert(until);
    }

    /// How long an account's posts are still held, if they are.
    pub fn account_held_for(&self, account: &str) -> Option<Duration> {
        let until = *self.held.get(account)?;
        let left = until.checked_duration_since(Instant::now());
        if left.is_none() {
            self.held.remove_if(account, |_, at| *at <= Instant::now());
        }
        left.filter(|d| !d.is_zero())
    }

    /// Forgets what is cached of an account (after upstream said something changed).
    pub fn forget_creator(&self, account: &str) {
        self.creators.retain(|(a, _), _| a != account);
    }
}

/// What the domain's rules need of a creator.
pub fn constraints(info: &CreatorInfo) -> CreatorConstraints {
    CreatorConstraints {
        privacy_levels: info
            .privacy_levels
            .iter()
            .filter_map(|level| PrivacyLevel::from_input(level))
            .collect(),
        comment_disabled: info.comment_disabled,
        duet_disabled: info.duet_disabled,
        stitch_disabled: info.stitch_disabled,
        max_video_duration_sec: info.max_video_duration_sec,
    }
}

/// The sandbox's posts live beside the embedded store (`data/sandbox.json` by default), so that
/// a restart does not turn the posts the gateway recorded into 404s upstream.
fn sandbox_file(store: &crate::config::StoreUrl) -> std::path::PathBuf {
    match store {
        crate::config::StoreUrl::Sqlite(db) => db
            .parent()
            .map_or_else(
                || std::path::PathBuf::from("data"),
                std::path::Path::to_path_buf,
            )
            .join("sandbox.json"),
        crate::config::StoreUrl::Redis(_) => std::path::PathBuf::from("data").join("sandbox.json"),
    }
}
