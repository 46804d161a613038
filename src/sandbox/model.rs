//! The sandbox's in-memory Zernio: creators, posts, and the rules a create must pass. Nothing
//! here does I/O or reads a clock: every operation is given `now`, so the handlers and the tick
//! decide what time it is.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::zernio::types::{
    PlatformState, PlatformStatus, Post, PostStatus, bool_at, parse_time_str, str_at,
};

/// TikTok's (and Zernio's) rolling window for the daily cap, duplicate content and idempotency.
const DAY: TimeDelta = TimeDelta::hours(24);
/// How long after publication a post's analytics are not synced yet (202).
const ANALYTICS_SYNC: TimeDelta = TimeDelta::minutes(1);
/// Marker that makes a post fail like TikTok's spam_risk moderation.
pub(super) const SPAM_MARKER: &str = "#sandbox_spam";

/// A simulated TikTok creator.
pub(super) struct Creator {
    pub id: &'static str,
    pub display_name: &'static str,
    pub privacy: &'static [&'static str],
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
}

pub(super) const CREATORS: [Creator; 2] = [
    Creator {
        id: "sandbox_public",
        display_name: "Sandbox Public Creator",
        privacy: &["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
        comment_disabled: false,
        duet_disabled: false,
        stitch_disabled: false,
    },
    Creator {
        id: "sandbox_private",
        display_name: "Sandbox Private Creator",
        privacy: &["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
        comment_disabled: false,
        duet_disabled: true,
        stitch_disabled: true,
    },
];

pub(super) fn creator(id: &str) -> Option<&'static Creator> {
    CREATORS.iter().find(|c| c.id == id)
}

/// A refusal, as Zernio would answer it.
#[derive(Debug)]
pub(super) struct Rejection {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl Rejection {
    fn new(status: u16, kind: &str, code: Option<&str>, message: &str) -> Self {
        let mut body = json!({"error": message, "type": kind});
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        Rejection {
            status,
            body,
            retry_after: None,
        }
    }

    pub fn invalid(code: &str, message: &str) -> Self {
        Self::new(400, "invalid_request_error", Some(code), message)
    }

    /// 404s may carry only `{error}`, as the spec allows; the sandbox does so to keep the
    /// client honest about it.
    pub fn not_found(message: &str) -> Self {
        Rejection {
            status: 404,
            body: json!({"error": message}),
            retry_after: None,
        }
    }

    fn daily_cap(retry_after: u64) -> Self {
        let mut r = Self::new(
            429,
            "rate_limit_error",
            Some("daily_limit_reached"),
            "You have created too many posts in the last 24 hours via the API.",
        );
        r.retry_after = Some(retry_after);
        r
    }
}

/// What a post counts against: TikTok caps videos and photo posts apart (15 each per trailing
/// 24 h for accounts connected through TikTok for Business), and Creator Inbox drafts are
/// counted apart again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Video,
    Photo,
    Inbox,
}

impl Kind {
    fn of(is_photo: bool, inbox: bool) -> Kind {
        if inbox {
            Kind::Inbox
        } else if is_photo {
            Kind::Photo
        } else {
            Kind::Video
        }
    }
}

/// A post status change that webhooks report.
#[derive(Debug, Clone)]
pub(super) struct Event {
    pub name: &'static str,
    pub post: Post,
}

impl Event {
    /// The event and the platform-level ones Zernio sends with it: `post.platform.published`
    /// (and `post.tiktok.url_resolved` once the TikTok URL is known) after a publish,
    /// `post.platform.failed` after a failure.
    pub fn with_platform_events(&self) -> Vec<Event> {
        let mut all = vec![self.clone()];
        let also = |name| Event {
            name,
            post: self.post.clone(),
        };
        match self.name {
            "post.published" => {
                all.push(also("post.platform.published"));
                let url = self
                    .post
                    .platforms
                    .first()
                    .and_then(|p| p.platform_post_url.as_deref());
                if url.is_some_and(|u| !u.is_empty()) {
                    all.push(also("post.tiktok.url_resolved"));
                }
            }
            "post.failed" => all.push(also("post.platform.failed")),
            _ => {}
        }
        all
    }
}

/// When a new post goes out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// A Zernio draft: kept, never sent.
    Draft,
    Now,
    At(DateTime<Utc>),
}

struct SimPost {
    id: String,
    seq: u64,
    account: &'static Creator,
    content: String,
    media_items: Vec<Value>,
    media_urls: Vec<String>,
    is_photo: bool,
    settings: Value,
    /// `tiktokSettings.draft`: goes to the Creator Inbox instead of being published.
    inbox: bool,
    status: PostStatus,
    platform_state: PlatformState,
    scheduled_for: Option<DateTime<Utc>>,
    timezone: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    platform_post_id: Option<String>,
    platform_post_url: Option<String>,
    error: Option<(String, String)>,
    metadata: Option<Value>,
    fingerprint: String,
    /// Whether it reaches TikTok (and so counts for the cap and the duplicate guard).
    reaches_tiktok: bool,
}

impl SimPost {
    fn kind(&self) -> Kind {
        Kind::of(self.is_photo, self.inbox)
    }

    fn to_post(&self) -> Post {
        let (error_message, error_category) = match &self.error {
            Some((m, c)) => (Some(m.clone()), Some(c.clone())),
            None => (None, None),
        };
        Post {
            id: self.id.clone(),
            content: self.content.clone(),
            status: self.status.clone(),
            scheduled_for: self.scheduled_for,
            timezone: Some(self.timezone.clone()),
            published_at: self.published_at,
            platforms: vec![PlatformStatus {
                platform: "tiktok".into(),
                account_id: Some(self.account.id.into()),
                status: self.platform_state.clone(),
                platform_post_id: self.platform_post_id.clone(),
                platform_post_url: self.platform_post_url.clone(),
                published_at: self.published_at,
                error_source: self.error.as_ref().map(|_| "platform".to_string()),
                error_message,
                error_category,
                platform_specific_data: None,
            }],
            metadata: self.metadata.clone(),
            created_at: Some(self.created_at),
            updated_at: Some(self.updated_at),
            media_items: self.media_items.clone(),
            tiktok_settings: Some(self.settings.clone()),
        }
    }

