//! Zernio's wire shapes, as the gateway reads and writes them.
//!
//! Zernio's API has shipped more than one spec version (ids as `_id` or `id`, `cancelled` missing
//! from older status lists, creator-info interaction settings as booleans or as descriptor
//! objects, populated `accountId` objects), so every type that comes *from* Zernio is decoded
//! through `serde_json::Value` with lenient readers: a missing, null or oddly typed field becomes
//! its default and never fails the decoding of the whole answer. Types still serialise with
//! Zernio's camelCase names, so the Zernio-compatible surface and the sandbox can write them back
//! out unchanged.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Lenient readers, shared with the error mapper and the sandbox.
// ---------------------------------------------------------------------------------------------

/// The first of `keys` that holds a non-empty string (numbers are accepted and printed, since
/// some Zernio ids and TikTok post ids arrive as numbers in older answers).
pub(crate) fn str_at(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// An id that may be a plain string or a populated object (`{"_id": ...}`), as Zernio returns
/// `platforms[].accountId` populated on some endpoints.
pub(crate) fn id_at(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        obj @ Value::Object(_) => str_at(obj, &["_id", "id"]),
        _ => None,
    })
}

pub(crate) fn bool_at(v: &Value, keys: &[&str]) -> Option<bool> {
    keys.iter().find_map(|k| as_bool(v.get(*k)?))
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

pub(crate) fn u64_at(v: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| as_u64(v.get(*k)?))
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.round() as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn time_at(v: &Value, keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter().find_map(|k| parse_time(v.get(*k)?))
}

/// RFC 3339, a date-time without offset (taken as UTC), a plain date, or Unix seconds/millis.
pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_time_str(s),
        Value::Number(n) => {
            let n = n.as_i64()?;
            // Anything past 10^11 cannot be seconds in this century: it is milliseconds.
            if n.abs() > 100_000_000_000 {
                Utc.timestamp_millis_opt(n).single()
            } else {
                Utc.timestamp_opt(n, 0).single()
            }
        }
        _ => None,
    }
}

pub(crate) fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A message held either as a string or as an object with a `message`/`error` string.
pub(crate) fn message_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(_) => str_at(v, &["message", "error", "error_description"]),
        _ => None,
    }
}

fn array_at<'a>(v: &'a Value, keys: &[&str]) -> &'a [Value] {
    keys.iter()
        .find_map(|k| v.get(*k)?.as_array().map(Vec::as_slice))
        .unwrap_or(&[])
}

/// Strings from an array of strings or of `{value, ...}` objects (both spec versions).
fn values_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Object(_) => str_at(item, &["value", "type", "id", "name"]),
            _ => None,
        })
        .collect()
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ser_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(t)),
        None => s.serialize_none(),
    }
}

// ---------------------------------------------------------------------------------------------
// Statuses
// ---------------------------------------------------------------------------------------------

/// A post's overall status. `Other` keeps values a newer spec may add; the older spec has no
/// `cancelled`, which costs nothing here since unknown and missing values are both kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PostStatus {
    Draft,
    Scheduled,
    Publishing,
    Published,
    Partial,
    Failed,
    Cancelled,
    Other(String),
}

impl PostStatus {
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "draft" => Self::Draft,
            "scheduled" => Self::Scheduled,
            "publishing" | "processing" => Self::Publishing,
            "published" => Self::Published,
            "partial" => Self::Partial,
            "failed" => Self::Failed,
            "cancelled" | "canceled" => Self::Cancelled,
            _ => Self::Other(s.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Publishing => "publishing",
            Self::Published => "published",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Other(s) => s,
        }
    }
}

impl Serialize for PostStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PostStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(Self::parse(v.as_str().unwrap_or_default()))
    }
}

/// One platform's status inside a post.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PlatformState {
    Pending,
    Processing,
    Publishing,
    Uploading,
    Published,
    Failed,
    Cancelled,
    Other(String),
}

