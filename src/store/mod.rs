//! The gateway's state behind one trait: the embedded SQLite file for a single instance, Redis
//! for several replicas. Handlers see only `dyn Store`; every method that reads a tenant's
//! objects takes the tenant, so that no query can forget it.

pub mod cached;
pub mod redis;
pub mod rolling;
pub mod sqlite;
pub mod webhooks;

pub use webhooks::{
    Attempt, Delivery, DeliveryStatus, Fairness, NewDelivery, OutboxStats, Subscription,
    WebhookStore,
};

use std::sync::Arc;
use std::time::Duration;

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
    /// `now`, `scheduled`, `draft` (Creator Inbox) or `saved` (a Zernio draft).
    pub mode: String,
    pub status: String,
    pub schedule_at: Option<DateTime<Utc>>,
    pub tiktok_url: Option<String>,
    pub error: Option<String>,
    pub fingerprint: String,
    pub request_id: String,
    pub created_at: DateTime<Utc>,
    /// The caption as created (Zernio's `content`); `None` in records of before it was kept.
    pub content: Option<String>,
    /// The media as created (Zernio's `mediaItems`); empty in records of before it was kept.
    pub media_items: Vec<MediaRef>,
    /// How the record is kept true: revision, times, reconcile schedule.
    pub sync: RecordSync,
}

/// The part of a record that keeps it the read model: what changed it last and when, when
/// Zernio last confirmed it, and when the reconciler should look again. Records of before it
/// was kept read as the default (revision 0, times from `created_at`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSync {
    /// Grows by one with every change: the compare-and-set token of [`Store::replace_post`]
    /// and the post's ETag.
    pub revision: u64,
    /// When the record last changed; `None` in old records (then `created_at`).
    pub updated_at: Option<DateTime<Utc>>,
    /// When Zernio last confirmed the record (an answer, a webhook, a reconcile read).
    pub synced_at: Option<DateTime<Utc>>,
    /// When the current status came to hold, as its source dated it (a webhook's timestamp):
    /// an event older than this cannot change the status, so a late event never moves a post
    /// backwards.
    pub status_at: Option<DateTime<Utc>>,
    /// The stable code of `error` (e.g. `spam_risk`).
    pub error_code: Option<String>,
    /// The tenant events already delivered for the current status (comma separated), so that a
    /// change heard twice (a webhook and a reconcile read, in either order) is delivered once.
    pub announced: String,
    /// When the reconciler should read the post from Zernio again; `None`: it cannot change.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// Reconcile reads in a row that found nothing new: the backoff's step.
    pub sync_attempts: u32,
}

impl PostRecord {
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.sync.updated_at.unwrap_or(self.created_at)
    }

    pub fn status_at(&self) -> DateTime<Utc> {
        self.sync.status_at.unwrap_or(self.created_at)
    }
}

/// Where a change of a post's status came from, in its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    Create,
    Webhook,
    Reconcile,
    /// A read that asked Zernio (`Cache-Control: no-cache`).
    Read,
    Edit,
    Cancel,
    Retry,
}

impl ChangeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSource::Create => "create",
            ChangeSource::Webhook => "webhook",
            ChangeSource::Reconcile => "reconcile",
            ChangeSource::Read => "read",
            ChangeSource::Edit => "edit",
            ChangeSource::Cancel => "cancel",
            ChangeSource::Retry => "retry",
        }
    }

    pub fn parse(stored: &str) -> ChangeSource {
        match stored {
            "webhook" => ChangeSource::Webhook,
            "reconcile" => ChangeSource::Reconcile,
            "read" => ChangeSource::Read,
            "edit" => ChangeSource::Edit,
            "cancel" => ChangeSource::Cancel,
            "retry" => ChangeSource::Retry,
            _ => ChangeSource::Create,
        }
    }
}

/// One status change in a post's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostEvent {
    /// The record's revision the change made.
    pub revision: u64,
    /// When the change held, as its source dated it.
    pub at: DateTime<Utc>,
    /// When the gateway recorded it.
    pub recorded_at: DateTime<Utc>,
    pub source: ChangeSource,
    pub status: String,
    pub previous: Option<String>,
    /// The stable error code of a failure.
    pub error_code: Option<String>,
}

/// One media item of a post as it was created: Zernio's `mediaItems[]` `{type, url}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaRef {
    /// `video` or `image`.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
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
    /// Created at or before this time.
    pub until: Option<DateTime<Utc>>,
}

/// A position in the newest-first list: strictly after this (created_at, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

/// A GCRA policy: `rate` requests per `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    pub rate: u32,
    pub period: Duration,
    pub burst: u32,
}

/// The answer of a rate limiter, with what the `RateLimit` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Requests that could still be made at once.
    pub remaining: u32,
    /// Until the limiter is back to a full burst.
    pub reset_after: Duration,
    /// When refused: until one request would be admitted.
    pub retry_after: Duration,
}

