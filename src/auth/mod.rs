//! Caller authentication: API keys and JWTs in, a `Caller` (tenant + scopes) out.
//!
//! Credentials: `Authorization: Bearer tgw_<key>`, `X-API-Key: tgw_<key>`, or
//! `Authorization: Bearer <JWT>`. Every failure is a distinct `AuthFailure`, so a caller can
//! tell an expired key from a mistyped one without the gateway saying more than that.

pub mod api_key;
pub mod jwt;
pub mod tenant;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use chrono::Utc;

pub use tenant::{Authenticated, Caller, DailyLimits, Principal, Scope, ScopeSet, Tenant};

use crate::config::{Config, ConfigError, Environment};
use crate::store::RatePolicy;
use api_key::{KeyEntry, KeyRing};
use jwt::JwtVerifier;

/// Why a request was not authenticated; each has its own stable `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingCredentials,
    MalformedAuthorization,
    AmbiguousCredentials,
    InvalidApiKey,
    ApiKeyExpired,
    JwtNotAccepted,
    TokenMalformed,
    TokenAlgorithmNotAllowed,
    TokenKeyUnknown,
    TokenSignatureInvalid,
    TokenExpired,
    TokenNotYetValid,
    TokenIssuerInvalid,
    TokenAudienceInvalid,
    TokenClaimsInvalid,
    TokenTenantMissing,
    TokenUnknownTenant,
}

impl AuthFailure {
    pub fn code(self) -> &'static str {
        use AuthFailure::*;
        match self {
            MissingCredentials => "missing_credentials",
            MalformedAuthorization => "malformed_authorization",
            AmbiguousCredentials => "ambiguous_credentials",
            InvalidApiKey => "invalid_api_key",
            ApiKeyExpired => "api_key_expired",
            JwtNotAccepted => "jwt_not_accepted",
            TokenMalformed => "token_malformed",
            TokenAlgorithmNotAllowed => "token_algorithm_not_allowed",
            TokenKeyUnknown => "token_key_unknown",
            TokenSignatureInvalid => "token_signature_invalid",
            TokenExpired => "token_expired",
            TokenNotYetValid => "token_not_yet_valid",
            TokenIssuerInvalid => "token_issuer_invalid",
            TokenAudienceInvalid => "token_audience_invalid",
            TokenClaimsInvalid => "token_claims_invalid",
            TokenTenantMissing => "token_tenant_missing",
            TokenUnknownTenant => "token_unknown_tenant",
        }
    }

    pub fn detail(self) -> &'static str {
        use AuthFailure::*;
        match self {
            MissingCredentials => {
                "send `Authorization: Bearer <token or tgw_ key>` or `X-API-Key: tgw_<key>`"
            }
            MalformedAuthorization => {
                "the Authorization header must be `Bearer <credential>` with one credential"
            }
            AmbiguousCredentials => "send either Authorization or X-API-Key, not both",
            InvalidApiKey => "the API key is not known",
            ApiKeyExpired => "the API key has expired; mint a new one",
            JwtNotAccepted => "this gateway accepts no JWTs; use a tgw_ API key",
            TokenMalformed => "the token is not a well-formed JWT",
            TokenAlgorithmNotAllowed => "the token's algorithm is not the one this gateway accepts",
            TokenKeyUnknown => "the token's key id is not in the configured key set",
            TokenSignatureInvalid => "the token's signature does not verify",
            TokenExpired => "the token has expired",
            TokenNotYetValid => {
                "the token is not valid yet (nbf), or says it was issued in the future (iat)"
            }
            TokenIssuerInvalid => "the token's issuer is not the configured one",
            TokenAudienceInvalid => "the token's audience is not this gateway",
            TokenClaimsInvalid => "the token lacks exp, iss or aud, or one has the wrong type",
            TokenTenantMissing => "the token names no tenant",
            TokenUnknownTenant => "the token's tenant is not configured here",
        }
    }
}

