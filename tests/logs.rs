//! Captures every log line (TRACE, JSON) of the whole auth matrix and of start-up with secrets
//! configured, and finds no key, token or secret in them.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::tokens::{self, claims};
use common::*;
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

const ZERNIO_KEY: &str = "sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const WEBHOOK_SECRET: &str = "zernio-webhook-secret-for-the-log-test";

#[tokio::test]
async fn no_credential_or_secret_reaches_a_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    telemetry::init_with_filter(
        LogFormat::Json,
        move || writer.clone(),
        EnvFilter::new("trace"),
    )
    .expect("the only subscriber of this test binary");

    let gw = TestGateway::spawn_with_env(
        &jwt_toml("RS256"),
        &[
            ("ZERNIO_API_KEY", ZERNIO_KEY),
            ("ZERNIO_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await;
    let mut secrets: Vec<String> = vec![
        ACME_KEY.into(),
        ACME_READ_KEY.into(),
        ACME_EXPIRED_KEY.into(),
        GLOBEX_KEY.into(),
        HS256_SECRET.into(),
        ZERNIO_KEY.into(),
        WEBHOOK_SECRET.into(),
    ];
    let valid = tokens::sign("RS256", &claims());
    let mut credentials: Vec<String> =
        vec![format!("Bearer {ACME_KEY}"), format!("Bearer {valid}")];
    credentials.extend(auth_refusals().into_iter().filter_map(|(_, c, _)| c));
    for credential in &credentials {
        let response = gw
            .client
            .get(gw.url("/v1/me"))
            .header("authorization", credential)
            .send()
            .await
            .unwrap();
        assert!(response.status() == 200 || response.status() == 401);
        // The credential itself, and a token's signature on its own.
        let secret = credential.trim_start_matches("Bearer ").to_owned();
        if let Some(signature) = secret.rsplit('.').next().filter(|s| s.len() > 16) {
            secrets.push(signature.to_owned());
        }
        secrets.push(secret);
    }
    let response = gw
        .client
        .get(gw.url("/v1/me"))
        .header("x-api-key", ACME_READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    gw.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(r#""message":"request""#),
        "the capture saw the requests: {logs}"
    );
    assert!(
        logs.contains("Secret(***)"),
        "start-up logged the configuration, redacted"
    );
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
    }
}
