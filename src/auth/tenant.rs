//! Who is calling: the tenant, what its credential may do, and the extractor through which
//! every route names the scope it needs.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::store::{Lane, RatePolicy};

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "posts:write")]
    PostsWrite,
    #[serde(rename = "posts:read")]
    PostsRead,
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    #[serde(rename = "media:write")]
    MediaWrite,
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::PostsWrite,
        Scope::PostsRead,
        Scope::AnalyticsRead,
        Scope::MediaWrite,
        Scope::WebhooksManage,
        Scope::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PostsWrite => "posts:write",
            Scope::PostsRead => "posts:read",
            Scope::AnalyticsRead => "analytics:read",
            Scope::MediaWrite => "media:write",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, as bits: checked on every request, so it should cost nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// A tenant: the accounts it owns and its limits.
#[derive(Debug)]
pub struct Tenant {
    pub id: String,
    pub accounts: Vec<String>,
    account_set: HashSet<String>,
    pub requests_per_minute: u32,
    pub burst: u32,
    daily: DailyLimits,
    account_daily: HashMap<String, DailyLimits>,
    /// The store keys of its request limit and of its upstream reserve, made once rather than
    /// formatted on every request.
    rate_key: String,
    upstream_key: String,
}

/// Posts per account in a trailing 24 h, per lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyLimits {
    pub videos: u32,
    pub photos: u32,
    pub drafts: u32,
}

impl DailyLimits {
    /// The same limit for every lane.
    pub fn each(limit: u32) -> Self {
        DailyLimits {
            videos: limit,
            photos: limit,
            drafts: limit,
        }
    }

    pub fn of(&self, lane: Lane) -> u32 {
        match lane {
            Lane::Video => self.videos,
            Lane::Photo => self.photos,
            Lane::Draft => self.drafts,
        }
    }
}

impl Tenant {
    pub fn new(
        id: String,
        accounts: Vec<String>,
        requests_per_minute: u32,
        burst: u32,
        daily: DailyLimits,
    ) -> Self {
        let account_set = accounts.iter().cloned().collect();
        Tenant {
            rate_key: format!("tenant:{id}"),
            upstream_key: crate::limits::upstream::reserve_key(&id),
            id,
            accounts,
            account_set,
            requests_per_minute,
            burst,
            daily,
            account_daily: HashMap::new(),
        }
    }

    /// Limits of one account's own, instead of the tenant's.
    pub fn with_account_limits(mut self, account: &str, limits: DailyLimits) -> Self {
        self.account_daily.insert(account.to_owned(), limits);
        self
    }

    /// How many posts of a lane an account may make in a trailing 24 h.
    pub fn daily_limit(&self, account: &str, lane: Lane) -> u32 {
        self.account_daily
            .get(account)
            .unwrap_or(&self.daily)
            .of(lane)
    }

    /// The store key of the tenant's request limit.
    pub fn rate_key(&self) -> &str {
        &self.rate_key
    }

    /// The store key of the tenant's reserve of the upstream budget.
    pub fn upstream_key(&self) -> &str {
        &self.upstream_key
    }

    /// The tenant's request limit.
    pub fn rate_policy(&self) -> RatePolicy {
        RatePolicy {
            rate: self.requests_per_minute,
            period: std::time::Duration::from_secs(60),
            burst: self.burst,
        }
    }

    pub fn owns(&self, account: &str) -> bool {
        self.account_set.contains(account)
    }

    /// `Ok` when the tenant owns the account, else the 403 every route answers.
    pub fn require_account(&self, account: &str) -> Result<(), ApiError> {
        if self.owns(account) {
            Ok(())
        } else {
            Err(ApiError::AccountNotAllowed(account.to_owned()))
        }
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A configured API key, by its configured id.
    ApiKey(String),
    /// A JWT, by its `sub` when it has one.
    Token(Option<String>),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Arc<Tenant>,
    pub scopes: ScopeSet,
    pub principal: Principal,
    /// The API key's own request limit, where one is configured.
    pub key_limit: Option<RatePolicy>,
}

/// A scope a route needs, as a type, so that a route's signature says what it requires.
pub trait RequiredScope: Send + Sync + 'static {
    const SCOPE: Option<Scope>;
}

macro_rules! scope_markers {
    ($($(#[$doc:meta])* $name:ident => $scope:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl RequiredScope for $name {
            const SCOPE: Option<Scope> = $scope;
        }
    )*};
}

scope_markers! {
    /// Any valid credential of the tenant, whatever its scopes.
    AnyScope => None;
    PostsWrite => Some(Scope::PostsWrite);
    PostsRead => Some(Scope::PostsRead);
    AnalyticsRead => Some(Scope::AnalyticsRead);
    MediaWrite => Some(Scope::MediaWrite);
    WebhooksManage => Some(Scope::WebhooksManage);
    AuditRead => Some(Scope::AuditRead);
}

/// The extractor: `Authenticated<PostsRead>` in a handler's arguments authenticates the request
/// and refuses it with 403 `insufficient_scope` unless the credential carries `posts:read`.
#[derive(Debug, Clone)]
pub struct Authenticated<S: RequiredScope> {
    pub caller: Caller,
    scope: PhantomData<S>,
}

impl<S: RequiredScope> std::ops::Deref for Authenticated<S> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authenticated<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The authentication layer has usually decided already; routes outside it decide here.
        let caller = match parts.extensions.get::<Caller>() {
            Some(caller) => caller.clone(),
            None => state
                .auth
                .authenticate(&parts.headers)
                .map_err(ApiError::Unauthenticated)?,
        };
        if let Some(scope) = S::SCOPE
            && !caller.scopes.contains(scope)
        {
            return Err(ApiError::InsufficientScope(scope));
        }
        Ok(Authenticated {
            caller,
            scope: PhantomData,
        })
    }
}
