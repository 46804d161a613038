//! Loading the configuration: profiles, environment overrides, and start-up refusals that name
//! the key at fault.

use std::collections::HashMap;
use std::io::Write;

use tiktok_gateway::config::{Config, ConfigError, Environment, Loaded, StoreUrl};

fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>()
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn load(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    Config::load_from(&env(pairs))
}

fn error(pairs: &[(&str, &str)]) -> String {
    load(pairs)
        .expect_err("configuration must be refused")
        .to_string()
}

const TENANT: &str = r#"
[[tenants]]
id = "marketing"
accounts = ["acc_123"]
[[tenants.api_keys]]
id = "cms"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
scopes = ["posts:read"]
"#;

#[test]
fn with_nothing_configured_the_development_profile_runs_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/gateway.db", dir.path().display());
    let Loaded {
        config,
        development_key,
        warnings,
    } = load(&[("GATEWAY_STORE", &store)]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let key = development_key.expect("a key is made for this run");
    assert!(key.starts_with("tgw_"));
    assert!(config.is_sandbox());
    assert_eq!(config.tenants.len(), 1);
    assert_eq!(config.tenants[0].id, "demo");
    assert_eq!(
        config.tenants[0].accounts,
        ["sandbox_public", "sandbox_private"]
    );
    assert_eq!(
        config.tenants[0].api_keys[0].sha256,
        hex::encode(tiktok_gateway::auth::api_key::digest(&key))
    );
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.store,
        StoreUrl::Sqlite(dir.path().join("gateway.db"))
    );
    // The key survives a restart: kept beside the store, readable by its owner only.
    let file = dir.path().join("development-key");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = load(&[("GATEWAY_STORE", &store)]).unwrap();
    assert_eq!(again.development_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        again.config.tenants[0].api_keys[0].sha256,
        config.tenants[0].api_keys[0].sha256
    );
    // The default store is under ./data.
    assert_eq!(
        tiktok_gateway::config::development_key_file(&StoreUrl::Sqlite("data/gateway.db".into())),
        std::path::Path::new("data/development-key")
    );
}

#[test]
fn variables_that_are_not_settings_are_named_once_and_ignored() {
    let file = config_file(&format!(
        "{TENANT}
[auth.jwt]
issuer = \"https://idp.example.com\"
audience = \"gw\"
         algorithm = \"HS256\"
secret_env = \"GATEWAY_SIGNING_SECRET\"
"
    ));
    let path = file.path().to_str().unwrap();
    let loaded = load(&[
        ("GATEWAY_CONFIG", path),
        // What Kubernetes sets for a Service named `gateway`.
        ("GATEWAY_PORT", "tcp://10.0.0.1:8080"),
        ("GATEWAY_PORT_8080_TCP_ADDR", "10.0.0.1"),
        // A secret of another tool, and the one the configuration points at.
        ("GATEWAY_JWT_SECRET", "not-a-setting"),
        (
            "GATEWAY_SIGNING_SECRET",
            "a-shared-secret-of-at-least-32-bytes!!",
        ),
        // A real setting still applies.
        ("GATEWAY_HTTP__REQUEST_TIMEOUT_SECS", "12"),
    ])
    .unwrap();
    assert_eq!(loaded.config.http.request_timeout_secs, 12);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let warning = &loaded.warnings[0];
    for name in [
        "GATEWAY_PORT",
        "GATEWAY_PORT_8080_TCP_ADDR",
        "GATEWAY_JWT_SECRET",
    ] {
        assert!(warning.contains(name), "{warning}");
    }
    assert!(!warning.contains("GATEWAY_SIGNING_SECRET"), "{warning}");
    assert!(!warning.contains("not-a-setting") && !warning.contains("10.0.0.1:8080"));
}

#[test]
fn a_zernio_key_without_tenants_is_refused() {
    let message = error(&[("ZERNIO_API_KEY", "sk_live")]);
    assert!(
        message.contains("tenants") && message.contains("ZERNIO_API_KEY"),
        "{message}"
    );
    assert!(
        !message.contains("sk_live"),
        "the key itself is never printed"
    );
}

