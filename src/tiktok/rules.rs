//! Every limit of the reference (`zernio-tiktok-api.txt`, UPSTREAM.md) under its own name with
//! the reference's figure beside it, and the rules that enforce them. Each rule reports
//! `{field, code, message, fix}`: the message quotes the limit and the value that broke it, the
//! fix says what to do (the reference's "Fix" column where it has one). Violations are reported
//! in the order `Rule` declares them, then in the order of the request (stable sort).

use chrono::{DateTime, LocalResult, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use url::Url;

use super::inbound::{Draft, F, Kind, MediaDraft};
use super::post::{CommercialType, CreatorConstraints, Format, Interactions, PrivacyLevel};
use super::post::{Schedule, ScheduledAt};

// ---- the limits ----

/// reference: "Character limit | 2,200 (video caption), 4,000 (photo desc)"; UPSTREAM.md:
/// "Video title up to 2,200 UTF-16 units".
pub const MAX_VIDEO_CAPTION_UTF16: usize = 2_200;
/// reference: "Character limit | ... 4,000 (photo desc)".
pub const MAX_PHOTO_DESCRIPTION_UTF16: usize = 4_000;
/// reference: "Photo title | 90 chars (auto-truncated, hashtags stripped)".
pub const MAX_PHOTO_TITLE_UTF16: usize = 90;
/// How far ahead a post may be scheduled unless configured otherwise (`[posts]
/// schedule_horizon_days`): a year. Zernio and TikTok name no limit, but a schedule years
/// ahead (year 9999 was accepted) is a typo or a probe, and holds a daily slot for nothing.
pub const DEFAULT_SCHEDULE_HORIZON_DAYS: u32 = 365;
/// reference: "Photos per post | 35 (carousel)".
pub const MAX_IMAGES: usize = 35;
/// reference: "Videos per post | 1".
pub const MAX_VIDEOS: usize = 1;
/// reference: "Photo max size | 20 MB". Read as binary megabytes (20 x 1,024 x 1,024 bytes), as
/// file managers show them; a file the caller sees as "20 MB" is accepted.
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
/// reference: "Video max size | 4 GB", binary like `MAX_IMAGE_BYTES`.
pub const MAX_VIDEO_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// reference: "Video duration | 3 sec - 10 min".
pub const MIN_VIDEO_DURATION_MS: u64 = 3_000;
/// reference: "Video duration | 3 sec - 10 min".
pub const MAX_VIDEO_DURATION_MS: u64 = 600_000;
/// reference: "Photo formats | JPEG, PNG, WebP".
pub const IMAGE_FORMATS: [Format; 3] = [Format::Jpeg, Format::Png, Format::Webp];
/// reference: "Video formats | MP4, MOV, WebM".
pub const VIDEO_FORMATS: [Format; 3] = [Format::Mp4, Format::Mov, Format::Webm];
/// reference: "These do not work as media URLs: Google Drive, Dropbox, OneDrive / SharePoint,
/// iCloud" (they serve an HTML page). `dl.dropboxusercontent.com` serves the file itself, so it
/// is not listed.
pub const SHARE_PAGE_HOSTS: &[&str] = &[
    "drive.google.com",
    "docs.google.com",
    "dropbox.com",
    "www.dropbox.com",
    "onedrive.live.com",
    "1drv.ms",
    "sharepoint.com",
    "icloud.com",
    "www.icloud.com",
];
/// Every SharePoint tenant has its own host (`contoso.sharepoint.com`).
pub const SHARE_PAGE_HOST_SUFFIXES: &[&str] = &[".sharepoint.com"];

pub const PRIVACY_CHOICES: &str = "PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR or SELF_ONLY (aliases: public, friends, followers, private)";
pub(crate) const ACCOUNT_FIX: &str = "Give the Zernio account id of the TikTok account to post to (GET /v1/tiktok/accounts lists yours).";

// ---- what the rules report ----

/// A reason the request is refused; all of them are reported at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Where in the request, in the caller's own spelling (`photos[3].url`, `tiktokSettings.privacyLevel`).
    pub field: String,
    pub code: &'static str,
    pub message: String,
    pub fix: String,
}

/// Something the gateway changed or ignored, reported with a successful result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// Every rule, in the order its violations are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    UnknownField,
    InvalidType,
    PlatformNotSupported,
    TooManyAccounts,
    AccountRequired,
    MediaRequired,
    MixedMedia,
    TooManyVideos,
    TooManyImages,
    MediaUrlNotDirect,
    MediaHostNotPublic,
    UnsupportedFormat,
    FileTooLarge,
    BadDuration,
    MediaUnreachable,
    FormatMismatch,
    FrameRateOutOfRange,
    ResolutionOutOfRange,
    UnsupportedCodec,
    CaptionTooLong,
    ControlCharacters,
    PrivacyRequired,
    PrivacyInvalid,
    PrivacyLevelUnavailable,
    BrandedContentPrivate,
    ConsentRequired,
    InteractionSettingRequired,
    InteractionDisabledByCreator,
    NotApplicable,
    CoverOutOfRange,
    InvalidSchedule,
    ScheduleInPast,
    ScheduleTooFar,
    InvalidTimezone,
    InvalidCommercialType,
}

impl Rule {
    pub const ALL: [Rule; 35] = [
        Rule::UnknownField,
        Rule::InvalidType,
        Rule::PlatformNotSupported,
        Rule::TooManyAccounts,
        Rule::AccountRequired,
        Rule::MediaRequired,
        Rule::MixedMedia,
        Rule::TooManyVideos,
        Rule::TooManyImages,
        Rule::MediaUrlNotDirect,
        Rule::MediaHostNotPublic,
        Rule::UnsupportedFormat,
        Rule::FileTooLarge,
        Rule::BadDuration,
        Rule::MediaUnreachable,
        Rule::FormatMismatch,
        Rule::FrameRateOutOfRange,
        Rule::ResolutionOutOfRange,
        Rule::UnsupportedCodec,
        Rule::CaptionTooLong,
        Rule::ControlCharacters,
        Rule::PrivacyRequired,
        Rule::PrivacyInvalid,
        Rule::PrivacyLevelUnavailable,
        Rule::BrandedContentPrivate,
        Rule::ConsentRequired,
        Rule::InteractionSettingRequired,
        Rule::InteractionDisabledByCreator,
        Rule::NotApplicable,
        Rule::CoverOutOfRange,
        Rule::InvalidSchedule,
        Rule::ScheduleInPast,
        Rule::ScheduleTooFar,
        Rule::InvalidTimezone,
        Rule::InvalidCommercialType,
    ];

