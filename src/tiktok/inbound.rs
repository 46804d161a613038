//! The three inbound shapes (native, Zernio-compatible, flat), each read into one `Draft`: the
//! post's fields by meaning, still unchecked, plus where the caller put each one so a violation
//! names the caller's own key. Only JSON types are judged here; every TikTok rule is applied once,
//! to the draft, in `validate`.

use serde_json::{Map, Value};

use super::post::Format;
use super::rules::{self, Findings, Rule, Violation, Warning};

/// Which of the three request shapes a body is in; the route decides, the body does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Gateway-native snake_case JSON; unknown fields are refused.
    Native,
    /// Zernio's own create-post body, as the official SDKs send it.
    ZernioCompat,
    /// One level of fields for automations (JSON or form fields), with lenient scalars.
    Flat,
}

/// The post's fields by meaning, whatever a shape calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum F {
    Account,
    Caption,
    Title,
    Description,
    Privacy,
    AllowComment,
    AllowDuet,
    AllowStitch,
    AutoAddMusic,
    AiGenerated,
    Commercial,
    ScheduleAt,
    Timezone,
    Draft,
    PreviewConsent,
    ExpressConsent,
    CoverTimestamp,
    CoverIndex,
    Metadata,
    Video,
    Photos,
}

const FIELD_COUNT: usize = F::Photos as usize + 1;

/// Where a field lives in the body that was sent: `prefix` + `key`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    prefix: &'static str,
    key: &'static str,
}

impl At {
    const fn top(key: &'static str) -> At {
        At { prefix: "", key }
    }

    pub(crate) fn path(self) -> String {
        format!("{}{}", self.prefix, self.key)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Video,
    Photo,
}

/// Names of an item's optional fields in a shape.
#[derive(Debug)]
pub(crate) struct MediaKeys {
    mime: &'static str,
    size: &'static str,
    duration: &'static str,
    /// Whether the fields sit inside the item (`photos[2].size_bytes`) or at the top level
    /// beside it (the flat shape's `size_bytes`, whose items are bare URLs).
    nested: bool,
}

/// One media item as sent, before any rule.
#[derive(Debug, Clone)]
pub(crate) struct MediaDraft {
    pub(crate) url: Option<String>,
    pub(crate) mime: Option<String>,
    pub(crate) size_bytes: Option<u64>,
    pub(crate) duration_ms: Option<u64>,
    /// Set when the url had the wrong JSON type: already reported, not to be called missing.
    pub(crate) url_reported: bool,
    /// The list the item came in (`photos`, `mediaItems`, `image_urls`) or its key (`video`)
    /// and its position; paths are only spelt out for a violation, so they cost nothing here.
    list: &'static str,
    index: Option<usize>,
    keys: &'static MediaKeys,
}

impl MediaDraft {
    fn new(list: &'static str, index: Option<usize>, keys: &'static MediaKeys) -> MediaDraft {
        MediaDraft {
            url: None,
            mime: None,
            size_bytes: None,
            duration_ms: None,
            url_reported: false,
            list,
            index,
            keys,
        }
    }

    fn base(&self) -> String {
        match self.index {
            Some(i) => format!("{}[{i}]", self.list),
            None => self.list.to_owned(),
        }
    }

    fn field_at(&self, key: &str) -> String {
        if self.keys.nested {
            format!("{}.{key}", self.base())
        } else {
            key.to_owned()
        }
    }

    /// `photos[2].url`, `video.url`, `image_urls[2]`, `video_url`.
    pub(crate) fn url_at(&self) -> String {
        if self.keys.nested {
            self.field_at("url")
        } else {
            self.base()
        }
    }

    pub(crate) fn takes_mime(&self) -> bool {
        self.keys.nested
    }

    pub(crate) fn mime_at(&self) -> String {
        self.field_at(self.keys.mime)
    }

    pub(crate) fn size_at(&self) -> String {
        self.field_at(self.keys.size)
    }

    pub(crate) fn duration_at(&self) -> String {
        self.field_at(self.keys.duration)
    }
}

/// A post as sent, field by field; `None` means absent (or null, or an empty form string).
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    at: [At; FIELD_COUNT],
    /// Fields already reported (wrong type, or refused while reading), so that the rules do
    /// not pile "missing" on top of "wrong type".
    reported: u32,
    lenient: bool,
    pub(crate) account: Option<String>,
    pub(crate) caption: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) privacy: Option<String>,
    pub(crate) allow_comment: Option<bool>,
    pub(crate) allow_duet: Option<bool>,
    pub(crate) allow_stitch: Option<bool>,
    pub(crate) auto_add_music: Option<bool>,
    pub(crate) ai_generated: Option<bool>,
    pub(crate) commercial: Option<String>,
    pub(crate) schedule_at: Option<String>,
    pub(crate) timezone: Option<String>,
    pub(crate) draft: Option<bool>,
    /// A Zernio draft asked for (Zernio shape only: `isDraft`, or no time at all).
    pub(crate) zernio_draft: bool,
    pub(crate) preview_consent: Option<bool>,
    pub(crate) express_consent: Option<bool>,
    pub(crate) cover_timestamp_ms: Option<i64>,
    pub(crate) cover_index: Option<i64>,
    pub(crate) metadata: Option<Value>,
    pub(crate) videos: Vec<MediaDraft>,
    pub(crate) photos: Vec<MediaDraft>,
    /// Violations found while reading (unknown fields, wrong types, other platforms).
    pub(crate) found: Findings,
    pub(crate) warnings: Vec<Warning>,
}

