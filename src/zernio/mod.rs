//! Zernio, the upstream the gateway publishes through: a typed HTTP client ([`ZernioClient`]),
//! Zernio's wire shapes ([`types`]), the mapping of every upstream failure to a stable kind
//! ([`UpstreamError`]). The simulated Zernio served when no key is set is a server of its own:
//! `crate::sandbox`.
//!
//! The client knows nothing of tenants and decides no policy: routes call it, and choose what a
//! failure means for the caller (status codes live in the main crate's `error.rs`).

pub mod breaker;
pub mod client;
pub mod errors;
pub mod types;

pub use breaker::BreakerConfig;
pub use client::{CallContext, ClientConfig, NoopObserver, Observer, ZernioClient};
pub use errors::{UpstreamError, UpstreamFailure, UpstreamKind, parse_retry_after};
pub use types::{
    Account, Analytics, AnalyticsPost, AnalyticsQuery, CreateOutcome, CreatorInfo, ListPosts,
    MediaKind, PlatformState, PlatformStatus, Post, PostMetrics, PostPage, PostStatus,
    PresignRequest, Presigned, RateLimitInfo, WebhookSettings,
};