    /// The stable code callers match on (and metrics label rejections with).
    pub fn code(self) -> &'static str {
        match self {
            Rule::UnknownField => "unknown_field",
            Rule::InvalidType => "invalid_type",
            Rule::PlatformNotSupported => "platform_not_supported",
            Rule::TooManyAccounts => "too_many_accounts",
            Rule::AccountRequired => "account_required",
            Rule::MediaRequired => "media_required",
            Rule::MixedMedia => "mixed_media",
            Rule::TooManyVideos => "too_many_videos",
            Rule::TooManyImages => "too_many_images",
            Rule::MediaUrlNotDirect => "media_url_not_direct",
            Rule::MediaHostNotPublic => "media_host_not_public",
            Rule::UnsupportedFormat => "unsupported_format",
            Rule::FileTooLarge => "file_too_large",
            Rule::BadDuration => "bad_duration",
            Rule::MediaUnreachable => "media_unreachable",
            Rule::FormatMismatch => "format_mismatch",
            Rule::FrameRateOutOfRange => "frame_rate_out_of_range",
            Rule::ResolutionOutOfRange => "resolution_out_of_range",
            Rule::UnsupportedCodec => "unsupported_codec",
            Rule::CaptionTooLong => "caption_too_long",
            Rule::ControlCharacters => "control_characters",
            Rule::PrivacyRequired => "privacy_required",
            Rule::PrivacyInvalid => "privacy_invalid",
            Rule::PrivacyLevelUnavailable => "privacy_level_unavailable",
            Rule::BrandedContentPrivate => "branded_content_private",
            Rule::ConsentRequired => "consent_required",
            Rule::InteractionSettingRequired => "interaction_setting_required",
            Rule::InteractionDisabledByCreator => "interaction_disabled_by_creator",
            Rule::NotApplicable => "not_applicable",
            Rule::CoverOutOfRange => "cover_out_of_range",
            Rule::InvalidSchedule => "invalid_schedule",
            Rule::ScheduleInPast => "schedule_in_past",
            Rule::ScheduleTooFar => "schedule_too_far",
            Rule::InvalidTimezone => "invalid_timezone",
            Rule::InvalidCommercialType => "invalid_commercial_type",
        }
    }
}

/// At most this many violations of one rule are reported: a body of ten thousand broken media
/// items says so with the first five, and its answer (and the memory it takes) stays small.
pub const MAX_VIOLATIONS_PER_RULE: usize = 5;
/// At most this many violations in all.
pub const MAX_VIOLATIONS: usize = 50;
/// The code of the last entry of a list that was cut ([`MAX_VIOLATIONS_PER_RULE`],
/// [`MAX_VIOLATIONS`]): the answer says `errors_truncated: true` instead of listing it. How
/// many were left out is not counted: counting them all is the cost the caps avoid.
pub const TRUNCATED: &str = "errors_truncated";

/// Violations as they are found, sorted into the reporting order at the end; past the caps
/// only the fact that there were more is kept.
#[derive(Debug, Default, Clone)]
pub(crate) struct Findings(Vec<(Rule, Violation)>, bool);

impl Findings {
    pub(crate) fn add(&mut self, rule: Rule, field: String, message: String, fix: String) {
        let code = rule.code();
        let of_rule = self.0.iter().filter(|(r, _)| *r == rule).count();
        if of_rule >= MAX_VIOLATIONS_PER_RULE {
            self.1 = true;
            return;
        }
        self.0.push((
            rule,
            Violation {
                field,
                code,
                message,
                fix,
            },
        ));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// By rule, then in the order found (which follows the request): stable across runs.
    /// A list that was cut ends with one entry coded [`TRUNCATED`].
    pub(crate) fn into_sorted(mut self) -> Vec<Violation> {
        self.0.sort_by_key(|(rule, _)| *rule);
        let truncated = self.1 || self.0.len() > MAX_VIOLATIONS;
        let mut out: Vec<Violation> = self
            .0
            .into_iter()
            .take(MAX_VIOLATIONS)
            .map(|(_, v)| v)
            .collect();
        if truncated {
            out.push(Violation {
                field: "body".to_owned(),
                code: TRUNCATED,
                message: format!(
                    "more violations were found than are listed (at most {MAX_VIOLATIONS_PER_RULE} of a rule, {MAX_VIOLATIONS} in all)"
                ),
                fix: "Correct the violations listed and send the request again to see any others."
                    .to_owned(),
            });
        }
        out
    }
}

// ---- small helpers the rules share ----

/// TikTok counts text in UTF-16 code units: an emoji outside the BMP is 2. Equal to
/// `text.encode_utf16().count()` (tested), counted from the UTF-8 bytes without decoding them,
/// ten times faster on a 4,000-unit description: every character has exactly one byte that is
/// not a continuation byte, and one outside the BMP (lead byte 0xF0 or more) takes a second
/// unit. Chunks of 127 bytes keep each partial count (at most 2 a byte) within a `u8`, which
/// the compiler adds 16 at a time.
pub fn utf16_len(text: &str) -> usize {
    text.as_bytes()
        .chunks(127)
        .map(|chunk| {
            let units = chunk.iter().fold(0u8, |n, &b| {
                n.wrapping_add(u8::from(b & 0xC0 != 0x80) + u8::from(b >= 0xF0))
            });
            usize::from(units)
        })
        .sum()
}

/// `2201` -> `2,201`, as the reference writes its numbers.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn format_list(formats: &[Format]) -> String {
    let names: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
    names.join(", ")
}

/// A media URL, parsed. Most are plain `https://host/path?query`, and those are read in place
/// at a tenth of the cost of a full parse (this runs up to 35 times a post); anything else goes
/// through the `url` crate. The quick path takes only URLs the crate reads the same way.
#[derive(Debug)]
pub(crate) enum MediaUrl<'a> {
    Plain { host: &'a str, path: &'a str },
    Parsed(Url),
}