/// Reads a body in the given shape. A body that is not a JSON object is the one case that
/// stops here: nothing else in it can be checked.
pub(crate) fn parse(shape: Shape, body: &Value) -> Result<Draft, Vec<Violation>> {
    let Some(obj) = body.as_object() else {
        let mut found = Findings::default();
        found.add(
            Rule::InvalidType,
            "body".into(),
            format!(
                "the request body must be a JSON object; got {}",
                describe(body)
            ),
            "Send the post as a JSON object (or form fields for the flat shape).".into(),
        );
        return Err(found.into_sorted());
    };
    Ok(match shape {
        Shape::Native => native(obj),
        Shape::ZernioCompat => zernio(obj),
        Shape::Flat => flat(obj),
    })
}

/// Turns form fields (application/x-www-form-urlencoded pairs, keys may repeat e.g. image_urls)
/// into the JSON object the Flat shape parses. A key sent once becomes a string; a repeated key
/// becomes an array, which the flat shape accepts for the media lists and refuses (as a wrong
/// type) for a scalar, since picking one of two values would be a guess. `image_urls[]` is
/// read as `image_urls`, the spelling some form builders use for lists.
pub fn flat_from_form(pairs: &[(String, String)]) -> Value {
    let mut obj = Map::new();
    for (key, value) in pairs {
        let key = key.strip_suffix("[]").unwrap_or(key);
        let value = Value::String(value.clone());
        match obj.get_mut(key) {
            None => {
                obj.insert(key.to_owned(), value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    Value::Object(obj)
}

// ---- the native shape ----

const NATIVE_KEYS: &[&str] = &[
    "account",
    "caption",
    "video",
    "photos",
    "photo_cover_index",
    "title",
    "description",
    "privacy",
    "allow_comment",
    "allow_duet",
    "allow_stitch",
    "auto_add_music",
    "ai_generated",
    "commercial",
    "schedule_at",
    "timezone",
    "draft",
    "consent",
    "metadata",
];
const NATIVE_VIDEO_KEYS: &[&str] = &[
    "url",
    "cover_timestamp_ms",
    "duration_ms",
    "size_bytes",
    "mime_type",
];
const NATIVE_PHOTO_KEYS: &[&str] = &["url", "size_bytes", "mime_type"];
const NATIVE_CONSENT_KEYS: &[&str] = &["content_preview_confirmed", "express_consent_given"];
const NATIVE_SCALARS: &[(F, &str)] = &[
    (F::Account, "account"),
    (F::Caption, "caption"),
    (F::Title, "title"),
    (F::Description, "description"),
    (F::Privacy, "privacy"),
    (F::AllowComment, "allow_comment"),
    (F::AllowDuet, "allow_duet"),
    (F::AllowStitch, "allow_stitch"),
    (F::AutoAddMusic, "auto_add_music"),
    (F::AiGenerated, "ai_generated"),
    (F::Commercial, "commercial"),
    (F::ScheduleAt, "schedule_at"),
    (F::Timezone, "timezone"),
    (F::Draft, "draft"),
    (F::CoverIndex, "photo_cover_index"),
    (F::Metadata, "metadata"),
];
static NATIVE_MEDIA: MediaKeys = MediaKeys {
    mime: "mime_type",
    size: "size_bytes",
    duration: "duration_ms",
    nested: true,
};

fn native(body: &Map<String, Value>) -> Draft {
    let mut d = Draft::new(false);
    d.refuse_unknown(body, NATIVE_KEYS, String::new, "a post");
    for &(f, key) in NATIVE_SCALARS {
        d.set(f, At::top(key), body.get(key));
    }
    d.at[F::Video as usize] = At::top("video");
    d.at[F::Photos as usize] = At::top("photos");
    d.at[F::CoverTimestamp as usize] = At {
        prefix: "video.",
        key: "cover_timestamp_ms",
    };
    d.at[F::PreviewConsent as usize] = At {
        prefix: "consent.",
        key: "content_preview_confirmed",
    };
    d.at[F::ExpressConsent as usize] = At {
        prefix: "consent.",
        key: "express_consent_given",
    };

    let consent_fields = [F::PreviewConsent, F::ExpressConsent];
    if let Some(consent) = d.object(body.get("consent"), || "consent".into(), &consent_fields) {
        d.refuse_unknown(
            consent,
            NATIVE_CONSENT_KEYS,
            || "consent.".into(),
            "consent",
        );
        for f in consent_fields {
            let at = d.at[f as usize];
            d.set(f, at, consent.get(at.key));
        }
    }

    let video_fields = [F::Video, F::CoverTimestamp];
    if let Some(video) = d.object(body.get("video"), || "video".into(), &video_fields) {
        d.refuse_unknown(video, NATIVE_VIDEO_KEYS, || "video.".into(), "video");
        let at = d.at[F::CoverTimestamp as usize];
        d.set(F::CoverTimestamp, at, video.get(at.key));
        let item = d.media_item(video, MediaDraft::new("video", None, &NATIVE_MEDIA), true);
        d.videos.push(item);
    }

    if let Some(photos) = d.array(body.get("photos"), "photos", F::Photos) {
        for (i, photo) in photos.iter().enumerate() {
            if let Some(photo) = d.object(Some(photo), || format!("photos[{i}]"), &[F::Photos]) {
                let prefix = || format!("photos[{i}].");
                d.refuse_unknown(photo, NATIVE_PHOTO_KEYS, prefix, "a photo");
                let item = MediaDraft::new("photos", Some(i), &NATIVE_MEDIA);
                let item = d.media_item(photo, item, false);
                d.photos.push(item);
            }
        }
    }
    d
}

// ---- the Zernio-compatible shape ----

/// `tiktokSettings` keys, snake_case and camelCase, as Zernio accepts both. `media_type` is not
/// here on purpose: the gateway derives it from the media.
const ZERNIO_SETTINGS: &[(F, &str, &str)] = &[
    (F::Privacy, "privacy_level", "privacyLevel"),
    (F::AllowComment, "allow_comment", "allowComment"),
    (F::AllowDuet, "allow_duet", "allowDuet"),
    (F::AllowStitch, "allow_stitch", "allowStitch"),
    (
        F::PreviewConsent,
        "content_preview_confirmed",
        "contentPreviewConfirmed",
    ),
    (
        F::ExpressConsent,
        "express_consent_given",
        "expressConsentGiven",
    ),
    (
        F::CoverTimestamp,
        "video_cover_timestamp_ms",
        "videoCoverTimestampMs",
    ),
    (F::CoverIndex, "photo_cover_index", "photoCoverIndex"),
    (F::Description, "description", "description"),
    (F::AutoAddMusic, "auto_add_music", "autoAddMusic"),
    (F::AiGenerated, "video_made_with_ai", "videoMadeWithAi"),
    (F::Draft, "draft", "draft"),
    (
        F::Commercial,
        "commercial_content_type",
        "commercialContentType",
    ),
];
static ZERNIO_MEDIA: MediaKeys = MediaKeys {
    mime: "mimeType",
    size: "size",
    duration: "duration_ms",
    nested: true,
};

/// Paths of a platform entry's own fields, spelt with its index (the first four; a request
/// with more entries is refused for them anyway, and its paths say `platforms[]`).
const ENTRY_PREFIX: [&str; 5] = [
    "platforms[0].",
    "platforms[1].",
    "platforms[2].",
    "platforms[3].",
    "platforms[].",
];
const ENTRY_DATA_PREFIX: [&str; 5] = [
    "platforms[0].platformSpecificData.",
    "platforms[1].platformSpecificData.",
    "platforms[2].platformSpecificData.",
    "platforms[3].platformSpecificData.",
    "platforms[].platformSpecificData.",
];
const ENTRY_MEDIA: [&str; 5] = [
    "platforms[0].customMedia",
    "platforms[1].customMedia",
    "platforms[2].customMedia",
    "platforms[3].customMedia",
    "platforms[].customMedia",
];

/// The TikTok entry of `platforms`, with its index: where its own overrides are read.
fn tiktok_entry(body: &Map<String, Value>) -> Option<(usize, &Map<String, Value>)> {
    body.get("platforms")?
        .as_array()?
        .iter()
        .enumerate()
        .find_map(|(i, p)| {
            let p = p.as_object()?;
            let name = p.get("platform")?.as_str()?;
            name.trim()
                .eq_ignore_ascii_case("tiktok")
                .then_some((i.min(ENTRY_PREFIX.len() - 1), p))
        })
}

/// Unknown keys are tolerated here (Zernio's SDKs add their own), but only the keys read below
/// reach the payload, which is rebuilt from the model. The TikTok entry of `platforms` overrides
/// the root as Zernio's spec says: `customContent` over `content`, `customMedia` over
/// `mediaItems`, its `scheduledFor` over the root's, and its `platformSpecificData` (the spec's
/// `TikTokPlatformData`) key by key over `tiktokSettings`.
fn zernio(body: &Map<String, Value>) -> Draft {
    let mut d = Draft::new(false);
    let entry = tiktok_entry(body);
    let own = |key: &'static str| {
        let (i, p) = entry?;
        present(p.get(key)).map(|v| {
            (
                At {
                    prefix: ENTRY_PREFIX[i],
                    key,
                },
                v,
            )
        })
    };
    let (at, content) = own("customContent").unwrap_or((
        At::top("content"),
        body.get("content").unwrap_or(&Value::Null),
    ));
    d.set(F::Caption, at, present(Some(content)));
    d.at[F::Title as usize] = at;
    let (at, scheduled) = own("scheduledFor").unwrap_or((
        At::top("scheduledFor"),
        body.get("scheduledFor").unwrap_or(&Value::Null),
    ));
    d.set(F::ScheduleAt, at, present(Some(scheduled)));
    d.set(F::Timezone, At::top("timezone"), body.get("timezone"));
    d.set(F::Metadata, At::top("metadata"), body.get("metadata"));
    d.at[F::Account as usize] = At::top("platforms");
    d.at[F::Video as usize] = At::top("mediaItems");
    d.at[F::Photos as usize] = At::top("mediaItems");

    let settings_fields: Vec<F> = ZERNIO_SETTINGS.iter().map(|s| s.0).collect();
    for &(f, snake, _) in ZERNIO_SETTINGS {
        d.at[f as usize] = At {
            prefix: "tiktokSettings.",
            key: snake,
        };
    }
    let settings = d.object(
        body.get("tiktokSettings"),
        || "tiktokSettings".into(),
        &settings_fields,
    );
    let entry_data = match entry {
        Some((i, p)) => d
            .object(
                p.get("platformSpecificData"),
                || format!("{}platformSpecificData", ENTRY_PREFIX[i]),
                &settings_fields,
            )
            .map(|data| (ENTRY_DATA_PREFIX[i], data)),
        None => None,
    };
    for &(f, snake, camel) in ZERNIO_SETTINGS {
        let chosen = entry_data
            .and_then(|(prefix, data)| pick_setting(prefix, data, snake, camel))
            .or_else(|| settings.and_then(|m| pick_setting("tiktokSettings.", m, snake, camel)));
        if let Some((at, value)) = chosen {
            d.set(f, at, Some(value));
        }
    }

    zernio_platforms(&mut d, body);
    match own("customMedia") {
        Some((_, media)) => {
            let i = entry.map_or(ENTRY_MEDIA.len() - 1, |(i, _)| i);
            zernio_media(&mut d, Some(media), ENTRY_MEDIA[i]);
        }
        None => zernio_media(&mut d, body.get("mediaItems"), "mediaItems"),
    }
    zernio_mode(&mut d, body);
    d
}

/// A setting from one object, snake_case or camelCase; snake_case wins when both are sent, as it
/// is the spelling of the reference.
fn pick_setting<'v>(
    prefix: &'static str,
    m: &'v Map<String, Value>,
    snake: &'static str,
    camel: &'static str,
) -> Option<(At, &'v Value)> {
    match (present(m.get(snake)), present(m.get(camel))) {
        (None, Some(v)) => Some((At { prefix, key: camel }, v)),
        (Some(v), _) => Some((At { prefix, key: snake }, v)),
        (None, None) => None,
    }
}

fn zernio_platforms(d: &mut Draft, body: &Map<String, Value>) {
    let Some(platforms) = d.array(body.get("platforms"), "platforms", F::Account) else {
        return;
    };
    let mut tiktok_seen = false;
    for (i, platform) in platforms.iter().enumerate() {
        let at = format!("platforms[{i}]");
        let Some(platform) = d.object(Some(platform), || at.clone(), &[]) else {
            continue;
        };
        let name = d.read(platform.get("platform"), &TEXT, || format!("{at}.platform"));
        match name {
            Ok(Some(name)) if name.trim().eq_ignore_ascii_case("tiktok") => {}
            Err(()) => continue,
            Ok(other) => {
                let shown = other.map_or_else(|| "no platform".to_owned(), |n| format!("\"{n}\""));
                d.found.add(
                    Rule::PlatformNotSupported,
                    format!("{at}.platform"),
                    format!("{at} names {shown}; this gateway publishes to TikTok only"),
                    "Send only {\"platform\": \"tiktok\", \"accountId\": ...}; post to other platforms through Zernio directly.".into(),
                );
                continue;
            }
        }
        if tiktok_seen {
            d.found.add(
                Rule::TooManyAccounts,
                at,
                "more than one TikTok account in one request; the gateway posts to one account per request".into(),
                "Send one request per TikTok account.".into(),
            );
            continue;
        }
        tiktok_seen = true;
        let account_at = format!("{at}.accountId");
        match d.read(platform.get("accountId"), &TEXT, || account_at.clone()) {
            Ok(Some(id)) if !id.trim().is_empty() => d.account = Some(id),
            Ok(_) => {
                d.found.add(
                    Rule::AccountRequired,
                    account_at,
                    "the TikTok platform entry has no accountId".into(),
                    rules::ACCOUNT_FIX.into(),
                );
                d.mark(F::Account);
            }
            Err(()) => d.mark(F::Account),
        }
    }
}

fn zernio_media(d: &mut Draft, items: Option<&Value>, list: &'static str) {
    d.at[F::Video as usize] = At::top(list);
    d.at[F::Photos as usize] = At::top(list);
    let Some(items) = d.array(items, list, F::Video) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let at = || format!("{list}[{i}]");
        let Some(obj) = d.object(Some(item), at, &[F::Video]) else {
            continue;
        };
        let media = MediaDraft::new(list, Some(i), &ZERNIO_MEDIA);
        let media = d.media_item(obj, media, false);
        let declared = d.read(obj.get("type"), &TEXT, || format!("{}.type", at()));
        let kind = match declared {
            Ok(Some(t)) if t.trim().eq_ignore_ascii_case("video") => Kind::Video,
            Ok(Some(t)) if t.trim().eq_ignore_ascii_case("image") => Kind::Photo,
            Ok(Some(t)) => {
                d.found.add(
                    Rule::UnsupportedFormat,
                    format!("{}.type", at()),
                    format!("{}.type is \"{t}\"; TikTok takes images (JPEG, PNG, WebP) or one video (MP4, MOV, WebM)",
                        at()),
                    "Use type \"image\" or \"video\".".into(),
                );
                d.mark(F::Video);
                continue;
            }
            // No type: tell by the file itself; an item that says nothing is left to the
            // format rule, which asks for an extension or a MIME type.
            Ok(None) | Err(()) => match guess_format(&media) {
                Some(f) if !f.is_image() => Kind::Video,
                _ => Kind::Photo,
            },
        };
        match kind {
            Kind::Video => d.videos.push(media),
            Kind::Photo => d.photos.push(media),
        }
    }
}

fn guess_format(media: &MediaDraft) -> Option<Format> {
    let from_mime = media.mime.as_deref().and_then(Format::from_mime);
    let from_url = || {
        rules::MediaUrl::parse(media.url.as_deref()?.trim())
            .ok()?
            .format()
    };
    from_mime.or_else(from_url)
}

/// Zernio's precedence, exactly: `isDraft` over `publishNow` over `scheduledFor`, and with none
/// of them the post is a Zernio draft (kept in Zernio, not sent to TikTok), as Zernio saves it.
fn zernio_mode(d: &mut Draft, body: &Map<String, Value>) {
    let is_draft = d.read(body.get("isDraft"), &BOOL, || "isDraft".into());
    let publish_now = d.read(body.get("publishNow"), &BOOL, || "publishNow".into());
    let ignored = |d: &mut Draft, by: &str| {
        if d.schedule_at.take().is_some() {
            d.warnings.push(Warning {
                field: "scheduledFor".into(),
                code: "schedule_ignored",
                message: format!(
                    "{by} takes precedence over scheduledFor (as in Zernio); the time is not used"
                ),
            });
        }
    };
    match (is_draft, publish_now) {
        (Ok(Some(true)), _) => {
            d.zernio_draft = true;
            ignored(d, "isDraft: true");
        }
        (_, Ok(Some(true))) => ignored(d, "publishNow: true"),
        _ if d.schedule_at.is_some() => {}
        // A wrong type is reported already; no draft is guessed from it.
        (Err(()), _) | (_, Err(())) => {}
        _ => d.zernio_draft = true,
    }
}

// ---- the flat shape ----

const FLAT_SCALARS: &[(F, &str)] = &[
    (F::Account, "account"),
    (F::Caption, "caption"),
    (F::Title, "title"),
    (F::Description, "description"),
    (F::Privacy, "privacy"),
    (F::AllowComment, "allow_comment"),
    (F::AllowDuet, "allow_duet"),
    (F::AllowStitch, "allow_stitch"),
    (F::AutoAddMusic, "auto_add_music"),
    (F::AiGenerated, "ai_generated"),
    (F::Commercial, "commercial"),
    (F::CoverTimestamp, "cover_timestamp_ms"),
    (F::CoverIndex, "photo_cover_index"),
    (F::ScheduleAt, "schedule_at"),
    (F::Timezone, "timezone"),
    (F::Draft, "draft"),
    (F::Metadata, "metadata"),
];
/// Flat keys read outside `FLAT_SCALARS`.
const FLAT_OTHER_KEYS: &[&str] = &[
    "video_url",
    "image_urls",
    "duration_ms",
    "size_bytes",
    "consent",
];
static FLAT_MEDIA: MediaKeys = MediaKeys {
    mime: "mime_type",
    size: "size_bytes",
    duration: "duration_ms",
    nested: false,
};

/// Unknown keys are refused here too: an automation's misspelt field would otherwise vanish.
fn flat(body: &Map<String, Value>) -> Draft {
    let mut d = Draft::new(true);
    for key in body.keys() {
        let known =
            FLAT_SCALARS.iter().any(|(_, k)| k == key) || FLAT_OTHER_KEYS.contains(&key.as_str());
        if !known {
            d.unknown_field(key_path("", key), "a flat post", flat_keys());
        }
    }
    for &(f, key) in FLAT_SCALARS {
        d.set(f, At::top(key), body.get(key));
    }
    d.at[F::Video as usize] = At::top("video_url");
    d.at[F::Photos as usize] = At::top("image_urls");
    // One `consent: true` asserts both of TikTok's flags.
    d.at[F::PreviewConsent as usize] = At::top("consent");
    d.at[F::ExpressConsent as usize] = At::top("consent");
    if let Ok(consent) = d.read(body.get("consent"), &BOOL, || "consent".into()) {
        d.preview_consent = consent;
        d.express_consent = consent;
    } else {
        d.mark(F::PreviewConsent);
        d.mark(F::ExpressConsent);
    }

    for (i, url) in d.url_list(body.get("video_url"), "video_url", F::Video, false) {
        let mut item = MediaDraft::new("video_url", i, &FLAT_MEDIA);
        item.url = Some(url);
        d.videos.push(item);
    }
    for (i, url) in d.url_list(body.get("image_urls"), "image_urls", F::Photos, true) {
        let mut item = MediaDraft::new("image_urls", i, &FLAT_MEDIA);
        item.url = Some(url);
        d.photos.push(item);
    }

    // Size and duration describe the video; they mean nothing beside image_urls.
    let size = d.read(body.get("size_bytes"), &UINT, || "size_bytes".into());
    let duration = d.read(body.get("duration_ms"), &UINT, || "duration_ms".into());
    for (key, value) in [("size_bytes", size), ("duration_ms", duration)] {
        let Ok(Some(value)) = value else { continue };
        if let Some(video) = d.videos.first_mut() {
            match key {
                "size_bytes" => video.size_bytes = Some(value),
                _ => video.duration_ms = Some(value),
            }
        } else {
            d.found.add(
                Rule::NotApplicable,
                key.into(),
                format!("{key} describes the video, and this post has no video_url"),
                format!("Leave {key} out for a photo post."),
            );
        }
    }
    d
}

fn flat_keys() -> String {
    let mut keys: Vec<&str> = FLAT_SCALARS.iter().map(|(_, k)| *k).collect();
    keys.extend_from_slice(FLAT_OTHER_KEYS);
    keys.join(", ")
}

// ---- reading JSON values ----

/// What a JSON value turned into.
enum Got<T> {
    Val(T),
    /// Absent for every purpose: null, or (flat shape) an empty string.
    Absent,
    Wrong,
}

/// A reader for one JSON type, with the words a caller is told when the type is wrong.
struct Conv<T> {
    read: fn(&Value, bool) -> Got<T>,
    expected: &'static str,
    expected_lenient: &'static str,
}

const TEXT: Conv<String> = Conv {
    read: read_text,
    expected: "a string",
    expected_lenient: "a string",
};
const BOOL: Conv<bool> = Conv {
    read: read_bool,
    expected: "a boolean (true or false)",
    expected_lenient: "true or false (yes/no and 1/0 also work)",
};
const INT: Conv<i64> = Conv {
    read: read_int,
    expected: "a whole number",
    expected_lenient: "a whole number",
};
const UINT: Conv<u64> = Conv {
    read: read_uint,
    expected: "a whole number, 0 or more",
    expected_lenient: "a whole number, 0 or more",
};
const OBJECT: Conv<Value> = Conv {
    read: read_object,
    expected: "a JSON object",
    expected_lenient: "a JSON object (or a string holding one)",
};

/// Empty strings count as absent in the flat shape: form tools send every field, filled or not.
fn lenient_text(v: &Value, lenient: bool) -> Option<Option<&str>> {
    match v {
        Value::String(s) if lenient && s.trim().is_empty() => Some(None),
        Value::String(s) => Some(Some(s)),
        _ => None,
    }
}

fn read_text(v: &Value, lenient: bool) -> Got<String> {
    match (v, lenient_text(v, lenient)) {
        (Value::Null, _) => Got::Absent,
        (_, Some(None)) => Got::Absent,
        (_, Some(Some(s))) => Got::Val(s.to_owned()),
        (Value::Number(n), None) if lenient => Got::Val(n.to_string()),
        _ => Got::Wrong,
    }
}

fn read_bool(v: &Value, lenient: bool) -> Got<bool> {
    match (v, lenient_text(v, lenient)) {
        (Value::Null, _) | (_, Some(None)) => Got::Absent,
        (Value::Bool(b), _) => Got::Val(*b),
        (_, Some(Some(s))) if lenient => match parse_form_bool(s) {
            Some(b) => Got::Val(b),
            None => Got::Wrong,
        },
        (Value::Number(n), _) if lenient => match n.as_u64() {
            Some(1) => Got::Val(true),
            Some(0) => Got::Val(false),
            _ => Got::Wrong,
        },
        _ => Got::Wrong,
    }
}

/// Booleans as form tools write them.
pub(crate) fn parse_form_bool(text: &str) -> Option<bool> {
    let text = text.trim();
    let is = |w: &str| text.eq_ignore_ascii_case(w);
    if is("true") || is("yes") || is("1") {
        Some(true)
    } else if is("false") || is("no") || is("0") {
        Some(false)
    } else {
        None
    }
}

/// Whole numbers; `3000.0` counts (some JSON encoders write every number as a float).
fn number_as_i128(n: &serde_json::Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = n.as_f64()?;
    // Beyond 2^53 a float no longer holds a whole number exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (f.fract() == 0.0 && f.abs() <= EXACT).then_some(f as i128)
}

fn read_whole(v: &Value, lenient: bool) -> Got<i128> {
    match (v, lenient_text(v, lenient)) {
        (Value::Null, _) | (_, Some(None)) => Got::Absent,
        (Value::Number(n), _) => number_as_i128(n).map_or(Got::Wrong, Got::Val),
        (_, Some(Some(s))) if lenient => s.trim().parse().map_or(Got::Wrong, Got::Val),
        _ => Got::Wrong,
    }
}

fn read_int(v: &Value, lenient: bool) -> Got<i64> {
    match read_whole(v, lenient) {
        Got::Val(n) => i64::try_from(n).map_or(Got::Wrong, Got::Val),
        Got::Absent => Got::Absent,
        Got::Wrong => Got::Wrong,
    }
}

fn read_uint(v: &Value, lenient: bool) -> Got<u64> {
    match read_whole(v, lenient) {
        Got::Val(n) => u64::try_from(n).map_or(Got::Wrong, Got::Val),
        Got::Absent => Got::Absent,
        Got::Wrong => Got::Wrong,
    }
}

fn read_object(v: &Value, lenient: bool) -> Got<Value> {
    match (v, lenient_text(v, lenient)) {
        (Value::Null, _) | (_, Some(None)) => Got::Absent,
        (Value::Object(_), _) => Got::Val(v.clone()),
        // A form field can only carry text, so the flat shape takes metadata as JSON text.
        (_, Some(Some(s))) if lenient => match serde_json::from_str::<Value>(s) {
            Ok(parsed @ Value::Object(_)) => Got::Val(parsed),
            _ => Got::Wrong,
        },
        _ => Got::Wrong,
    }
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The path of a key the caller sent; a key that would not read as one (empty, or with dots,
/// brackets or spaces) is quoted: `video["my key"]`.
fn key_path(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{prefix}{key}")
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        format!("{}[{quoted}]", prefix.trim_end_matches('.'))
    }
}

pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() <= 40 => format!("the string \"{s}\""),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl Draft {
    fn new(lenient: bool) -> Draft {
        Draft {
            at: [At::top(""); FIELD_COUNT],
            reported: 0,
            lenient,
            account: None,
            caption: None,
            title: None,
            description: None,
            privacy: None,
            allow_comment: None,
            allow_duet: None,
            allow_stitch: None,
            auto_add_music: None,
            ai_generated: None,
            commercial: None,
            schedule_at: None,
            timezone: None,
            draft: None,
            zernio_draft: false,
            preview_consent: None,
            express_consent: None,
            cover_timestamp_ms: None,
            cover_index: None,
            metadata: None,
            videos: Vec::new(),
            photos: Vec::new(),
            found: Findings::default(),
            warnings: Vec::new(),
        }
    }

    /// The caller's path for a field.
    pub(crate) fn at(&self, f: F) -> String {
        self.at[f as usize].path()
    }

    pub(crate) fn is_reported(&self, f: F) -> bool {
        self.reported & (1 << f as u32) != 0
    }

    fn mark(&mut self, f: F) {
        self.reported |= 1 << f as u32;
    }

    /// Reads one value; a wrong type is reported at `at()` and comes back as `Err`.
    fn read<T>(
        &mut self,
        v: Option<&Value>,
        conv: &Conv<T>,
        at: impl FnOnce() -> String,
    ) -> Result<Option<T>, ()> {
        let Some(v) = v else { return Ok(None) };
        match (conv.read)(v, self.lenient) {
            Got::Val(t) => Ok(Some(t)),
            Got::Absent => Ok(None),
            Got::Wrong => {
                let at = at();
                let expected = if self.lenient {
                    conv.expected_lenient
                } else {
                    conv.expected
                };
                self.found.add(
                    Rule::InvalidType,
                    at.clone(),
                    format!("{at} must be {expected}; got {}", describe(v)),
                    format!("Send {at} as {expected}."),
                );
                Err(())
            }
        }
    }

    /// Reads a scalar field into its slot, remembering where the caller put it.
    fn set(&mut self, f: F, at: At, v: Option<&Value>) {
        self.at[f as usize] = at;
        let path = || at.path();
        let ok = match f {
            F::Account => self.read(v, &TEXT, path).map(|x| self.account = x),
            F::Caption => self.read(v, &TEXT, path).map(|x| self.caption = x),
            F::Title => self.read(v, &TEXT, path).map(|x| self.title = x),
            F::Description => self.read(v, &TEXT, path).map(|x| self.description = x),
            F::Privacy => self.read(v, &TEXT, path).map(|x| self.privacy = x),
            F::Commercial => self.read(v, &TEXT, path).map(|x| self.commercial = x),
            F::ScheduleAt => self.read(v, &TEXT, path).map(|x| self.schedule_at = x),
            F::Timezone => self.read(v, &TEXT, path).map(|x| self.timezone = x),
            F::AllowComment => self.read(v, &BOOL, path).map(|x| self.allow_comment = x),
            F::AllowDuet => self.read(v, &BOOL, path).map(|x| self.allow_duet = x),
            F::AllowStitch => self.read(v, &BOOL, path).map(|x| self.allow_stitch = x),
            F::AutoAddMusic => self.read(v, &BOOL, path).map(|x| self.auto_add_music = x),
            F::AiGenerated => self.read(v, &BOOL, path).map(|x| self.ai_generated = x),
            F::Draft => self.read(v, &BOOL, path).map(|x| self.draft = x),
            F::PreviewConsent => self.read(v, &BOOL, path).map(|x| self.preview_consent = x),
            F::ExpressConsent => self.read(v, &BOOL, path).map(|x| self.express_consent = x),
            F::CoverTimestamp => self
                .read(v, &INT, path)
                .map(|x| self.cover_timestamp_ms = x),
            F::CoverIndex => self.read(v, &INT, path).map(|x| self.cover_index = x),
            F::Metadata => self.read(v, &OBJECT, path).map(|x| self.metadata = x),
            // Media are lists, read by each shape.
            F::Video | F::Photos => Ok(()),
        };
        if ok.is_err() {
            self.mark(f);
        }
    }

    /// An object at `at`, or nothing; a wrong type marks `fields` as reported.
    fn object<'v>(
        &mut self,
        v: Option<&'v Value>,
        at: impl FnOnce() -> String,
        fields: &[F],
    ) -> Option<&'v Map<String, Value>> {
        match present(v)? {
            Value::Object(map) => Some(map),
            other => {
                let at = at();
                self.found.add(
                    Rule::InvalidType,
                    at.to_owned(),
                    format!("{at} must be a JSON object; got {}", describe(other)),
                    format!("Send {at} as a JSON object."),
                );
                for &f in fields {
                    self.mark(f);
                }
                None
            }
        }
    }

    fn array<'v>(&mut self, v: Option<&'v Value>, at: &str, field: F) -> Option<&'v Vec<Value>> {
        match present(v)? {
            Value::Array(list) => Some(list),
            other => {
                self.found.add(
                    Rule::InvalidType,
                    at.to_owned(),
                    format!("{at} must be an array; got {}", describe(other)),
                    format!("Send {at} as a JSON array."),
                );
                self.mark(field);
                None
            }
        }
    }

    fn media_item(
        &mut self,
        obj: &Map<String, Value>,
        mut m: MediaDraft,
        with_duration: bool,
    ) -> MediaDraft {
        match self.read(obj.get("url"), &TEXT, || m.url_at()) {
            Ok(url) => m.url = url,
            Err(()) => m.url_reported = true,
        }
        let keys = m.keys;
        m.mime = self
            .read(obj.get(keys.mime), &TEXT, || m.mime_at())
            .unwrap_or_default();
        m.size_bytes = self
            .read(obj.get(keys.size), &UINT, || m.size_at())
            .unwrap_or_default();
        if with_duration {
            m.duration_ms = self
                .read(obj.get(keys.duration), &UINT, || m.duration_at())
                .unwrap_or_default();
        }
        m
    }

    /// The flat shape's URL lists: an array, or a string of URLs separated by commas and/or
    /// newlines (`split` = true), or one URL per string (`split` = false, for video_url, where
    /// a comma may belong to the URL). Each URL comes with its position when it came from a list.
    fn url_list(
        &mut self,
        v: Option<&Value>,
        at: &str,
        field: F,
        split: bool,
    ) -> Vec<(Option<usize>, String)> {
        let mut texts = Vec::new();
        let mut listed = split;
        match present(v) {
            None => {}
            Some(Value::Array(list)) => {
                listed = true;
                for (i, item) in list.iter().enumerate() {
                    match self.read(Some(item), &TEXT, || format!("{at}[{i}]")) {
                        Ok(Some(text)) => texts.push(text),
                        Ok(None) => {}
                        Err(()) => self.mark(field),
                    }
                }
            }
            Some(other) => match self.read(Some(other), &TEXT, || at.to_owned()) {
                Ok(Some(text)) => texts.push(text),
                Ok(None) => {}
                Err(()) => self.mark(field),
            },
        }
        let mut urls = Vec::new();
        for text in texts {
            if split {
                urls.extend(
                    text.split([',', '\n'])
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(str::to_owned),
                );
            } else if !text.trim().is_empty() {
                urls.push(text.trim().to_owned());
            }
        }
        urls.into_iter()
            .enumerate()
            .map(|(i, u)| (listed.then_some(i), u))
            .collect()
    }

    fn refuse_unknown(
        &mut self,
        obj: &Map<String, Value>,
        known: &[&str],
        prefix: impl Fn() -> String,
        what: &str,
    ) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                self.unknown_field(key_path(&prefix(), key), what, known.join(", "));
            }
        }
    }

    fn unknown_field(&mut self, path: String, what: &str, known: String) {
        self.found.add(
            Rule::UnknownField,
            path.clone(),
            format!("{path} is not a field of {what}; it would be ignored, so it is refused"),
            format!("Remove it or correct its spelling; {what} takes: {known}."),
        );
    }
}

