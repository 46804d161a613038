//! Crash safety of the outbox, with the real binary: an event is accepted (200), the gateway is
//! killed with SIGKILL while the delivery is in flight and before the subscriber has answered,
//! and a fresh process on the same store delivers it. On SQLite and on Redis.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use common::subscriber::{Subscriber, eventually, verify_standard_webhook};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tiktok_gateway::config::StoreUrl;
use tiktok_gateway::store::{self, PostRecord};

const ZERNIO_SECRET: &str = "zernio-webhook-secret-for-the-crash-test";

/// A gateway process; killed when dropped, so that a failing test leaves nothing running.
struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &std::path::Path) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tiktok-gateway"));
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEWAY_") || name.starts_with("ZERNIO_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .arg("serve")
        .env("GATEWAY_CONFIG", config)
        .env("GATEWAY_LOG_FORMAT", "json")
        .env("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)
        // Its media (cdn.example.com) is never fetched.
        .env("GATEWAY_MEDIA__PROBE", "off")
        .env("ZERNIO_WEBHOOK_SECRET", ZERNIO_SECRET)
        .env("GATEWAY_SECRETS_KEY", SECRETS_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("tiktok-gateway listening") {
                let log: Value = serde_json::from_str(&line).unwrap_or_default();
                if let Some(address) = log["fields"]["address"].as_str() {
                    let _ = tx.send(address.to_owned());
                }
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway logs its address");
    Process {
        child,
        base: format!("http://{address}"),
    }
}

fn kill_hard(process: &mut Process) {
    let status = Command::new("kill")
        .args(["-KILL", &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = process.child.wait();
}

async fn crash_after_accepting_then_deliver(store_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    // A lease of one second: a delivery held by the killed process is free again soon.
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"{store_url}\"\n\n\
             [zernio]\nbase_url = \"http://127.0.0.1:9/api\"\n\n\
             [webhooks]\nallowed_hosts = [\"127.0.0.1\"]\nlease_secs = 1\npoll_interval_ms = 50\n\
             request_timeout_secs = 60\nretry_schedule_secs = [0.1, 0.1]\n{}",
            tenants_toml()
        ),
    )
    .unwrap();
    // The post the gateway made earlier, in the store both processes use.
    {
        let url = StoreUrl::parse(store_url).unwrap();
        let store = store::open(&url).await.unwrap();
        store
            .insert_post(&PostRecord {
                id: "post_1".into(),
                tenant: "acme".into(),
                account: "acc_a1".into(),
                kind: "video".into(),
                mode: "now".into(),
                status: "publishing".into(),
                schedule_at: None,
                tiktok_url: None,
                error: None,
                fingerprint: "fp".into(),
                request_id: "req-1".into(),
                created_at: Utc::now(),
                content: None,
                media_items: Vec::new(),
                sync: Default::default(),
            })
            .await
            .unwrap();
        store.close().await;
    }

    let mut subscriber = Subscriber::start().await;
    // The first attempt hangs: the process dies with the delivery in flight.
    subscriber.hold();
    let client = reqwest::Client::new();
    let cfg = config.clone();
    let mut first = tokio::task::spawn_blocking(move || start(&cfg))
        .await
        .unwrap();
    let created: Value = client
        .post(format!("{}/v1/webhooks/subscriptions", first.base))
        .bearer_auth(ACME_KEY)
        .json(&json!({"target_url": subscriber.url, "events": ["post.published"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subscription = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();

    let body = serde_json::to_vec(&json!({
        "id": "evt_crash", "event": "post.published",
        "post": {"id": "post_1", "status": "published",
                 "platforms": [{"platform": "tiktok", "status": "published", "accountId": "acc_a1",
                                "publishedUrl": "https://www.tiktok.com/@creator/video/1"}],
                 "metadata": {"gateway_request_id": "req-1"}},
        "timestamp": Utc::now().to_rfc3339()
    }))
    .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(ZERNIO_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let accepted = client
        .post(format!("{}/v1/upstream/zernio/webhooks", first.base))
        .header("content-type", "application/json")
        .header("x-zernio-event", "post.published")
        .header("x-zernio-event-id", "evt_crash")
        .header(
            "x-zernio-signature",
            hex::encode(mac.finalize().into_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().await.unwrap()["deliveries"], 1);

    let in_flight = subscriber.next(Duration::from_secs(10)).await;
    kill_hard(&mut first);
    drop(first);

    // A fresh process on the same store; the subscriber answers again.
    subscriber.release();
    let cfg = config.clone();
    let mut second = tokio::task::spawn_blocking(move || start(&cfg))
        .await
        .unwrap();
    let delivered = subscriber.next(Duration::from_secs(15)).await;
    assert_eq!(
        delivered.header("webhook-id"),
        in_flight.header("webhook-id"),
        "the same delivery, after the restart"
    );
    verify_standard_webhook(&secret, &delivered);
    assert_eq!(delivered.json()["data"]["id"], "post_1");
    let base = second.base.clone();
    eventually("the delivery is recorded", Duration::from_secs(10), || {
        let client = client.clone();
        let url = format!("{base}/v1/webhooks/deliveries?subscription={subscription}");
        async move {
            let list: Value = client
                .get(url)
                .bearer_auth(ACME_KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list["items"][0]["status"] == "delivered"
        }
    })
    .await;

    // And it stops cleanly, worker included.
    let status = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let exit = second.child.wait().unwrap();
        drop(second);
        exit
    })
    .await
    .unwrap();
    assert!(exit.success(), "graceful exit after SIGTERM: {exit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_event_survives_a_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/gateway.db", dir.path().display());
    crash_after_accepting_then_deliver(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_event_survives_a_sigkill_on_redis() {
    let url = redis_url(10).await;
    crash_after_accepting_then_deliver(&url).await;
}