    /// The failure the reserved markers ask for, if any.
    fn simulated_failure(&self) -> Option<(String, String)> {
        let unreachable_media = self.media_urls.iter().any(|u| {
            Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.to_ascii_lowercase()))
                .is_some_and(|h| h == "invalid" || h.ends_with(".invalid"))
        });
        if unreachable_media {
            let reason = if self.is_photo {
                "photo_pull_failed"
            } else {
                "video_pull_failed"
            };
            // errorCategory is Zernio's taxonomy (the spec's enum); TikTok's own reason is in
            // the message, as Zernio words it.
            return Some((
                format!(
                    "TikTok video upload failed: Your video URL returned an error (download failed: {reason})"
                ),
                "user_content".into(),
            ));
        }
        if self.content.contains(SPAM_MARKER) {
            return Some((
                "TikTok flagged this post as potentially risky (spam_risk)".into(),
                "platform_rejected".into(),
            ));
        }
        None
    }

    /// Sends the post to (simulated) TikTok now. Returns the webhook event, if any.
    fn publish(&mut self, now: DateTime<Utc>) -> Option<&'static str> {
        self.updated_at = now;
        if let Some(failure) = self.simulated_failure() {
            self.status = PostStatus::Failed;
            self.platform_state = PlatformState::Failed;
            self.error = Some(failure);
            return Some("post.failed");
        }
        self.error = None;
        self.published_at = Some(now);
        self.platform_state = PlatformState::Published;
        if self.inbox {
            self.status = PostStatus::Draft;
            return None;
        }
        self.status = PostStatus::Published;
        let video_id = rand::random_range(7_000_000_000_000_000_000u64..7_400_000_000_000_000_000);
        self.platform_post_id = Some(video_id.to_string());
        self.platform_post_url = Some(format!(
            "https://www.tiktok.com/@{}/video/{video_id}",
            self.account.id
        ));
        Some("post.published")
    }

    fn apply_mode(&mut self, mode: Mode, now: DateTime<Utc>) -> Option<&'static str> {
        match mode {
            Mode::Draft => {
                self.status = PostStatus::Draft;
                self.platform_state = PlatformState::Pending;
                None
            }
            Mode::Now => {
                self.scheduled_for = Some(now);
                self.publish(now)
            }
            Mode::At(t) => {
                self.scheduled_for = Some(t);
                self.status = PostStatus::Scheduled;
                self.platform_state = PlatformState::Pending;
                self.updated_at = now;
                Some("post.scheduled")
            }
        }
    }
}

/// A registered webhook.
struct Hook {
    id: String,
    name: String,
    url: Url,
    secret: Option<String>,
    events: Vec<String>,
    active: bool,
}

/// The post-level events (the platform-level ones and `post.tiktok.url_resolved` are sent
/// only to registrations that name them).
const POST_EVENTS: [&str; 5] = [
    "post.scheduled",
    "post.published",
    "post.failed",
    "post.partial",
    "post.cancelled",
];

/// Where webhooks go now.
pub(super) struct Target {
    pub url: Url,
    pub secret: String,
    events: Vec<String>,
}

impl Target {
    /// An explicit list is honoured as given; none (the options' or the gateway's own target)
    /// means the post-level events, the ones every Zernio client handles.
    pub fn wants(&self, event: &str) -> bool {
        if self.events.is_empty() {
            return POST_EVENTS.contains(&event);
        }
        self.events.iter().any(|e| e == event || e == "*")
    }
}

struct Replay {
    at: DateTime<Utc>,
    body: Value,
}

/// Everything the sandbox remembers.
pub(super) struct Data {
    posts: Vec<SimPost>,
    replays: HashMap<String, Replay>,
    hook: Option<Hook>,
    next_seq: u64,
    /// The file the posts are kept in across restarts; `None`: memory only.
    path: Option<PathBuf>,
}

/// Filters of `GET /v1/posts`.
pub(super) struct ListFilter {
    pub page: u64,
    pub limit: u64,
    pub status: Option<String>,
    pub account_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Filters of `GET /v1/analytics`.
pub(super) struct AnalyticsFilter {
    pub account_id: Option<String>,
    pub post_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: u64,
    pub limit: u64,
}

impl Data {
    pub fn new(webhook_url: Option<Url>, webhook_secret: Option<String>) -> Self {
        let hook = webhook_url.map(|url| Hook {
            id: "wh_options".into(),
            name: "sandbox options".into(),
            url,
            secret: webhook_secret,
            events: Vec::new(),
            active: true,
        });
        Data {
            posts: Vec::new(),
            replays: HashMap::new(),
            hook,
            next_seq: 0,
            path: None,
        }
    }