impl<'a> MediaUrl<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<MediaUrl<'a>, url::ParseError> {
        match plain_https(text) {
            Some((host, path)) => Ok(MediaUrl::Plain { host, path }),
            None => Url::parse(text).map(MediaUrl::Parsed),
        }
    }

    fn scheme(&self) -> &str {
        match self {
            MediaUrl::Plain { .. } => "https",
            MediaUrl::Parsed(url) => url.scheme(),
        }
    }

    /// Lowercase (the parser lowercases; the quick path takes lowercase hosts only).
    fn host(&self) -> &str {
        match self {
            MediaUrl::Plain { host, .. } => host,
            MediaUrl::Parsed(url) => url.host_str().unwrap_or_default(),
        }
    }

    fn path(&self) -> &str {
        match self {
            MediaUrl::Plain { path, .. } => path,
            MediaUrl::Parsed(url) => url.path(),
        }
    }

    /// The format the path names by its extension; the query string never counts.
    pub(crate) fn format(&self) -> Option<Format> {
        let last = self.path().rsplit('/').next()?;
        let (_, ext) = last.rsplit_once('.')?;
        Format::from_extension(ext)
    }
}

/// `https://` + a lowercase DNS name + a path of plain characters + any printable query: the
/// shape of nearly every CDN URL, and one that needs no normalising (no case, port, IP address,
/// punycode, percent-escape, dot segment or character to escape).
fn plain_https(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("https://")?;
    let host_char = |b: u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.');
    let path_char = |b: u8| {
        matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')'
            | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@' | b'/')
    };
    let (host, tail) = rest.split_at_checked(rest.bytes().position(|b| !host_char(b))?)?;
    let path_end = tail
        .bytes()
        .position(|b| !path_char(b))
        .unwrap_or(tail.len());
    let (path, after) = tail.split_at_checked(path_end)?;
    // A label starting with a letter rules out IP addresses and numeric last labels.
    let label_ok = |label: &str| {
        label.bytes().next().is_some_and(|b| b.is_ascii_lowercase()) && !label.starts_with("xn--")
    };
    let path_ok = path.starts_with('/') && !path.contains("/.");
    let after_ok = after.is_empty()
        || (after.starts_with(['?', '#'])
            && after.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'));
    (path_ok && after_ok && host.split('.').all(label_ok)).then_some((host, path))
}

/// The photo title as TikTok will show it: hashtags and links removed, whitespace folded,
/// at most 90 UTF-16 units, cut between characters. The gateway does this itself (Zernio would
/// too) so that the caller sees the exact title before it is posted.
pub fn build_photo_title(raw: &str) -> String {
    // Past this many bytes the text is surely over the limit (a character is at most 4 bytes
    // and at least 1 unit), so a long caption is not cleaned to the end only to be cut.
    const ENOUGH: usize = 4 * MAX_PHOTO_TITLE_UTF16 + 4;
    let mut folded = String::with_capacity(raw.len().min(ENOUGH + 64));
    for token in raw.split_whitespace() {
        let starts = |prefix: &str| {
            token
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if starts("http://") || starts("https://") || starts("www.") {
            continue;
        }
        let before = folded.len();
        if before > 0 {
            folded.push(' ');
        }
        if !push_without_hashtags(token, &mut folded) {
            folded.truncate(before);
        }
        if folded.len() > ENOUGH {
            break;
        }
    }
    let mut title = String::with_capacity(folded.len().min(ENOUGH));
    let mut units = 0;
    for c in folded.chars() {
        units += c.len_utf16();
        if units > MAX_PHOTO_TITLE_UTF16 {
            break;
        }
        title.push(c);
    }
    title.truncate(title.trim_end().len());
    title
}

/// Appends `token` without its hashtags (`#word` where the `#` starts a word, so `C#` and
/// `issue#12` stay); false when nothing was left of it.
fn push_without_hashtags(token: &str, out: &mut String) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut chars = token.chars().peekable();
    let mut prev: Option<char> = None;
    let mut pushed = false;
    while let Some(c) = chars.next() {
        let starts_tag =
            c == '#' && !prev.is_some_and(is_word) && chars.peek().is_some_and(|&n| is_word(n));
        if starts_tag {
            while chars.peek().is_some_and(|&n| is_word(n)) {
                chars.next();
            }
            prev = None;
            continue;
        }
        out.push(c);
        pushed = true;
        prev = Some(c);
    }
    pushed
}

fn duration_text(ms: u64) -> String {
    format!("{} ms ({}.{:03} s)", thousands(ms), ms / 1000, ms % 1000)
}

// ---- the rules, in reporting order ----

/// The HTTP layer checks that the caller owns the account (403); the domain only needs one.
pub(crate) fn account(d: &Draft, out: &mut Findings) -> Option<String> {
    match d.account.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => Some(id.to_owned()),
        _ => {
            if !d.is_reported(F::Account) {
                out.add(
                    Rule::AccountRequired,
                    d.at(F::Account),
                    "no TikTok account given".into(),
                    ACCOUNT_FIX.into(),
                );
            }
            None
        }
    }
}

/// reference: "No text-only posts (media required)", "You cannot mix photos and videos in the
/// same post", `MAX_VIDEOS`, `MAX_IMAGES`. Returns the post's kind when the mix is valid enough
/// to judge the kind-specific rules.
pub(crate) fn media_mix(d: &Draft, out: &mut Findings) -> Option<Kind> {
    let (videos, photos) = (d.videos.len(), d.photos.len());
    if videos == 0 && photos == 0 {
        if !d.is_reported(F::Video) && !d.is_reported(F::Photos) {
            out.add(
                Rule::MediaRequired,
                d.at(F::Video),
                "the post has no media; TikTok has no text-only posts".into(),
                "Add one video, or 1 to 35 images for a photo carousel.".into(),
            );
        }
        return None;
    }
    if videos > 0 && photos > 0 {
        out.add(
            Rule::MixedMedia,
            d.at(F::Photos),
            format!("the post has {videos} video(s) and {photos} image(s); TikTok takes either one video or a photo carousel, never both"),
            "Send the video and the images as separate posts.".into(),
        );
        return None;
    }
    if videos > MAX_VIDEOS {
        let extra = d.videos.get(MAX_VIDEOS).map(MediaDraft::url_at);
        out.add(
            Rule::TooManyVideos,
            extra.unwrap_or_else(|| d.at(F::Video)),
            format!("the post has {videos} videos; TikTok allows {MAX_VIDEOS} per post"),
            "Send one video per post.".into(),
        );
    }
    if photos > MAX_IMAGES {
        out.add(
            Rule::TooManyImages,
            d.at(F::Photos),
            format!("the carousel has {photos} images; TikTok allows at most {MAX_IMAGES}"),
            format!(
                "Remove {} image(s), or split them across posts.",
                photos - MAX_IMAGES
            ),
        );
    }
    Some(if videos > 0 { Kind::Video } else { Kind::Photo })
}