/// Everything needed to turn request headers into a `Caller`; built once at start-up.
#[derive(Debug)]
pub struct Authenticator {
    tenants: HashMap<String, Arc<Tenant>>,
    keys: KeyRing,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    pub fn from_config(config: &Config, env: &Environment) -> Result<Self, ConfigError> {
        let mut tenants = HashMap::new();
        let mut entries = Vec::new();
        for t in &config.tenants {
            let each = t.daily_posts_per_account;
            let daily = DailyLimits {
                videos: t.daily_videos_per_account.unwrap_or(each),
                photos: t.daily_photos_per_account.unwrap_or(each),
                drafts: t.daily_drafts_per_account.unwrap_or(each),
            };
            let mut tenant = Tenant::new(
                t.id.clone(),
                t.accounts.clone(),
                t.requests_per_minute,
                t.burst,
                daily,
            );
            for (account, own) in &t.account_daily_limits {
                let limits = DailyLimits {
                    videos: own.videos.unwrap_or(daily.videos),
                    photos: own.photos.unwrap_or(daily.photos),
                    drafts: own.drafts.unwrap_or(daily.drafts),
                };
                tenant = tenant.with_account_limits(account, limits);
            }
            let tenant = Arc::new(tenant);
            for k in &t.api_keys {
                let digest = api_key::parse_digest(&k.sha256).ok_or_else(|| {
                    ConfigError(format!("tenants.api_keys `{}`: sha256 is not hex", k.id))
                })?;
                entries.push(KeyEntry {
                    id: k.id.clone(),
                    digest,
                    tenant: tenant.clone(),
                    scopes: k.scopes.iter().copied().collect(),
                    expires_at: k.expires_at,
                    limit: k.requests_per_minute.map(|rate| RatePolicy {
                        rate,
                        period: std::time::Duration::from_secs(60),
                        burst: k.burst.unwrap_or(rate.clamp(1, t.burst)),
                    }),
                });
            }
            tenants.insert(t.id.clone(), tenant);
        }
        let jwt = match &config.auth.jwt {
            Some(c) => Some(JwtVerifier::from_config(c, env)?),
            None => None,
        };
        Ok(Authenticator {
            tenants,
            keys: KeyRing::new(entries),
            jwt,
        })
    }

    pub fn tenant(&self, id: &str) -> Option<&Arc<Tenant>> {
        self.tenants.get(id)
    }

    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthFailure> {
        let authorization = headers.get(header::AUTHORIZATION);
        let x_api_key = headers.get("x-api-key");
        match (authorization, x_api_key) {
            (None, None) => Err(AuthFailure::MissingCredentials),
            (Some(_), Some(_)) => Err(AuthFailure::AmbiguousCredentials),
            (None, Some(value)) => {
                let key = value
                    .to_str()
                    .map_err(|_| AuthFailure::MalformedAuthorization)?
                    .trim();
                self.api_key(key)
            }
            (Some(value), None) => {
                let value = value
                    .to_str()
                    .map_err(|_| AuthFailure::MalformedAuthorization)?;
                let credential = bearer(value).ok_or(AuthFailure::MalformedAuthorization)?;
                if credential.starts_with(api_key::PREFIX) {
                    self.api_key(credential)
                } else {
                    self.token(credential)
                }
            }
        }
    }

    fn api_key(&self, key: &str) -> Result<Caller, AuthFailure> {
        if !key.starts_with(api_key::PREFIX) {
            return Err(AuthFailure::InvalidApiKey);
        }
        let entry = self.keys.find(key).ok_or(AuthFailure::InvalidApiKey)?;
        if entry.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AuthFailure::ApiKeyExpired);
        }
        Ok(Caller {
            tenant: entry.tenant.clone(),
            scopes: entry.scopes,
            principal: Principal::ApiKey(entry.id.clone()),
            key_limit: entry.limit,
        })
    }

    fn token(&self, token: &str) -> Result<Caller, AuthFailure> {
        let verifier = self.jwt.as_ref().ok_or(AuthFailure::JwtNotAccepted)?;
        let claims = verifier.verify(token)?;
        let tenant = self
            .tenants
            .get(&claims.tenant)
            .ok_or(AuthFailure::TokenUnknownTenant)?;
        Ok(Caller {
            tenant: tenant.clone(),
            scopes: claims
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
            principal: Principal::Token(claims.subject),
            key_limit: None,
        })
    }
}

/// `Bearer <credential>`, the scheme case-insensitive (RFC 9110), exactly one credential.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let credential = rest.trim();
    (!credential.is_empty() && !credential.contains(char::is_whitespace)).then_some(credential)
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_takes_one_credential_and_any_case_of_the_scheme() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer a b"), None);
    }
}
