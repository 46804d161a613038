//! Applies every rule to a draft, once, whatever shape it came from, and builds the validated
//! `TikTokPost` only when none of them objects. All rules run even after one fails, so the
//! caller learns everything wrong with the request in one answer.

use super::inbound::{Draft, F, Kind};
use super::post::{Consent, CreatorConstraints, Media, Photo, TikTokPost, Video};
use super::rules::{self, Violation, Warning};

pub(crate) fn validate(
    mut d: Draft,
    creator: Option<&CreatorConstraints>,
    now: super::Moment<'_>,
) -> Result<(TikTokPost, Vec<Warning>), Vec<Violation>> {
    let mut out = std::mem::take(&mut d.found);
    let mut warnings = std::mem::take(&mut d.warnings);

    let account = rules::account(&d, &mut out);
    let kind = rules::media_mix(&d, &mut out);
    let videos: Vec<_> = d
        .videos
        .iter()
        .map(|m| rules::media_item(m, Kind::Video, creator, now.allowed_media_hosts, &mut out))
        .collect();
    let photos: Vec<_> = d
        .photos
        .iter()
        .map(|m| rules::media_item(m, Kind::Photo, creator, now.allowed_media_hosts, &mut out))
        .collect();
    rules::control_characters(&d, &mut out);
    match kind {
        Some(Kind::Video) => rules::video_caption(&d, &mut out),
        Some(Kind::Photo) => rules::photo_description(&d, &mut out),
        None => {}
    }
    // TikTok's inbox endpoint for videos takes the media alone (the spec's `tiktokVideoDraft`):
    // the creator sets privacy and interactions while finishing the post in the app.
    let inbox_video = d.draft == Some(true) && kind == Some(Kind::Video);
    let privacy = if inbox_video && d.privacy.is_none() && !d.is_reported(F::Privacy) {
        Some(None)
    } else {
        rules::privacy(&d, creator, &mut out).map(Some)
    };
    let commercial = rules::commercial(&d, &mut out);
    rules::branded_content_private(&d, privacy.flatten(), commercial.ok().flatten(), &mut out);
    rules::consent(&d, &mut out);
    let no_interactions = [d.allow_comment, d.allow_duet, d.allow_stitch] == [None, None, None]
        && ![F::AllowComment, F::AllowDuet, F::AllowStitch]
            .into_iter()
            .any(|f| d.is_reported(f));
    let interactions = if inbox_video && no_interactions {
        Some(None)
    } else {
        rules::interactions(&d, kind, creator, &mut out).map(Some)
    };
    rules::not_applicable(&d, kind, &mut out);
    rules::cover(&d, kind, &mut out);
    let schedule = rules::schedule(&d, now, &mut out);

    // Every `None` below comes with a violation already in `out`.
    let (
        Some(account),
        Some(kind),
        Some(privacy),
        Ok(commercial),
        Some(interactions),
        Some(schedule),
    ) = (account, kind, privacy, commercial, interactions, schedule)
    else {
        return Err(out.into_sorted());
    };
    if !out.is_empty() {
        return Err(out.into_sorted());
    }

    // Every item passed, so each has its URL; they move into the post rather than being copied.
    let (caption, media, description, auto_add_music) = match kind {
        Kind::Video => {
            let (Some(Some(format)), Some(draft)) = (videos.first(), d.videos.first_mut()) else {
                return Err(out.into_sorted());
            };
            let video = Video {
                url: take_url(&mut draft.url),
                format: *format,
                cover_timestamp_ms: d.cover_timestamp_ms.map(i64::unsigned_abs),
                duration_ms: draft.duration_ms,
                size_bytes: draft.size_bytes,
            };
            let caption = d.caption.take().unwrap_or_default();
            (caption, Media::Video(video), None, None)
        }
        Kind::Photo => {
            let (title, warning) = rules::photo_title(&d);
            warnings.extend(warning);
            let mut items = Vec::with_capacity(photos.len());
            for (format, draft) in photos.into_iter().zip(&mut d.photos) {
                let Some(format) = format else {
                    return Err(out.into_sorted());
                };
                items.push(Photo {
                    url: take_url(&mut draft.url),
                    format,
                    size_bytes: draft.size_bytes,
                });
            }
            let cover_index = d.cover_index.and_then(|i| usize::try_from(i).ok());
            let description = d.description.take().filter(|t| !t.is_empty());
            let media = Media::Photos { items, cover_index };
            (title, media, description, d.auto_add_music)
        }
    };

    let post = TikTokPost {
        account,
        caption,
        media,
        description,
        privacy,
        interactions,
        auto_add_music,
        ai_generated: d.ai_generated,
        commercial,
        schedule,
        consent: Consent {
            content_preview_confirmed: d.preview_consent == Some(true),
            express_consent_given: d.express_consent == Some(true),
        },
        metadata: d.metadata.take(),
    };
    Ok((post, warnings))
}

/// The URL as sent, trimmed but otherwise untouched: re-encoding it could break a signed URL.
fn take_url(url: &mut Option<String>) -> String {
    let url = url.take().unwrap_or_default();
    if url.trim().len() == url.len() {
        url
    } else {
        url.trim().to_owned()
    }
}
