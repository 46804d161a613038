//! The one validated TikTok post every inbound shape becomes, and the creator facts it is checked
//! against. A `TikTokPost` only exists once every rule has passed, so code downstream (the
//! normaliser, the duplicate guard, storage) never re-checks anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The four privacy levels TikTok knows. Which of them a creator may use comes from creator-info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrivacyLevel {
    PublicToEveryone,
    MutualFollowFriends,
    FollowerOfCreator,
    SelfOnly,
}

impl PrivacyLevel {
    pub const ALL: [PrivacyLevel; 4] = [
        PrivacyLevel::PublicToEveryone,
        PrivacyLevel::MutualFollowFriends,
        PrivacyLevel::FollowerOfCreator,
        PrivacyLevel::SelfOnly,
    ];

    /// TikTok's own spelling, as sent upstream.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyLevel::PublicToEveryone => "PUBLIC_TO_EVERYONE",
            PrivacyLevel::MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
            PrivacyLevel::FollowerOfCreator => "FOLLOWER_OF_CREATOR",
            PrivacyLevel::SelfOnly => "SELF_ONLY",
        }
    }

    /// A caller's spelling: TikTok's four values or the gateway's aliases, in any case.
    pub fn from_input(text: &str) -> Option<PrivacyLevel> {
        let text = text.trim();
        let alias = |a: &str| text.eq_ignore_ascii_case(a);
        Some(if alias("PUBLIC_TO_EVERYONE") || alias("public") {
            PrivacyLevel::PublicToEveryone
        } else if alias("MUTUAL_FOLLOW_FRIENDS") || alias("friends") {
            PrivacyLevel::MutualFollowFriends
        } else if alias("FOLLOWER_OF_CREATOR") || alias("followers") {
            PrivacyLevel::FollowerOfCreator
        } else if alias("SELF_ONLY") || alias("private") {
            PrivacyLevel::SelfOnly
        } else {
            return None;
        })
    }
}

/// Everything the caller knows about the creator from TikTok's creator-info (optional).
/// An empty `privacy_levels` means "not known" rather than "none allowed": creator-info always
/// lists at least one level, so an empty list can only come from a caller that did not look.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreatorConstraints {
    pub privacy_levels: Vec<PrivacyLevel>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    pub max_video_duration_sec: Option<u32>,
}

/// The media formats TikTok accepts; anything else never becomes a `TikTokPost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Mp4,
    Mov,
    Webm,
}

impl Format {
    pub fn is_image(self) -> bool {
        matches!(self, Format::Jpeg | Format::Png | Format::Webp)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Webp => "WebP",
            Format::Mp4 => "MP4",
            Format::Mov => "MOV",
            Format::Webm => "WebM",
        }
    }

    /// From a file extension without the dot, in any case.
    pub fn from_extension(ext: &str) -> Option<Format> {
        const EXTENSIONS: [(&str, Format); 7] = [
            ("jpg", Format::Jpeg),
            ("jpeg", Format::Jpeg),
            ("png", Format::Png),
            ("webp", Format::Webp),
            ("mp4", Format::Mp4),
            ("mov", Format::Mov),
            ("webm", Format::Webm),
        ];
        EXTENSIONS
            .iter()
            .find(|(e, _)| ext.eq_ignore_ascii_case(e))
            .map(|(_, f)| *f)
    }

    /// From a declared MIME type; parameters such as `; codecs=...` are ignored.
    pub fn from_mime(mime: &str) -> Option<Format> {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        let is = |m: &str| essence.eq_ignore_ascii_case(m);
        Some(if is("image/jpeg") || is("image/jpg") {
            Format::Jpeg
        } else if is("image/png") {
            Format::Png
        } else if is("image/webp") {
            Format::Webp
        } else if is("video/mp4") {
            Format::Mp4
        } else if is("video/quicktime") {
            Format::Mov
        } else if is("video/webm") {
            Format::Webm
        } else {
            return None;
        })
    }
}

/// Branded-content disclosure, TikTok's `commercialContentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommercialType {
    None,
    BrandOrganic,
    BrandContent,
}

