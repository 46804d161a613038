//! The media probe (issue 14): what every media URL of a post really holds, read before the
//! post spends a creator's daily slot, so that what TikTok's download and checks would fail
//! minutes later is refused now. The fetching is here; what is wrong with what was found is the
//! domain's (`tiktok::media_rules`).
//!
//! Safety: a name resolves once, through the address policy (`address::PublicResolver`), and
//! the client connects to exactly those addresses; https only (plain http for
//! `[media] allowed_hosts`); no redirects (TikTok follows none), no cookies, no credentials, no
//! proxy; at most `max_probe_bytes` read of a file; the whole post within `probe_timeout_ms`.

pub mod container;
pub mod sniff;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};
use reqwest::header::{self, HeaderMap};
use url::Url;

use crate::address::{self, Lookup, NotPublic, PublicResolver};
use crate::config::{MediaConfig, ProbeMode};
use crate::tiktok::media_rules::{Container, Found, Outcome, Probed};
use crate::tiktok::{Format, Media, TikTokPost};

/// The User-Agent of every probe request: a host's operator sees who reads its files and why.
pub const USER_AGENT: &str = concat!(
    "tiktok-gateway-media-probe/",
    env!("CARGO_PKG_VERSION"),
    " (reads a file's headers before it is posted to TikTok)"
);
/// The first bytes asked for: every image header and most MP4 heads with `moov` in front.
const HEAD_BYTES: u64 = 64 * 1024;
/// Ranged GETs of one file at most, head included (an MP4 with boxes between `mdat` and `moov`).
const MAX_RANGES: usize = 4;

/// The probe's metrics, in the gateway's registry.
#[derive(Clone)]
struct ProbeMetrics {
    probes: IntCounterVec,
    findings: IntCounterVec,
    latency: HistogramVec,
    cache_hits: IntCounter,
}

impl ProbeMetrics {
    fn register(metrics: &crate::metrics::Metrics) -> Self {
        let probes = IntCounterVec::new(
            Opts::new(
                "media_probes_total",
                "Media URLs probed, by outcome (ok, status, unreachable, timeout)",
            ),
            &["outcome"],
        )
        .expect("metric definition is valid");
        let findings = IntCounterVec::new(
            Opts::new(
                "media_probe_findings_total",
                "Refusals and warnings the probe's findings caused, by rule code",
            ),
            &["rule"],
        )
        .expect("metric definition is valid");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "media_probe_duration_seconds",
                "Time to probe every media URL of one post, by mode",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["mode"],
        )
        .expect("metric definition is valid");
        let cache_hits = IntCounter::new(
            "media_probe_cache_hits_total",
            "Media URLs whose body was not read again: the same URL and ETag were probed lately",
        )
        .expect("metric definition is valid");
        for collector in [
            Box::new(probes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(findings.clone()),
            Box::new(latency.clone()),
            Box::new(cache_hits.clone()),
        ] {
            // Registered once per gateway; a second registration would only mean a second
            // prober on the same registry, whose counts then stay its own.
            let _ = metrics.registry().register(collector);
        }
        ProbeMetrics {
            probes,
            findings,
            latency,
            cache_hits,
        }
    }
}

/// The probe of one gateway: its client, its cache, its limits.
#[derive(Clone)]
pub struct Prober(Arc<Inner>);

struct Inner {
    client: reqwest::Client,
    resolver: PublicResolver,
    timeout: Duration,
    max_bytes: u64,
    cache: moka::sync::Cache<(String, String), Found>,
    metrics: ProbeMetrics,
}

impl Prober {
    pub fn new(config: &MediaConfig, metrics: &crate::metrics::Metrics) -> Result<Self, String> {
        Self::with_lookup(config, metrics, address::system_lookup())
    }

