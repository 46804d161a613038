//! Every metric of the gateway, named once, in a registry of its own (not the process-global
//! one), so that several gateways in one test process keep separate counts.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
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
    budget_remaining: IntGaugeVec,
    webhooks: WebhookMetrics,
    read_model: ReadModelMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
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
            Box::new(budget_remaining.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        let webhooks = WebhookMetrics::register(&registry);
        let read_model = ReadModelMetrics::register(&registry);
        let families = Families {
            webhooks,
            read_model,
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
            budget_remaining,
        };
        Metrics {
            inner: std::sync::Arc::new(families),
        }
    }

    pub fn validation_rejected(&self, rule: &str) {
        self.inner
            .validation_rejections
            .with_label_values(&[rule])
            .inc();
    }

    pub fn budget_remaining(&self, account: &str, lane: &str, remaining: u32) {
        self.inner
            .budget_remaining
            .with_label_values(&[account, lane])
            .set(i64::from(remaining));
    }

    pub fn duplicate_refused(&self) {
        self.inner.duplicate_refusals.inc();
    }

    pub fn post(&self, kind: &str, mode: &str, outcome: &str) {
        self.inner
            .posts
            .with_label_values(&[kind, mode, outcome])
            .inc();
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
}

/// Middleware: counts and times every request under its route template.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status();
    let labels = [
        route.as_deref().unwrap_or(UNMATCHED),
        method,
        status.as_str(),
    ];
    metrics.inner.http_requests.with_label_values(&labels).inc();
    metrics
        .inner
        .http_duration
        .with_label_values(&labels)
        .observe(start.elapsed().as_secs_f64());
    response
}

/// Known methods by name, anything else as one label, for the same reason as `UNMATCHED`.
fn method_label(method: &axum::http::Method) -> &'static str {
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
                 unknown_post, ignored, retry_later, invalid_signature, invalid_payload, \
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
        for collector in [
            Box::new(changes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reads.clone()),
            Box::new(reconcile.clone()),
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
