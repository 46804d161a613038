//! The request shapes as the OpenAPI document shows them. Handlers read bodies as JSON values
//! and hand them to `tiktok::prepare`, which owns the real parsing (so that every mistake is
//! reported as a rule violation, all at once, instead of serde stopping at the first); these
//! types only describe that contract to callers and to schema-driven test tools.
#![allow(dead_code)] // read by utoipa's derive, never constructed

use serde::Deserialize;
use utoipa::ToSchema;

/// TikTok's four privacy levels, or the aliases `public`, `friends`, `followers`, `private`.
#[derive(Deserialize, ToSchema)]
pub enum Privacy {
    #[serde(rename = "PUBLIC_TO_EVERYONE")]
    PublicToEveryone,
    #[serde(rename = "MUTUAL_FOLLOW_FRIENDS")]
    MutualFollowFriends,
    #[serde(rename = "FOLLOWER_OF_CREATOR")]
    FollowerOfCreator,
    #[serde(rename = "SELF_ONLY")]
    SelfOnly,
    #[serde(rename = "public")]
    Public,
    #[serde(rename = "friends")]
    Friends,
    #[serde(rename = "followers")]
    Followers,
    #[serde(rename = "private")]
    Private,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Commercial {
    None,
    BrandOrganic,
    BrandContent,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoInput {
    /// A direct https link to an MP4, MOV or WebM file (not a share page).
    #[schema(example = "https://cdn.example.com/sunset-video.mp4")]
    pub url: String,
    /// Which frame is the cover, in milliseconds from the start.
    pub cover_timestamp_ms: Option<u64>,
    /// When known, checked against 3 s to 10 min and the creator's maximum.
    pub duration_ms: Option<u64>,
    /// When known, checked against 4 GB.
    pub size_bytes: Option<u64>,
    /// When the URL has no telling extension: video/mp4, video/quicktime, video/webm.
    pub mime_type: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoInput {
    /// A direct https link to a JPEG, PNG or WebP image.
    #[schema(example = "https://cdn.example.com/photo1.jpg")]
    pub url: String,
    /// When known, checked against 20 MB.
    pub size_bytes: Option<u64>,
    /// When the URL has no telling extension: image/jpeg, image/png, image/webp.
    pub mime_type: Option<String>,
}

/// TikTok requires both, every time; the gateway never assumes them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub content_preview_confirmed: bool,
    pub express_consent_given: bool,
}

/// A TikTok post in the gateway's own shape: one video or up to 35 photos. Unknown fields are
/// refused, so a typo is never silently dropped.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NativePost {
    /// The Zernio account id of a TikTok account of your tenant.
    #[schema(example = "sandbox_public")]
    pub account: String,
    /// The caption (video: up to 2,200 UTF-16 units); for photos the title is built from it
    /// when `title` is absent.
    #[schema(example = "Check out this amazing sunset! #sunset #nature")]
    pub caption: Option<String>,
    pub video: Option<VideoInput>,
    pub photos: Option<Vec<PhotoInput>>,
    /// Which photo is the cover (0-based).
    pub photo_cover_index: Option<u32>,
    /// Photo posts: the title (hashtags and URLs stripped, cut to 90 characters).
    pub title: Option<String>,
    /// Photo posts: the caption below the carousel, up to 4,000 UTF-16 units.
    pub description: Option<String>,
    pub privacy: Option<Privacy>,
    pub allow_comment: Option<bool>,
    /// Videos only.
    pub allow_duet: Option<bool>,
    /// Videos only.
    pub allow_stitch: Option<bool>,
    /// Photo posts only: let TikTok add music.
    pub auto_add_music: Option<bool>,
    /// AI-generated content disclosure.
    pub ai_generated: Option<bool>,
    pub commercial: Option<Commercial>,
    /// When to publish (RFC 3339, or a local time in `timezone`); absent publishes now.
    #[schema(example = "2027-09-01T09:00:00Z")]
    pub schedule_at: Option<String>,
    /// IANA time zone of `schedule_at`.
    #[schema(example = "Europe/Berlin")]
    pub timezone: Option<String>,
    /// Send to the creator's TikTok inbox (Creator Inbox) instead of publishing.
    pub draft: Option<bool>,
    pub consent: Option<ConsentInput>,
    /// Passed through to Zernio and echoed in webhooks.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}