/// A claim on a key for a while: what makes idempotency keys and the duplicate guard atomic.
/// The first request to claim a key owns it; later ones see its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request now owns the key.
    Acquired,
    /// Another request owns it and has not finished.
    Pending { fingerprint: String },
    /// Another request owns it and finished with this payload.
    Done {
        fingerprint: String,
        payload: Vec<u8>,
    },
}

/// Which of TikTok's daily counts a post uses: videos and photo posts are counted apart, as
/// TikTok counts them for accounts connected through its Business app (15 of each in a
/// trailing 24 h), and Creator Inbox drafts apart again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    Video,
    Photo,
    Draft,
}

impl Lane {
    pub const ALL: [Lane; 3] = [Lane::Video, Lane::Photo, Lane::Draft];

    /// The lane of a post of this kind (`video`, `photo`) and mode (`draft` is the Creator
    /// Inbox).
    pub fn for_post(kind: &str, mode: &str) -> Lane {
        match (kind, mode) {
            (_, "draft") => Lane::Draft,
            ("photo", _) => Lane::Photo,
            _ => Lane::Video,
        }
    }

    /// The stored name. Videos keep `post`, the name of the one lane direct posts had before
    /// photos were counted apart, so budgets stored then still count.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Video => "post",
            Lane::Photo => "photo",
            Lane::Draft => "draft",
        }
    }

    /// Reads back [`Lane::as_str`].
    pub fn parse(stored: &str) -> Lane {
        match stored {
            "draft" => Lane::Draft,
            "photo" => Lane::Photo,
            _ => Lane::Video,
        }
    }

    /// How the lane is named to callers.
    pub fn label(self) -> &'static str {
        match self {
            Lane::Video => "videos",
            Lane::Photo => "photos",
            Lane::Draft => "drafts",
        }
    }
}

/// The answer to a request for a slot in an account's rolling daily budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDecision {
    Reserved {
        used: u32,
    },
    /// Full until `retry_at`: when the oldest slot leaves the window, or the end of an
    /// exhaustion upstream reported.
    Full {
        retry_at: DateTime<Utc>,
    },
}

/// The answer to [`Store::move_slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotMove {
    /// The slot is at its new time now; `from` is where it was (`None`: it was not held, and
    /// is now).
    Moved {
        used: u32,
        from: Option<DateTime<Utc>>,
    },
    /// No room at the new time; the slot stays where it was. `retry_at` as for
    /// [`SlotDecision::Full`], from the new time on.
    Full { retry_at: DateTime<Utc> },
}

/// Where a post's slot is in its account's windows: when TikTok counts it, at its publication.
/// That is its schedule time when it has one (a scheduled post, a scheduled Creator Inbox
/// draft), else its creation; never before its creation (a past schedule publishes at once).
pub fn slot_at(created_at: DateTime<Utc>, schedule_at: Option<DateTime<Utc>>) -> DateTime<Utc> {
    schedule_at.map_or(created_at, |at| at.max(created_at))
}

/// An account's use of its budget in the current window: the window that ends now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotUsage {
    /// Slots of the last 24 h up to now.
    pub used: u32,
    /// Slots placed after now (scheduled posts): they count in the windows of their own times.
    pub scheduled: u32,
    /// When the oldest slot in the window leaves it.
    pub frees_at: Option<DateTime<Utc>>,
    /// Upstream said the account is exhausted until then.
    pub exhausted_until: Option<DateTime<Utc>>,
}

/// What a create holds before it goes upstream: a slot in the account's rolling daily budget
/// and the duplicate guard's claim on its content.
#[derive(Debug, Clone, Copy)]
pub struct CreateHold<'a> {
    pub account: &'a str,
    pub lane: Lane,
    pub slot: &'a str,
    pub limit: u32,
    pub window: Duration,
    /// Where the slot goes ([`slot_at`]): a scheduled post's time, else `now`.
    pub at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The post's content fingerprint: the duplicate guard's key within the account.
    pub fingerprint: &'a str,
    /// How long the claim stays pending if the create never settles it.
    pub claim_ttl: Duration,
    /// The upstream budget's unit for the post, taken in the same step once the slot and the
    /// claim are held (then a refusal gives both back).
    pub upstream: Option<&'a UpstreamCharge>,
}

/// One unit of the shared Zernio budget: from the tenant's reserve, else from the pool.
#[derive(Debug, Clone)]
pub struct UpstreamCharge {
    pub reserve_key: String,
    pub reserve: RatePolicy,
    pub pool_key: String,
    pub pool: RatePolicy,
}