/// The rules of one media item: a direct https URL, a format TikTok takes, the size and (for a
/// video) the duration when the caller knows them. Returns the format when the item is good.
pub(crate) fn media_item(
    m: &MediaDraft,
    slot: Kind,
    creator: Option<&CreatorConstraints>,
    allowed_hosts: &[String],
    out: &mut Findings,
) -> Option<Format> {
    let text = m.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let parsed = match text {
        None => {
            if !m.url_reported {
                let at = m.url_at();
                out.add(
                    Rule::MediaRequired,
                    at.clone(),
                    format!("{at} has no URL"),
                    "Give the https URL of the file.".into(),
                );
            }
            None
        }
        // An unparseable URL is reported as not direct: either way it is no link to a file.
        Some(text) => match MediaUrl::parse(text) {
            Ok(url) => Some(url),
            Err(e) => {
                let at = m.url_at();
                out.add(
                    Rule::MediaUrlNotDirect,
                    at.clone(),
                    format!("{at} is not a valid URL ({e})"),
                    "Use a direct https link to the file, such as https://cdn.example.com/video.mp4.".into(),
                );
                None
            }
        },
    };
    let direct = parsed
        .as_ref()
        .is_some_and(|url| direct_url(url, m, allowed_hosts, out));
    let format = media_format(m, parsed.as_ref(), slot, out);
    media_size(m, slot, out);
    if slot == Kind::Video {
        video_duration(m, creator, out);
    }
    format.filter(|_| direct)
}

/// reference: "Media URL Requirements": public, returning the media bytes, not a share page.
/// https because TikTok pulls media over TLS; a plain-http URL is a redirect or a failure.
fn direct_url(
    url: &MediaUrl,
    m: &MediaDraft,
    allowed_hosts: &[String],
    out: &mut Findings,
) -> bool {
    // `[media] allowed_hosts`: development and tests, whose media is served over http on
    // loopback; empty (no cost) in production.
    let allowed = !allowed_hosts.is_empty() && {
        let host = crate::address::normalise_host(url.host());
        allowed_hosts
            .iter()
            .any(|h| crate::address::normalise_host(h) == host)
    };
    if url.scheme() != "https" && !allowed {
        let at = m.url_at();
        out.add(
            Rule::MediaUrlNotDirect,
            at.clone(),
            format!(
                "{at} uses {}: TikTok fetches media over https only",
                url.scheme()
            ),
            "Serve the file over https.".into(),
        );
        return false;
    }
    // The one address policy of every URL the gateway accepts: a media URL at an internal
    // address (the cloud metadata service, loopback) would have TikTok's fetcher, or a probe of
    // the gateway's, reach into a network that is not the caller's to name.
    let internal = (!allowed).then_some(()).and(
        m.url
            .as_deref()
            .and_then(|raw| url::Url::parse(raw.trim()).ok())
            .and_then(|u| u.host().and_then(|h| crate::address::host_is_internal(&h))),
    );
    if let Some(address) = internal {
        let at = m.url_at();
        out.add(
            Rule::MediaHostNotPublic,
            at.clone(),
            format!("{at} points at {address}, an address that is not on the public internet"),
            "Host the file on a public CDN, or upload it with POST /v1/media/presign.".into(),
        );
        return false;
    }
    let host = url.host().trim_end_matches('.');
    let share_page = SHARE_PAGE_HOSTS.contains(&host)
        || SHARE_PAGE_HOST_SUFFIXES.iter().any(|s| host.ends_with(s));
    if share_page {
        let at = m.url_at();
        out.add(
            Rule::MediaUrlNotDirect,
            at.clone(),
            format!("{at} is a {host} share page, which returns an HTML page instead of the file"),
            "Ensure the URL is a direct download link, not a cloud storage sharing page: host the file on a CDN or upload it with POST /v1/media/presign.".into(),
        );
        return false;
    }
    true
}

/// reference: `IMAGE_FORMATS`, `VIDEO_FORMATS`. A declared MIME type wins over the extension,
/// since it is the caller's explicit word about the file.
fn media_format(
    m: &MediaDraft,
    url: Option<&MediaUrl>,
    slot: Kind,
    out: &mut Findings,
) -> Option<Format> {
    let (allowed, what, exts) = match slot {
        Kind::Video => (&VIDEO_FORMATS, "a video", ".mp4, .mov or .webm"),
        Kind::Photo => (&IMAGE_FORMATS, "an image", ".jpg, .jpeg, .png or .webp"),
    };
    let mime = m.mime.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (format, at): (Format, fn(&MediaDraft) -> String) = if let Some(mime) = mime {
        let Some(format) = Format::from_mime(mime) else {
            out.add(
                Rule::UnsupportedFormat,
                m.mime_at(),
                format!(
                    "{mime} is not a format TikTok takes for {what} ({})",
                    format_list(allowed)
                ),
                format!("Convert the file to {}.", format_list(allowed)),
            );
            return None;
        };
        (format, MediaDraft::mime_at)
    } else {
        // Without a URL there is nothing to tell the format by, and that is reported already.
        let Some(format) = url?.format() else {
            let at = m.url_at();
            out.add(
                Rule::UnsupportedFormat,
                at.clone(),
                format!("the format of {at} cannot be told: its path does not end in {exts} and no MIME type was given"),
                // The flat shape has no MIME field: its items are bare URLs.
                if m.takes_mime() {
                    format!("Give a URL whose path ends in {exts}, or declare the file's type in {}.", m.mime_at())
                } else {
                    format!("Give a URL whose path ends in {exts}.")
                },
            );
            return None;
        };
        (format, MediaDraft::url_at)
    };
    if !allowed.contains(&format) {
        let (found, fix) = if format.is_image() {
            (
                "an image",
                "Send images as a photo post; a video must be MP4, MOV or WebM.",
            )
        } else {
            (
                "a video",
                "Send the video as the post's one video; photos must be JPEG, PNG or WebP.",
            )
        };
        let at = at(m);
        out.add(
            Rule::UnsupportedFormat,
            at.clone(),
            format!(
                "{at} names {found} ({}), not {what} ({})",
                format.as_str(),
                format_list(allowed)
            ),
            fix.into(),
        );
        return None;
    }
    Some(format)
}