impl PlatformState {
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Self::Pending,
            "processing" => Self::Processing,
            "publishing" => Self::Publishing,
            "uploading" => Self::Uploading,
            "published" => Self::Published,
            "failed" => Self::Failed,
            "cancelled" | "canceled" => Self::Cancelled,
            _ => Self::Other(s.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Publishing => "publishing",
            Self::Uploading => "uploading",
            Self::Published => "published",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Other(s) => s,
        }
    }
}

impl Serialize for PlatformState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PlatformState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(Self::parse(v.as_str().unwrap_or_default()))
    }
}

// ---------------------------------------------------------------------------------------------
// Posts
// ---------------------------------------------------------------------------------------------

/// A Zernio post. Decodes from Zernio's post object, and also from the `post` of a Zernio webhook
/// (`id`, `publishedUrl`, `error`), so the webhook receiver can reuse it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "Value")]
pub struct Post {
    #[serde(rename = "_id")]
    pub id: String,
    pub content: String,
    pub status: PostStatus,
    #[serde(serialize_with = "ser_time", skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(serialize_with = "ser_time", skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    pub platforms: Vec<PlatformStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(serialize_with = "ser_time", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    pub media_items: Vec<Value>,
    /// The post's TikTok settings when Zernio echoes them; carries `draft: true` for a Creator
    /// Inbox post (see [`Post::is_creator_inbox_draft`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiktok_settings: Option<Value>,
}

impl From<Value> for Post {
    fn from(v: Value) -> Self {
        let platforms = array_at(&v, &["platforms"])
            .iter()
            .map(|p| PlatformStatus::from(p.clone()))
            .collect();
        let metadata = v.get("metadata").filter(|m| !m.is_null()).cloned();
        let tiktok_settings = v
            .get("tiktokSettings")
            .or_else(|| v.get("tiktok_settings"))
            .filter(|m| m.is_object())
            .cloned();
        Post {
            id: id_at(&v, &["_id", "id", "postId"]).unwrap_or_default(),
            content: str_at(&v, &["content"]).unwrap_or_default(),
            status: PostStatus::parse(&str_at(&v, &["status"]).unwrap_or_default()),
            scheduled_for: time_at(&v, &["scheduledFor", "scheduled_for"]),
            timezone: str_at(&v, &["timezone"]),
            published_at: time_at(&v, &["publishedAt", "published_at"]),
            platforms,
            metadata,
            created_at: time_at(&v, &["createdAt", "created_at"]),
            updated_at: time_at(&v, &["updatedAt", "updated_at"]),
            media_items: array_at(&v, &["mediaItems", "media_items"]).to_vec(),
            tiktok_settings,
        }
    }
}

impl Post {
    /// The TikTok entry of `platforms` (the gateway only ever creates single-platform posts).
    pub fn tiktok(&self) -> Option<&PlatformStatus> {
        self.platforms
            .iter()
            .find(|p| p.platform.eq_ignore_ascii_case("tiktok"))
            .or_else(|| self.platforms.first())
    }

    /// A string metadata value, the way the gateway tags its creates.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }

    /// Whether this post went (or goes) to the creator's TikTok inbox instead of being
    /// published: `tiktokSettings.draft` on the post, or the same flag in the TikTok entry's
    /// `platformSpecificData`.
    pub fn is_creator_inbox_draft(&self) -> bool {
        let flag = |v: &Value| bool_at(v, &["draft"]).unwrap_or(false);
        self.tiktok_settings.as_ref().is_some_and(flag)
            || self
                .tiktok()
                .and_then(|p| p.platform_specific_data.as_ref())
                .is_some_and(flag)
    }
}

/// One platform's part of a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "Value")]
pub struct PlatformStatus {
    pub platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub status: PlatformState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_post_id: Option<String>,
    /// `platformPostUrl`, or `publishedUrl` in webhooks. TikTok's URL may be empty at first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_post_url: Option<String>,
    #[serde(serialize_with = "ser_time", skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_specific_data: Option<Value>,
}

