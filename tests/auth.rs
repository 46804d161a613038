//! The auth matrix: every way in, and every way of being refused, each with its own code.

mod common;

use std::collections::HashSet;

use common::tokens::{self, claims, with};
use common::*;
use serde_json::json;

#[tokio::test]
async fn every_refusal_is_a_401_problem_with_its_own_code() {
    let gw = TestGateway::spawn(&jwt_toml("RS256")).await;
    let mut codes = HashSet::new();
    let refusals = auth_refusals();
    for (case, authorization, code) in &refusals {
        let mut request = gw.client.get(gw.url("/v1/me"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("sent");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer"),
            "{case}: WWW-Authenticate is `{challenge}`"
        );
        let body = problem(response, 401).await;
        assert_eq!(body["code"], *code, "{case}");
        codes.insert(*code);
    }
    // Two causes have two cases each (an algorithm other than the configured one; a token not
    // yet valid by `nbf` or by `iat`); all others differ.
    assert_eq!(codes.len(), refusals.len() - 2);
}

#[tokio::test]
async fn valid_keys_and_tokens_pass() {
    let gw = TestGateway::spawn(&jwt_toml("RS256")).await;
    let me = gw.get_with_key("/v1/me", ACME_KEY).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["tenant"], "acme");
    assert_eq!(me["accounts"], json!(["acc_a1", "acc_a2"]));
    assert_eq!(me["credential"], "api_key");
    assert_eq!(me["credential_id"], "acme-full");

    let via_header = gw
        .client
        .get(gw.url("/v1/me"))
        .header("x-api-key", GLOBEX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), 200);
    assert_eq!(
        via_header.json::<serde_json::Value>().await.unwrap()["tenant"],
        "globex"
    );

    let token = tokens::sign("RS256", &claims());
    let me: serde_json::Value = gw
        .get_with_key("/v1/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["tenant"], "acme");
    assert_eq!(me["credential"], "jwt");
    assert_eq!(me["credential_id"], "user-42");
    assert_eq!(me["scopes"], json!(["posts:write", "posts:read"]));
}

#[tokio::test]
async fn hs256_es256_and_jwks_tokens_pass_where_configured() {
    for (config, algorithm) in [
        ("HS256", "HS256"),
        ("ES256", "ES256"),
        ("RS256-JWKS", "RS256"),
    ] {
        let gw = TestGateway::spawn(&jwt_toml(config)).await;
        let token = tokens::sign(algorithm, &claims());
        let response = gw.get_with_key("/v1/me", &token).await;
        assert_eq!(response.status(), 200, "{config}");
        // A token of another algorithm is refused, whatever its signature.
        let other = if algorithm == "HS256" {
            "RS256"
        } else {
            "HS256"
        };
        let response = gw
            .get_with_key("/v1/me", &tokens::sign(other, &claims()))
            .await;
        assert_eq!(
            problem(response, 401).await["code"],
            "token_algorithm_not_allowed",
            "{config}"
        );
    }
}

#[tokio::test]
async fn a_gateway_without_jwt_refuses_tokens_distinctly() {
    let gw = TestGateway::spawn("").await;
    let response = gw
        .get_with_key("/v1/me", &tokens::sign("HS256", &claims()))
        .await;
    assert_eq!(problem(response, 401).await["code"], "jwt_not_accepted");
}

#[tokio::test]
async fn both_credential_headers_at_once_are_refused() {
    let gw = TestGateway::spawn("").await;
    let response = gw
        .client
        .get(gw.url("/v1/me"))
        .bearer_auth(ACME_KEY)
        .header("x-api-key", GLOBEX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(response, 401).await["code"],
        "ambiguous_credentials"
    );
}

#[tokio::test]
async fn a_missing_scope_is_403_insufficient_scope() {
    let gw = TestGateway::spawn(&jwt_toml("HS256")).await;
    // /metrics needs no credential, /v1/me any; the read-only key lacks posts:write, which the
    // validate endpoint needs.
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts/validate"))
        .bearer_auth(ACME_READ_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    let body = problem(response, 403).await;
    assert_eq!(body["code"], "insufficient_scope");

    // A token without the scope is refused the same way.
    let token = tokens::sign("HS256", &with(claims(), "scope", json!("posts:read")));
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts/validate"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response, 403).await["code"], "insufficient_scope");
}