#[test]
fn environment_overrides_the_file() {
    let file = config_file(&format!("listen = \"127.0.0.1:9000\"\n{TENANT}"));
    let path = file.path().to_str().unwrap();
    let Loaded {
        config,
        development_key,
        ..
    } = load(&[
        ("GATEWAY_CONFIG", path),
        ("GATEWAY_LISTEN", "0.0.0.0:8081"),
        ("GATEWAY_STORE", "sqlite:///var/lib/gw/gateway.db"),
        ("ZERNIO_BASE_URL", "http://127.0.0.1:9999/api"),
        ("GATEWAY_ZERNIO__REQUEST_TIMEOUT_MS", "1500"),
        ("GATEWAY_LOG_FORMAT", "json"),
        ("ZERNIO_API_KEY", "sk_test"),
    ])
    .unwrap();
    assert!(development_key.is_none());
    assert_eq!(config.listen.to_string(), "0.0.0.0:8081");
    assert_eq!(
        config.store,
        StoreUrl::Sqlite("/var/lib/gw/gateway.db".into())
    );
    assert_eq!(config.zernio.base_url.as_str(), "http://127.0.0.1:9999/api");
    assert_eq!(config.zernio.request_timeout_ms, 1500);
    assert_eq!(
        config.zernio_api_key.as_ref().map(|k| k.expose()),
        Some("sk_test")
    );
    assert_eq!(format!("{:?}", config.zernio_api_key), "Some(Secret(***))");
    assert_eq!(
        config.tenants[0].daily_posts_per_account, 15,
        "defaults fill what the file omits"
    );
}

#[test]
fn bad_values_name_their_key() {
    let file = config_file(TENANT);
    let path = file.path().to_str().unwrap();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("GATEWAY_LISTEN", "not-an-address")], "listen"),
        (vec![("GATEWAY_STORE", "postgres://db")], "store"),
        (vec![("ZERNIO_BASE_URL", "::nonsense")], "zernio.base_url"),
        (
            vec![("GATEWAY_CONFIG", "/no/such/file.toml")],
            "GATEWAY_CONFIG",
        ),
        (
            vec![
                ("GATEWAY_CONFIG", path),
                ("GATEWAY_HTTP__BODY_LIMIT_BYTES", "10"),
            ],
            "http.body_limit_bytes",
        ),
        (
            vec![
                ("GATEWAY_CONFIG", path),
                ("GATEWAY_ZERNIO__BREAKER_FAILURES", "0"),
            ],
            "zernio.breaker_failures",
        ),
        (
            vec![
                ("GATEWAY_CONFIG", path),
                ("GATEWAY_ZERNIO__BREAKER_COOL_DOWN_MS", "0"),
            ],
            "zernio.breaker_cool_down_ms",
        ),
        (
            vec![
                ("GATEWAY_CONFIG", path),
                ("GATEWAY_POSTS__SCHEDULE_HORIZON_DAYS", "0"),
            ],
            "posts.schedule_horizon_days",
        ),
    ];
    for (pairs, key) in cases {
        let message = error(&pairs);
        assert!(message.contains(key), "`{message}` does not name `{key}`");
        assert_eq!(message.lines().count(), 1, "one line: {message}");
    }
}

