//! The audit trail: one entry for every action of a caller that changes something (a create,
//! an edit, a cancel, a retry, a subscription made or removed), whatever its outcome. Who (the
//! tenant and the credential: an API key by its id, a token by its `sub`), what (the action,
//! the post, the account, the kind, the consent the caller asserted, the SHA-256 of the exact
//! body sent to Zernio), and how it ended (status and problem code). TikTok makes the caller's
//! consent a legal requirement; this is the record of who asserted it for which post.
//!
//! Append-only in the store, kept `[audit] retention_days`. Never a secret or a token in it:
//! only ids and a digest of what was sent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, Principal};
use crate::error::ApiError;
use crate::tiktok::Consent;

/// The credential an action was taken with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Credential {
    /// `api_key` or `jwt`.
    #[schema(example = "api_key")]
    pub kind: String,
    /// The API key's configured id, or the token's `sub`.
    #[schema(example = "cms")]
    pub id: Option<String>,
}

impl Credential {
    pub fn of(caller: &Caller) -> Credential {
        match &caller.principal {
            Principal::ApiKey(id) => Credential {
                kind: "api_key".to_owned(),
                id: Some(id.clone()),
            },
            Principal::Token(sub) => Credential {
                kind: "jwt".to_owned(),
                id: sub.clone(),
            },
        }
    }
}

/// The consent flags as the caller asserted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentAsserted {
    pub content_preview_confirmed: bool,
    pub express_consent_given: bool,
}

impl From<Consent> for ConsentAsserted {
    fn from(c: Consent) -> Self {
        ConsentAsserted {
            content_preview_confirmed: c.content_preview_confirmed,
            express_consent_given: c.express_consent_given,
        }
    }
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// The entry's id, also the cursor of the list (set by the store).
    #[serde(default)]
    #[schema(example = "000000000042")]
    pub id: String,
    pub at: DateTime<Utc>,
    #[schema(example = "marketing")]
    pub tenant: String,
    pub credential: Credential,
    /// The caller's request id (`x-request-id`).
    pub request_id: String,
    /// `post.create`, `post.edit`, `post.cancel`, `post.retry`, `subscription.create`,
    /// `subscription.delete`.
    #[schema(example = "post.create")]
    pub action: String,
    /// The post (or the subscription) acted on, when there is one.
    pub object_id: Option<String>,
    pub account: Option<String>,
    /// `video` or `photo`.
    pub kind: Option<String>,
    /// The consent flags as the caller asserted them (a create whose body could be read).
    pub consent: Option<ConsentAsserted>,
    /// Hex SHA-256 of the exact body sent to Zernio; absent when nothing was sent.
    pub payload_sha256: Option<String>,
    /// The status of the answer.
    #[schema(example = 201)]
    pub status: u16,
    /// The problem code of a refusal or failure.
    pub code: Option<String>,
}

/// What an action knows of itself as it runs; made into an entry when it ends.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub object_id: Option<String>,
    pub account: Option<String>,
    pub kind: Option<String>,
    pub consent: Option<ConsentAsserted>,
    pub payload_sha256: Option<String>,
    /// The entry went to the store with the action's own last write ([`appended`]): nothing is
    /// left for [`record`] to append.
    pub appended: bool,
}

impl Facts {
    /// What the record of an existing post tells of it.
    pub fn of_record(record: &crate::store::PostRecord) -> Facts {
        Facts {
            object_id: Some(record.id.clone()),
            account: Some(record.account.clone()),
            kind: Some(record.kind.clone()),
            ..Facts::default()
        }
    }
}

/// The digest of a JSON body as the Zernio client sends it (`serde_json` of the same value).
pub fn digest_of(body: &serde_json::Value) -> String {
    digest_of_bytes(&serde_json::to_vec(body).unwrap_or_default())
}

/// The digest of a body as sent.
pub fn digest_of_bytes(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Filters of the trail; the tenant is always one of them.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub account: Option<String>,
    pub object_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.action.as_ref().is_none_or(|a| *a == e.action)
            && self
                .account
                .as_ref()
                .is_none_or(|a| Some(a) == e.account.as_ref())
            && self
                .object_id
                .as_ref()
                .is_none_or(|p| Some(p) == e.object_id.as_ref())
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at <= t)
    }
}

/// How an action ended: its answer's status, and the problem code of a refusal or failure.
pub fn outcome<T>(result: &Result<T, ApiError>, ok_status: u16) -> (u16, Option<String>) {
    match result {
        Ok(_) => (ok_status, None),
        Err(e) => {
            let (status, code) = e.status_and_code();
            (status, Some(code))
        }
    }
}

/// The entry of an action that ended (or, written with its last step, is ending) with
/// `outcome`.
pub fn entry(
    caller: &Caller,
    request_id: &str,
    action: &'static str,
    facts: Facts,
    (status, code): (u16, Option<String>),
) -> AuditEntry {
    AuditEntry {
        id: String::new(),
        at: Utc::now(),
        tenant: caller.tenant.id.clone(),
        credential: Credential::of(caller),
        request_id: request_id.to_owned(),
        action: action.to_owned(),
        object_id: facts.object_id,
        account: facts.account,
        kind: facts.kind,
        consent: facts.consent,
        payload_sha256: facts.payload_sha256,
        status,
        code,
    }
}

/// How long the store keeps entries (`[audit] retention_days`).
pub fn retention(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_secs(
        u64::from(state.config.audit.retention_days).saturating_mul(86_400),
    )
}

/// The action's own last store write took its entry too (a create's record, one round trip
/// instead of two): counted as [`record`] counts one, and not appended again.
pub fn appended(state: &AppState, action: &'static str, facts: &mut Facts) {
    facts.appended = true;
    state.metrics.audited(action);
}

/// Appends the entry of an action that ended with `outcome`, unless its own write did
/// ([`appended`]). The action has happened (a post may exist): a store that cannot take the
/// entry is logged and counted, never turned into the caller's failure.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    request_id: &str,
    action: &'static str,
    facts: Facts,
    outcome: (u16, Option<String>),
) {
    if facts.appended {
        return;
    }
    let entry = entry(caller, request_id, action, facts, outcome);
    match state.store.append_audit(&entry, retention(state)).await {
        Ok(()) => state.metrics.audited(action),
        Err(e) => {
            state.metrics.audited("failed");
            tracing::error!(error = %e, action, tenant = %entry.tenant, "an audit entry could not be written");
        }
    }
}
