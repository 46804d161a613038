//! The four official Zernio SDKs, unchanged, against the gateway's Zernio-compatible surface:
//! `scripts/sdk-test` installs Python `late-sdk` and `zernio-sdk` into a virtual environment and
//! Node `@zernio/node` and `@getlatedev/node` with `npm ci`, then runs
//! `tests/sdk/test_python_sdks.py` and `tests/sdk/node/sdks.test.mjs` against a gateway this
//! test starts on the sandbox upstream.

mod common;

use common::*;

const SDK_KEY: &str = "tgw_sdk-tenant-key-00000000000000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_and_node_sdks_work_unchanged_through_the_gateway() {
    // Four SDKs each make about ten posts a run on one account: caps above TikTok's 15.
    let tenant = format!(
        r#"
[sandbox]
daily_cap = 1000

[[tenants]]
id = "sdk"
accounts = ["sandbox_public", "sandbox_private"]
requests_per_minute = 6000
burst = 1000
daily_posts_per_account = 1000

[[tenants.api_keys]]
id = "sdk"
sha256 = "{}"
scopes = ["posts:write", "posts:read", "analytics:read", "media:write"]
"#,
        sha256_hex(SDK_KEY)
    );
    // No ZERNIO_API_KEY: the sandbox upstream answers, in-process, on loopback.
    let gw = TestGateway::spawn(&tenant).await;
    let base = gw.base.clone();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(format!("{}/scripts/sdk-test", env!("CARGO_MANIFEST_DIR")))
            .env("GATEWAY_BASE_URL", base)
            .env("GATEWAY_API_KEY", SDK_KEY)
            .status()
    })
    .await
    .expect("runner")
    .expect("scripts/sdk-test runs");
    assert!(status.success(), "the SDK tests failed: {status}");
}
