//! Operations surface: health, readiness, metrics, the OpenAPI document, request ids, and the
//! problem format of answers the handlers never see.

mod common;

use common::*;

#[tokio::test]
async fn health_and_readiness() {
    let gw = TestGateway::spawn("").await;
    let health: serde_json::Value = gw
        .client
        .get(gw.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = gw.client.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["store"],
        test_store()
    );

    // A store that no longer answers makes the gateway unready, not dead.
    gw.state.store.close().await;
    let body = problem(gw.client.get(gw.url("/readyz")).send().await.unwrap(), 503).await;
    assert_eq!(body["code"], "store_unavailable");
    assert_eq!(
        gw.client
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn metrics_are_labelled_by_route_template_never_by_raw_path() {
    let gw = TestGateway::spawn("").await;
    gw.get_with_key("/v1/me", ACME_KEY).await;
    gw.get_with_key("/v1/me", ACME_KEY).await;
    gw.client.get(gw.url("/v1/me")).send().await.unwrap();
    gw.client
        .get(gw.url("/no/such/path/8d1f"))
        .send()
        .await
        .unwrap();
    gw.client
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            gw.url("/v1/me"),
        )
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();

    let response = gw.client.get(gw.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/me",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/me",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="other",route="/v1/me",status="405"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/v1/me",status="200",le="0.005"}"#), "{text}");
    assert!(
        text.contains(&format!(
            r#"build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(!text.contains("8d1f"), "a raw path leaked into a label");
}

#[tokio::test]
async fn the_served_spec_is_openapi_3_1_and_equals_the_committed_file() {
    let gw = TestGateway::spawn("").await;
    let served: serde_json::Value = gw
        .client
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        served["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        served["openapi"]
    );
    assert!(served["paths"]["/v1/me"]["get"].is_object());

    let path = format!("{}/openapi/openapi.json", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(&path).expect("openapi/openapi.json is committed");
    assert!(
        committed == tiktok_gateway::openapi::spec_json(),
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
    assert_eq!(
        served,
        serde_json::from_str::<serde_json::Value>(&committed).unwrap()
    );
}

#[tokio::test]
async fn the_docs_ui_is_served_from_the_binary() {
    let gw = TestGateway::spawn("").await;
    let page = gw.client.get(gw.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Nothing is fetched from elsewhere when the page opens.
    assert!(
        !html.contains("https://"),
        "the docs page loads something remote"
    );
}

#[tokio::test]
async fn a_sane_request_id_is_kept_and_any_other_is_replaced() {
    let gw = TestGateway::spawn("").await;
    let kept = gw
        .client
        .get(gw.url("/v1/me"))
        .header("x-request-id", "caller-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "caller-abc.123");
    assert_eq!(problem(kept, 401).await["request_id"], "caller-abc.123");

    for insane in ["has space", "<script>", "a\"b", &"x".repeat(129)] {
        let response = gw
            .client
            .get(gw.url("/healthz"))
            .header("x-request-id", insane)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, insane);
        assert_eq!(id.len(), 36, "a generated UUID replaces `{insane}`");
    }
    let generated = gw.client.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(generated.headers()["x-request-id"].len(), 36);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let gw = TestGateway::spawn("").await;
    let body = problem(
        gw.client.get(gw.url("/v2/anything")).send().await.unwrap(),
        404,
    )
    .await;
    assert_eq!(body["code"], "route_not_found");
    // Tenant routes authenticate first: a stranger learns nothing of their methods.
    let anonymous = gw.client.delete(gw.url("/v1/me")).send().await.unwrap();
    assert_eq!(problem(anonymous, 401).await["code"], "missing_credentials");
    let response = gw
        .client
        .delete(gw.url("/v1/me"))
        .bearer_auth(ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    assert_eq!(problem(response, 405).await["code"], "method_not_allowed");
    // A method the path lacks is 405 even with an Idempotency-Key a POST there already used:
    // the key's layer never sees it (schemathesis found it answered 422 idempotency_key_reused).
    let key = "reused-across-methods";
    let first = gw
        .client
        .post(gw.url("/v1/tiktok/posts/validate"))
        .bearer_auth(ACME_KEY)
        .header("idempotency-key", key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 422);
    let put = gw
        .client
        .put(gw.url("/v1/tiktok/posts/validate"))
        .bearer_auth(ACME_KEY)
        .header("idempotency-key", key)
        .json(&serde_json::json!({"other": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(put, 405).await["code"], "method_not_allowed");
}

#[tokio::test]
async fn graceful_shutdown_ends_the_server() {
    let gw = TestGateway::spawn("").await;
    let addr = gw.addr;
    gw.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// What schemathesis (scripts/schemathesis) found once: answers the layers give that no
/// operation documented, and a reference to a schema that was not in the document.
#[test]
fn every_operation_documents_the_layers_answers_and_every_reference_resolves() {
    let spec = serde_json::to_value(tiktok_gateway::openapi::spec()).unwrap();
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            // The Zernio-compatible routes answer Zernio's statuses (tests/compat.rs).
            if !secured || path.starts_with("/api/") {
                continue;
            }
            let mut expected = vec!["401", "429", "503"];
            if method != "get" {
                expected.extend(["400", "409", "422"]);
            }
            for status in expected {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
}
