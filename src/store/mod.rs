//! The gateway's state behind one trait: the embedded SQLite file for a single instance, Redis
//! for several replicas. Handlers see only `dyn Store`; every method that reads a tenant's
//! objects takes the tenant, so that no query can forget it.

pub mod redis;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::StoreUrl;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store: {0}")]
    Other(String),
}

/// A post the gateway created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRecord {
    /// Zernio's post id.
    pub id: String,
    pub tenant: String,
    pub account: String,
    /// `video` or `photo`.
    pub kind: String,
    /// `now`, `scheduled` or `draft`.
    pub mode: String,
    pub status: String,
    pub schedule_at: Option<DateTime<Utc>>,
    pub tiktok_url: Option<String>,
    pub error: Option<String>,
    pub fingerprint: String,
    pub request_id: String,
    pub created_at: DateTime<Utc>,
}

/// What changed about a post (from an upstream answer or webhook); `None` keeps the old value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostUpdate {
    pub status: Option<String>,
    pub schedule_at: Option<Option<DateTime<Utc>>>,
    pub tiktok_url: Option<String>,
    pub error: Option<Option<String>>,
}

/// Filters of the post list; the tenant is always one of them.
#[derive(Debug, Clone, Default)]
pub struct PostFilter {
    pub status: Option<String>,
    pub account: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// A position in the newest-first list: strictly after this (created_at, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Releases connections; after it every call fails with `Unavailable`.
    async fn close(&self);

    async fn insert_post(&self, post: &PostRecord) -> Result<(), StoreError>;

    /// The tenant's post with this id; another tenant's post is `None`, like a missing one.
    async fn post(&self, tenant: &str, id: &str) -> Result<Option<PostRecord>, StoreError>;

    /// Any tenant's post: only for routing upstream webhooks back to their tenant.
    async fn post_by_id(&self, id: &str) -> Result<Option<PostRecord>, StoreError>;

    /// The tenant's posts, newest first, at most `limit`, strictly after `after`.
    async fn posts(
        &self,
        tenant: &str,
        filter: &PostFilter,
        after: Option<&PostCursor>,
        limit: u32,
    ) -> Result<Vec<PostRecord>, StoreError>;

    async fn update_post(&self, id: &str, update: &PostUpdate) -> Result<(), StoreError>;
}

/// Opens the store a URL names, creating and migrating it where needed.
pub async fn open(url: &StoreUrl) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(path).await?)),
        StoreUrl::Redis(url) => Ok(Arc::new(redis::RedisStore::open(url).await?)),
    }
}
