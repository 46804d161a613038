//! Every metric of the gateway, named once, in a registry of its own (not the process-global
//! one), so that several gateways in one test process keep separate counts.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Label of requests that matched no route: the raw path would let a scanner create series.
const UNMATCHED: &str = "unmatched";

/// Cheap to clone (one reference count), as every request's middleware does.
#[derive(Clone)]
pub struct Metrics {
    inner: std::sync::Arc<Families>,
}

struct Families {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    limit_refusals: IntCounterVec,
    idempotency: IntCounterVec,
    validation_rejections: IntCounterVec,
    duplicate_refusals: prometheus::IntCounter,
    posts: IntCounterVec,
    upstream_requests: IntCounterVec,
    upstream_duration: HistogramVec,
    upstream_breaker_open: IntGaugeVec,
    budget_remaining: IntGaugeVec,
    webhooks: WebhookMetrics,
    read_model: ReadModelMetrics,
    ops: OpsMetrics,
    /// `[metrics] per_account`: per-account budget gauges only where an operator asks.
    per_account: std::sync::atomic::AtomicBool,
}

impl Metrics {
    pub fn new() -> Self {
        // Every name under `tiktok_gateway_`, so that a shared Prometheus tells it from others.
        let registry = Registry::new_custom(Some(NAMESPACE.to_owned()), None)
            .expect("the namespace is a valid metric name");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("metric definition is valid");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to its answer, by route template, method and status",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route", "method", "status"],
        )
        .expect("metric definition is valid");
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Always 1; the labels tell the running build"),
            &["version"],
        )
        .expect("metric definition is valid");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let limit_refusals = IntCounterVec::new(
            Opts::new(
                "limit_refusals_total",
                "Requests refused by a limit, by tenant and kind (tenant, key, upstream, daily)",
            ),
            &["tenant", "kind"],
        )
        .expect("metric definition is valid");
        let idempotency = IntCounterVec::new(
            Opts::new(
                "idempotency_outcomes_total",
                "Requests with an Idempotency-Key answered from the store: replayed, conflict (in flight), reused (other request)",
            ),
            &["outcome"],
        )
        .expect("metric definition is valid");
        let validation_rejections = IntCounterVec::new(
            Opts::new(
                "validation_rejections_total",
                "Violations of TikTok's rules found before anything went upstream, by rule",
            ),
            &["rule"],
        )
        .expect("metric definition is valid");
        let duplicate_refusals = prometheus::IntCounter::new(
            "duplicate_refusals_total",
            "Posts refused as duplicate content before reaching upstream",
        )
        .expect("metric definition is valid");
        let posts = IntCounterVec::new(
            Opts::new(
                "posts_total",
                "Posts sent upstream, by kind (video, photo), mode (now, scheduled, draft) and outcome (created or the stable error code)",
            ),
            &["kind", "mode", "outcome"],
        )
        .expect("metric definition is valid");
        let upstream_requests = IntCounterVec::new(
            Opts::new(
                "upstream_requests_total",
                "Calls to Zernio, by endpoint and outcome (ok or the stable error code)",
            ),
            &["endpoint", "outcome"],
        )
        .expect("metric definition is valid");
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "upstream_request_duration_seconds",
                "Time Zernio took to answer, by endpoint and outcome",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["endpoint", "outcome"],
        )
        .expect("metric definition is valid");
        let upstream_breaker_open = IntGaugeVec::new(
            Opts::new(
                "upstream_breaker_open",
                "1 while the circuit breaker of a Zernio operation refuses its calls (open or half-open), 0 once it closes",
            ),
            &["operation"],
        )
        .expect("metric definition is valid");
        let budget_remaining = IntGaugeVec::new(
            Opts::new(
                "daily_budget_remaining",
                "Posts an account has left in its rolling 24 h budget, as last seen, by account and lane (post, draft)",
            ),
            &["account", "lane"],
        )
        .expect("metric definition is valid");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(build_info),
            Box::new(limit_refusals.clone()),
            Box::new(idempotency.clone()),
            Box::new(validation_rejections.clone()),
            Box::new(duplicate_refusals.clone()),
            Box::new(posts.clone()),
            Box::new(upstream_requests.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(upstream_breaker_open.clone()),
            Box::new(budget_remaining.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        let webhooks = WebhookMetrics::register(&registry);
        let read_model = ReadModelMetrics::register(&registry);
        let ops = OpsMetrics::register(&registry);
        let families = Families {
            webhooks,
            read_model,
            ops,
            per_account: std::sync::atomic::AtomicBool::new(false),
            registry,
            http_requests,
            http_duration,
            limit_refusals,
            idempotency,
            validation_rejections,
            duplicate_refusals,
            posts,
            upstream_requests,
            upstream_duration,
            upstream_breaker_open,
            budget_remaining,
        };
        Metrics {
            inner: std::sync::Arc::new(families),
        }
    }

    /// One answered request, under its route template (`None`: it matched no route).
    pub fn http_request(
        &self,
        route: Option<&str>,
        method: &'static str,
        status: axum::http::StatusCode,
        elapsed: std::time::Duration,
    ) {
        let labels = [route.unwrap_or(UNMATCHED), method, status.as_str()];
        self.inner.http_requests.with_label_values(&labels).inc();
        self.inner
            .http_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn validation_rejected(&self, rule: &str) {
        self.inner
            .validation_rejections
            .with_label_values(&[rule])
            .inc();
    }

    pub fn budget_remaining(&self, account: &str, lane: &str, remaining: u32) {
        if !self
            .inner
            .per_account
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        self.inner
            .budget_remaining
            .with_label_values(&[account, lane])
            .set(i64::from(remaining));
    }

    pub fn duplicate_refused(&self) {
        self.inner.duplicate_refusals.inc();
    }

    pub fn post(&self, tenant: &str, kind: &str, mode: &str, outcome: &str) {
        self.inner
            .posts
            .with_label_values(&[kind, mode, outcome])
            .inc();
        self.inner
            .ops
            .tenant_posts
            .with_label_values(&[tenant, kind, outcome])
            .inc();
    }

    /// Series that alerts and dashboards divide or compare by, made at zero for every configured
    /// tenant and every outcome, so that a rate exists before the first event (labels are
    /// bounded: tenants are configured, outcomes are the code's).
    pub fn prepare(&self, tenants: &[&str]) {
        for tenant in tenants {
            for kind in ["tenant", "key", "upstream", "daily", "velocity"] {
                self.inner.limit_refusals.with_label_values(&[tenant, kind]);
            }
            for class in ["2xx", "3xx", "4xx", "5xx"] {
                self.inner
                    .ops
                    .tenant_requests
                    .with_label_values(&[tenant, class]);
            }
        }
        for outcome in ["delivered", "retry", "failed", "gone", "dropped"] {
            self.inner.webhooks.deliveries.with_label_values(&[outcome]);
        }
        for outcome in ["changed", "unchanged", "failed", "gone"] {
            self.inner
                .read_model
                .reconcile
                .with_label_values(&[outcome]);
        }
    }

    /// Per-account series (`daily_budget_remaining`) on or off (`[metrics] per_account`).
    pub fn set_per_account(&self, on: bool) {
        self.inner
            .per_account
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// One answered request of a tenant (`None`: not authenticated), with its refusal's code.
    pub fn tenant_request(&self, tenant: Option<&str>, status: u16, code: Option<&str>) {
        let tenant = tenant.unwrap_or("none");
        let class = match status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.inner
            .ops
            .tenant_requests
            .with_label_values(&[tenant, class])
            .inc();
        if let Some(code) = code {
            self.inner
                .ops
                .refusals
                .with_label_values(&[tenant, code])
                .inc();
        }
    }

    /// Gauges read when scraped: Zernio's pause, the reconciler's backlog.
    pub fn ops(&self) -> &OpsMetrics {
        &self.inner.ops
    }

    pub fn idempotency(&self, outcome: &str) {
        self.inner.idempotency.with_label_values(&[outcome]).inc();
    }

    pub fn limit_refused(&self, tenant: &str, kind: &str) {
        self.inner
            .limit_refusals
            .with_label_values(&[tenant, kind])
            .inc();
    }

    /// The webhook metrics (events in, deliveries out, the outbox).
    pub fn read_model(&self) -> &ReadModelMetrics {
        &self.inner.read_model
    }

    /// An audit entry written (by action), or `failed` when the store refused it.
    pub fn audited(&self, action: &str) {
        self.inner
            .read_model
            .audit
            .with_label_values(&[action])
            .inc();
    }

    /// A post record changed, by the source of the change.
    pub fn record_changed(&self, source: &str) {
        self.inner
            .read_model
            .changes
            .with_label_values(&[source])
            .inc();
    }

    pub fn webhooks(&self) -> &WebhookMetrics {
        &self.inner.webhooks
    }

    /// The registry, for modules that define their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.inner.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl crate::zernio::Observer for Metrics {
    fn upstream_call(&self, endpoint: &'static str, outcome: &'static str, seconds: f64) {
        self.inner
            .upstream_requests
            .with_label_values(&[endpoint, outcome])
            .inc();
        self.inner
            .upstream_duration
            .with_label_values(&[endpoint, outcome])
            .observe(seconds);
    }

    fn breaker(&self, endpoint: &'static str, open: bool) {
        self.inner
            .upstream_breaker_open
            .with_label_values(&[endpoint])
            .set(i64::from(open));
    }

    fn rate_limit(&self, info: &crate::zernio::RateLimitInfo) {
        if let Some(remaining) = info.remaining {
            self.inner
                .ops
                .upstream_budget
                .set(i64::try_from(remaining).unwrap_or(i64::MAX));
        }
    }
}

/// The namespace of every metric name.
pub const NAMESPACE: &str = "tiktok_gateway";

/// What an operator watches the gateway by: traffic and refusals per tenant, posts per tenant,
/// Zernio's pause and budget, the reconciler's backlog, and the process itself.
pub struct OpsMetrics {
    tenant_requests: IntCounterVec,
    refusals: IntCounterVec,
    tenant_posts: IntCounterVec,
    upstream_paused: prometheus::IntGauge,
    upstream_budget: prometheus::IntGauge,
    reconcile_due: prometheus::IntGauge,
    reconcile_lag: prometheus::Gauge,
}

impl OpsMetrics {
    fn register(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("metric definition is valid")
        };
        let tenant_requests = counter(
            "tenant_requests_total",
            "Requests answered per tenant (none: not authenticated) and status class",
            &["tenant", "class"],
        );
        let refusals = counter(
            "refusals_total",
            "Requests refused or failed, per tenant and problem code (the reason)",
            &["tenant", "code"],
        );
        let tenant_posts = counter(
            "tenant_posts_total",
            "Posts sent upstream per tenant, kind and outcome (created or the stable error code)",
            &["tenant", "kind", "outcome"],
        );
        let upstream_paused = prometheus::IntGauge::new(
            "upstream_paused",
            "1 while Zernio's API rate limit pauses every call of the shared key",
        )
        .expect("metric definition is valid");
        let upstream_budget = prometheus::IntGauge::new(
            "upstream_budget_remaining",
            "Calls Zernio said the key has left in its window (X-RateLimit-Remaining), as last seen",
        )
        .expect("metric definition is valid");
        let reconcile_due = prometheus::IntGauge::new(
            "reconcile_due_posts",
            "Posts due for a reconcile read at the reconciler's last look (at most its batch)",
        )
        .expect("metric definition is valid");
        let reconcile_lag = prometheus::Gauge::new(
            "reconcile_lag_seconds",
            "How overdue the most overdue post was at the reconciler's last look",
        )
        .expect("metric definition is valid");
        for collector in [
            Box::new(tenant_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(refusals.clone()),
            Box::new(tenant_posts.clone()),
            Box::new(upstream_paused.clone()),
            Box::new(upstream_budget.clone()),
            Box::new(reconcile_due.clone()),
            Box::new(reconcile_lag.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        // CPU, resident memory, open files of this process (Linux /proc), under the namespace.
        #[cfg(target_os = "linux")]
        if let Err(e) = registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            tracing::warn!(error = %e, "process metrics unavailable");
        }
        OpsMetrics {
            tenant_requests,
            refusals,
            tenant_posts,
            upstream_paused,
            upstream_budget,
            reconcile_due,
            reconcile_lag,
        }
    }

    pub fn upstream_paused(&self, paused: bool) {
        self.upstream_paused.set(i64::from(paused));
    }

    pub fn reconcile_backlog(&self, due: usize, lag_secs: f64) {
        self.reconcile_due
            .set(i64::try_from(due).unwrap_or(i64::MAX));
        self.reconcile_lag.set(lag_secs.max(0.0));
    }
}

/// Known methods by name, anything else as one label, for the same reason as `UNMATCHED`.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The webhook metrics: events received from Zernio, deliveries to tenants, and the outbox.
#[derive(Clone)]
pub struct WebhookMetrics {
    received: IntCounterVec,
    deliveries: IntCounterVec,
    outbox_depth: prometheus::IntGauge,
    oldest_pending: prometheus::Gauge,
}

impl WebhookMetrics {
    fn register(registry: &Registry) -> Self {
        let received = IntCounterVec::new(
            Opts::new(
                "webhooks_received_total",
                "Webhooks received from Zernio, by Zernio event and outcome (accepted, duplicate, \
                 unknown_post, ignored, stale, retry_later, invalid_signature, invalid_payload, \
                 not_configured, failed)",
            ),
            &["event", "outcome"],
        )
        .expect("metric definition is valid");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Delivery attempts to tenants' webhook targets, by outcome (delivered, retry, \
                 failed, gone, dropped)",
            ),
            &["outcome"],
        )
        .expect("metric definition is valid");
        let outbox_depth = prometheus::IntGauge::new(
            "webhook_outbox_depth",
            "Deliveries waiting in the outbox (pending, including those being attempted)",
        )
        .expect("metric definition is valid");
        let oldest_pending = prometheus::Gauge::new(
            "webhook_outbox_oldest_pending_seconds",
            "Age of the oldest pending delivery in the outbox; 0 when it is empty",
        )
        .expect("metric definition is valid");
        for collector in [
            Box::new(received.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(deliveries.clone()),
            Box::new(outbox_depth.clone()),
            Box::new(oldest_pending.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        WebhookMetrics {
            received,
            deliveries,
            outbox_depth,
            oldest_pending,
        }
    }

    /// `event` must be a bounded label (`webhooks::zernio_event_label`).
    pub fn received(&self, event: &str, outcome: &str) {
        self.received.with_label_values(&[event, outcome]).inc();
    }

    pub fn delivery(&self, outcome: &str) {
        self.deliveries.with_label_values(&[outcome]).inc();
    }

    pub fn outbox(&self, depth: u64, oldest_pending_secs: f64) {
        self.outbox_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.oldest_pending.set(oldest_pending_secs.max(0.0));
    }
}

/// The read model: how reads were answered, what changed records, what the reconciler did.
#[derive(Clone)]
pub struct ReadModelMetrics {
    changes: IntCounterVec,
    reads: IntCounterVec,
    /// `reads{answer="record"}`, resolved once: it counts every served read.
    record_reads: prometheus::IntCounter,
    reconcile: IntCounterVec,
    audit: IntCounterVec,
}

impl ReadModelMetrics {
    fn register(registry: &Registry) -> Self {
        let changes = IntCounterVec::new(
            Opts::new(
                "post_record_changes_total",
                "Changes of the gateway's post records, by source (create, webhook, reconcile, \
                 read, edit, cancel, retry)",
            ),
            &["source"],
        )
        .expect("metric definition is valid");
        let reads = IntCounterVec::new(
            Opts::new(
                "post_reads_total",
                "Reads of one post, by how they were answered (record, not_modified, upstream, \
                 shared: a no-cache read answered by another one's upstream call)",
            ),
            &["answer"],
        )
        .expect("metric definition is valid");
        let reconcile = IntCounterVec::new(
            Opts::new(
                "reconcile_reads_total",
                "The reconciler's reads of posts from Zernio, by outcome (changed, unchanged, \
                 failed, gone)",
            ),
            &["outcome"],
        )
        .expect("metric definition is valid");
        let audit = IntCounterVec::new(
            Opts::new(
                "audit_entries_total",
                "Audit entries written, by action (post.create, post.edit, post.cancel, post.retry, \
                 subscription.create, subscription.delete), or failed when the store refused one",
            ),
            &["action"],
        )
        .expect("metric definition is valid");
        for collector in [
            Box::new(changes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reads.clone()),
            Box::new(reconcile.clone()),
            Box::new(audit.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        ReadModelMetrics {
            changes,
            record_reads: reads.with_label_values(&["record"]),
            reads,
            reconcile,
            audit,
        }
    }

    pub fn read(&self, answer: &str) {
        if answer == "record" {
            self.record_reads.inc();
        } else {
            self.reads.with_label_values(&[answer]).inc();
        }
    }

    pub fn reconciled(&self, outcome: &str) {
        self.reconcile.with_label_values(&[outcome]).inc();
    }
}