/// The account a body names, read before anything else: the HTTP layer refuses an account of
/// another tenant before it looks the creator up or reports any other rule.
pub fn account_of(shape: Shape, body: &Value) -> Option<String> {
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match shape {
        Shape::Native | Shape::Flat => body.get("account").and_then(text),
        Shape::ZernioCompat => body
            .get("platforms")?
            .as_array()?
            .iter()
            .find(|p| {
                p.get("platform")
                    .and_then(Value::as_str)
                    .is_some_and(|name| name.eq_ignore_ascii_case("tiktok"))
            })?
            .get("accountId")
            .and_then(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        assert_eq!(key_path("video.", "codec"), "video.codec");
        assert_eq!(key_path("", ""), "[\"\"]");
        assert_eq!(key_path("video.", "a b"), "video[\"a b\"]");
    }

    #[test]
    fn form_booleans() {
        for (text, want) in [
            ("true", Some(true)),
            ("YES", Some(true)),
            (" 1 ", Some(true)),
            ("False", Some(false)),
            ("no", Some(false)),
            ("0", Some(false)),
            ("on", None),
            ("", None),
        ] {
            assert_eq!(parse_form_bool(text), want, "{text:?}");
        }
    }

    #[test]
    fn lenient_scalars_only_in_the_flat_shape() {
        assert!(matches!(read_bool(&json!("yes"), true), Got::Val(true)));
        assert!(matches!(read_bool(&json!("yes"), false), Got::Wrong));
        assert!(matches!(read_bool(&json!(""), true), Got::Absent));
        assert!(matches!(read_int(&json!(" 3000 "), true), Got::Val(3000)));
        assert!(matches!(read_int(&json!("3000"), false), Got::Wrong));
        assert!(matches!(read_int(&json!(3000.0), false), Got::Val(3000)));
        assert!(matches!(read_int(&json!(1.5), false), Got::Wrong));
        assert!(matches!(read_uint(&json!(-1), false), Got::Wrong));
        assert!(matches!(
            read_uint(&json!(u64::MAX), false),
            Got::Val(u64::MAX)
        ));
    }

    #[test]
    fn form_pairs_become_flat_json() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let flat = flat_from_form(&pairs(&[
            ("account", "acc"),
            ("image_urls", "https://a/1.jpg"),
            ("image_urls[]", "https://a/2.jpg"),
            ("image_urls", "https://a/3.jpg"),
        ]));
        assert_eq!(
            flat,
            json!({"account": "acc", "image_urls": ["https://a/1.jpg", "https://a/2.jpg", "https://a/3.jpg"]})
        );
    }
}
