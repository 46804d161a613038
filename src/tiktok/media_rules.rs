//! The rules of what a media file really is, as the media probe found it (issue 14): the
//! reference's limits applied to the file's own headers rather than to what the caller declared.
//! Pure: the probe (`crate::probe`) fetches, this judges. Every limit is named with the
//! reference's words beside it; TikTok's own status reasons (`file_format_check_failed`,
//! `duration_check_failed`, `frame_rate_check_failed`, `picture_size_check_failed`) are what
//! each rule spares the creator's daily slot from.

use serde::Serialize;

use super::post::{CreatorConstraints, Format};
use super::rules::{
    Findings, MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, MAX_VIDEO_DURATION_MS, MIN_VIDEO_DURATION_MS, Rule,
    Violation, Warning,
};

/// The rules only a probe of the file can break (the others it shares with the request's own
/// rules: `media_url_not_direct`, `unsupported_format`, `file_too_large`, `bad_duration`).
pub const PROBE_ONLY: [Rule; 5] = [
    Rule::MediaUnreachable,
    Rule::FormatMismatch,
    Rule::FrameRateOutOfRange,
    Rule::ResolutionOutOfRange,
    Rule::UnsupportedCodec,
];

/// reference: "Frame rate | 23-60 FPS".
pub const MIN_FPS: f64 = 23.0;
/// reference: "Frame rate | 23-60 FPS".
pub const MAX_FPS: f64 = 60.0;
/// reference: "Resolution | 360-4096 px per side" (TikTok: `picture_size_check_failed`).
pub const MIN_VIDEO_SIDE: u64 = 360;
/// reference: "Resolution | 360-4096 px per side".
pub const MAX_VIDEO_SIDE: u64 = 4096;
/// reference: "Video codecs | H.264, H.265, VP8, VP9".
pub const VIDEO_CODECS: [Codec; 4] = [Codec::H264, Codec::H265, Codec::Vp8, Codec::Vp9];
/// reference: "Photos are resized to 1080x1920" (Zernio resizes, TikTok shows 9:16).
pub const PHOTO_TARGET: (u64, u64) = (1080, 1920);
/// A photo whose aspect differs from 9:16 by more than this share loses that much of itself
/// to the crop: past a quarter, the picture the creator sees is no longer the one sent.
pub const MAX_CROP_SHARE: f64 = 0.25;
/// A photo smaller than half the target on its long side is blown up at least twice.
pub const MAX_UPSCALE: f64 = 2.0;
/// How far from 9:16 an aspect may be before the warning: ffmpeg's 1080x1918 is 9:16.
const ASPECT_TOLERANCE: f64 = 0.02;

/// What the first bytes of a file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Jpeg,
    Png,
    Webp,
    Mp4,
    Mov,
    Webm,
    /// HEIF stills (`ftyp` heic, heix, mif1): what an iPhone saves, often renamed `.jpg`.
    Heic,
    Avif,
    /// A web page where a file should be.
    Html,
    Unknown,
}

impl Container {
    /// The format TikTok knows it by, when it knows it.
    pub fn format(self) -> Option<Format> {
        Some(match self {
            Container::Jpeg => Format::Jpeg,
            Container::Png => Format::Png,
            Container::Webp => Format::Webp,
            Container::Mp4 => Format::Mp4,
            Container::Mov => Format::Mov,
            Container::Webm => Format::Webm,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Container::Heic => "HEIC",
            Container::Avif => "AVIF",
            Container::Html => "an HTML page",
            Container::Unknown => "an unrecognised format",
            other => other
                .format()
                .map(Format::as_str)
                .unwrap_or("an unrecognised format"),
        }
    }
}

/// A video track's codec, as its sample entry or `CodecID` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Codec {
    H264,
    H265,
    Vp8,
    Vp9,
    Av1,
    ProRes,
    Mpeg4Part2,
    /// Anything else, by the four-character code or Matroska id the file gives.
    Other(String),
}

impl Codec {
    pub fn name(&self) -> String {
        match self {
            Codec::H264 => "H.264".into(),
            Codec::H265 => "H.265".into(),
            Codec::Vp8 => "VP8".into(),
            Codec::Vp9 => "VP9".into(),
            Codec::Av1 => "AV1".into(),
            Codec::ProRes => "ProRes".into(),
            Codec::Mpeg4Part2 => "MPEG-4 Part 2".into(),
            Codec::Other(code) => code.clone(),
        }
    }
}