impl From<Value> for PlatformStatus {
    fn from(v: Value) -> Self {
        let error_message = str_at(&v, &["errorMessage", "error_message"])
            .or_else(|| v.get("error").and_then(message_of));
        PlatformStatus {
            platform: str_at(&v, &["platform"]).unwrap_or_default(),
            account_id: id_at(&v, &["accountId", "account_id", "account"]),
            status: PlatformState::parse(&str_at(&v, &["status"]).unwrap_or_default()),
            platform_post_id: str_at(&v, &["platformPostId", "platform_post_id"]),
            platform_post_url: str_at(
                &v,
                &[
                    "platformPostUrl",
                    "publishedUrl",
                    "platform_post_url",
                    "url",
                ],
            ),
            published_at: time_at(&v, &["publishedAt", "published_at"]),
            error_message,
            error_category: str_at(&v, &["errorCategory", "error_category"]),
            error_source: str_at(&v, &["errorSource", "error_source"]),
            platform_specific_data: v
                .get("platformSpecificData")
                .filter(|d| d.is_object())
                .cloned(),
        }
    }
}

/// What a create answered: 201 created, 200 idempotent replay (or dry run), 207 accepted with a
/// post Zernio will retry itself (`scheduled`). A 207 whose post is `partial`/`failed` is an
/// [`UpstreamError`](super::UpstreamError) instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateOutcome {
    pub status: u16,
    pub post: Post,
    pub warnings: Vec<String>,
    pub message: Option<String>,
}

/// `warnings` may be strings or `{message}` objects depending on the spec version.
pub(crate) fn warnings_of(v: &Value) -> Vec<String> {
    array_at(v, &["warnings"])
        .iter()
        .filter_map(message_of)
        .collect()
}

/// Filters for `GET /v1/posts`. `platform=tiktok` is always sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPosts {
    pub page: Option<u32>,
    /// At most 500 (Zernio's cap); larger values are clamped.
    pub limit: Option<u32>,
    pub status: Option<String>,
    pub account_id: Option<String>,
    /// Sent as the day (`format: date` in Zernio's spec): Zernio filters by whole days.
    pub from_date: Option<DateTime<Utc>>,
    pub to_date: Option<DateTime<Utc>>,
    /// One of the spec's `sortBy` values, e.g. `created-desc`; Zernio's default is
    /// `scheduled-desc`.
    pub sort_by: Option<&'static str>,
}

/// One page of posts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostPage {
    pub posts: Vec<Post>,
    pub page: u32,
    pub limit: u32,
    pub total: u64,
    pub pages: u32,
}

impl PostPage {
    /// `{posts, pagination{page, limit, total, pages}}`; a missing pagination is derived from
    /// what was asked and what came back, so a short page still ends the paging.
    pub(crate) fn from_value(v: &Value, asked_page: u32, asked_limit: u32) -> Self {
        let posts: Vec<Post> = array_at(v, &["posts", "data"])
            .iter()
            .map(|p| Post::from(p.clone()))
            .collect();
        let pg = v.get("pagination").unwrap_or(&Value::Null);
        let page = u64_at(pg, &["page"]).unwrap_or(asked_page.into()) as u32;
        let limit = u64_at(pg, &["limit"]).unwrap_or(asked_limit.into()) as u32;
        let total = u64_at(pg, &["total"]).unwrap_or_else(|| {
            u64::from(page.saturating_sub(1)) * u64::from(limit) + posts.len() as u64
        });
        let pages = u64_at(pg, &["pages", "totalPages"]).unwrap_or_else(|| {
            if limit == 0 {
                page.into()
            } else {
                total.div_ceil(limit.into())
            }
        }) as u32;
        PostPage {
            posts,
            page,
            limit,
            total,
            pages,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts and creator info
// ---------------------------------------------------------------------------------------------

/// A connected social account (`GET /v1/accounts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "Value")]
pub struct Account {
    #[serde(rename = "_id")]
    pub id: String,
    pub platform: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Absent means active: Zernio lists connected accounts, and an older spec omits the field.
    pub is_active: bool,
    pub needs_reconnection: bool,
}

impl From<Value> for Account {
    fn from(v: Value) -> Self {
        Account {
            id: id_at(&v, &["_id", "id", "accountId"]).unwrap_or_default(),
            platform: str_at(&v, &["platform"]).unwrap_or_default(),
            username: str_at(&v, &["username", "handle"]).unwrap_or_default(),
            display_name: str_at(&v, &["displayName", "display_name", "name"]),
            is_active: bool_at(&v, &["isActive", "is_active"]).unwrap_or(true),
            needs_reconnection: bool_at(&v, &["needsReconnection", "needs_reconnection"])
                .unwrap_or(false),
        }
    }
}

/// `mediaType` of the creator-info look-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Video,
    Photo,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Video => "video",
            MediaKind::Photo => "photo",
        }
    }
}

