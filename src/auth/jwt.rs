//! JWTs from the company's identity provider: one algorithm, fixed by configuration and never
//! taken from the token; keys from a PEM file, a JWKS file or (HS256) a secret in the
//! environment; `iss`, `aud`, `exp`, `nbf` and `iat` (not in the future) checked with a small
//! leeway.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::AuthFailure;
use crate::config::{ConfigError, Environment, JwtAlgorithm, JwtConfig};

/// What a valid token says about its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub tenant: String,
    pub scopes: Vec<String>,
    pub subject: Option<String>,
}

enum Keys {
    One(DecodingKey),
    /// A JWKS: the token's `kid` picks the key.
    ById(HashMap<String, DecodingKey>),
}

pub struct JwtVerifier {
    algorithm: Algorithm,
    keys: Keys,
    validation: Validation,
    tenant_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("tenant_claim", &self.tenant_claim)
            .finish_non_exhaustive()
    }
}

fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
    }
}

fn config_error(msg: String) -> ConfigError {
    ConfigError(msg)
}

impl JwtVerifier {
    pub fn from_config(config: &JwtConfig, env: &Environment) -> Result<Self, ConfigError> {
        let algorithm = algorithm(config.algorithm);
        let keys = if let Some(name) = &config.secret_env {
            let secret = env
                .get(name)
                .ok_or_else(|| config_error(format!("auth.jwt.secret_env: {name} is not set")))?;
            Keys::One(DecodingKey::from_secret(secret.as_bytes()))
        } else if let Some(path) = &config.public_key_file {
            let pem = std::fs::read(path).map_err(|e| {
                config_error(format!("auth.jwt.public_key_file: {}: {e}", path.display()))
            })?;
            let key = match config.algorithm {
                JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                _ => DecodingKey::from_rsa_pem(&pem),
            }
            .map_err(|e| {
                config_error(format!(
                    "auth.jwt.public_key_file: {} is not a {:?} public key: {e}",
                    path.display(),
                    config.algorithm
                ))
            })?;
            Keys::One(key)
        } else if let Some(path) = &config.jwks_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                config_error(format!("auth.jwt.jwks_file: {}: {e}", path.display()))
            })?;
            let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
                config_error(format!(
                    "auth.jwt.jwks_file: {} is not a JWKS: {e}",
                    path.display()
                ))
            })?;
            let mut by_id = HashMap::new();
            for (i, jwk) in set.keys.iter().enumerate() {
                let kid = jwk.common.key_id.clone().unwrap_or_default();
                let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                    config_error(format!("auth.jwt.jwks_file: key {i} is unusable: {e}"))
                })?;
                by_id.insert(kid, key);
            }
            if by_id.is_empty() {
                return Err(config_error(
                    "auth.jwt.jwks_file: the set has no keys".into(),
                ));
            }
            Keys::ById(by_id)
        } else {
            return Err(config_error(
                "auth.jwt: set one of public_key_file, jwks_file, secret_env".into(),
            ));
        };

        let mut validation = Validation::new(algorithm);
        validation.leeway = config.leeway_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Ok(JwtVerifier {
            algorithm,
            keys,
            validation,
            tenant_claim: config.tenant_claim.clone(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthFailure> {
        let header = read_header(token)?;
        // The configured algorithm only: this is what stops `alg: none` and HS256 tokens signed
        // with an RSA public key (algorithm confusion).
        if header.alg != algorithm_name(self.algorithm) {
            return Err(AuthFailure::TokenAlgorithmNotAllowed);
        }
        let key = match &self.keys {
            Keys::One(key) => key,
            Keys::ById(keys) => match (&header.kid, keys.len()) {
                (Some(kid), _) => keys.get(kid).ok_or(AuthFailure::TokenKeyUnknown)?,
                (None, 1) => keys.values().next().ok_or(AuthFailure::TokenKeyUnknown)?,
                (None, _) => return Err(AuthFailure::TokenKeyUnknown),
            },
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthFailure::TokenSignatureInvalid,
                ErrorKind::ExpiredSignature => AuthFailure::TokenExpired,
                ErrorKind::ImmatureSignature => AuthFailure::TokenNotYetValid,
                ErrorKind::InvalidIssuer => AuthFailure::TokenIssuerInvalid,
                ErrorKind::InvalidAudience => AuthFailure::TokenAudienceInvalid,
                ErrorKind::InvalidAlgorithm => AuthFailure::TokenAlgorithmNotAllowed,
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
                    AuthFailure::TokenClaimsInvalid
                }
                _ => AuthFailure::TokenMalformed,
            })?;
        let claims = data.claims;
        // jsonwebtoken checks `exp` and `nbf` only: a token issued in the future was minted by a
        // clock (or a forger) the gateway should not trust.
        match claims.get("iat") {
            None => {}
            Some(Value::Number(iat)) => {
                let now = jsonwebtoken::get_current_timestamp();
                let issued = iat.as_f64().unwrap_or(f64::INFINITY);
                if issued > now.saturating_add(self.validation.leeway) as f64 {
                    return Err(AuthFailure::TokenNotYetValid);
                }
            }
            Some(_) => return Err(AuthFailure::TokenClaimsInvalid),
        }
        let tenant = claims
            .get(&self.tenant_claim)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::TokenTenantMissing)?
            .to_owned();
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        Ok(TokenClaims {
            tenant,
            scopes,
            subject,
        })
    }
}

fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "",
    }
}

struct RawHeader {
    alg: String,
    kid: Option<String>,
}

/// Reads the header ourselves: jsonwebtoken cannot represent `alg: none`, and the caller should
/// hear that the algorithm is refused rather than that the token is garbled.
fn read_header(token: &str) -> Result<RawHeader, AuthFailure> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::TokenMalformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthFailure::TokenMalformed)?;
    let value: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthFailure::TokenMalformed)?;
    let alg = value
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(AuthFailure::TokenMalformed)?
        .to_owned();
    let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok(RawHeader { alg, kid })
}

/// Mints an HS256 token for development (`tiktok-gateway token`).
pub fn mint_hs256(
    config: &JwtConfig,
    secret: &str,
    tenant: &str,
    scopes: &[String],
    ttl: std::time::Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = chrono::Utc::now().timestamp();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let mut claims = Map::new();
    claims.insert("iss".into(), config.issuer.clone().into());
    claims.insert("aud".into(), config.audience.clone().into());
    claims.insert("sub".into(), "tiktok-gateway-cli".into());
    claims.insert(config.tenant_claim.clone(), tenant.into());
    claims.insert("scope".into(), scopes.join(" ").into());
    claims.insert("iat".into(), now.into());
    claims.insert("nbf".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl).into());
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}