    /// `new`, keeping posts (and idempotency replays) in `path`: what is there is loaded, and
    /// every change is written back. A file that cannot be read is set aside (`.unreadable`)
    /// rather than overwritten, and the sandbox starts empty.
    pub fn open(webhook_url: Option<Url>, webhook_secret: Option<String>, path: PathBuf) -> Self {
        let mut data = Self::new(webhook_url, webhook_secret);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(stored) => {
                    data.next_seq = stored.next_seq;
                    data.posts = stored
                        .posts
                        .into_iter()
                        .filter_map(StoredPost::load)
                        .collect();
                    data.replays = stored
                        .replays
                        .into_iter()
                        .map(|(k, at, body)| (k, Replay { at, body }))
                        .collect();
                    tracing::info!(path = %path.display(), posts = data.posts.len(), "sandbox posts loaded");
                }
                Err(e) => {
                    let aside = path.with_extension("unreadable");
                    tracing::warn!(path = %path.display(), error = %e, aside = %aside.display(), "sandbox file unreadable: set aside, starting empty");
                    let _ = std::fs::rename(&path, aside);
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "sandbox file unreadable: starting empty")
            }
        }
        data.path = Some(path);
        data
    }

    /// Writes everything to the file, if there is one: to a temporary file first, renamed over
    /// the old one, so a crash mid-write leaves the previous state whole.
    fn persist(&self) {
        let Some(path) = &self.path else { return };
        let stored = Stored {
            version: 1,
            next_seq: self.next_seq,
            posts: self.posts.iter().map(StoredPost::from).collect(),
            replays: self
                .replays
                .iter()
                .map(|(k, r)| (k.clone(), r.at, r.body.clone()))
                .collect(),
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let bytes = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "sandbox posts not saved");
        }
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut SimPost> {
        self.posts.iter_mut().find(|p| p.id == id)
    }

    pub fn get(&self, id: &str) -> Option<Post> {
        self.posts.iter().find(|p| p.id == id).map(SimPost::to_post)
    }

    /// Publishes every scheduled post that is due.
    pub fn promote_due(&mut self, now: DateTime<Utc>) -> Vec<Event> {
        let mut events = Vec::new();
        let mut changed = false;
        for p in self.posts.iter_mut() {
            let due =
                p.status == PostStatus::Scheduled && p.scheduled_for.is_some_and(|t| t <= now);
            if !due {
                continue;
            }
            changed = true;
            if let Some(name) = p.publish(now) {
                events.push(Event {
                    name,
                    post: p.to_post(),
                });
            }
        }
        if changed {
            self.persist();
        }
        events
    }

    // -- idempotency ------------------------------------------------------------------------

    /// The first answer given for this key within 24 h.
    pub fn replay(&mut self, key: &str, now: DateTime<Utc>) -> Option<Value> {
        self.replays.retain(|_, r| now - r.at < DAY);
        self.replays.get(key).map(|r| r.body.clone())
    }

    /// Only successful creates are remembered, so a caller can fix a refused request and send
    /// it again under the same key.
    pub fn remember(&mut self, key: &str, body: Value, now: DateTime<Utc>) {
        self.replays
            .insert(key.to_string(), Replay { at: now, body });
        self.persist();
    }

    // -- the daily cap ----------------------------------------------------------------------

    /// Seconds until the account is under the cap again, if it is at it now.
    pub fn over_cap(&self, account: &str, kind: Kind, cap: u32, now: DateTime<Utc>) -> Option<u64> {
        let recent: Vec<DateTime<Utc>> = self
            .posts
            .iter()
            .filter(|p| {
                p.account.id == account
                    && p.kind() == kind
                    && p.reaches_tiktok
                    && p.status != PostStatus::Cancelled
                    && now - p.created_at < DAY
            })
            .map(|p| p.created_at)
            .collect();
        if (recent.len() as u64) < u64::from(cap) {
            return None;
        }
        let oldest = recent.iter().min().copied().unwrap_or(now);
        let wait = (oldest + DAY - now).num_seconds().max(1);
        Some(wait as u64)
    }

    pub fn daily_cap_rejection(
        &self,
        account: &str,
        kind: Kind,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Option<Rejection> {
        self.over_cap(account, kind, cap, now)
            .map(Rejection::daily_cap)
    }

    // -- dry run ----------------------------------------------------------------------------

    /// `dryRun: true`: Zernio's `TikTokDryRunVerdict` for the create this body asks for, with
    /// nothing stored (and no numbers: a go/no-go and a reason, as the spec says).
    pub fn dry_run(&self, body: &Value, cap: u32, now: DateTime<Utc>) -> Value {
        let account = body["platforms"][0]["accountId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (can, reason, posted) = match NewPost::parse(body, now) {
            Err(r) => (
                false,
                r.body["error"].as_str().unwrap_or("refused").to_owned(),
                None,
            ),
            Ok(input) => {
                let kind = Kind::of(input.is_photo, input.inbox);
                let posted_today = self.posts.iter().any(|p| {
                    p.account.id == input.account.id
                        && p.reaches_tiktok
                        && p.kind() == kind
                        && now - p.created_at < DAY
                });
                let posted = (kind != Kind::Inbox).then_some(posted_today);
                if self.over_cap(input.account.id, kind, cap, now).is_some() {
                    (
                        false,
                        "The account reached TikTok's daily posting limit".to_owned(),
                        posted,
                    )
                } else {
                    (true, "The account can publish now".to_owned(), posted)
                }
            }
        };
        let mut verdict = json!({"accountId": account, "canPublish": can, "reason": reason});
        if let Some(p) = posted {
            verdict["alreadyPostedToday"] = json!(p);
        }
        json!({"dryRun": true, "canPublish": can, "tiktok": [verdict]})
    }

    // -- create -----------------------------------------------------------------------------

    /// `POST /v1/posts`: validates like Zernio, then stores the post. Returns the HTTP status
    /// (201, or 207 when the post failed at once), the post and the events to send.
    pub fn create(
        &mut self,
        body: &Value,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<(u16, Post, Vec<Event>), Rejection> {
        let input = NewPost::parse(body, now)?;
        if input.mode != Mode::Draft {
            let duplicate = self.posts.iter().find(|p| {
                p.reaches_tiktok
                    && p.status != PostStatus::Cancelled
                    && p.account.id == input.account.id
                    && p.fingerprint == input.fingerprint
                    && now - p.created_at < DAY
            });
            if let Some(existing) = duplicate {
                let mut r = Rejection::new(
                    409,
                    "invalid_request_error",
                    Some("duplicate_content"),
                    "Duplicate content detected.",
                );
                r.body["details"] = json!({
                    "accountId": input.account.id,
                    "platform": "tiktok",
                    "existingPostId": existing.id,
                });
                return Err(r);
            }
            let kind = Kind::of(input.is_photo, input.inbox);
            if let Some(r) = self.daily_cap_rejection(input.account.id, kind, cap, now) {
                return Err(r);
            }
        }
        self.next_seq += 1;
        let mut post = SimPost {
            id: new_post_id(now, self.next_seq),
            seq: self.next_seq,
            account: input.account,
            content: input.content,
            media_items: input.media_items,
            media_urls: input.media_urls,
            is_photo: input.is_photo,
            settings: input.settings,
            inbox: input.inbox,
            status: PostStatus::Draft,
            platform_state: PlatformState::Pending,
            scheduled_for: None,
            timezone: input.timezone,
            created_at: now,
            updated_at: now,
            published_at: None,
            platform_post_id: None,
            platform_post_url: None,
            error: None,
            metadata: input.metadata,
            fingerprint: input.fingerprint,
            reaches_tiktok: input.mode != Mode::Draft,
        };
        let event = post.apply_mode(input.mode, now);
        let snapshot = post.to_post();
        let status = if post.status == PostStatus::Failed {
            207
        } else {
            201
        };
        self.posts.push(post);
        self.persist();
        let events = event
            .map(|name| Event {
                name,
                post: snapshot.clone(),
            })
            .into_iter()
            .collect();
        Ok((status, snapshot, events))
    }

    // -- list -------------------------------------------------------------------------------

    /// Newest first; returns the page and the total.
    pub fn list(&self, f: &ListFilter) -> (Vec<Post>, u64) {
        let mut matching: Vec<&SimPost> = self
            .posts
            .iter()
            .filter(|p| {
                f.status
                    .as_deref()
                    .is_none_or(|s| p.status.as_str().eq_ignore_ascii_case(s))
                    && f.account_id.as_deref().is_none_or(|a| p.account.id == a)
                    && f.from.is_none_or(|t| p.created_at >= t)
                    && f.to.is_none_or(|t| p.created_at <= t)
            })
            .collect();
        matching.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.seq.cmp(&a.seq)));
        let total = matching.len() as u64;
        let skip = f.page.saturating_sub(1).saturating_mul(f.limit);
        let page = matching
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(usize::try_from(f.limit).unwrap_or(usize::MAX))
            .map(SimPost::to_post)
            .collect();
        (page, total)
    }

    // -- edit, cancel, retry ----------------------------------------------------------------

    /// `PUT /v1/posts/{id}`: draft, scheduled, failed, partial or cancelled posts (UPSTREAM.md).
    pub fn update(
        &mut self,
        id: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<(Post, Vec<Event>), Rejection> {
        let Some(post) = self.find_mut(id) else {
            return Err(Rejection::not_found("Post not found"));
        };
        if !matches!(
            post.status,
            PostStatus::Draft
                | PostStatus::Scheduled
                | PostStatus::Failed
                | PostStatus::Partial
                | PostStatus::Cancelled
        ) || (post.inbox && post.platform_state == PlatformState::Published)
        {
            return Err(Rejection::invalid(
                "post_not_editable",
                &format!(
                    "Only draft, scheduled, failed, partial or cancelled posts can be edited; this one is {}",
                    post.status.as_str()
                ),
            ));
        }
        if !body.is_object() {
            return Err(Rejection::invalid(
                "invalid_body",
                "The body must be a JSON object",
            ));
        }
        // Validate everything before changing anything.
        let content = match body.get("content") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(_) => {
                return Err(Rejection::invalid(
                    "invalid_content",
                    "content must be a string",
                ));
            }
        };
        let media = match body.get("mediaItems") {
            Some(v) => Some(parse_media(v)?),
            None => None,
        };
        let is_photo = media.as_ref().map_or(post.is_photo, |m| m.2);
        let settings = match tiktok_settings(body) {
            Some(s) => {
                validate_settings(post.account, s, is_photo)?;
                Some(s.clone())
            }
            None => None,
        };
        let mode = parse_mode(body, now)?;
        if let Some(c) = content {
            post.content = c;
        }
        if let Some((items, urls, photo)) = media {
            post.media_items = items;
            post.media_urls = urls;
            post.is_photo = photo;
        }
        if let Some(s) = settings {
            post.inbox = bool_at(&s, &["draft"]).unwrap_or(false);
            post.settings = s;
        }
        if let Some(tz) = str_at(body, &["timezone"]) {
            post.timezone = tz;
        }
        if let Some(m) = body.get("metadata") {
            post.metadata = Some(m.clone()).filter(|m| !m.is_null());
        }
        post.fingerprint = fingerprint(post.account.id, &post.content, &post.media_urls);
        post.updated_at = now;
        let mut events = Vec::new();
        if let Some(mode) = mode {
            post.reaches_tiktok = mode != Mode::Draft;
            if let Some(name) = post.apply_mode(mode, now) {
                events.push(Event {
                    name,
                    post: post.to_post(),
                });
            }
        }
        let answer = post.to_post();
        self.persist();
        Ok((answer, events))
    }

    /// `DELETE /v1/posts/{id}`: draft or scheduled posts become `cancelled`.
    pub fn cancel(&mut self, id: &str, now: DateTime<Utc>) -> Result<Vec<Event>, Rejection> {
        let Some(post) = self.find_mut(id) else {
            return Err(Rejection::not_found("Post not found"));
        };
        let delivered_inbox = post.inbox && post.platform_state == PlatformState::Published;
        if !matches!(post.status, PostStatus::Draft | PostStatus::Scheduled) || delivered_inbox {
            return Err(Rejection::invalid(
                "post_not_deletable",
                &format!(
                    "Only draft or scheduled posts can be deleted; this one is {}",
                    post.status.as_str()
                ),
            ));
        }
        post.status = PostStatus::Cancelled;
        post.platform_state = PlatformState::Cancelled;
        post.updated_at = now;
        let events = vec![Event {
            name: "post.cancelled",
            post: post.to_post(),
        }];
        self.persist();
        Ok(events)
    }

    /// `POST /v1/posts/{id}/retry`: failed posts only. 200 when it now publishes, 207 when it
    /// fails again.
    pub fn retry(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(u16, Post, Vec<Event>), Rejection> {
        let Some(post) = self.find_mut(id) else {
            return Err(Rejection::not_found("Post not found"));
        };
        match post.status {
            PostStatus::Failed | PostStatus::Partial => {}
            PostStatus::Publishing => {
                return Err(Rejection::new(
                    409,
                    "invalid_request_error",
                    Some("post_publishing"),
                    "The post is publishing; retry once it has finished",
                ));
            }
            _ => {
                return Err(Rejection::invalid(
                    "post_not_failed",
                    &format!(
                        "Only failed posts can be retried; this one is {}",
                        post.status.as_str()
                    ),
                ));
            }
        }
        let event = post.publish(now);
        let snapshot = post.to_post();
        let status = if post.status == PostStatus::Failed {
            207
        } else {
            200
        };
        let events = event
            .map(|name| Event {
                name,
                post: snapshot.clone(),
            })
            .into_iter()
            .collect();
        self.persist();
        Ok((status, snapshot, events))
    }

    // -- analytics --------------------------------------------------------------------------

    /// The figures; with `postId` the single-post shape, 202 (`syncStatus: pending`) during the
    /// first minute after publication, before Zernio's first sync of it.
    pub fn analytics(
        &self,
        f: &AnalyticsFilter,
        now: DateTime<Utc>,
    ) -> Result<(u16, Value), Rejection> {
        let public = |p: &&SimPost| {
            p.status == PostStatus::Published && !p.inbox && p.published_at.is_some()
        };
        if let Some(id) = &f.post_id {
            let Some(p) = self.posts.iter().filter(public).find(|p| &p.id == id) else {
                return Err(Rejection::not_found("Post not found"));
            };
            let mut single = analytics_record(p, now);
            single["postId"] = json!(p.id);
            let published = p.published_at.unwrap_or(p.created_at);
            if now - published < ANALYTICS_SYNC {
                single["syncStatus"] = json!("pending");
                single["message"] = json!("Analytics are being synced; try again shortly");
                return Ok((202, single));
            }
            single["syncStatus"] = json!("synced");
            return Ok((200, single));
        }
        let mut matching: Vec<&SimPost> = self
            .posts
            .iter()
            .filter(public)
            .filter(|p| {
                let at = p.published_at.unwrap_or(p.created_at);
                f.account_id.as_deref().is_none_or(|a| p.account.id == a)
                    && f.from.is_none_or(|t| at >= t)
                    && f.to.is_none_or(|t| at <= t)
            })
            .collect();
        matching.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(b.seq.cmp(&a.seq)));
        let records: Vec<Value> = matching.iter().map(|p| analytics_record(p, now)).collect();
        let sum = |k: &str| -> u64 {
            records
                .iter()
                .map(|r| r["analytics"][k].as_u64().unwrap_or(0))
                .sum()
        };
        let overview = json!({
            "totalPosts": records.len(),
            "totalViews": sum("views"),
            "totalLikes": sum("likes"),
            "totalComments": sum("comments"),
            "totalShares": sum("shares"),
        });
        let total = records.len() as u64;
        let limit = f.limit.max(1);
        let skip =
            usize::try_from(f.page.saturating_sub(1).saturating_mul(limit)).unwrap_or(usize::MAX);
        let posts: Vec<Value> = records
            .into_iter()
            .skip(skip)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok((
            200,
            json!({
                "overview": overview,
                "posts": posts,
                "pagination": {"page": f.page, "limit": limit, "total": total, "pages": total.div_ceil(limit)},
            }),
        ))
    }

    // -- webhooks ---------------------------------------------------------------------------

    pub fn webhook_target(&self) -> Option<Target> {
        let hook = self.hook.as_ref().filter(|h| h.active)?;
        Some(Target {
            url: hook.url.clone(),
            secret: hook.secret.clone().filter(|s| !s.is_empty())?,
            events: hook.events.clone(),
        })
    }

    /// Replaces the registration with one for every event to `url`.
    pub fn set_webhook(&mut self, url: Url, secret: String) {
        self.hook = Some(Hook {
            id: "wh_gateway".into(),
            name: "gateway".into(),
            url,
            secret: Some(secret),
            events: Vec::new(),
            active: true,
        });
    }

    /// `POST /v1/webhooks/settings`: replaces the one registration the sandbox keeps.
    pub fn register_webhook(&mut self, body: &Value) -> Result<Value, Rejection> {
        let Some(raw) = str_at(body, &["url"]) else {
            return Err(Rejection::invalid("url_required", "url is required"));
        };
        let Ok(url) = Url::parse(&raw) else {
            return Err(Rejection::invalid("invalid_url", "url is not a valid URL"));
        };
        if !super::webhooks::is_loopback(&url) {
            return Err(Rejection::invalid(
                "invalid_url",
                "The sandbox only delivers webhooks to loopback addresses",
            ));
        }
        let events = body
            .get("events")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let hook = Hook {
            id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
            name: str_at(body, &["name"]).unwrap_or_else(|| "webhook".into()),
            url,
            secret: str_at(body, &["secret"]),
            events,
            active: bool_at(body, &["isActive", "is_active"]).unwrap_or(true),
        };
        let answer = json!({
            "success": true,
            "webhook": {
                "_id": hook.id,
                "name": hook.name,
                "url": hook.url.as_str(),
                "events": hook.events,
                "isActive": hook.active,
            }
        });
        self.hook = Some(hook);
        Ok(answer)
    }
}