/// A creator's posting options, normalised from either creator-info shape.
///
/// The `*_disabled` flags follow TikTok's own naming (`comment_disabled`, ...): `true` means the
/// creator turned the interaction off in the TikTok app, so a post must not turn it on. They are
/// read from, in order:
/// - the newer descriptor objects, `interactionSettings.allow_duet = {enabled, required, default,
///   label}`: disabled = `enabled == false`, or `disabled == true` if that is what is sent;
///   `null` (Zernio sends it for duet/stitch when `mediaType=photo`) means "not applicable", read
///   as not disabled;
/// - the older plain booleans, `allow_duet: false`: the creator does not allow it, so disabled.
///   The boolean describes availability, never the value a user selected;
/// - TikTok's raw `comment_disabled`/`duet_disabled`/`stitch_disabled`, if passed through.
///
/// With none of these present the flag is `false`: TikTok re-checks at publish time anyway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "Value")]
pub struct CreatorInfo {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub is_verified: bool,
    /// `canPostMore`; absent means Zernio did not say, read as `true`.
    pub can_post_more: bool,
    pub privacy_levels: Vec<String>,
    pub max_video_duration_sec: Option<u32>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    pub commercial_content_types: Vec<String>,
}

impl From<Value> for CreatorInfo {
    fn from(v: Value) -> Self {
        // TikTok's raw creator_info nests everything under `data`; Zernio's answer is flat.
        let v = match v.get("data") {
            Some(d) if d.is_object() && v.get("creator").is_none() => d.clone(),
            _ => v,
        };
        let creator = v.get("creator").filter(|c| c.is_object()).unwrap_or(&v);
        let limits = v
            .get("postingLimits")
            .or_else(|| v.get("posting_limits"))
            .unwrap_or(&Value::Null);
        let interactions = limits
            .get("interactionSettings")
            .or_else(|| limits.get("interaction_settings"))
            .or_else(|| v.get("interactionSettings"))
            .unwrap_or(&Value::Null);
        let disabled = |allow: &[&str], raw: &[&str]| -> bool {
            for key in allow {
                match interactions.get(*key) {
                    Some(d @ Value::Object(_)) => {
                        if let Some(enabled) = bool_at(d, &["enabled", "allowed", "available"]) {
                            return !enabled;
                        }
                        if let Some(disabled) = bool_at(d, &["disabled"]) {
                            return disabled;
                        }
                        return false;
                    }
                    Some(other) => {
                        if let Some(allowed) = as_bool(other) {
                            return !allowed;
                        }
                    }
                    None => {}
                }
            }
            bool_at(interactions, raw)
                .or_else(|| bool_at(&v, raw))
                .unwrap_or(false)
        };
        let privacy_levels = values_of(array_at(
            &v,
            &["privacyLevels", "privacy_levels", "privacy_level_options"],
        ));
        CreatorInfo {
            nickname: str_at(creator, &["nickname", "creator_nickname", "displayName"]),
            avatar_url: str_at(creator, &["avatarUrl", "avatar_url", "creator_avatar_url"]),
            is_verified: bool_at(creator, &["isVerified", "is_verified"]).unwrap_or(false),
            can_post_more: bool_at(creator, &["canPostMore", "can_post_more"])
                .or_else(|| bool_at(&v, &["canPostMore"]))
                .unwrap_or(true),
            privacy_levels,
            max_video_duration_sec: u64_at(
                limits,
                &["maxVideoDurationSec", "max_video_duration_sec"],
            )
            .or_else(|| u64_at(&v, &["maxVideoDurationSec", "max_video_post_duration_sec"]))
            .map(|s| s.min(u64::from(u32::MAX)) as u32),
            comment_disabled: disabled(
                &["allow_comment", "allowComment"],
                &["comment_disabled", "commentDisabled"],
            ),
            duet_disabled: disabled(
                &["allow_duet", "allowDuet"],
                &["duet_disabled", "duetDisabled"],
            ),
            stitch_disabled: disabled(
                &["allow_stitch", "allowStitch"],
                &["stitch_disabled", "stitchDisabled"],
            ),
            commercial_content_types: values_of(array_at(
                &v,
                &["commercialContentTypes", "commercial_content_types"],
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------------------------

/// `POST /v1/media/presign` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignRequest {
    pub filename: String,
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// Where to PUT the file and the URL to use in `mediaItems` afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "Value")]
pub struct Presigned {
    pub upload_url: String,
    pub public_url: String,
    pub key: String,
    pub expires_in: Option<u64>,
}

impl From<Value> for Presigned {
    fn from(v: Value) -> Self {
        Presigned {
            upload_url: str_at(&v, &["uploadUrl", "upload_url"]).unwrap_or_default(),
            public_url: str_at(&v, &["publicUrl", "public_url", "url"]).unwrap_or_default(),
            key: str_at(&v, &["key"]).unwrap_or_default(),
            expires_in: u64_at(&v, &["expiresIn", "expires_in"]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Analytics
// ---------------------------------------------------------------------------------------------

/// Filters for `GET /v1/analytics`. `platform=tiktok` is always sent; dates go as `YYYY-MM-DD`
/// as Zernio's reference shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalyticsQuery {
    pub account_id: Option<String>,
    pub post_id: Option<String>,
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    pub limit: Option<u32>,
    pub page: Option<u32>,
}

/// An analytics answer. Only the four figures the reference lists for TikTok are typed; the rest
/// (overview, impressions, platform breakdowns, ...) is passed through as Zernio sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Value")]
pub struct Analytics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overview: Option<Value>,
    pub posts: Vec<AnalyticsPost>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Value>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl From<Value> for Analytics {
    fn from(v: Value) -> Self {
        let Value::Object(mut map) = v else {
            return Analytics {
                overview: None,
                posts: Vec::new(),
                pagination: None,
                rest: Map::new(),
            };
        };
        let posts = match map.remove("posts") {
            Some(Value::Array(items)) => items.into_iter().map(AnalyticsPost::from).collect(),
            // With `postId` Zernio answers with the one post at the top level.
            _ if map.contains_key("analytics") || map.contains_key("postId") => {
                let single = Value::Object(std::mem::take(&mut map));
                vec![AnalyticsPost::from(single)]
            }
            _ => Vec::new(),
        };
        Analytics {
            overview: map.remove("overview"),
            pagination: map.remove("pagination"),
            posts,
            rest: map,
        }
    }
}

/// One post's analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Value")]
pub struct AnalyticsPost {
    /// `_id` or `postId` as Zernio sent it.
    #[serde(skip)]
    pub id: Option<String>,
    /// The Zernio post id when the record names one separately (`latePostId`/`zernioPostId`);
    /// see [`AnalyticsPost::post_id`].
    #[serde(skip)]
    pub zernio_post_id: Option<String>,
    pub analytics: PostMetrics,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl AnalyticsPost {
    /// The Zernio post id this record is about.
    pub fn post_id(&self) -> Option<&str> {
        self.zernio_post_id.as_deref().or(self.id.as_deref())
    }
}

impl From<Value> for AnalyticsPost {
    fn from(v: Value) -> Self {
        let id = id_at(&v, &["_id", "postId", "id"]);
        let zernio_post_id = id_at(&v, &["latePostId", "zernioPostId"]);
        let Value::Object(mut map) = v else {
            return AnalyticsPost {
                id,
                zernio_post_id,
                analytics: PostMetrics::from(Value::Null),
                rest: Map::new(),
            };
        };
        let analytics = PostMetrics::from(map.remove("analytics").unwrap_or(Value::Null));
        AnalyticsPost {
            id,
            zernio_post_id,
            analytics,
            rest: map,
        }
    }
}

/// Likes, comments, shares and views; other figures pass through in `rest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Value")]
pub struct PostMetrics {
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub views: u64,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl From<Value> for PostMetrics {
    fn from(v: Value) -> Self {
        let Value::Object(mut map) = v else {
            return PostMetrics::default();
        };
        let mut take = |key: &str| map.remove(key).as_ref().and_then(as_u64).unwrap_or(0);
        let likes = take("likes");
        let comments = take("comments");
        let shares = take("shares");
        let views = take("views");
        PostMetrics {
            likes,
            comments,
            shares,
            views,
            rest: map,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks and rate limits
// ---------------------------------------------------------------------------------------------

/// `POST /v1/webhooks/settings` body. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub is_active: bool,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("events", &self.events)
            .field("is_active", &self.is_active)
            .finish()
    }
}

/// The last `X-RateLimit-*` headers Zernio sent. Each field is `None` when that header was
/// missing or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimitInfo {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`, Unix seconds.
    pub reset: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn post_tolerates_both_ids_missing_fields_and_unknown_status() {
        let p: Post =
            serde_json::from_value(json!({"_id": "a", "id": "b", "status": "queued"})).unwrap();
        assert_eq!(p.id, "a");
        assert_eq!(p.status, PostStatus::Other("queued".into()));
        assert!(p.platforms.is_empty());
        let p: Post =
            serde_json::from_value(json!({"id": 12, "content": null, "scheduledFor": "garbage"}))
                .unwrap();
        assert_eq!(p.id, "12");
        assert_eq!(p.content, "");
        assert_eq!(p.scheduled_for, None);
        let p: Post = serde_json::from_value(json!("not an object")).unwrap();
        assert_eq!(p.id, "");
    }

    #[test]
    fn platform_entry_reads_webhook_names_and_populated_account() {
        let p: PlatformStatus = serde_json::from_value(json!({
            "platform": "tiktok", "status": "published",
            "accountId": {"_id": "acc_1", "username": "x"},
            "publishedUrl": "https://www.tiktok.com/@x/video/1", "error": {"message": "boom"}
        }))
        .unwrap();
        assert_eq!(p.account_id.as_deref(), Some("acc_1"));
        assert_eq!(
            p.platform_post_url.as_deref(),
            Some("https://www.tiktok.com/@x/video/1")
        );
        assert_eq!(p.error_message.as_deref(), Some("boom"));
        assert_eq!(p.status, PlatformState::Published);
    }

    #[test]
    fn post_serialises_in_zernio_names() {
        let p: Post = serde_json::from_value(json!({
            "_id": "p1", "status": "cancelled", "scheduledFor": "2026-01-02T03:04:05Z",
            "platforms": [{"platform": "tiktok", "accountId": "a", "status": "cancelled"}]
        }))
        .unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["_id"], "p1");
        assert_eq!(v["status"], "cancelled");
        assert_eq!(v["scheduledFor"], "2026-01-02T03:04:05.000Z");
        assert_eq!(v["platforms"][0]["accountId"], "a");
        let back: Post = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn creator_info_new_shape() {
        let c: CreatorInfo = serde_json::from_value(json!({
            "creator": {"nickname": "N", "avatarUrl": "https://a", "isVerified": true, "canPostMore": false},
            "privacyLevels": [{"value": "FOLLOWER_OF_CREATOR", "label": "Followers"}, {"value": "SELF_ONLY"}],
            "postingLimits": {"maxVideoDurationSec": 600, "interactionSettings": {
                "allow_comment": {"enabled": true, "required": true, "default": false},
                "allow_duet": {"enabled": false},
                "allow_stitch": {"disabled": true}
            }},
            "commercialContentTypes": [{"value": "none"}, "brand_organic"]
        }))
        .unwrap();
        assert_eq!(c.nickname.as_deref(), Some("N"));
        assert!(c.is_verified && !c.can_post_more);
        assert_eq!(c.privacy_levels, ["FOLLOWER_OF_CREATOR", "SELF_ONLY"]);
        assert_eq!(c.max_video_duration_sec, Some(600));
        assert!(!c.comment_disabled && c.duet_disabled && c.stitch_disabled);
        assert_eq!(c.commercial_content_types, ["none", "brand_organic"]);
    }

    #[test]
    fn creator_info_old_shape_and_photo_nulls() {
        let c: CreatorInfo = serde_json::from_value(json!({
            "creator": {"nickname": "N"},
            "privacyLevels": ["PUBLIC_TO_EVERYONE"],
            "postingLimits": {"interactionSettings": {"allow_comment": false, "allow_duet": true, "allow_stitch": null}}
        }))
        .unwrap();
        assert!(c.comment_disabled && !c.duet_disabled && !c.stitch_disabled);
        assert!(c.can_post_more);
        assert_eq!(c.max_video_duration_sec, None);
        let raw: CreatorInfo = serde_json::from_value(json!({"data": {
            "creator_nickname": "T", "privacy_level_options": ["SELF_ONLY"],
            "comment_disabled": false, "duet_disabled": true, "stitch_disabled": true,
            "max_video_post_duration_sec": 300
        }}))
        .unwrap();
        assert_eq!(raw.nickname.as_deref(), Some("T"));
        assert!(raw.duet_disabled && raw.stitch_disabled && !raw.comment_disabled);
        assert_eq!(raw.max_video_duration_sec, Some(300));
    }

    #[test]
    fn analytics_list_and_single_shapes() {
        let a: Analytics = serde_json::from_value(json!({
            "overview": {"totalPosts": 1},
            "posts": [{"_id": "x", "latePostId": "p1", "analytics": {"likes": 3, "views": 10.0, "impressions": 7}}],
            "pagination": {"page": 1}
        }))
        .unwrap();
        assert_eq!(a.posts[0].post_id(), Some("p1"));
        assert_eq!(a.posts[0].analytics.views, 10);
        assert_eq!(a.posts[0].analytics.rest["impressions"], 7);
        let single: Analytics = serde_json::from_value(
            json!({"postId": "p2", "analytics": {"shares": 2}, "syncStatus": "synced"}),
        )
        .unwrap();
        assert_eq!(single.posts.len(), 1);
        assert_eq!(single.posts[0].post_id(), Some("p2"));
        assert_eq!(single.posts[0].analytics.shares, 2);
        let out = serde_json::to_value(&a).unwrap();
        assert_eq!(out["posts"][0]["analytics"]["likes"], 3);
        assert_eq!(out["posts"][0]["latePostId"], "p1");
    }

    #[test]
    fn page_without_pagination_is_derived() {
        let p = PostPage::from_value(&json!({"posts": [{"_id": "a"}]}), 2, 10);
        assert_eq!((p.page, p.limit, p.total, p.pages), (2, 10, 11, 2));
    }
}
