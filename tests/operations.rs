//! Running it as a platform team does (issue 12), black-box: one log line per request that says
//! who, what, how long and why refused, with no secret; `admin_listen` takes `/metrics` off the
//! public port; every metric the deploy kit's dashboard and alert rules name exists.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::fake_zernio::FakeZernio;
use common::*;
use serde_json::{Value, json};
use tiktok_gateway::config::{Config, Environment, Secret};
use tiktok_gateway::telemetry::{self, LogFormat};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines of this test binary (one subscriber for all its tests), as JSON.
fn logs() -> Vec<Value> {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        telemetry::init_with_filter(
            LogFormat::Json,
            move || writer.clone(),
            EnvFilter::new("info"),
        )
        .expect("the only subscriber of this test binary");
        capture
    });
    let bytes = capture.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn video(caption: &str) -> Value {
    json!({
        "account": "acc_a1",
        "caption": caption,
        "video": {"url": "https://cdn.example.com/v.mp4"},
        "privacy": "SELF_ONLY",
        "allow_comment": false, "allow_duet": false, "allow_stitch": false,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

#[tokio::test]
async fn a_request_logs_who_what_how_long_and_why_refused_and_no_secret() {
    logs();
    let (gw, _fake) = TestGateway::with_fake("").await;
    let created = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .header("x-request-id", "req-log-1")
        .json(&video("Logged"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut refused = video("Refused");
    refused["privacy"] = json!("NOBODY");
    let r = gw.post_json("/v1/tiktok/posts", ACME_KEY, &refused).await;
    assert_eq!(r.status(), 422);
    gw.stop().await;

    let lines = logs();
    let request_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    let create = request_lines
        .iter()
        .find(|l| l["fields"]["post"] == id.as_str())
        .unwrap_or_else(|| panic!("no request line for the create: {request_lines:?}"));
    assert_eq!(create["level"], "INFO");
    assert_eq!(create["fields"]["status"], 201);
    assert_eq!(create["fields"]["tenant"], "acme");
    assert_eq!(create["fields"]["credential"], "api_key:acme-full");
    assert!(create["fields"]["latency_ms"].is_f64(), "{create}");
    assert_eq!(create["span"]["route"], "/v1/tiktok/posts");
    assert_eq!(create["span"]["request_id"], "req-log-1");
    let refusal = request_lines
        .iter()
        .find(|l| l["fields"]["code"] == "validation_failed")
        .unwrap_or_else(|| panic!("no line for the refusal: {request_lines:?}"));
    assert_eq!(refusal["fields"]["status"], 422);
    assert_eq!(refusal["fields"]["tenant"], "acme");
    // One line per request: the old `finished processing request` line is gone.
    assert!(
        !lines
            .iter()
            .any(|l| l["fields"]["message"] == "finished processing request")
    );
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains(ACME_KEY), "a key reached the log");
    assert!(
        !text.contains(FAKE_ZERNIO_KEY),
        "the Zernio key reached the log"
    );
}

/// A gateway with `admin_listen` set and both listeners on ports of the test's own.
async fn with_admin(
    fake: &FakeZernio,
    extra: &str,
) -> (String, String, tokio::sync::oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nstore = \"sqlite://{}/gw.db\"\n\
         [zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\n{extra}\n{}",
        dir.path().display(),
        fake.base_url,
        tenants_toml()
    );
    let env: Environment = [("GATEWAY_JWT_SECRET".to_owned(), HS256_SECRET.to_owned())].into();
    let mut config = Config::from_toml(&toml, &env).unwrap();
    config.zernio_api_key = Some(Secret::new(FAKE_ZERNIO_KEY));
    // Its media (cdn.example.com) is never fetched.
    config.media.probe = Some(tiktok_gateway::config::ProbeMode::Off);
    let gateway = tiktok_gateway::Gateway::build(config, &env).await.unwrap();
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let urls = (
        format!("http://{}", public.local_addr().unwrap()),
        format!("http://{}", admin.local_addr().unwrap()),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _dir = dir;
        let _ = gateway
            .serve_with_admin(public, Some(admin), async move {
                let _ = stopped.await;
            })
            .await;
    });
    (urls.0, urls.1, stop)
}

#[tokio::test]
async fn admin_listen_takes_metrics_off_the_public_port() {
    let fake = FakeZernio::start().await;
    let (public, admin, stop) = with_admin(&fake, "").await;
    let client = reqwest::Client::new();
    let status = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("{public}/metrics")).await, 404);
    assert_eq!(status(format!("{admin}/metrics")).await, 200);
    assert_eq!(status(format!("{admin}/healthz")).await, 200);
    assert_eq!(status(format!("{admin}/readyz")).await, 200);
    // The public port still has its probes and its API.
    assert_eq!(status(format!("{public}/healthz")).await, 200);
    let me = client
        .get(format!("{public}/v1/me"))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // Only the admin port's tenants: nothing but the operations routes there.
    assert_eq!(status(format!("{admin}/v1/me")).await, 404);
    let _ = stop.send(());
}

/// The names of the metrics `/metrics` shows (`# TYPE` lines: a histogram by its base name).
fn metric_names(text: &str) -> std::collections::HashSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_name_exists() {
    let fake = FakeZernio::start().await;
    let (public, admin, stop) = with_admin(&fake, "[metrics]\nper_account = true\n").await;
    let client = reqwest::Client::new();
    // A day's traffic in small: a create, a read, a refusal, a cancel, a webhook knock.
    let created: Value = client
        .post(format!("{public}/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .json(&video("Measured"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let read = client
        .get(format!("{public}/v1/tiktok/posts/{id}"))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let mut refused = video("Refused");
    refused["privacy"] = json!("NOBODY");
    let r = client
        .post(format!("{public}/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .json(&refused)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let mut scheduled = video("Later");
    scheduled["schedule_at"] = json!(at);
    let later: Value = client
        .post(format!("{public}/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .json(&scheduled)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cancel = client
        .delete(format!(
            "{public}/v1/tiktok/posts/{}",
            later["id"].as_str().unwrap()
        ))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 204);
    let knock = client
        .post(format!("{public}/v1/upstream/zernio/webhooks"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(knock.status().is_client_error() || knock.status().is_server_error());

    let text = client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let names = metric_names(&text);
    let wanted =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/metrics.txt"))
            .unwrap();
    let missing: Vec<&str> = wanted
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|name| !names.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "named by the deploy kit, absent from /metrics: {missing:?}"
    );
    // Every family is under the namespace.
    assert!(
        names.iter().all(|n| n.starts_with("tiktok_gateway_")),
        "{names:?}"
    );
    assert!(text.contains(r#"tiktok_gateway_tenant_requests_total{class="2xx",tenant="acme"}"#));
    assert!(
        text.contains(r#"tiktok_gateway_refusals_total{code="validation_failed",tenant="acme"} 1"#),
        "{text}"
    );
    let _ = stop.send(());
}