/// reference: `MAX_IMAGE_BYTES`, `MAX_VIDEO_BYTES`; checked when the caller gives the size.
fn media_size(m: &MediaDraft, slot: Kind, out: &mut Findings) {
    let Some(size) = m.size_bytes else { return };
    let (limit, limit_text, what) = match slot {
        Kind::Video => (MAX_VIDEO_BYTES, "4 GB", "a video"),
        Kind::Photo => (MAX_IMAGE_BYTES, "20 MB", "an image"),
    };
    if size > limit {
        out.add(
            Rule::FileTooLarge,
            m.size_at(),
            format!(
                "the file is {} bytes; TikTok allows at most {limit_text} ({} bytes) for {what}",
                thousands(size),
                thousands(limit)
            ),
            format!("Compress or shorten the file to {limit_text} or less."),
        );
    }
}

/// reference: `MIN_VIDEO_DURATION_MS`..`MAX_VIDEO_DURATION_MS`, and the creator's own maximum
/// (creator-info's max_video_post_duration_sec); checked when the caller gives the duration.
fn video_duration(m: &MediaDraft, creator: Option<&CreatorConstraints>, out: &mut Findings) {
    let Some(ms) = m.duration_ms else { return };
    let range_fix = "Trim or re-edit the video to between 3 seconds and 10 minutes.";
    if ms < MIN_VIDEO_DURATION_MS {
        out.add(
            Rule::BadDuration,
            m.duration_at(),
            format!(
                "the video is {}; TikTok needs at least 3 seconds ({} ms)",
                duration_text(ms),
                thousands(MIN_VIDEO_DURATION_MS)
            ),
            range_fix.into(),
        );
    } else if ms > MAX_VIDEO_DURATION_MS {
        out.add(
            Rule::BadDuration,
            m.duration_at(),
            format!(
                "the video is {}; TikTok allows at most 10 minutes ({} ms)",
                duration_text(ms),
                thousands(MAX_VIDEO_DURATION_MS)
            ),
            range_fix.into(),
        );
    } else if let Some(max_sec) = creator.and_then(|c| c.max_video_duration_sec)
        && ms > u64::from(max_sec) * 1000
    {
        out.add(
            Rule::BadDuration,
            m.duration_at(),
            format!(
                "the video is {}; this creator can post videos of at most {max_sec} s",
                duration_text(ms)
            ),
            format!("Trim the video to {max_sec} seconds or less."),
        );
    }
}

/// reference: `MAX_VIDEO_CAPTION_UTF16`, counted in UTF-16 units as TikTok counts.
pub(crate) fn video_caption(d: &Draft, out: &mut Findings) {
    text_limit(
        d,
        F::Caption,
        d.caption.as_deref(),
        MAX_VIDEO_CAPTION_UTF16,
        "a video caption",
        out,
    );
}

/// reference: `MAX_PHOTO_DESCRIPTION_UTF16`.
pub(crate) fn photo_description(d: &Draft, out: &mut Findings) {
    text_limit(
        d,
        F::Description,
        d.description.as_deref(),
        MAX_PHOTO_DESCRIPTION_UTF16,
        "a photo description",
        out,
    );
}

/// Control characters (a NUL, an escape, C1 codes) have no place in a caption, title or
/// description: TikTok shows them as garbage or cuts the text at them. Line breaks and tabs are
/// text.
pub(crate) fn control_characters(d: &Draft, out: &mut Findings) {
    let texts = [
        (F::Caption, d.caption.as_deref()),
        (F::Title, d.title.as_deref()),
        (F::Description, d.description.as_deref()),
    ];
    for (f, text) in texts {
        let Some(text) = text else { continue };
        let bad = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
        if let Some(c) = bad {
            out.add(
                Rule::ControlCharacters,
                d.at(f),
                format!(
                    "{} contains the control character U+{:04X}; TikTok takes text, line breaks and tabs only",
                    d.at(f),
                    c as u32
                ),
                format!("Remove the control characters from {}.", d.at(f)),
            );
        }
    }
}

fn text_limit(d: &Draft, f: F, text: Option<&str>, limit: usize, what: &str, out: &mut Findings) {
    let Some(text) = text else { return };
    let units = utf16_len(text);
    if units > limit {
        out.add(
            Rule::CaptionTooLong,
            d.at(f),
            format!(
                "{} is {} UTF-16 units; TikTok allows at most {} for {what}",
                d.at(f),
                thousands(units as u64),
                thousands(limit as u64)
            ),
            format!(
                "Shorten it by {} UTF-16 units (most emoji count as 2).",
                thousands((units - limit) as u64)
            ),
        );
    }
}

/// TikTok forbids a preselected privacy level, so a missing one is refused, never defaulted;
/// a level outside the creator's options fails upstream with the same words as here.
pub(crate) fn privacy(
    d: &Draft,
    creator: Option<&CreatorConstraints>,
    out: &mut Findings,
) -> Option<PrivacyLevel> {
    let raw = d
        .privacy
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(raw) = raw else {
        if !d.is_reported(F::Privacy) {
            out.add(
                Rule::PrivacyRequired,
                d.at(F::Privacy),
                "no privacy level given; TikTok requires the creator to choose one, and the gateway never picks it for them".into(),
                format!("Set {} to the level the creator chose: {PRIVACY_CHOICES}.", d.at(F::Privacy)),
            );
        }
        return None;
    };
    let Some(level) = PrivacyLevel::from_input(raw) else {
        out.add(
            Rule::PrivacyInvalid,
            d.at(F::Privacy),
            format!("\"{raw}\" is not a TikTok privacy level"),
            format!("Use {PRIVACY_CHOICES}."),
        );
        return None;
    };
    if let Some(allowed) = creator.map(|c| &c.privacy_levels).filter(|l| !l.is_empty())
        && !allowed.contains(&level)
    {
        let names: Vec<&str> = allowed.iter().map(|l| l.as_str()).collect();
        out.add(
            Rule::PrivacyLevelUnavailable,
            d.at(F::Privacy),
            format!(
                "Selected privacy level '{}' is not available for this creator. Available options: {}",
                level.as_str(),
                names.join(", ")
            ),
            format!("Use one of the creator's allowed levels: {}.", names.join(", ")),
        );
    }
    Some(level)
}