/// The sandbox file: its posts and replays, as JSON.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    next_seq: u64,
    posts: Vec<StoredPost>,
    replays: Vec<(String, DateTime<Utc>, Value)>,
}

/// A post as the file keeps it: the creator by id, statuses by their Zernio names.
#[derive(Serialize, Deserialize)]
struct StoredPost {
    id: String,
    seq: u64,
    account: String,
    content: String,
    media_items: Vec<Value>,
    media_urls: Vec<String>,
    is_photo: bool,
    settings: Value,
    inbox: bool,
    status: String,
    platform_state: String,
    scheduled_for: Option<DateTime<Utc>>,
    timezone: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    platform_post_id: Option<String>,
    platform_post_url: Option<String>,
    error: Option<(String, String)>,
    metadata: Option<Value>,
    fingerprint: String,
    reaches_tiktok: bool,
}

impl From<&SimPost> for StoredPost {
    fn from(p: &SimPost) -> Self {
        StoredPost {
            id: p.id.clone(),
            seq: p.seq,
            account: p.account.id.to_owned(),
            content: p.content.clone(),
            media_items: p.media_items.clone(),
            media_urls: p.media_urls.clone(),
            is_photo: p.is_photo,
            settings: p.settings.clone(),
            inbox: p.inbox,
            status: p.status.as_str().to_owned(),
            platform_state: p.platform_state.as_str().to_owned(),
            scheduled_for: p.scheduled_for,
            timezone: p.timezone.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            published_at: p.published_at,
            platform_post_id: p.platform_post_id.clone(),
            platform_post_url: p.platform_post_url.clone(),
            error: p.error.clone(),
            metadata: p.metadata.clone(),
            fingerprint: p.fingerprint.clone(),
            reaches_tiktok: p.reaches_tiktok,
        }
    }
}

