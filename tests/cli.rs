//! The binary as an operator uses it: `serve` in the development profile, `key new`, `token`,
//! `openapi`, `healthcheck`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tiktok-gateway");

fn gateway() -> Command {
    let mut command = Command::new(BIN);
    // The tests' own environment must not leak into the child's configuration.
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEWAY_") || name.starts_with("ZERNIO_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

#[test]
fn key_new_prints_a_key_and_its_config_lines() {
    let output = gateway()
        .args([
            "key",
            "new",
            "--tenant",
            "marketing",
            "--scopes",
            "posts:read",
            "posts:write",
            "--id",
            "cms",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("tgw_") && key.len() >= 4 + 43, "{key}");
    let hint = String::from_utf8(output.stderr).unwrap();
    let digest = hex::encode(tiktok_gateway::auth::api_key::digest(&key));
    assert!(hint.contains(&format!("sha256 = \"{digest}\"")), "{hint}");
    assert!(
        hint.contains("scopes = [\"posts:read\", \"posts:write\"]"),
        "{hint}"
    );
    assert!(hint.contains("id = \"cms\""), "{hint}");

    let bad = gateway()
        .args(["key", "new", "--tenant", "t", "--scopes", "posts:delete"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn openapi_prints_the_committed_spec() {
    let output = gateway().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed = std::fs::read_to_string(format!(
        "{}/openapi/openapi.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[test]
fn token_mints_an_hs256_token_for_a_configured_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    let mut file = std::fs::File::create(&config).unwrap();
    writeln!(
        file,
        "[auth.jwt]\nissuer = \"https://idp.test\"\naudience = \"tiktok-gateway\"\nalgorithm = \"HS256\"\nsecret_env = \"MY_JWT_SECRET\"\n\n\
         [[tenants]]\nid = \"marketing\"\naccounts = [\"acc_1\"]"
    )
    .unwrap();
    let secret = "a-development-secret-of-32-bytes-or-more";
    let output = gateway()
        .args([
            "token",
            "--tenant",
            "marketing",
            "--scopes",
            "posts:read",
            "analytics:read",
            "--ttl",
            "15m",
        ])
        .env("GATEWAY_CONFIG", &config)
        .env("MY_JWT_SECRET", secret)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["tiktok-gateway"]);
    validation.set_issuer(&["https://idp.test"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .unwrap();
    assert_eq!(data.claims["tenant"], "marketing");
    assert_eq!(data.claims["scope"], "posts:read analytics:read");
    let ttl = data.claims["exp"].as_i64().unwrap() - data.claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 15 * 60);

    let unknown = gateway()
        .args(["token", "--tenant", "nobody", "--scopes", "posts:read"])
        .env("GATEWAY_CONFIG", &config)
        .env("MY_JWT_SECRET", secret)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody"));
}

/// The README's first steps: `serve` with nothing configured keeps a key in data/development-key, `/v1/me` answers
/// for tenant `demo`, the health check passes, and SIGTERM stops it cleanly.
#[test]
fn serve_runs_the_development_profile_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = gateway()
        .arg("serve")
        .current_dir(dir.path())
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("GATEWAY_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut key, mut address) = (None, None);
    while key.is_none() || address.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve logs its key file and address");
        // In JSON mode every line is JSON, the development banner too, and no key is in one.
        let log: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(!line.contains("tgw_"), "a key in the log: {line}");
        if let Some(file) = log["fields"]["key_file"].as_str() {
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
            key = Some(text.trim().to_owned());
        }
        if line.contains("tiktok-gateway listening") {
            address = log["fields"]["address"].as_str().map(str::to_owned);
        }
    }
    let (key, address) = (key.unwrap(), address.unwrap());
    assert!(
        dir.path().join("data/gateway.db").exists(),
        "the SQLite file is created under ./data"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let me: serde_json::Value = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{address}/v1/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(me["tenant"], "demo");

    let health = gateway()
        .args(["healthcheck", "--url", &format!("http://{address}")])
        .status()
        .unwrap();
    assert!(health.success());

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit after SIGTERM: {status}");

    let health = gateway()
        .args(["healthcheck", "--url", &format!("http://{address}")])
        .status()
        .unwrap();
    assert!(
        !health.success(),
        "the health check fails once the gateway is gone"
    );
}

/// Every command's `--help`, as a newcomer reads it: each has an example, and `serve` says where
/// its configuration comes from and where the README explains it.
#[test]
fn every_help_has_an_example_and_serve_names_its_configuration() {
    let commands: [&[&str]; 11] = [
        &[],
        &["serve"],
        &["key"],
        &["key", "new"],
        &["secrets"],
        &["secrets", "new-key"],
        &["token"],
        &["openapi"],
        &["zernio"],
        &["zernio", "register-webhook"],
        &["healthcheck"],
    ];
    for args in commands {
        let out = gateway().args(args).arg("--help").output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Example"), "{args:?} has no example:\n{help}");
        // The example runs this very command.
        let line = format!("tiktok-gateway {}", args.join(" "));
        assert!(help.contains(line.trim_end()), "{args:?}:\n{help}");
    }
    let out = gateway().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "GATEWAY_CONFIG",
        "./gateway.toml",
        "development profile",
        "GATEWAY_<SECTION>__<KEY>",
        "GATEWAY_LISTEN",
        "GATEWAY_STORE",
        "ZERNIO_API_KEY",
        "README.md, section \"Configuration\"",
    ] {
        assert!(
            help.contains(needle),
            "serve --help lacks {needle}:\n{help}"
        );
    }
    // The section it points to exists.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("\n## Configuration\n"));
}
