//! The black-box harness: a real gateway on 127.0.0.1:0 with a fresh store in a temporary
//! directory, and an HTTP client to talk to it.
#![allow(dead_code)] // each test binary uses a different part of the harness

#[path = "../contract/mod.rs"]
pub mod contract;
pub mod fake_zernio;
pub mod subscriber;
pub mod tokens;
pub mod zernio_events;

use serde_json::json;
use tokens::{claims, with};

use std::collections::HashMap;
use std::net::SocketAddr;

use tiktok_gateway::config::{Config, Environment, Secret};
use tiktok_gateway::{AppState, Gateway};

/// Keys of the standard tenants. They are test values; only their SHA-256 is configured.
pub const ACME_KEY: &str = "tgw_acme-full-access-key-000000000000000000000";
pub const ACME_READ_KEY: &str = "tgw_acme-read-only-key-0000000000000000000000";
pub const ACME_EXPIRED_KEY: &str = "tgw_acme-expired-key-000000000000000000000000";
pub const GLOBEX_KEY: &str = "tgw_globex-full-access-key-0000000000000000000";
pub const FAKE_ZERNIO_KEY: &str = "sk_fake_zernio_key_for_tests";
pub const HS256_SECRET: &str = "test-only-hs256-secret-of-at-least-32-bytes";
/// `GATEWAY_SECRETS_KEY` of every test gateway (a test's `more_env` may replace it, or blank it
/// to run on the key kept in the data directory).
pub const SECRETS_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

pub fn sha256_hex(key: &str) -> String {
    hex::encode(tiktok_gateway::auth::api_key::digest(key))
}