/// reference: commercialContentType "none", "brand_organic", or "brand_content". `Ok(None)`
/// when the caller gave none.
pub(crate) fn commercial(d: &Draft, out: &mut Findings) -> Result<Option<CommercialType>, ()> {
    let Some(raw) = d
        .commercial
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    match CommercialType::from_input(raw) {
        Some(t) => Ok(Some(t)),
        None => {
            out.add(
                Rule::InvalidCommercialType,
                d.at(F::Commercial),
                format!("\"{raw}\" is not a commercial content type"),
                "Use \"none\", \"brand_organic\" or \"brand_content\".".into(),
            );
            Err(())
        }
    }
}

/// UPSTREAM.md: "branded content cannot be private (SELF_ONLY)".
pub(crate) fn branded_content_private(
    d: &Draft,
    privacy: Option<PrivacyLevel>,
    commercial: Option<CommercialType>,
    out: &mut Findings,
) {
    if privacy == Some(PrivacyLevel::SelfOnly) && commercial == Some(CommercialType::BrandContent) {
        out.add(
            Rule::BrandedContentPrivate,
            d.at(F::Privacy),
            "branded content (brand_content) cannot be posted as SELF_ONLY; TikTok requires it to be visible".into(),
            "Choose a privacy level other than SELF_ONLY, or a commercial type other than brand_content.".into(),
        );
    }
}

/// reference: content_preview_confirmed and express_consent_given "Must be true. Legal
/// requirement from TikTok." Never assumed.
pub(crate) fn consent(d: &Draft, out: &mut Findings) {
    let flags = [
        (
            F::PreviewConsent,
            d.preview_consent,
            "content_preview_confirmed",
        ),
        (
            F::ExpressConsent,
            d.express_consent,
            "express_consent_given",
        ),
    ];
    let mut reported_at: Option<String> = None;
    for (f, value, name) in flags {
        let at = d.at(f);
        if value == Some(true) || d.is_reported(f) || reported_at.as_ref() == Some(&at) {
            continue;
        }
        // The flat shape carries both flags in one `consent` field: one violation for it.
        let subject = if at.ends_with(name) {
            name.to_owned()
        } else {
            format!("{at} (content_preview_confirmed and express_consent_given)")
        };
        let state = if value.is_some() { "false" } else { "missing" };
        out.add(
            Rule::ConsentRequired,
            at.clone(),
            format!("{subject} is {state}; TikTok requires it to be true (a legal requirement), and the gateway never sets it for the caller"),
            format!("Show the creator the post's preview, get their express consent to publish, then set {at} to true."),
        );
        reported_at = Some(at);
    }
}

/// reference: allow_comment "Yes"; allow_duet, allow_stitch "Yes (videos)". TikTok starts
/// interactions off and the creator must choose, so a missing one is refused, not defaulted;
/// one the creator disabled in TikTok cannot be turned on by the post.
pub(crate) fn interactions(
    d: &Draft,
    kind: Option<Kind>,
    creator: Option<&CreatorConstraints>,
    out: &mut Findings,
) -> Option<Interactions> {
    let mut wanted = vec![(
        F::AllowComment,
        d.allow_comment,
        "comments",
        creator.is_some_and(|c| c.comment_disabled),
    )];
    if kind == Some(Kind::Video) {
        wanted.push((
            F::AllowDuet,
            d.allow_duet,
            "duets",
            creator.is_some_and(|c| c.duet_disabled),
        ));
        wanted.push((
            F::AllowStitch,
            d.allow_stitch,
            "stitches",
            creator.is_some_and(|c| c.stitch_disabled),
        ));
    }
    for &(f, value, what, disabled) in &wanted {
        let at = d.at(f);
        match value {
            None if !d.is_reported(f) => out.add(
                Rule::InteractionSettingRequired,
                at.clone(),
                format!(
                    "{at} is missing; TikTok requires the creator to choose whether to allow {what}"
                ),
                format!("Set {at} to true or false, as the creator chose."),
            ),
            Some(true) if disabled => out.add(
                Rule::InteractionDisabledByCreator,
                at.clone(),
                format!("{at} is true, but this creator has turned {what} off in TikTok"),
                format!(
                    "Set {at} to false (the creator can turn {what} back on in the TikTok app)."
                ),
            ),
            _ => {}
        }
    }
    Some(Interactions {
        allow_comment: d.allow_comment?,
        allow_duet: if kind == Some(Kind::Video) {
            Some(d.allow_duet?)
        } else {
            None
        },
        allow_stitch: if kind == Some(Kind::Video) {
            Some(d.allow_stitch?)
        } else {
            None
        },
    })
}

/// reference: auto_add_music "Photo carousels only", description "for photo carousels",
/// allow_duet / allow_stitch "Only applies to video posts". A setting that asks for something
/// the post cannot have is refused; a `false` asks for nothing and is let through (form tools
/// send every field).
pub(crate) fn not_applicable(d: &Draft, kind: Option<Kind>, out: &mut Findings) {
    let nonempty = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty());
    let mut refuse = |f: F, why: &str, fix: &str| {
        out.add(
            Rule::NotApplicable,
            d.at(f),
            format!("{} {why}", d.at(f)),
            fix.into(),
        );
    };
    match kind {
        Some(Kind::Video) => {
            if d.auto_add_music == Some(true) {
                refuse(
                    F::AutoAddMusic,
                    "applies to photo carousels only; a video keeps its own sound",
                    "Leave auto_add_music out for a video.",
                );
            }
            if nonempty(&d.description) {
                refuse(
                    F::Description,
                    "applies to photo carousels only; a video's text is its caption",
                    "Put the text in the caption.",
                );
            }
            if nonempty(&d.title) {
                refuse(
                    F::Title,
                    "applies to photo carousels only; a video's text is its caption",
                    "Put the text in the caption.",
                );
            }
            if d.cover_index.is_some() {
                refuse(
                    F::CoverIndex,
                    "applies to photo carousels only",
                    "Use the video's cover timestamp to pick its cover.",
                );
            }
        }
        Some(Kind::Photo) => {
            if d.allow_duet == Some(true) {
                refuse(
                    F::AllowDuet,
                    "applies to videos only; photo posts have no duets",
                    "Leave allow_duet out for a photo post.",
                );
            }
            if d.allow_stitch == Some(true) {
                refuse(
                    F::AllowStitch,
                    "applies to videos only; photo posts have no stitches",
                    "Leave allow_stitch out for a photo post.",
                );
            }
            if d.cover_timestamp_ms.is_some() {
                refuse(
                    F::CoverTimestamp,
                    "applies to videos only",
                    "Use photo_cover_index to pick a photo post's cover.",
                );
            }
            if nonempty(&d.title) && nonempty(&d.caption) {
                refuse(
                    F::Caption,
                    "is not used when a title is given: a photo post's caption becomes its title",
                    "Send the title alone, and the long text as description.",
                );
            }
        }
        None => {}
    }
}