/// What the probe read of a reachable file; what it could not read is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub status: u16,
    pub content_type: Option<String>,
    pub size_bytes: Option<u64>,
    /// `None` in `headers` mode: no byte of the body was read.
    pub container: Option<Container>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub duration_ms: Option<u64>,
    pub fps: Option<f64>,
    pub codec: Option<Codec>,
}

/// How the probe of one URL ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Found(Found),
    /// Answered, but not with the file: a 4xx/5xx, or a 3xx (TikTok follows no redirects).
    Status {
        status: u16,
        location: Option<String>,
    },
    /// No answer: refused, not resolvable, not a public address, or out of time.
    Unreachable {
        reason: String,
        timed_out: bool,
    },
}

/// One media item and what its probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// Where in the request, in the caller's spelling (`photos[0].url`).
    pub field: String,
    pub url: String,
    /// Whether the item is the post's video (else one of its photos).
    pub video: bool,
    /// The format the extension or declared type names.
    pub declared: Format,
    pub outcome: Outcome,
}

/// What the media rules conclude of a post's probes.
#[derive(Debug, Default)]
pub struct Verdict {
    pub violations: Vec<Violation>,
    pub warnings: Vec<Warning>,
    /// The rules broken, for the metrics (one entry per violation or warning).
    pub broken: Vec<&'static str>,
}

/// Applies every probe rule to every item; `unreachable_warns` turns what could not be read
/// into warnings (`[media] on_unreachable = "warn"`).
pub fn check(
    items: &[Probed],
    creator: Option<&CreatorConstraints>,
    unreachable_warns: bool,
) -> Verdict {
    let mut out = Findings::default();
    let mut warnings = Vec::new();
    for item in items {
        item_rules(item, creator, unreachable_warns, &mut out, &mut warnings);
    }
    let violations = out.into_sorted();
    let broken = violations
        .iter()
        .map(|v| v.code)
        .chain(warnings.iter().map(|w| w.code))
        .collect();
    Verdict {
        violations,
        warnings,
        broken,
    }
}

const UNREACHABLE_FIX: &str = "Serve the file at a public https URL that answers 200 with the file itself, to any client, without a redirect.";

fn item_rules(
    item: &Probed,
    creator: Option<&CreatorConstraints>,
    unreachable_warns: bool,
    out: &mut Findings,
    warnings: &mut Vec<Warning>,
) {
    let at = item.field.clone();
    let found = match &item.outcome {
        Outcome::Found(found) => found,
        Outcome::Status { status, location } => {
            let message = if (300..400).contains(status) {
                format!(
                    "{at} answered {status}, a redirect{}: TikTok follows no redirects, so its download would fail",
                    location
                        .as_deref()
                        .map(|l| format!(" to {}", shorten(l)))
                        .unwrap_or_default()
                )
            } else {
                format!("{at} answered {status}: TikTok's download would fail")
            };
            unreachable(at, message, unreachable_warns, out, warnings);
            return;
        }
        Outcome::Unreachable { reason, timed_out } => {
            let message = if *timed_out {
                format!("{at} could not be read in time ({reason})")
            } else {
                format!("{at} could not be reached: {reason}")
            };
            unreachable(at, message, unreachable_warns, out, warnings);
            return;
        }
    };
    // reference: "Media URL Requirements": the URL returns the media bytes, not a page.
    let html_type = found.content_type.as_deref().is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("text/html")
            || essence.eq_ignore_ascii_case("application/xhtml+xml")
    });
    if html_type || found.container == Some(Container::Html) {
        let why = if html_type {
            format!(
                "Content-Type {}",
                found.content_type.as_deref().unwrap_or_default()
            )
        } else {
            "HTML bytes".to_owned()
        };
        out.add(
            Rule::MediaUrlNotDirect,
            at.clone(),
            format!("{at} serves a web page ({why}), not the file: TikTok's download would fail"),
            "Use the direct link to the file (a share page's download link, or a CDN URL), or upload it with POST /v1/media/presign.".into(),
        );
        return;
    }
    let limit = if item.video {
        MAX_VIDEO_BYTES
    } else {
        MAX_IMAGE_BYTES
    };
    if let Some(size) = found.size_bytes.filter(|s| *s > limit) {
        out.add(
            Rule::FileTooLarge,
            at.clone(),
            format!(
                "{at} is {size} bytes by its Content-Length, over the {} limit of {limit} bytes",
                if item.video {
                    "4 GB video"
                } else {
                    "20 MB photo"
                }
            ),
            if item.video {
                "Compress the video below 4 GB.".into()
            } else {
                "Compress the photo below 20 MB (JPEG at quality 85 is usually a tenth of that)."
                    .into()
            },
        );
    }
    let Some(container) = found.container else {
        return;
    };
    match container.format() {
        None => {
            out.add(
                Rule::UnsupportedFormat,
                at.clone(),
                format!(
                    "{at} is {} by its first bytes, whatever its name says; TikTok takes {}",
                    container.as_str(),
                    if item.video {
                        "MP4, MOV or WebM videos"
                    } else {
                        "JPEG, PNG or WebP photos"
                    }
                ),
                if item.video {
                    "Re-encode the video as H.264 in MP4.".into()
                } else {
                    "Convert the photo to JPEG (an iPhone's HEIC: export as \"Most Compatible\")."
                        .into()
                },
            );
            return;
        }
        Some(real) if real.is_image() == item.video => {
            out.add(
                Rule::UnsupportedFormat,
                at.clone(),
                format!(
                    "{at} is a {} {}, but it is given as the post's {}",
                    real.as_str(),
                    if real.is_image() { "photo" } else { "video" },
                    if item.video { "video" } else { "photo" }
                ),
                "Put photos in a photo post and a video in a video post.".into(),
            );
            return;
        }
        // MP4 and MOV are one family (ISO base media); TikTok reads either under either name.
        Some(real) if real != item.declared && !(is_iso(real) && is_iso(item.declared)) => {
            out.add(
                Rule::FormatMismatch,
                at.clone(),
                format!(
                    "{at} is named or declared {} but its bytes are {}",
                    item.declared.as_str(),
                    real.as_str()
                ),
                format!(
                    "Give the file its real extension (.{}) and type, or convert it to {}.",
                    real.as_str().to_ascii_lowercase().replace("jpeg", "jpg"),
                    item.declared.as_str()
                ),
            );
        }
        Some(_) => {}
    }
    if item.video {
        video_rules(&at, found, creator, out, warnings);
    } else {
        photo_warnings(&at, found, warnings);
    }
}

