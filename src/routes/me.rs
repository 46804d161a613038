//! `GET /v1/me`: who the credential belongs to (Zapier's "test authentication" call).

use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Authenticated, Principal, Scope, tenant::AnyScope};
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;

#[derive(Serialize, ToSchema)]
pub struct Me {
    #[schema(example = "demo")]
    pub tenant: String,
    pub scopes: Vec<Scope>,
    #[schema(example = json!(["sandbox_public", "sandbox_private"]))]
    pub accounts: Vec<String>,
    /// `api_key` or `jwt`.
    #[schema(example = "api_key")]
    pub credential: &'static str,
    /// The API key's configured id, or the token's `sub`.
    pub credential_id: Option<String>,
}

/// The caller's tenant, scopes and accounts.
#[utoipa::path(get, path = "/v1/me", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The authenticated caller", body = Me),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(auth: Authenticated<AnyScope>) -> Result<ApiJson<Me>, ApiError> {
    let (credential, credential_id) = match &auth.principal {
        Principal::ApiKey(id) => ("api_key", Some(id.clone())),
        Principal::Token(sub) => ("jwt", sub.clone()),
    };
    Ok(ApiJson(Me {
        tenant: auth.tenant.id.clone(),
        scopes: auth.scopes.iter().collect(),
        accounts: auth.tenant.accounts.clone(),
        credential,
        credential_id,
    }))
}