impl StoredPost {
    /// `None` for a post of a creator the sandbox no longer simulates.
    fn load(self) -> Option<SimPost> {
        Some(SimPost {
            account: creator(&self.account)?,
            id: self.id,
            seq: self.seq,
            content: self.content,
            media_items: self.media_items,
            media_urls: self.media_urls,
            is_photo: self.is_photo,
            settings: self.settings,
            inbox: self.inbox,
            status: PostStatus::parse(&self.status),
            platform_state: PlatformState::parse(&self.platform_state),
            scheduled_for: self.scheduled_for,
            timezone: self.timezone,
            created_at: self.created_at,
            updated_at: self.updated_at,
            published_at: self.published_at,
            platform_post_id: self.platform_post_id,
            platform_post_url: self.platform_post_url,
            error: self.error,
            metadata: self.metadata,
            fingerprint: self.fingerprint,
            reaches_tiktok: self.reaches_tiktok,
        })
    }
}

/// A create request, validated.
struct NewPost {
    account: &'static Creator,
    content: String,
    media_items: Vec<Value>,
    media_urls: Vec<String>,
    is_photo: bool,
    settings: Value,
    inbox: bool,
    mode: Mode,
    timezone: String,
    metadata: Option<Value>,
    fingerprint: String,
}

impl NewPost {
    fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, Rejection> {
        if !body.is_object() {
            return Err(Rejection::invalid(
                "invalid_body",
                "The body must be a JSON object",
            ));
        }
        let platforms = body
            .get("platforms")
            .and_then(Value::as_array)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Rejection::invalid("platforms_required", "platforms is required"))?;
        let [target] = platforms.as_slice() else {
            return Err(Rejection::invalid(
                "too_many_platforms",
                "The sandbox simulates one TikTok account per post",
            ));
        };
        let platform = str_at(target, &["platform"]).unwrap_or_default();
        if !platform.eq_ignore_ascii_case("tiktok") {
            return Err(Rejection::invalid(
                "unsupported_platform",
                &format!("The sandbox only simulates TikTok, not '{platform}'"),
            ));
        }
        let account_id = str_at(target, &["accountId"]).unwrap_or_default();
        let Some(account) = creator(&account_id) else {
            return Err(Rejection::invalid(
                "account_not_found",
                &format!("Account '{account_id}' is not connected"),
            ));
        };
        let content = match body.get("content") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(_) => {
                return Err(Rejection::invalid(
                    "invalid_content",
                    "content must be a string",
                ));
            }
        };
        let (media_items, media_urls, is_photo) =
            parse_media(body.get("mediaItems").unwrap_or(&Value::Null))?;
        // The spec's precedence: the platform entry's platformSpecificData (TikTokPlatformData)
        // over the root tiktokSettings, field by field.
        let mut settings = tiktok_settings(body).cloned().unwrap_or(json!({}));
        if let (Some(root), Some(specific)) = (
            settings.as_object_mut(),
            target
                .get("platformSpecificData")
                .and_then(Value::as_object),
        ) {
            for (k, v) in specific {
                root.insert(k.clone(), v.clone());
            }
        }
        let content = match target.get("customContent") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => content,
        };
        validate_settings(account, &settings, is_photo)?;
        let mode = parse_mode(body, now)?
            .or(parse_mode(target, now)?)
            .unwrap_or(Mode::Draft);
        let fingerprint = fingerprint(account.id, &content, &media_urls);
        Ok(NewPost {
            account,
            content,
            media_items,
            media_urls,
            is_photo,
            inbox: bool_at(&settings, &["draft"]).unwrap_or(false),
            settings,
            mode,
            timezone: str_at(body, &["timezone"]).unwrap_or_else(|| "UTC".into()),
            metadata: body.get("metadata").filter(|m| !m.is_null()).cloned(),
            fingerprint,
        })
    }
}