impl CommercialType {
    pub const ALL: [CommercialType; 3] = [
        CommercialType::None,
        CommercialType::BrandOrganic,
        CommercialType::BrandContent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommercialType::None => "none",
            CommercialType::BrandOrganic => "brand_organic",
            CommercialType::BrandContent => "brand_content",
        }
    }

    pub fn from_input(text: &str) -> Option<CommercialType> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|t| text.eq_ignore_ascii_case(t.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Video {
    pub url: String,
    pub format: Format,
    /// `None` leaves TikTok's default frame (1,000 ms) in place.
    pub cover_timestamp_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    pub url: String,
    pub format: Format,
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Media {
    Video(Video),
    Photos {
        items: Vec<Photo>,
        cover_index: Option<usize>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledAt {
    pub at: DateTime<Utc>,
    /// IANA name, checked against the tz database; Zernio shows the post in it.
    pub timezone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Schedule {
    Now,
    At(ScheduledAt),
    /// The creator's TikTok inbox, to finish in the app; delivered now or at the given time.
    Draft {
        scheduled: Option<ScheduledAt>,
    },
    /// A Zernio draft: kept in Zernio, sent to TikTok only once it is published (Zernio's own
    /// default for a create that names no time; the native shape never asks for it). `inbox`:
    /// once published, it goes to the creator's TikTok inbox.
    Saved {
        inbox: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interactions {
    pub allow_comment: bool,
    /// `None` on photo posts, where TikTok has no duet or stitch.
    pub allow_duet: Option<bool>,
    pub allow_stitch: Option<bool>,
}

/// Both flags are always true on a validated post; they are kept so the payload is built from
/// what the caller asserted, never from a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub content_preview_confirmed: bool,
    pub express_consent_given: bool,
}

/// One validated TikTok post, whatever shape it arrived in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TikTokPost {
    pub account: String,
    /// The text sent as `content`: a video's caption, or a photo post's title as the gateway built
    /// it (hashtags and URLs stripped, at most 90 UTF-16 units). Empty when there is none.
    pub caption: String,
    pub media: Media,
    /// The long caption of a photo post (`tiktokSettings.description`).
    pub description: Option<String>,
    /// `None` only on a Creator Inbox video draft: TikTok's inbox endpoint takes the media alone,
    /// and the creator picks privacy and interactions in the app.
    pub privacy: Option<PrivacyLevel>,
    pub interactions: Option<Interactions>,
    /// Photo posts only.
    pub auto_add_music: Option<bool>,
    pub ai_generated: Option<bool>,
    pub commercial: Option<CommercialType>,
    pub schedule: Schedule,
    pub consent: Consent,
    pub metadata: Option<Value>,
}

impl TikTokPost {
    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn kind(&self) -> &'static str {
        match self.media {
            Media::Video(_) => "video",
            Media::Photos { .. } => "photo",
        }
    }

    pub fn mode(&self) -> &'static str {
        match self.schedule {
            Schedule::Now => "now",
            Schedule::At(_) => "scheduled",
            Schedule::Draft { .. } => "draft",
            Schedule::Saved { .. } => "saved",
        }
    }

    /// Whether the post reaches TikTok when created (not a Zernio draft): only those take a
    /// daily slot and a content claim.
    pub fn reaches_tiktok(&self) -> bool {
        !matches!(self.schedule, Schedule::Saved { .. })
    }

    pub fn schedule_at(&self) -> Option<DateTime<Utc>> {
        match &self.schedule {
            Schedule::At(s) | Schedule::Draft { scheduled: Some(s) } => Some(s.at),
            Schedule::Now | Schedule::Draft { scheduled: None } | Schedule::Saved { .. } => None,
        }
    }

    /// The photo title as it will be posted; `None` for a video.
    pub fn title(&self) -> Option<&str> {
        match self.media {
            Media::Photos { .. } => Some(&self.caption),
            Media::Video(_) => None,
        }
    }

    pub fn media_urls(&self) -> Vec<&str> {
        match &self.media {
            Media::Video(v) => vec![v.url.as_str()],
            Media::Photos { items, .. } => items.iter().map(|p| p.url.as_str()).collect(),
        }
    }

    /// A stable key for "the same account, caption and media" (the duplicate guard). FNV-1a 64
    /// because std's hashers may change between Rust releases and stored keys must not; it is
    /// not a security boundary.
    pub fn content_fingerprint(&self) -> String {
        let mut hash = Fnv1a::new();
        hash.field(self.account.as_bytes());
        hash.field(self.caption.as_bytes());
        for url in self.media_urls() {
            hash.field(url.as_bytes());
        }
        format!("fnv1a64:{:016x}", hash.0)
    }
}

struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
    fn field(&mut self, bytes: &[u8]) {
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        let hash = |s: &str| {
            let mut h = Fnv1a::new();
            h.bytes(s.as_bytes());
            h.0
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn privacy_aliases_and_spellings() {
        for (text, level) in [
            ("public", PrivacyLevel::PublicToEveryone),
            ("Friends", PrivacyLevel::MutualFollowFriends),
            ("FOLLOWERS", PrivacyLevel::FollowerOfCreator),
            (" private ", PrivacyLevel::SelfOnly),
            ("self_only", PrivacyLevel::SelfOnly),
        ] {
            assert_eq!(PrivacyLevel::from_input(text), Some(level), "{text}");
        }
        assert_eq!(PrivacyLevel::from_input("everyone"), None);
        assert_eq!(
            serde_json::to_value(PrivacyLevel::FollowerOfCreator).ok(),
            Some(serde_json::json!("FOLLOWER_OF_CREATOR"))
        );
    }

    #[test]
    fn formats_from_extension_and_mime() {
        assert_eq!(Format::from_extension("JPG"), Some(Format::Jpeg));
        assert_eq!(Format::from_extension("MoV"), Some(Format::Mov));
        assert_eq!(Format::from_extension("gif"), None);
        assert_eq!(Format::from_mime("video/quicktime"), Some(Format::Mov));
        assert_eq!(
            Format::from_mime("video/webm; codecs=vp9"),
            Some(Format::Webm)
        );
        assert_eq!(Format::from_mime("image/gif"), None);
    }
}