    /// With names resolved by `lookup` (tests: a table, so no name leaves the machine).
    pub fn with_lookup(
        config: &MediaConfig,
        metrics: &crate::metrics::Metrics,
        lookup: Lookup,
    ) -> Result<Self, String> {
        let resolver = PublicResolver::new(&config.allowed_hosts, lookup);
        let timeout = Duration::from_millis(config.probe_timeout_ms);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver.clone()))
            .no_proxy()
            .user_agent(USER_AGENT)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("the media probe's HTTP client: {e}"))?;
        Ok(Prober(Arc::new(Inner {
            client,
            resolver,
            timeout,
            max_bytes: config.max_probe_bytes,
            cache: moka::sync::Cache::builder()
                .max_capacity(config.cache_entries)
                .time_to_live(Duration::from_secs(config.cache_ttl_secs))
                .build(),
            metrics: ProbeMetrics::register(metrics),
        })))
    }

    /// Counts what the rules made of the findings.
    pub fn count_findings(&self, codes: &[&'static str]) {
        for code in codes {
            self.0.metrics.findings.with_label_values(&[code]).inc();
        }
    }

    /// Every media item of `post` probed at once, within the whole-post deadline; nothing in
    /// `off` mode. `fields` are the items' places in the request, in the order of the post's
    /// media.
    pub async fn probe_post(
        &self,
        mode: ProbeMode,
        post: &TikTokPost,
        fields: &[String],
    ) -> Vec<Probed> {
        if mode == ProbeMode::Off {
            return Vec::new();
        }
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.0.timeout;
        let items = media_items(post);
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (url, video, declared)) in items.into_iter().enumerate() {
            let prober = self.clone();
            let field = fields
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("media[{i}]"));
            tasks.spawn(async move {
                let outcome =
                    match tokio::time::timeout_at(deadline, prober.probe_url(mode, &url, video))
                        .await
                    {
                        Ok(outcome) => outcome,
                        Err(_) => Outcome::Unreachable {
                            reason: format!(
                                "no complete answer within the probe's {} ms",
                                prober.0.timeout.as_millis()
                            ),
                            timed_out: true,
                        },
                    };
                prober
                    .0
                    .metrics
                    .probes
                    .with_label_values(&[outcome_label(&outcome)])
                    .inc();
                (
                    i,
                    Probed {
                        field,
                        url,
                        video,
                        declared,
                        outcome,
                    },
                )
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(item) = joined {
                done.push(item);
            }
        }
        done.sort_by_key(|(i, _)| *i);
        self.0
            .metrics
            .latency
            .with_label_values(&[mode.as_str()])
            .observe(started.elapsed().as_secs_f64());
        done.into_iter().map(|(_, p)| p).collect()
    }

    async fn probe_url(&self, mode: ProbeMode, raw: &str, video: bool) -> Outcome {
        let url = match self.checked_url(raw) {
            Ok(url) => url,
            Err(reason) => {
                return Outcome::Unreachable {
                    reason,
                    timed_out: false,
                };
            }
        };
        let head = match self.0.client.head(url.clone()).send().await {
            Ok(answer) => answer,
            Err(e) => return unreachable(&e),
        };
        let status = head.status().as_u16();
        // Some hosts answer HEAD with 405 or 501, and a presigned S3 URL (signed for GET only)
        // with 403, yet serve the file to a GET: the GET decides.
        let head_refused = matches!(status, 403 | 405 | 501);
        if !head.status().is_success() && !head_refused {
            return status_outcome(status, head.headers());
        }
        let mut found = Found {
            status,
            content_type: text_header(head.headers(), header::CONTENT_TYPE),
            size_bytes: content_length(head.headers()).filter(|_| !head_refused),
            ..Found::default()
        };
        if mode == ProbeMode::Headers && !head_refused {
            return Outcome::Found(found);
        }
        let etag = text_header(head.headers(), header::ETAG);
        if let Some(etag) = &etag
            && let Some(cached) = self.0.cache.get(&(raw.to_owned(), etag.clone()))
        {
            self.0.metrics.cache_hits.inc();
            return Outcome::Found(cached);
        }
        let (bytes, answer) = match self.range(&url, 0, HEAD_BYTES.min(self.0.max_bytes)).await {
            Ok(read) => read,
            Err(outcome) => return outcome,
        };
        if head_refused {
            found.status = answer.status;
            found.content_type = answer.content_type.clone();
        }
        found.size_bytes = found.size_bytes.or(answer.total);
        let container = sniff::sniff(&bytes);
        found.container = Some(container);
        match container {
            Container::Jpeg | Container::Png | Container::Webp => {
                if let Some((w, h)) = sniff::image_dimensions(&bytes) {
                    found.width = Some(w);
                    found.height = Some(h);
                }
            }
            Container::Mp4 | Container::Mov if video => {
                let total = found.size_bytes;
                if let Some(facts) = self.mp4(&url, bytes, total).await {
                    apply(&mut found, facts);
                }
            }
            Container::Webm if video => {
                if let Some(facts) = container::webm_video(&bytes) {
                    apply(&mut found, facts);
                }
            }
            _ => {}
        }
        if let Some(etag) = etag {
            self.0.cache.insert((raw.to_owned(), etag), found.clone());
        }
        Outcome::Found(found)
    }

    /// The scheme and literal-address checks; names are checked by the resolver.
    fn checked_url(&self, raw: &str) -> Result<Url, String> {
        let mut url = Url::parse(raw.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let allowed = self.0.resolver.allows_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            other => return Err(format!("{other} is not https")),
        }
        if !allowed && let Some(found) = url.host().and_then(|h| address::host_is_internal(&h)) {
            return Err(format!("{found} is not a public address"));
        }
        // Credentials in a URL are the caller's to a host, never the gateway's to send.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(url)
    }

    /// Bytes `start..end` of the file (fewer where it is shorter), read to at most
    /// `max_probe_bytes` whatever the server sends.
    async fn range(&self, url: &Url, start: u64, end: u64) -> Result<(Vec<u8>, Ranged), Outcome> {
        let answer = self
            .0
            .client
            .get(url.clone())
            .header(
                header::RANGE,
                format!("bytes={start}-{}", end.saturating_sub(1)),
            )
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = answer.status().as_u16();
        if !answer.status().is_success() {
            return Err(status_outcome(status, answer.headers()));
        }
        let ranged = Ranged {
            status,
            content_type: text_header(answer.headers(), header::CONTENT_TYPE),
            total: if status == 206 {
                text_header(answer.headers(), header::CONTENT_RANGE)
                    .and_then(|r| r.rsplit('/').next().and_then(|t| t.parse().ok()))
            } else {
                content_length(answer.headers())
            },
        };
        // A server that ignores Range sends the file from its start: keep the part asked for.
        let skip = if status == 206 { 0 } else { start };
        let want = usize::try_from(end.saturating_sub(start).min(self.0.max_bytes)).unwrap_or(0);
        let mut answer = answer;
        let mut bytes = Vec::with_capacity(want.min(HEAD_BYTES as usize));
        let mut seen = 0u64;
        while bytes.len() < want {
            match answer.chunk().await {
                Ok(Some(chunk)) => {
                    let from = usize::try_from(skip.saturating_sub(seen)).unwrap_or(usize::MAX);
                    seen += chunk.len() as u64;
                    if from < chunk.len() {
                        let room = want - bytes.len();
                        let part = &chunk[from..];
                        bytes.extend_from_slice(&part[..part.len().min(room)]);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(unreachable(&e)),
            }
        }
        Ok((bytes, ranged))
    }

    /// An MP4's video facts: `moov` from the head, or from where the top-level boxes say it
    /// is, within `max_probe_bytes` read in all.
    async fn mp4(
        &self,
        url: &Url,
        head: Vec<u8>,
        total: Option<u64>,
    ) -> Option<container::VideoFacts> {
        let mut budget = self.0.max_bytes.saturating_sub(head.len() as u64);
        let mut buf = head;
        let mut base = 0u64;
        for _ in 1..MAX_RANGES {
            match container::find_moov(&buf, base) {
                container::Moov::Here(range) => return container::mp4_video(&buf[range]),
                container::Moov::Missing => return None,
                container::Moov::At { offset, size } => {
                    if size > budget {
                        return None;
                    }
                    let (bytes, _) = self.range(url, offset, offset + size).await.ok()?;
                    return container::mp4_video(&bytes);
                }
                container::Moov::After(next) => {
                    let end = total?;
                    if next >= end || budget == 0 {
                        return None;
                    }
                    let want = (end - next).min(budget);
                    let (bytes, _) = self.range(url, next, next + want).await.ok()?;
                    budget = budget.saturating_sub(bytes.len() as u64);
                    if bytes.is_empty() {
                        return None;
                    }
                    buf = bytes;
                    base = next;
                }
            }
        }
        None
    }
}

struct Ranged {
    status: u16,
    content_type: Option<String>,
    /// The whole file's size, from `Content-Range` (or a full answer's length).
    total: Option<u64>,
}

fn apply(found: &mut Found, facts: container::VideoFacts) {
    found.duration_ms = facts.duration_ms;
    found.fps = facts.fps;
    found.width = facts.width;
    found.height = facts.height;
    found.codec = facts.codec;
}

fn text_header(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(200).collect())
}

/// The header itself: reqwest's `content_length()` is the body's size, nothing for a HEAD.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    text_header(headers, header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

fn status_outcome(status: u16, headers: &HeaderMap) -> Outcome {
    Outcome::Status {
        status,
        location: (300..400)
            .contains(&status)
            .then(|| text_header(headers, header::LOCATION))
            .flatten(),
    }
}

/// Why a request got no answer, in words a caller can act on; never the URL's query (which
/// may carry a signature).
fn unreachable(e: &reqwest::Error) -> Outcome {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(not_public) = err.downcast_ref::<NotPublic>() {
            return Outcome::Unreachable {
                reason: not_public.to_string(),
                timed_out: false,
            };
        }
        source = err.source();
    }
    let reason = if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        "the connection failed (the host does not resolve or refuses connections)".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the answer broke off".to_owned()
    } else {
        "the request failed".to_owned()
    };
    Outcome::Unreachable {
        timed_out: e.is_timeout(),
        reason,
    }
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Found(_) => "ok",
        Outcome::Status { .. } => "status",
        Outcome::Unreachable {
            timed_out: true, ..
        } => "timeout",
        Outcome::Unreachable { .. } => "unreachable",
    }
}

/// The post's media as (url, is the video, declared format), in the order of the request.
fn media_items(post: &TikTokPost) -> Vec<(String, bool, Format)> {
    match &post.media {
        Media::Video(v) => vec![(v.url.clone(), true, v.format)],
        Media::Photos { items, .. } => items
            .iter()
            .map(|p| (p.url.clone(), false, p.format))
            .collect(),
    }
}