fn tiktok_settings(body: &Value) -> Option<&Value> {
    body.get("tiktokSettings")
        .or_else(|| body.get("tiktok_settings"))
        .filter(|s| s.is_object())
}

/// `mediaItems`: required, all images or one video, each with a URL.
fn parse_media(v: &Value) -> Result<(Vec<Value>, Vec<String>, bool), Rejection> {
    let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        Rejection::invalid(
            "media_required",
            "TikTok posts need media (no text-only posts)",
        )
    })?;
    let mut urls = Vec::with_capacity(items.len());
    let (mut videos, mut images) = (0usize, 0usize);
    for item in items {
        let Some(url) = str_at(item, &["url"]) else {
            return Err(Rejection::invalid(
                "media_url_required",
                "Every media item needs a url",
            ));
        };
        match str_at(item, &["type"]).as_deref() {
            Some("video") => videos += 1,
            Some("image") | Some("photo") => images += 1,
            _ => {
                return Err(Rejection::invalid(
                    "invalid_media_type",
                    "Media item type must be image or video",
                ));
            }
        }
        urls.push(url);
    }
    if videos > 0 && images > 0 {
        return Err(Rejection::invalid(
            "mixed_media",
            "You cannot mix photos and videos in the same post",
        ));
    }
    if videos > 1 {
        return Err(Rejection::invalid(
            "too_many_videos",
            "A TikTok post has one video",
        ));
    }
    if images > 35 {
        return Err(Rejection::invalid(
            "too_many_images",
            "A carousel has at most 35 photos",
        ));
    }
    Ok((items.clone(), urls, images > 0))
}