/// TikTok's window for the daily cap and for duplicate content: a store that keeps budgets
/// in memory rebuilds this much of them on start.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The claim scope of an account's duplicate guard.
pub fn content_scope(account: &str) -> String {
    format!("content:{account}")
}

/// The answer to [`Store::hold`]. Only `Held` holds anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldDecision {
    Held {
        used: u32,
    },
    /// The budget is full until `retry_at`.
    Full {
        retry_at: DateTime<Utc>,
    },
    /// Another post holds the content (`Pending` or `Done`).
    Duplicate(Claim),
    /// The upstream budget has no unit for the post before `retry_after`.
    UpstreamBusy {
        retry_after: Duration,
    },
}

/// The webhook outbox and subscriptions are a part of the store of their own
/// ([`WebhookStore`]), so that every backend keeps them beside the rest.
#[async_trait]
pub trait Store: WebhookStore + Send + Sync + 'static {
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Releases connections; after it every call fails with `Unavailable`.
    async fn close(&self);

    async fn insert_post(&self, post: &PostRecord) -> Result<(), StoreError>;

    /// The tenant's post with this id; another tenant's post is `None`, like a missing one.
    async fn post(&self, tenant: &str, id: &str) -> Result<Option<PostRecord>, StoreError>;

    /// [`Store::post`] without a copy where the backend keeps records in memory: the served
    /// read's look-up.
    async fn shared_post(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Arc<PostRecord>>, StoreError> {
        Ok(self.post(tenant, id).await?.map(Arc::new))
    }

    /// Zernio confirmed the record at `revision` at `at` and nothing else changed: where the
    /// backend keeps records in memory, shows the new `synced_at` without a write, as long as
    /// the stored one is less than `write_every` older. `None`: write it (not cached, changed
    /// since, or the stored time is due).
    fn confirm_cached(
        &self,
        _id: &str,
        _revision: u64,
        _at: DateTime<Utc>,
        _write_every: Duration,
    ) -> Option<Arc<PostRecord>> {
        None
    }

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

    /// How many of the tenant's posts match `filter` (a list's total). The default walks the
    /// list; a backend that can count does.
    async fn count_posts(&self, tenant: &str, filter: &PostFilter) -> Result<u64, StoreError> {
        const BATCH: u32 = 500;
        let mut count = 0u64;
        let mut after: Option<PostCursor> = None;
        loop {
            let page = self.posts(tenant, filter, after.as_ref(), BATCH).await?;
            count += page.len() as u64;
            match page.last() {
                Some(last) if page.len() == BATCH as usize => {
                    after = Some(PostCursor {
                        created_at: last.created_at,
                        id: last.id.clone(),
                    })
                }
                _ => return Ok(count),
            }
        }
    }

    async fn update_post(&self, id: &str, update: &PostUpdate) -> Result<(), StoreError>;

    /// Writes `post` over the stored record if the stored revision is still `expected`
    /// (compare and set; `post.sync.revision` is the new one), with `event` appended to its
    /// history in the same step. `false`: another writer changed it first, nothing written.
    async fn replace_post(
        &self,
        post: &PostRecord,
        expected: u64,
        event: Option<&PostEvent>,
    ) -> Result<bool, StoreError>;

    /// Removes a record, its history and its place in the reconciler's schedule: a pending
    /// create's record once Zernio's post, recorded under Zernio's id, replaces it.
    async fn delete_post(&self, post: &PostRecord) -> Result<(), StoreError>;

    /// The post's status changes after its creation, oldest first (at most the last 100).
    async fn post_events(&self, id: &str) -> Result<Vec<PostEvent>, StoreError>;

    /// Posts the reconciler should read now (`next_sync_at` reached), soonest due first.
    async fn due_for_sync(&self, now: DateTime<Utc>, limit: u32)
    -> Result<Vec<String>, StoreError>;

    /// Appends an audit entry (its `id` is given by the store); entries older than
    /// `retention` may be dropped on the way.
    async fn append_audit(
        &self,
        entry: &crate::audit::AuditEntry,
        retention: Duration,
    ) -> Result<(), StoreError>;

    /// The tenant's audit entries matching `filter`, newest first, strictly before the entry
    /// `before` (an id the store gave), at most `limit`.
    async fn audit_entries(
        &self,
        tenant: &str,
        filter: &crate::audit::AuditFilter,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError>;

    /// The tenant's audit entries at or after `since`, oldest first, strictly after the entry
    /// `after`, at most `limit`: the export.
    async fn audit_since(
        &self,
        tenant: &str,
        since: DateTime<Utc>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError>;

    /// Ids of posts another replica changed, for the read cache and for waiting reads. `None`:
    /// this backend has no other writers to hear from.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// One GCRA decision for `key`, counted whether or not it is allowed: atomic per key.
    async fn rate_limit(&self, key: &str, policy: RatePolicy) -> Result<RateDecision, StoreError>;

    /// [`Store::rate_limit`] for a tenant's or an API key's request limit, checked on every
    /// request: a shared backend may lease a few units at a time under sustained traffic
    /// (`redis::leases`), within what the limit promises across replicas.
    async fn rate_limit_request(
        &self,
        key: &str,
        policy: RatePolicy,
    ) -> Result<RateDecision, StoreError> {
        self.rate_limit(key, policy).await
    }

    /// Claims `key` in `scope` for `ttl` unless someone holds it (an expired claim is free).
    /// One atomic operation: never read-then-write.
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<Claim, StoreError>;

    /// Marks an acquired claim done with its payload, kept for `ttl` from now.
    async fn complete_claim(
        &self,
        scope: &str,
        key: &str,
        payload: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Gives a claim up (the request failed before anything happened upstream).
    async fn release_claim(&self, scope: &str, key: &str) -> Result<(), StoreError>;

    /// The claim held on `key` in `scope`, if any (an expired one is none), read without
    /// claiming: for values kept as claims and only looked up, like a pending create's alias.
    async fn peek_claim(&self, scope: &str, key: &str) -> Result<Option<Claim>, StoreError>;

    /// Reserves `slot` at `now` unless a 24 h window around `now` (see [`rolling`]) holds
    /// `limit` slots already or the account is marked exhausted. Atomic: concurrent
    /// reservations never overshoot.
    async fn reserve_slot(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        limit: u32,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotDecision, StoreError>;

    /// Gives a reserved slot back (upstream refused the post, or it was cancelled before
    /// TikTok published it, so it did not count).
    async fn release_slot(&self, account: &str, lane: Lane, slot: &str) -> Result<(), StoreError>;

    /// Moves `slot` to `at` if the rolling rule allows a slot there, the slot itself left out
    /// of the count (a reschedule); a slot not held is taken at `at` under the same rule.
    /// Refused, nothing changes. Atomic, like [`Store::reserve_slot`]; `now` is the present,
    /// before which no window matters.
    #[allow(clippy::too_many_arguments)]
    async fn move_slot(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        at: DateTime<Utc>,
        limit: u32,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotMove, StoreError>;

    /// Marks the account exhausted until `until` (upstream said the daily limit is hit).
    async fn mark_exhausted(
        &self,
        account: &str,
        lane: Lane,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The use of the window that ends at `now`, and what is scheduled after it.
    async fn slot_usage(
        &self,
        account: &str,
        lane: Lane,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotUsage, StoreError>;

    /// The budget slot, then the content claim, then (when asked) the upstream budget's unit,
    /// all or nothing: a refusal of any holds none. A backend that can should do it in one
    /// round trip; this is every create's first store step.
    async fn hold(&self, h: &CreateHold<'_>) -> Result<HoldDecision, StoreError>;

    /// Gives what [`Store::hold`] took back: nothing was posted.
    async fn release_hold(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        let slot = self.release_slot(account, lane, slot).await;
        let claim = self
            .release_claim(&content_scope(account), fingerprint)
            .await;
        slot.and(claim)
    }

    /// Records a created post and settles its content claim with the post's id, and appends
    /// the create's audit entry when one is given: every create's last store step, in one
    /// round trip (one transaction) where the backend can, all of it or none. A post recorded
    /// already (Zernio's replay of a create) is kept as it was; its claim is settled and the
    /// entry appended all the same.
    async fn record_created(
        &self,
        post: &PostRecord,
        ttl: Duration,
        audit: Option<AuditAppend<'_>>,
    ) -> Result<(), StoreError>;
}

/// An audit entry appended in the same step as the write it reports (see
/// [`Store::append_audit`] for `retention`).
#[derive(Debug, Clone, Copy)]
pub struct AuditAppend<'a> {
    pub entry: &'a crate::audit::AuditEntry,
    pub retention: Duration,
}

/// A time as the record keeps it: to the millisecond, as both stores do. A record's times are
/// cut to it before they enter the record, so that a record answered from memory (just
/// written, or confirmed in the read cache) shows the same moment as the one read back from
/// the store, and compares the same: a time taken in the same millisecond as a confirmation is
/// not later than it.
pub fn kept(t: DateTime<Utc>) -> DateTime<Utc> {
    chrono::SubsecRound::trunc_subsecs(t, 3)
}

/// Opens the store a URL names, creating and migrating it where needed, with the post cache
/// of the read path in front.
pub async fn open(url: &StoreUrl) -> Result<Arc<dyn Store>, StoreError> {
    let backend: Arc<dyn Store> = match url {
        StoreUrl::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(path).await?),
        StoreUrl::Redis(url) => Arc::new(redis::RedisStore::open(url).await?),
    };
    Ok(Arc::new(cached::CachedStore::new(backend)))
}
