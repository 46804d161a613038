//! A webhook subscriber on 127.0.0.1:0 that hands every request it receives to the test, answers
//! as the test scripts it, and checks signatures with the Standard Webhooks algorithm written
//! here from the specification (HMAC-SHA256 and base64 directly, not the gateway's signer).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{mpsc, watch};

/// One request as the subscriber received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a delivery's body is JSON")
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<&'static str>,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            retry_after: None,
        }
    }
}

struct Shared {
    tx: mpsc::UnboundedSender<Received>,
    script: Mutex<VecDeque<Answer>>,
    /// While `true`, requests are received but not answered (a slow or hung target).
    hold: watch::Receiver<bool>,
}

pub struct Subscriber {
    pub url: String,
    rx: mpsc::UnboundedReceiver<Received>,
    shared: Arc<Shared>,
    hold: watch::Sender<bool>,
}

impl Subscriber {
    /// Answers 200 unless scripted otherwise.
    pub async fn start() -> Subscriber {
        let (tx, rx) = mpsc::unbounded_channel();
        let (hold, holding) = watch::channel(false);
        let shared = Arc::new(Shared {
            tx,
            script: Mutex::new(VecDeque::new()),
            hold: holding,
        });
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Subscriber {
            url: format!("http://{addr}/hooks"),
            rx,
            shared,
            hold,
        }
    }

    /// The next requests answer these, in order; then 200 again.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(answers);
    }

    /// Receives requests without answering them until `release`.
    pub fn hold(&self) {
        let _ = self.hold.send(true);
    }

    pub fn release(&self) {
        let _ = self.hold.send(false);
    }

    /// The next request, within `within`.
    pub async fn next(&mut self, within: Duration) -> Received {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .expect("a delivery arrives in time")
            .expect("the subscriber runs")
    }

    /// Whatever arrived and was not taken yet.
    pub fn pending(&mut self) -> Vec<Received> {
        let mut all = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            all.push(r);
        }
        all
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let _ = shared.tx.send(Received {
        headers,
        body,
        at: std::time::Instant::now(),
    });
    let mut hold = shared.hold.clone();
    while *hold.borrow_and_update() {
        if hold.changed().await.is_err() {
            break;
        }
    }
    let answer = shared
        .script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front()
        .unwrap_or(Answer::status(200));
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
        "ok",
    )
        .into_response();
    if let Some(wait) = answer.retry_after {
        response
            .headers_mut()
            .insert("retry-after", wait.parse().expect("header value"));
    }
    response
}

/// Checks a delivery as the Standard Webhooks specification says a receiver must: the signed
/// content is `{webhook-id}.{webhook-timestamp}.{body}`, the key is the base64-decoded part of
/// the secret after `whsec_`, the signature is HMAC-SHA256 in base64 after `v1,`, and one of the
/// space-separated signatures must match. The timestamp must be recent.
pub fn verify_standard_webhook(secret: &str, received: &Received) {
    let id = received.header("webhook-id");
    let timestamp = received.header("webhook-timestamp");
    let signatures = received.header("webhook-signature");
    assert!(!id.is_empty(), "webhook-id is set");
    let ts: i64 = timestamp
        .parse()
        .expect("webhook-timestamp is Unix seconds");
    let now = chrono::Utc::now().timestamp();
    assert!((now - ts).abs() < 300, "webhook-timestamp {ts} is recent");
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("the secret is whsec_"))
        .expect("the secret is base64 after whsec_");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert!(
        signatures.split(' ').any(|s| s == expected),
        "webhook-signature `{signatures}` does not verify (expected {expected})"
    );
}

/// Waits until `check` holds, for at most `within`, looking every 20 ms: for state that is
/// written just after the event the test waited for (a delivery is recorded after it is
/// answered).
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