/// The TikTok settings every post needs, checked against the creator.
fn validate_settings(creator: &Creator, s: &Value, is_photo: bool) -> Result<(), Rejection> {
    let consent = |snake: &str, camel: &str| bool_at(s, &[snake, camel]).unwrap_or(false);
    // A video for the Creator Inbox goes through TikTok's inbox endpoint, which takes the media
    // only: the creator picks privacy and interactions in TikTok's own editor (the spec's
    // tiktokVideoDraft example). Consent is still the caller's to give.
    if !is_photo && bool_at(s, &["draft"]) == Some(true) {
        if !consent("content_preview_confirmed", "contentPreviewConfirmed")
            || !consent("express_consent_given", "expressConsentGiven")
        {
            return Err(Rejection::invalid(
                "consent_required",
                "TikTok requires content_preview_confirmed and express_consent_given to be true",
            ));
        }
        return Ok(());
    }
    let privacy = str_at(s, &["privacy_level", "privacyLevel"]).ok_or_else(|| {
        Rejection::invalid(
            "missing_required_field",
            "tiktokSettings.privacy_level is required for TikTok posts",
        )
    })?;
    if !creator.privacy.contains(&privacy.as_str()) {
        return Err(Rejection::invalid(
            "invalid_privacy_level",
            &format!(
                "Selected privacy level '{privacy}' is not available for this creator. Available options: {}",
                creator.privacy.join(", ")
            ),
        ));
    }
    if !consent("content_preview_confirmed", "contentPreviewConfirmed")
        || !consent("express_consent_given", "expressConsentGiven")
    {
        return Err(Rejection::invalid(
            "consent_required",
            "TikTok requires content_preview_confirmed and express_consent_given to be true",
        ));
    }
    let on = |snake: &str, camel: &str| bool_at(s, &[snake, camel]) == Some(true);
    if creator.comment_disabled && on("allow_comment", "allowComment") {
        return Err(Rejection::invalid(
            "interaction_disabled",
            "This creator has disabled comments; allow_comment must be false",
        ));
    }
    if !is_photo && creator.duet_disabled && on("allow_duet", "allowDuet") {
        return Err(Rejection::invalid(
            "interaction_disabled",
            "This creator has disabled duets; allow_duet must be false",
        ));
    }
    if !is_photo && creator.stitch_disabled && on("allow_stitch", "allowStitch") {
        return Err(Rejection::invalid(
            "interaction_disabled",
            "This creator has disabled stitches; allow_stitch must be false",
        ));
    }
    let commercial = str_at(s, &["commercialContentType", "commercial_content_type"]);
    if commercial.as_deref() == Some("brand_content") && privacy == "SELF_ONLY" {
        return Err(Rejection::invalid(
            "branded_content_private",
            "Branded content cannot be private (SELF_ONLY)",
        ));
    }
    Ok(())
}

/// `isDraft` over `publishNow` over `scheduledFor`; `None` when the object says none of them.
fn parse_mode(v: &Value, now: DateTime<Utc>) -> Result<Option<Mode>, Rejection> {
    if bool_at(v, &["isDraft"]) == Some(true) {
        return Ok(Some(Mode::Draft));
    }
    if bool_at(v, &["publishNow"]) == Some(true) {
        return Ok(Some(Mode::Now));
    }
    match v.get("scheduledFor") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = parse_time_str(s).ok_or_else(|| {
                Rejection::invalid("invalid_date", "scheduledFor must be an ISO 8601 date-time")
            })?;
            // A past time publishes at once, as Zernio does.
            Ok(Some(if t <= now { Mode::Now } else { Mode::At(t) }))
        }
        Some(_) => Err(Rejection::invalid(
            "invalid_date",
            "scheduledFor must be an ISO 8601 date-time",
        )),
    }
}