/// reference: photo_cover_index "Which image to use as cover (0-indexed)", and a video cover
/// timestamp that is a frame of the video.
pub(crate) fn cover(d: &Draft, kind: Option<Kind>, out: &mut Findings) {
    match kind {
        Some(Kind::Photo) => {
            let Some(index) = d.cover_index else { return };
            let count = d.photos.len();
            if index < 0 || usize::try_from(index).is_ok_and(|i| i >= count) {
                out.add(
                    Rule::CoverOutOfRange,
                    d.at(F::CoverIndex),
                    format!("{} is {index}, but the carousel has {count} image(s), numbered from 0 to {}", d.at(F::CoverIndex), count.saturating_sub(1)),
                    format!("Use an index from 0 to {}.", count.saturating_sub(1)),
                );
            }
        }
        Some(Kind::Video) => {
            let Some(ts) = d.cover_timestamp_ms else {
                return;
            };
            let at = d.at(F::CoverTimestamp);
            if ts < 0 {
                out.add(
                    Rule::CoverOutOfRange,
                    at.clone(),
                    format!(
                        "{at} is {ts} ms; a cover frame cannot be before the start of the video"
                    ),
                    "Use 0 or more milliseconds (TikTok's default is 1,000).".into(),
                );
                return;
            }
            let duration = d.videos.first().and_then(|v| v.duration_ms);
            if let Some(duration) = duration.filter(|&dur| ts.unsigned_abs() > dur) {
                out.add(
                    Rule::CoverOutOfRange,
                    at.clone(),
                    format!(
                        "{at} is {} ms, past the end of the {} ms video",
                        thousands(ts.unsigned_abs()),
                        thousands(duration)
                    ),
                    format!("Use a timestamp from 0 to {} ms.", thousands(duration)),
                );
            }
        }
        None => {}
    }
}

/// When to post: now, at `schedule_at`, or to the creator's inbox (`draft`), which may itself be
/// scheduled (Zernio then delivers it to the inbox at that time). `schedule_at` is RFC 3339 with
/// an offset, or a local date-time read in `timezone` (UTC by default).
pub(crate) fn schedule(d: &Draft, now: super::Moment<'_>, out: &mut Findings) -> Option<Schedule> {
    let name = d
        .timezone
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let tz = match name {
        None => Some(Tz::UTC),
        Some(name) => match name.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                out.add(
                    Rule::InvalidTimezone,
                    d.at(F::Timezone),
                    format!("\"{name}\" is not an IANA time zone"),
                    "Use an IANA name such as Europe/Paris or America/New_York, or leave it out for UTC.".into(),
                );
                None
            }
        },
    };
    let raw = d
        .schedule_at
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let at = match raw {
        None => None,
        Some(raw) => Some(schedule_time(d, raw, tz, now, out)?),
    };
    let timezone = name.map_or_else(|| "UTC".to_owned(), str::to_owned);
    tz?;
    let at = at.map(|at| ScheduledAt { at, timezone });
    let inbox = d.draft == Some(true);
    if d.zernio_draft {
        return Some(Schedule::Saved { inbox });
    }
    Some(match (inbox, at) {
        (true, scheduled) => Schedule::Draft { scheduled },
        (false, Some(at)) => Schedule::At(at),
        (false, None) => Schedule::Now,
    })
}

fn schedule_time(
    d: &Draft,
    raw: &str,
    tz: Option<Tz>,
    moment: super::Moment<'_>,
    out: &mut Findings,
) -> Option<DateTime<Utc>> {
    let now = moment.now;
    let at_path = d.at(F::ScheduleAt);
    let fix = "Use RFC 3339 such as 2026-05-01T18:30:00Z or 2026-05-01T18:30:00+02:00, or a local 2026-05-01T18:30:00 with timezone.";
    let at = if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        at.with_timezone(&Utc)
    } else {
        let local = [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok());
        let Some(local) = local else {
            out.add(
                Rule::InvalidSchedule,
                at_path,
                format!("\"{raw}\" is not a date-time"),
                fix.into(),
            );
            return None;
        };
        // A local time needs its zone; a bad zone is reported on its own.
        let tz = tz?;
        match tz.from_local_datetime(&local) {
            LocalResult::Single(at) => at.with_timezone(&Utc),
            // In the hour a clock repeats, the first occurrence: the earlier post is the safer guess.
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => {
                out.add(
                    Rule::InvalidSchedule,
                    at_path,
                    format!(
                        "{raw} does not exist in {tz}: the clocks skip it (daylight saving time)"
                    ),
                    "Pick a time outside the skipped hour, or give an offset.".into(),
                );
                return None;
            }
        }
    };
    if at < now {
        out.add(
            Rule::ScheduleInPast,
            at_path,
            format!(
                "{} is in the past (now is {})",
                at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            "Give a time in the future, or leave it out to publish now.".into(),
        );
        return None;
    }
    if let Some(err) = too_far(at, moment) {
        out.add(Rule::ScheduleTooFar, at_path, err.0, err.1);
        return None;
    }
    Some(at)
}