/// Two tenants: `acme` (accounts acc_a1, acc_a2) and `globex` (acc_b1).
pub fn tenants_toml() -> String {
    format!(
        r#"
[[tenants]]
id = "acme"
accounts = ["acc_a1", "acc_a2"]
requests_per_minute = 6000
burst = 200

[[tenants.api_keys]]
id = "acme-full"
sha256 = "{}"
scopes = ["posts:write", "posts:read", "analytics:read", "media:write", "webhooks:manage"]

[[tenants.api_keys]]
id = "acme-read"
sha256 = "{}"
scopes = ["posts:read"]

[[tenants.api_keys]]
id = "acme-expired"
sha256 = "{}"
scopes = ["posts:read"]
expires_at = "2020-01-01T00:00:00Z"

[[tenants]]
id = "globex"
accounts = ["acc_b1"]

[[tenants.api_keys]]
id = "globex-full"
sha256 = "{}"
scopes = ["posts:write", "posts:read", "analytics:read", "media:write", "webhooks:manage"]
"#,
        sha256_hex(ACME_KEY),
        sha256_hex(ACME_READ_KEY),
        sha256_hex(ACME_EXPIRED_KEY),
        sha256_hex(GLOBEX_KEY),
    )
}

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The `[auth.jwt]` section for an algorithm, with its key material from the fixtures.
pub fn jwt_toml(algorithm: &str) -> String {
    let source = match algorithm {
        "HS256" => r#"secret_env = "GATEWAY_JWT_SECRET""#.to_owned(),
        "RS256" => format!(r#"public_key_file = "{}""#, fixture("rsa_public.pem")),
        "ES256" => format!(r#"public_key_file = "{}""#, fixture("ec_public.pem")),
        "RS256-JWKS" => format!(r#"jwks_file = "{}""#, fixture("jwks.json")),
        other => panic!("no fixture for {other}"),
    };
    let algorithm = algorithm.trim_end_matches("-JWKS");
    format!(
        r#"
[auth.jwt]
issuer = "{}"
audience = "{}"
algorithm = "{algorithm}"
{source}
"#,
        tokens::ISSUER,
        tokens::AUDIENCE
    )
}

/// Every credential that must be refused, with the code it must be refused with, for a gateway
/// configured for RS256.
pub fn auth_refusals() -> Vec<(&'static str, Option<String>, &'static str)> {
    let valid = claims();
    vec![
        ("no credentials", None, "missing_credentials"),
        (
            "unknown key",
            Some(format!("Bearer tgw_{}", "x".repeat(43))),
            "invalid_api_key",
        ),
        (
            "expired key",
            Some(format!("Bearer {ACME_EXPIRED_KEY}")),
            "api_key_expired",
        ),
        (
            "malformed header",
            Some(format!("Token {ACME_KEY}")),
            "malformed_authorization",
        ),
        (
            "alg none",
            Some(format!("Bearer {}", tokens::unsigned(&valid))),
            "token_algorithm_not_allowed",
        ),
        (
            "HS256 signed with the RS256 public key",
            Some(format!("Bearer {}", tokens::confused(&valid))),
            "token_algorithm_not_allowed",
        ),
        (
            "expired token",
            Some(format!(
                "Bearer {}",
                tokens::sign(
                    "RS256",
                    &with(valid.clone(), "exp", json!(tokens::now() - 3600))
                )
            )),
            "token_expired",
        ),
        (
            "nbf in the future",
            Some(format!(
                "Bearer {}",
                tokens::sign(
                    "RS256",
                    &with(valid.clone(), "nbf", json!(tokens::now() + 3600))
                )
            )),
            "token_not_yet_valid",
        ),
        (
            "iat in the future",
            Some(format!(
                "Bearer {}",
                tokens::sign(
                    "RS256",
                    &with(valid.clone(), "iat", json!(tokens::now() + 3600))
                )
            )),
            "token_not_yet_valid",
        ),
        (
            "iat not a number",
            Some(format!(
                "Bearer {}",
                tokens::sign("RS256", &with(valid.clone(), "iat", json!("yesterday")))
            )),
            "token_claims_invalid",
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                tokens::sign(
                    "RS256",
                    &with(valid.clone(), "iss", json!("https://evil.test"))
                )
            )),
            "token_issuer_invalid",
        ),
        (
            "wrong aud",
            Some(format!(
                "Bearer {}",
                tokens::sign("RS256", &with(valid.clone(), "aud", json!("another-api")))
            )),
            "token_audience_invalid",
        ),
        (
            "tampered payload",
            Some(format!(
                "Bearer {}",
                tokens::tampered(
                    "RS256",
                    &valid,
                    &with(valid.clone(), "tenant", json!("globex"))
                )
            )),
            "token_signature_invalid",
        ),
        (
            "unknown tenant",
            Some(format!(
                "Bearer {}",
                tokens::sign("RS256", &with(valid.clone(), "tenant", json!("initech")))
            )),
            "token_unknown_tenant",
        ),
    ]
}

pub struct TestGateway {
    pub base: String,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestGateway {
    /// Starts a gateway on a random port; `extra` is TOML appended to the standard tenants.
    pub async fn spawn(extra: &str) -> TestGateway {
        Self::spawn_with_env(extra, &[]).await
    }

    /// `spawn`, with more environment (secrets) for the configuration.
    pub async fn spawn_with_env(extra: &str, more_env: &[(&str, &str)]) -> TestGateway {
        Self::spawn_on(None, extra, more_env).await
    }

    /// `spawn_with_env` on a given store URL (`None`: a fresh SQLite file).
    pub async fn spawn_on(
        store: Option<&str>,
        extra: &str,
        more_env: &[(&str, &str)],
    ) -> TestGateway {
        Self::spawn_with_tenants(store, extra, &tenants_toml(), more_env).await
    }

    /// `spawn_on` with tenants of the test's own (`tenants_toml()` changed, say).
    pub async fn spawn_with_tenants(
        store: Option<&str>,
        extra: &str,
        tenants: &str,
        more_env: &[(&str, &str)],
    ) -> TestGateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = match store {
            Some(url) => url.to_owned(),
            None if test_store() == "redis" => redis_url(next_redis_db()).await,
            None => format!("sqlite://{}/gateway.db", dir.path().display()),
        };
        let toml = format!("listen = \"127.0.0.1:0\"\nstore = \"{store}\"\n{extra}\n{tenants}");
        let mut env: Environment = HashMap::from([
            ("GATEWAY_JWT_SECRET".to_owned(), HS256_SECRET.to_owned()),
            ("GATEWAY_SECRETS_KEY".to_owned(), SECRETS_KEY.to_owned()),
        ]);
        env.extend(more_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut config = Config::from_toml(&toml, &env).expect("test config is valid");
        // Test media (cdn.example.com) is never fetched: the probe runs where a test asks.
        config
            .media
            .probe
            .get_or_insert(tiktok_gateway::config::ProbeMode::Off);
        config.zernio_api_key = env.get("ZERNIO_API_KEY").map(Secret::new);
        config.zernio_webhook_secret = env.get("ZERNIO_WEBHOOK_SECRET").map(Secret::new);
        let gateway = Gateway::build(config, &env).await.expect("gateway builds");
        let state = gateway.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(gateway.serve(listener, async move {
            let _ = rx.await;
        }));
        TestGateway {
            base: format!("http://{addr}"),
            addr,
            // Pooled connections retire before the server's idle timeout (5 s by default): one
            // reused at the moment the server closes it fails as IncompleteMessage, a client's
            // race that the chaos suite's long runs met.
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("test client"),
            state,
            _dir: dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A gateway in front of a fresh recording fake Zernio; `extra` as for `spawn`.
    pub async fn with_fake(extra: &str) -> (TestGateway, fake_zernio::FakeZernio) {
        let fake = fake_zernio::FakeZernio::start().await;
        let toml = format!(
            "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\n{extra}",
            fake.base_url
        );
        let gw = Self::spawn_with_env(&toml, &[("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)]).await;
        (gw, fake)
    }

    /// A gateway on `store` in front of an existing fake (replicas share both).
    pub async fn in_front_of(
        fake: &fake_zernio::FakeZernio,
        store: Option<&str>,
        extra: &str,
    ) -> TestGateway {
        let toml = format!(
            "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\n{extra}",
            fake.base_url
        );
        Self::spawn_on(store, &toml, &[("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)]).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request reaches the gateway")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get_with_key(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request reaches the gateway")
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ended cleanly");
        }
    }
}

/// A problem+json answer, checked for the RFC 9457 members and returned as JSON.
pub async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    for member in ["type", "title", "status", "detail", "code", "request_id"] {
        assert!(
            body.get(member).is_some(),
            "problem lacks `{member}`: {body}"
        );
    }
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"].as_str(), request_id.as_deref());
    body
}

/// A fresh Redis database of the server the test command started (`scripts/test` sets
/// TEST_REDIS_URL); each test names its own `db` so that parallel tests never meet.
pub async fn redis_url(db: u8) -> String {
    let base = std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL is not set: run the tests through scripts/test, which starts Redis",
    );
    let url = format!("{base}/{db}");
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut conn)
        .await
        .expect("flushdb");
    url
}

/// The store the black-box suite runs on: `TEST_STORE=redis` runs it again on Redis (the test
/// command does both).
pub fn test_store() -> String {
    std::env::var("TEST_STORE").unwrap_or_else(|_| "sqlite".to_owned())
}

/// A database of its own for each gateway of a Redis run: 16 and up (the test command starts
/// Redis with 256), below are the tests that name theirs.
fn next_redis_db() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(16);
    let db = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(db >= 16, "more than 240 gateways in one test binary");
    db
}
