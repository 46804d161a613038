//! The gateway's state behind one trait: the embedded SQLite file for a single instance, Redis
//! for several replicas (added with the limits). Handlers see only `dyn Store`.

pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::StoreUrl;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store: {0}")]
    Other(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Releases connections; after it every call fails with `Unavailable`.
    async fn close(&self);
}

/// Opens the store a URL names, creating and migrating it where needed.
pub async fn open(url: &StoreUrl) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(path).await?)),
        StoreUrl::Redis(_) => Err(StoreError::Other(
            "the Redis store is not built yet; use sqlite://PATH".into(),
        )),
    }
}
