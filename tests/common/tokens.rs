//! Tokens for the auth matrix, made here from the JWT spec and the fixture keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.test";
pub const AUDIENCE: &str = "tiktok-gateway";

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Valid claims for tenant `acme` with every scope.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "tenant": "acme",
        "scope": "posts:read posts:write",
        "iat": now(),
        "nbf": now() - 5,
        "exp": now() + 600,
    })
}

pub fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(super::fixture(name)).expect("fixture")
}

pub fn sign(algorithm: &str, claims: &Value) -> String {
    let (alg, key) = match algorithm {
        "HS256" => (
            Algorithm::HS256,
            EncodingKey::from_secret(super::HS256_SECRET.as_bytes()),
        ),
        "RS256" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&read("rsa_private.pem")).expect("rsa key"),
        ),
        "ES256" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&read("ec_private.pem")).expect("ec key"),
        ),
        other => panic!("no key for {other}"),
    };
    let mut header = Header::new(alg);
    if algorithm == "RS256" {
        header.kid = Some("test-rsa".into());
    }
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// `alg: none` with an empty signature.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// HS256 signed with the RSA public key's PEM as the HMAC secret: the classic confusion attack
/// against verifiers that take the algorithm from the token.
pub fn confused(claims: &Value) -> String {
    let key = EncodingKey::from_secret(&read("rsa_public.pem"));
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("sign")
}

/// A valid token whose payload is swapped for another after signing.
pub fn tampered(algorithm: &str, claims: &Value, forged: &Value) -> String {
    let token = sign(algorithm, claims);
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}
