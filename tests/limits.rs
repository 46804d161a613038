//! Request limits over HTTP: GCRA per tenant and per key, the IETF `RateLimit` headers, and
//! 429 `rate_limited` with `Retry-After`.

mod common;

use common::*;

const LIMITED_KEY: &str = "tgw_limited-tenant-key-00000000000000000000000";
const NOISY_KEY: &str = "tgw_limited-noisy-key-000000000000000000000000";

fn limited_tenant() -> String {
    format!(
        r#"
[[tenants]]
id = "limited"
accounts = ["acc_l1"]
requests_per_minute = 60
burst = 3

[[tenants.api_keys]]
id = "main"
sha256 = "{}"
scopes = ["posts:read"]

[[tenants.api_keys]]
id = "noisy"
sha256 = "{}"
scopes = ["posts:read"]
requests_per_minute = 1
burst = 1
"#,
        sha256_hex(LIMITED_KEY),
        sha256_hex(NOISY_KEY)
    )
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_tenant_gets_its_burst_then_429_with_retry_after() {
    let gw = TestGateway::spawn(&limited_tenant()).await;
    for remaining in [2, 1, 0] {
        let response = gw.get_with_key("/v1/me", LIMITED_KEY).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            r#""tenant";q=60;w=60"#
        );
        assert!(
            header(&response, "ratelimit").starts_with(&format!(r#""tenant";r={remaining};t="#))
        );
    }
    let refused = gw.get_with_key("/v1/me", LIMITED_KEY).await;
    assert_eq!(header(&refused, "retry-after"), "1");
    // One figure: the state header's `t=` is the wait `Retry-After` gives.
    assert_eq!(header(&refused, "ratelimit"), r#""tenant";r=0;t=1"#);
    assert_eq!(problem(refused, 429).await["code"], "rate_limited");

    // Another tenant is not affected.
    assert_eq!(gw.get_with_key("/v1/me", ACME_KEY).await.status(), 200);
    // Operations routes are not limited.
    assert_eq!(
        gw.client
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let metrics = gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"limit_refusals_total{kind="tenant",tenant="limited"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_key_limit_holds_inside_the_tenant_limit() {
    let gw = TestGateway::spawn(&limited_tenant()).await;
    let first = gw.get_with_key("/v1/me", NOISY_KEY).await;
    assert_eq!(first.status(), 200);
    // The tighter of the two limits is the one reported.
    assert_eq!(header(&first, "ratelimit-policy"), r#""key";q=1;w=60"#);
    let refused = gw.get_with_key("/v1/me", NOISY_KEY).await;
    assert_eq!(header(&refused, "retry-after"), "60");
    assert_eq!(header(&refused, "ratelimit"), r#""key";r=0;t=60"#);
    assert_eq!(problem(refused, 429).await["code"], "rate_limited");
    // The refusal spent none of the tenant's budget: its other key has the 2 left.
    let other = gw.get_with_key("/v1/me", LIMITED_KEY).await;
    assert!(
        header(&other, "ratelimit").starts_with(r#""tenant";r=1;"#),
        "{}",
        header(&other, "ratelimit")
    );
}

#[tokio::test]
async fn one_busy_tenant_cannot_starve_the_others_of_zernio() {
    // A ceiling of 12 calls a minute: 2 reserved for each of the two tenants, 8 shared; a
    // burst of one call each.
    let (gw, fake) = TestGateway::with_fake(
        "[upstream]\nrequests_per_minute = 12\ntenant_minimum_per_minute = 2\n",
    )
    .await;
    let own = gw.get_with_key("/v1/tiktok/accounts", ACME_KEY).await;
    assert_eq!(own.status(), 200, "acme's reserve");
    let pool = gw.get_with_key("/v1/tiktok/accounts", ACME_KEY).await;
    assert_eq!(pool.status(), 200, "then the shared pool");
    let refused = gw.get_with_key("/v1/tiktok/accounts", ACME_KEY).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(problem(refused, 429).await["code"], "upstream_rate_limited");
    assert_eq!(
        fake.calls("accounts").len(),
        2,
        "the refused call never reached Zernio"
    );
    // Globex still has its reserve, though the pool is drained.
    assert_eq!(
        gw.get_with_key("/v1/tiktok/accounts", GLOBEX_KEY)
            .await
            .status(),
        200
    );
    // Reads of the gateway's own records cost nothing upstream.
    assert_eq!(
        gw.get_with_key("/v1/tiktok/posts", ACME_KEY).await.status(),
        200
    );
    let metrics = gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"limit_refusals_total{kind="upstream",tenant="acme"} 1"#),
        "{metrics}"
    );
}

/// A burst of creates for one creator whose info is not cached waits for one look-up: one
/// call to Zernio and one unit of its budget, not one each.
#[tokio::test]
async fn concurrent_creates_for_one_creator_share_one_look_up() {
    let (gw, fake) = TestGateway::with_fake("").await;
    fake.script(
        "creator_info",
        common::fake_zernio::Reply::json(200, common::fake_zernio::creator_info_body(false))
            .delayed(std::time::Duration::from_millis(300)),
    );
    let creates: Vec<_> = (0..8)
        .map(|i| {
            let (client, url) = (gw.client.clone(), gw.url("/v1/tiktok/posts"));
            tokio::spawn(async move {
                let body = serde_json::json!({
                    "account": "acc_a1",
                    "caption": format!("burst {i}"),
                    "video": {"url": format!("https://cdn.example.com/v{i}.mp4")},
                    "privacy": "public",
                    "allow_comment": true, "allow_duet": true, "allow_stitch": true,
                    "consent": {"content_preview_confirmed": true, "express_consent_given": true}
                });
                let r = client
                    .post(&url)
                    .bearer_auth(ACME_KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            })
        })
        .collect();
    for c in creates {
        assert_eq!(c.await.unwrap(), 201);
    }
    assert_eq!(fake.calls("create").len(), 8);
    assert_eq!(
        fake.calls("creator_info").len(),
        1,
        "one look-up for the burst"
    );
}

#[tokio::test]
async fn a_create_spends_a_unit_per_call_it_makes_from_the_reserve_then_the_pool() {
    // Reserve 2 a minute with a burst of one call; this create makes two calls (the creator
    // look-up, not cached yet, and the post): one unit from the reserve, one from the pool of
    // 8 (burst 1).
    let (gw, fake) = TestGateway::with_fake(
        "[upstream]\nrequests_per_minute = 12\ntenant_minimum_per_minute = 2\n",
    )
    .await;
    let body = serde_json::json!({
        "account": "acc_a1",
        "caption": "weighted",
        "video": {"url": "https://cdn.example.com/v.mp4"},
        "privacy": "public",
        "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    });
    let created = gw.post_json("/v1/tiktok/posts", ACME_KEY, &body).await;
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    assert_eq!(fake.calls("creator_info").len(), 1);
    // Reserve and pool are both spent now: the next call is refused, and never reaches Zernio.
    let refused = gw.get_with_key("/v1/tiktok/accounts", ACME_KEY).await;
    assert_eq!(problem(refused, 429).await["code"], "upstream_rate_limited");
    assert!(fake.calls("accounts").is_empty());
    // So is the next create: the creator is cached, but the post's own call has no unit. It
    // holds nothing either: no slot, no duplicate claim.
    let mut second = body.clone();
    second["caption"] = "weighted, again".into();
    let refused = gw.post_json("/v1/tiktok/posts", ACME_KEY, &second).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(problem(refused, 429).await["code"], "upstream_rate_limited");
    assert_eq!(fake.calls("create").len(), 1);
    assert_eq!(fake.calls("creator_info").len(), 1);
}