fn is_iso(format: Format) -> bool {
    matches!(format, Format::Mp4 | Format::Mov)
}

fn unreachable(
    at: String,
    message: String,
    warns: bool,
    out: &mut Findings,
    warnings: &mut Vec<Warning>,
) {
    if warns {
        warnings.push(Warning {
            field: at,
            code: Rule::MediaUnreachable.code(),
            message: format!(
                "{message}; the post was sent anyway ([media] on_unreachable = \"warn\")"
            ),
        });
    } else {
        out.add(Rule::MediaUnreachable, at, message, UNREACHABLE_FIX.into());
    }
}

fn video_rules(
    at: &str,
    found: &Found,
    creator: Option<&CreatorConstraints>,
    out: &mut Findings,
    warnings: &mut Vec<Warning>,
) {
    if let Some(ms) = found.duration_ms {
        let creator_max = creator
            .and_then(|c| c.max_video_duration_sec)
            .map(|s| u64::from(s) * 1000);
        let max = creator_max.map_or(MAX_VIDEO_DURATION_MS, |c| c.min(MAX_VIDEO_DURATION_MS));
        if ms < MIN_VIDEO_DURATION_MS || ms > max {
            let by_creator = creator_max.is_some_and(|c| c < MAX_VIDEO_DURATION_MS);
            out.add(
                Rule::BadDuration,
                at.to_owned(),
                format!(
                    "{at} lasts {} by its container, outside {} to {}{}",
                    seconds(ms),
                    seconds(MIN_VIDEO_DURATION_MS),
                    seconds(max),
                    if by_creator {
                        " (this creator's maximum)"
                    } else {
                        ""
                    }
                ),
                format!(
                    "Trim the video to between {} and {}.",
                    seconds(MIN_VIDEO_DURATION_MS),
                    seconds(max)
                ),
            );
        }
    }
    if let Some(fps) = found
        .fps
        .filter(|f| !(MIN_FPS - 0.05..=MAX_FPS + 0.05).contains(f))
    {
        out.add(
            Rule::FrameRateOutOfRange,
            at.to_owned(),
            format!("{at} runs at {fps:.2} fps, outside TikTok's 23 to 60 fps"),
            "Re-encode at 24, 25, 30 or 60 fps (ffmpeg: -r 30).".into(),
        );
    }
    if let (Some(w), Some(h)) = (found.width, found.height) {
        let sides = MIN_VIDEO_SIDE..=MAX_VIDEO_SIDE;
        if !sides.contains(&w) || !sides.contains(&h) {
            out.add(
                Rule::ResolutionOutOfRange,
                at.to_owned(),
                format!("{at} is {w}x{h}, outside TikTok's 360 to 4096 px per side"),
                "Re-encode at 1080x1920 (or any size between 360 and 4096 px per side).".into(),
            );
        } else {
            aspect_warning(at, w, h, warnings);
        }
    }
    if let Some(codec) = found.codec.as_ref().filter(|c| !VIDEO_CODECS.contains(c)) {
        out.add(
            Rule::UnsupportedCodec,
            at.to_owned(),
            format!(
                "{at} is encoded as {}; TikTok takes H.264, H.265, VP8 or VP9",
                codec.name()
            ),
            "Re-encode the video as H.264 (ffmpeg: -c:v libx264 -pix_fmt yuv420p).".into(),
        );
    }
}