fn fingerprint(account: &str, content: &str, media_urls: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(account.as_bytes());
    h.update([0]);
    h.update(content.trim().as_bytes());
    for url in media_urls {
        h.update([0]);
        h.update(url.as_bytes());
    }
    hex::encode(h.finalize())
}

/// 24 hex digits like a Mongo ObjectId: seconds, then a sequence, then randomness.
fn new_post_id(now: DateTime<Utc>, seq: u64) -> String {
    let secs = now.timestamp().clamp(0, i64::from(u32::MAX)) as u32;
    format!(
        "{secs:08x}{:06x}{:010x}",
        seq & 0xff_ffff,
        rand::random::<u64>() & 0xff_ffff_ffff
    )
}

/// Figures that grow with time since publication, the same for the same post id and elapsed
/// time: a per-post rate from a hash of the id, views sub-linear in minutes, the rest fixed
/// per-mille shares of the views (so every figure only ever grows).
fn analytics_record(p: &SimPost, now: DateTime<Utc>) -> Value {
    let seed = {
        let d = Sha256::digest(p.id.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_be_bytes(b)
    };
    let published = p.published_at.unwrap_or(p.created_at);
    let minutes = (now - published).num_seconds().max(0) as f64 / 60.0;
    let rate = 5.0 + (seed % 40) as f64;
    let views = (rate * minutes.powf(0.85)).floor() as u64;
    let per_mille = |shift: u32, base: u64, spread: u64| -> u64 {
        views.saturating_mul(base + (seed >> shift) % spread) / 1000
    };
    let likes = per_mille(8, 30, 70);
    let comments = per_mille(16, 2, 10);
    let shares = per_mille(24, 1, 8);
    let engagement = if views == 0 {
        0.0
    } else {
        ((likes + comments + shares) as f64 / views as f64 * 10_000.0).round() / 100.0
    };
    json!({
        "_id": p.id,
        "latePostId": p.id,
        "content": p.content,
        "status": "published",
        "platform": "tiktok",
        "accountId": p.account.id,
        "publishedAt": published.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "platformPostUrl": p.platform_post_url,
        "mediaType": if p.is_photo { "carousel" } else { "video" },
        "analytics": {
            "likes": likes,
            "comments": comments,
            "shares": shares,
            "views": views,
            "impressions": views + views / 4,
            "reach": views * 9 / 10,
            "engagementRate": engagement,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn body(account: &str, content: &str, privacy: &str) -> Value {
        json!({
            "content": content,
            "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
            "platforms": [{"platform": "tiktok", "accountId": account}],
            "tiktokSettings": {"privacy_level": privacy, "allow_comment": false, "allow_duet": false,
                               "allow_stitch": false, "content_preview_confirmed": true, "express_consent_given": true},
            "publishNow": true
        })
    }

    #[test]
    fn analytics_grow_and_are_deterministic() {
        let mut d = Data::new(None, None);
        let (_, post, _) = d
            .create(&body("sandbox_public", "a", "SELF_ONLY"), 15, t0())
            .unwrap();
        let f = AnalyticsFilter {
            account_id: None,
            post_id: Some(post.id.clone()),
            from: None,
            to: None,
            page: 1,
            limit: 10,
        };
        let at = |mins: i64| {
            d.analytics(&f, t0() + TimeDelta::minutes(mins)).unwrap().1["analytics"].clone()
        };
        assert_eq!(at(60), at(60));
        for k in ["likes", "comments", "shares", "views"] {
            assert!(at(60 * 24)[k].as_u64() >= at(60)[k].as_u64());
        }
        assert!(at(600)["views"].as_u64() > at(10)["views"].as_u64());
    }

    #[test]
    fn consent_and_media_are_required() {
        let mut d = Data::new(None, None);
        let mut b = body("sandbox_public", "a", "SELF_ONLY");
        b["tiktokSettings"]["express_consent_given"] = json!(false);
        assert_eq!(d.create(&b, 15, t0()).unwrap_err().status, 400);
        let mut b = body("sandbox_public", "a", "SELF_ONLY");
        b["mediaItems"] = json!([]);
        assert_eq!(d.create(&b, 15, t0()).unwrap_err().status, 400);
        let mut b = body("sandbox_private", "a", "SELF_ONLY");
        b["tiktokSettings"]["allow_duet"] = json!(true);
        let r = d.create(&b, 15, t0()).unwrap_err();
        assert_eq!(r.body["code"], "interaction_disabled");
    }

    #[test]
    fn markers_fail_and_retry_after_edit_publishes() {
        let mut d = Data::new(None, None);
        let mut b = body("sandbox_public", "x", "SELF_ONLY");
        b["mediaItems"] = json!([{"type": "video", "url": "https://media.invalid/v.mp4"}]);
        let (status, post, events) = d.create(&b, 15, t0()).unwrap();
        assert_eq!(status, 207);
        assert_eq!(post.status, PostStatus::Failed);
        assert_eq!(events[0].name, "post.failed");
        let (status, _, _) = d.retry(&post.id, t0()).unwrap();
        assert_eq!(status, 207);
        d.update(
            &post.id,
            &json!({"mediaItems": [{"type": "video", "url": "https://cdn.example.com/ok.mp4"}]}),
            t0(),
        )
        .unwrap();
        let (status, again, _) = d.retry(&post.id, t0()).unwrap();
        assert_eq!(status, 200);
        assert_eq!(again.status, PostStatus::Published);
    }
}