#[test]
fn file_mistakes_are_refused_with_the_key() {
    let cases = [
        (
            format!("{TENANT}\nrequests_per_minute = \"many\""),
            "requests_per_minute",
        ),
        (
            TENANT.replace("id = \"cms\"", "id = \"cms\"\nscopse = []"),
            "scopse",
        ),
        (TENANT.replace("posts:read", "posts:delete"), "scopes"),
        (
            TENANT.replace(
                "0000000000000000000000000000000000000000000000000000000000000000",
                "abc",
            ),
            "sha256",
        ),
        (
            format!("{TENANT}\n[[tenants]]\nid = \"other\"\naccounts = [\"acc_123\"]"),
            "acc_123",
        ),
        (
            format!("{TENANT}\n[[tenants]]\nid = \"marketing\""),
            "twice",
        ),
        (
            TENANT.replace("\"marketing\"", "\"has space\""),
            "tenants[0].id",
        ),
        (
            format!(
                "{TENANT}\n[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\nalgorithm = \"HS256\"\nsecret_env = \"NO_SUCH_VAR\""
            ),
            "NO_SUCH_VAR",
        ),
        (
            format!(
                "{TENANT}\n[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\nalgorithm = \"none\"\nsecret_env = \"X\""
            ),
            "algorithm",
        ),
        (
            format!(
                "{TENANT}\n[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\nalgorithm = \"RS256\""
            ),
            "exactly one",
        ),
        ("listen = \"127.0.0.1:1\"".to_owned(), "tenants"),
    ];
    for (text, needle) in cases {
        let file = config_file(&text);
        let message = error(&[("GATEWAY_CONFIG", file.path().to_str().unwrap())]);
        assert!(
            message.contains(needle),
            "`{message}` does not mention `{needle}`"
        );
    }
}

/// A Redis that accepts and never answers (a half-open network path) stops start-up within
/// `store_connect_timeout_secs`, naming the store without its password.
#[tokio::test]
async fn an_unreachable_store_fails_start_up_fast_and_names_it() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let file = config_file(&format!(
        "store = \"redis://:hunter2-password@127.0.0.1:{port}/0\"\nstore_connect_timeout_secs = 1\n{TENANT}"
    ));
    let env = env(&[("GATEWAY_CONFIG", file.path().to_str().unwrap())]);
    let config = Config::load_from(&env).unwrap().config;
    let started = std::time::Instant::now();
    let message = match tiktok_gateway::Gateway::build(config, &env).await {
        Ok(_) => panic!("a silent store must stop start-up"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        message.contains("store_connect_timeout_secs") || message.contains("cannot be opened"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
    held.abort();
}

/// With `on_store_unreachable = "wait"`, a store that refuses does not stop start-up: the
/// listener answers liveness, and 503 `store_unavailable` with `Retry-After` everywhere else,
/// until the store answers; then the same listener serves the gateway, ready.
#[tokio::test]
async fn an_unreachable_store_can_start_not_ready_and_become_ready() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let redis: url::Url = std::env::var("TEST_REDIS_URL")
        .expect("TEST_REDIS_URL is not set: run the tests through scripts/test, which starts Redis")
        .parse()
        .unwrap();
    let redis = format!(
        "{}:{}",
        redis.host_str().unwrap(),
        redis.port().unwrap_or(6379)
    );
    // Stands for the network path to Redis: closed until the test opens it.
    let path_open = Arc::new(AtomicBool::new(false));
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let open = path_open.clone();
    let proxying = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = proxy.accept().await {
            if !open.load(Ordering::SeqCst) {
                drop(inbound);
                continue;
            }
            let redis = redis.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(redis).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let file = config_file(&format!(
        "store = \"redis://127.0.0.1:{proxy_port}/14\"\nstore_connect_timeout_secs = 1\n\
         on_store_unreachable = \"wait\"\n{TENANT}"
    ));
    let env = env(&[("GATEWAY_CONFIG", file.path().to_str().unwrap())]);
    let config = Config::load_from(&env).unwrap().config;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (built_tx, built) = tokio::sync::oneshot::channel();
    let serving = tokio::spawn(async move {
        let gateway = tiktok_gateway::Gateway::start(config, &env, &listener)
            .await
            .unwrap();
        let _ = built_tx.send(());
        gateway
            .serve(listener, std::future::pending())
            .await
            .unwrap();
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let live = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    for path in ["/readyz", "/v1/me", "/v1/tiktok/posts"] {
        let answer = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 503, "{path}");
        assert_eq!(answer.headers()["retry-after"], "1", "{path}");
        assert_eq!(
            answer.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let problem: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], "store_unavailable", "{path}");
    }
    path_open.store(true, Ordering::SeqCst);
    tokio::time::timeout(std::time::Duration::from_secs(15), built)
        .await
        .expect("the gateway starts once the store answers")
        .unwrap();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["store"], "redis");
    serving.abort();
    proxying.abort();
}