/// A schedule beyond the horizon: its message and fix, shared by creates and edits.
pub(crate) fn too_far(at: DateTime<Utc>, moment: super::Moment) -> Option<(String, String)> {
    let latest = moment.now.checked_add_signed(moment.schedule_horizon)?;
    (at > latest).then(|| {
        (
            format!(
                "{} is more than {} days ahead (the latest is {})",
                at.to_rfc3339_opts(SecondsFormat::Secs, true),
                moment.schedule_horizon.num_days(),
                latest.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            "Schedule it within the horizon, or schedule it later when the date is nearer.".into(),
        )
    })
}

/// reference: "content (top-level) -- becomes the photo title. Limited to 90 characters.
/// Hashtags and URLs are auto-stripped." Built from `title`, else the caption; the warning
/// shows the caller the title that will be posted when it differs from what they sent.
pub(crate) fn photo_title(d: &Draft) -> (String, Option<Warning>) {
    let given = |t: &Option<String>| t.clone().filter(|t| !t.trim().is_empty());
    let (raw, f) = match given(&d.title) {
        Some(title) => (title, F::Title),
        None => (d.caption.clone().unwrap_or_default(), F::Caption),
    };
    let title = build_photo_title(&raw);
    let warning = (title != raw).then(|| Warning {
        field: d.at(f),
        code: "title_adjusted",
        message: format!(
            "a photo title is at most {MAX_PHOTO_TITLE_UTF16} characters without hashtags or links; it will be posted as \"{title}\""
        ),
    });
    (title, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn utf16_len_is_encode_utf16_count(text in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(utf16_len(&text), text.encode_utf16().count());
        }
    }

    #[test]
    fn utf16_counts_emoji_as_two() {
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_len("👍🏽"), 4);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2201), "2,201");
        assert_eq!(thousands(4_294_967_296), "4,294,967,296");
    }

    #[test]
    fn title_strips_hashtags_and_links_and_folds_whitespace() {
        assert_eq!(
            build_photo_title("My travel highlights"),
            "My travel highlights"
        );
        assert_eq!(
            build_photo_title(
                "  Sunset   at\tthe\nbeach #sunset #nature https://x.io/a www.y.com "
            ),
            "Sunset at the beach"
        );
        assert_eq!(
            build_photo_title("C# tips, issue#12 (#tag)"),
            "C# tips, issue#12 ()"
        );
        assert_eq!(build_photo_title("#only #tags"), "");
        assert_eq!(build_photo_title("HTTPS://LOUD.example hi"), "hi");
    }

    #[test]
    fn title_is_cut_at_90_units_between_characters() {
        let ascii = "a".repeat(100);
        assert_eq!(build_photo_title(&ascii), "a".repeat(90));
        // 89 units then an emoji (2 units) that would straddle the limit: it is left out whole.
        let straddle = format!("{}😀", "b".repeat(89));
        assert_eq!(build_photo_title(&straddle), "b".repeat(89));
        let long = "word #tag ".repeat(10_000);
        let title = build_photo_title(&long);
        assert_eq!(utf16_len(&title), 89);
        assert!(title.starts_with("word word") && title.ends_with("word"));
        let emoji = "😀".repeat(50);
        assert_eq!(utf16_len(&build_photo_title(&emoji)), 90);
        // A cut that lands after a space does not leave it dangling.
        let spaced = format!("{} tail", "c".repeat(89));
        assert_eq!(build_photo_title(&spaced), "c".repeat(89));
    }

    #[test]
    fn format_from_url_ignores_query_and_case() {
        let f = |u: &str| MediaUrl::parse(u).ok().and_then(|u| u.format());
        assert_eq!(
            f("https://cdn.example.com/a/b.MP4?sig=1.jpg"),
            Some(Format::Mp4)
        );
        assert_eq!(
            f("https://cdn.example.com/photo.jpeg#x.png"),
            Some(Format::Jpeg)
        );
        assert_eq!(f("https://cdn.example.com/file"), None);
        assert_eq!(f("https://cdn.example.com/anim.gif"), None);
        assert_eq!(f("https://cdn.example.com/dir.mp4/"), None);
    }

    /// Whatever the quick path accepts, the `url` crate reads the same way.
    fn same_as_the_url_crate(text: &str) {
        let Ok(MediaUrl::Plain { host, path }) = MediaUrl::parse(text) else {
            return;
        };
        let full = Url::parse(text);
        let full = full.as_ref().map(|u| (u.scheme(), u.host_str(), u.path()));
        assert_eq!(full, Ok(("https", Some(host), path)), "{text}");
    }

    #[test]
    fn plain_urls_are_read_like_the_url_crate_reads_them() {
        let plain = [
            "https://cdn.example.com/trips/photo-01.jpg?sig=a%2Fb&x=1#frag",
            "https://a-b.c0.example/x_y~z/(1)/v.mp4",
            "https://cdn.example.com/?q",
        ];
        for text in plain {
            assert!(
                matches!(MediaUrl::parse(text), Ok(MediaUrl::Plain { .. })),
                "{text}"
            );
            same_as_the_url_crate(text);
        }
        // Left to the full parser: case, ports, IPs, punycode, escapes, dot segments, spaces.
        let full = [
            "https://CDN.example.com/a.jpg",
            "https://cdn.example.com:443/a.jpg",
            "https://127.0.0.1/a.jpg",
            "https://example.123/a.jpg",
            "https://xn--bcher-kva.example/a.jpg",
            "https://cdn.example.com/a%2ejpg",
            "https://cdn.example.com/a/../b.jpg",
            "https://cdn.example.com/a b.jpg",
            "https://cdn.example.com\\a.jpg",
            "https://cdn.example.com",
            "https://user@cdn.example.com/a.jpg",
            "https://cdn..example.com/a.jpg",
            "HTTPS://cdn.example.com/a.jpg",
        ];
        for text in full {
            assert!(
                !matches!(MediaUrl::parse(text), Ok(MediaUrl::Plain { .. })),
                "{text}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn the_quick_path_agrees_with_the_url_crate(
            host in "[a-z0-9.-]{0,12}",
            path in "[a-zA-Z0-9./%?#@:~!$&'()*+,;=_-]{0,24}",
        ) {
            same_as_the_url_crate(&format!("https://{host}/{path}"));
            same_as_the_url_crate(&format!("https://{host}{path}"));
        }
    }

    #[test]
    fn rules_are_listed_once_in_order() {
        let mut sorted = Rule::ALL;
        sorted.sort();
        assert_eq!(sorted, Rule::ALL);
        let mut codes: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), Rule::ALL.len());
    }
}