fn aspect_warning(at: &str, w: u64, h: u64, warnings: &mut Vec<Warning>) {
    let aspect = w as f64 / h as f64;
    let target = 9.0 / 16.0;
    if (aspect - target).abs() / target > ASPECT_TOLERANCE {
        warnings.push(Warning {
            field: at.to_owned(),
            code: "aspect_not_9_16",
            message: format!("{at} is {w}x{h}, not 9:16: TikTok shows it with bars or cropped"),
        });
    }
}

fn photo_warnings(at: &str, found: &Found, warnings: &mut Vec<Warning>) {
    let (Some(w), Some(h)) = (found.width, found.height) else {
        return;
    };
    if w == 0 || h == 0 {
        return;
    }
    let (tw, th) = PHOTO_TARGET;
    let aspect = w as f64 / h as f64;
    let target = tw as f64 / th as f64;
    // The share of the picture a fill to 1080x1920 cuts away.
    let crop = 1.0 - (aspect.min(target) / aspect.max(target));
    if crop > MAX_CROP_SHARE {
        warnings.push(Warning {
            field: at.to_owned(),
            code: "image_cropped",
            message: format!(
                "{at} is {w}x{h}: Zernio's resize to {tw}x{th} cuts away {:.0}% of it",
                crop * 100.0
            ),
        });
    } else {
        aspect_warning(at, w, h, warnings);
    }
    let scale = (tw as f64 / w as f64).max(th as f64 / h as f64);
    if scale > MAX_UPSCALE {
        warnings.push(Warning {
            field: at.to_owned(),
            code: "image_upscaled",
            message: format!(
                "{at} is {w}x{h}: Zernio's resize to {tw}x{th} enlarges it {scale:.1} times, and it will look blurred"
            ),
        });
    }
}

fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A redirect's target, cut so that a long signed URL does not fill the answer.
fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(found: Found) -> Probed {
        Probed {
            field: "video.url".into(),
            url: "https://cdn.example.com/v.mp4".into(),
            video: true,
            declared: Format::Mp4,
            outcome: Outcome::Found(found),
        }
    }

    fn good_video() -> Found {
        Found {
            status: 200,
            content_type: Some("video/mp4".into()),
            size_bytes: Some(1_000_000),
            container: Some(Container::Mp4),
            width: Some(1080),
            height: Some(1920),
            duration_ms: Some(15_000),
            fps: Some(30.0),
            codec: Some(Codec::H264),
        }
    }

    fn codes(v: &Verdict) -> Vec<&'static str> {
        v.violations.iter().map(|v| v.code).collect()
    }

    #[test]
    fn a_good_video_passes_without_a_word() {
        let v = check(&[video(good_video())], None, false);
        assert!(v.violations.is_empty() && v.warnings.is_empty(), "{v:?}");
    }

    #[test]
    fn each_video_limit_is_its_own_refusal_with_the_evidence() {
        let broken = Found {
            duration_ms: Some(660_000),
            fps: Some(20.0),
            width: Some(200),
            height: Some(200),
            codec: Some(Codec::ProRes),
            ..good_video()
        };
        let v = check(&[video(broken)], None, false);
        assert_eq!(
            codes(&v),
            [
                "bad_duration",
                "frame_rate_out_of_range",
                "resolution_out_of_range",
                "unsupported_codec"
            ]
        );
        assert_eq!(
            v.violations[0].message,
            "video.url lasts 660 s by its container, outside 3 s to 600 s"
        );
        assert_eq!(
            v.violations[1].message,
            "video.url runs at 20.00 fps, outside TikTok's 23 to 60 fps"
        );
        assert_eq!(
            v.violations[2].message,
            "video.url is 200x200, outside TikTok's 360 to 4096 px per side"
        );
        assert_eq!(
            v.violations[3].message,
            "video.url is encoded as ProRes; TikTok takes H.264, H.265, VP8 or VP9"
        );
    }

    #[test]
    fn the_creators_maximum_duration_is_the_limit_when_shorter() {
        let creator = CreatorConstraints {
            privacy_levels: vec![],
            comment_disabled: false,
            duet_disabled: false,
            stitch_disabled: false,
            max_video_duration_sec: Some(10),
        };
        let v = check(&[video(good_video())], Some(&creator), false);
        assert_eq!(
            v.violations[0].message,
            "video.url lasts 15 s by its container, outside 3 s to 10 s (this creator's maximum)"
        );
    }

    #[test]
    fn unreachable_media_is_refused_or_warned_as_configured() {
        let redirect = Probed {
            outcome: Outcome::Status {
                status: 302,
                location: Some("http://127.0.0.1/x".into()),
            },
            ..video(Found::default())
        };
        let v = check(std::slice::from_ref(&redirect), None, false);
        assert_eq!(codes(&v), ["media_unreachable"]);
        assert_eq!(
            v.violations[0].message,
            "video.url answered 302, a redirect to http://127.0.0.1/x: TikTok follows no redirects, so its download would fail"
        );
        let v = check(&[redirect], None, true);
        assert!(v.violations.is_empty());
        assert_eq!(v.warnings[0].code, "media_unreachable");
    }

    #[test]
    fn the_bytes_decide_the_format_not_the_name() {
        let heic = Probed {
            field: "photos[0].url".into(),
            video: false,
            declared: Format::Jpeg,
            ..video(Found {
                container: Some(Container::Heic),
                ..Found::default()
            })
        };
        let v = check(&[heic], None, false);
        assert_eq!(codes(&v), ["unsupported_format"]);
        assert!(
            v.violations[0]
                .message
                .contains("is HEIC by its first bytes")
        );
        let png_as_jpg = Probed {
            field: "photos[0].url".into(),
            video: false,
            declared: Format::Jpeg,
            ..video(Found {
                container: Some(Container::Png),
                width: Some(1080),
                height: Some(1920),
                ..Found::default()
            })
        };
        let v = check(&[png_as_jpg], None, false);
        assert_eq!(codes(&v), ["format_mismatch"]);
        let mov_as_mp4 = video(Found {
            container: Some(Container::Mov),
            ..good_video()
        });
        assert!(check(&[mov_as_mp4], None, false).violations.is_empty());
        let page = video(Found {
            content_type: Some("text/html; charset=utf-8".into()),
            container: Some(Container::Html),
            ..Found::default()
        });
        assert_eq!(
            codes(&check(&[page], None, false)),
            ["media_url_not_direct"]
        );
    }

    #[test]
    fn photos_warn_of_crops_and_upscales_and_refuse_nothing_by_size() {
        let photo = |w, h| Probed {
            field: "photos[0].url".into(),
            video: false,
            declared: Format::Jpeg,
            ..video(Found {
                container: Some(Container::Jpeg),
                width: Some(w),
                height: Some(h),
                ..Found::default()
            })
        };
        let warn = |w, h| -> Vec<&'static str> {
            let v = check(&[photo(w, h)], None, false);
            assert!(v.violations.is_empty());
            v.warnings.iter().map(|w| w.code).collect()
        };
        assert!(warn(1080, 1920).is_empty());
        assert_eq!(warn(1920, 1080), ["image_cropped"]);
        assert_eq!(warn(300, 533), ["image_upscaled"]);
        assert_eq!(warn(1080, 1600), ["aspect_not_9_16"]);
        assert_eq!(warn(1080, 1350), ["image_cropped"]);
        let big = Probed {
            field: "photos[0].url".into(),
            video: false,
            declared: Format::Jpeg,
            ..video(Found {
                size_bytes: Some(25_000_000),
                ..Found::default()
            })
        };
        let v = check(&[big], None, false);
        assert_eq!(codes(&v), ["file_too_large"]);
        assert_eq!(
            v.violations[0].message,
            "photos[0].url is 25000000 bytes by its Content-Length, over the 20 MB photo limit of 20971520 bytes"
        );
    }
}
