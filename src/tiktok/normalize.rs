//! The validated post as Zernio's create-post body (`POST /v1/posts`), built key by key from the
//! model so nothing the caller sent is forwarded unchecked. `tiktokSettings` uses the snake_case
//! keys of the reference's examples (and `commercialContentType`, camelCase in the reference's
//! table); a key that does not apply to the post is left out, never sent as null.

use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use super::post::{Media, Schedule, TikTokPost};

pub(crate) fn zernio_payload(post: &TikTokPost) -> Value {
    let mut body = Map::new();
    if !post.caption.is_empty() {
        body.insert("content".into(), post.caption.clone().into());
    }

    let mut settings = Map::new();
    let mut set = |key: &str, value: Value| {
        settings.insert(key.to_owned(), value);
    };
    if let Some(privacy) = post.privacy {
        set("privacy_level", privacy.as_str().into());
    }
    if let Some(interactions) = post.interactions {
        set("allow_comment", interactions.allow_comment.into());
        if let Some(duet) = interactions.allow_duet {
            set("allow_duet", duet.into());
        }
        if let Some(stitch) = interactions.allow_stitch {
            set("allow_stitch", stitch.into());
        }
    }
    set(
        "content_preview_confirmed",
        post.consent.content_preview_confirmed.into(),
    );
    set(
        "express_consent_given",
        post.consent.express_consent_given.into(),
    );

    let media_items: Vec<Value> = match &post.media {
        Media::Video(video) => {
            if let Some(ms) = video.cover_timestamp_ms {
                set("video_cover_timestamp_ms", ms.into());
            }
            vec![json!({"type": "video", "url": video.url})]
        }
        Media::Photos { items, cover_index } => {
            set("media_type", "photo".into());
            if let Some(index) = cover_index {
                set("photo_cover_index", (*index).into());
            }
            if let Some(description) = &post.description {
                set("description", description.clone().into());
            }
            if let Some(music) = post.auto_add_music {
                set("auto_add_music", music.into());
            }
            items
                .iter()
                .map(|p| json!({"type": "image", "url": p.url}))
                .collect()
        }
    };
    if let Some(ai) = post.ai_generated {
        set("video_made_with_ai", ai.into());
    }
    if let Some(commercial) = post.commercial {
        set("commercialContentType", commercial.as_str().into());
    }

    // Zernio's precedence: publishNow beats scheduledFor, and with neither the post stays a
    // Zernio draft that never reaches TikTok. An inbox draft must reach TikTok to land in the
    // creator's inbox, so it goes out now (publishNow) or at its time (scheduledFor).
    let when = match &post.schedule {
        Schedule::Now => Some(None),
        Schedule::At(at) => Some(Some(at)),
        Schedule::Draft { scheduled: at } => {
            set("draft", true.into());
            Some(at.as_ref())
        }
        Schedule::Saved { inbox } => {
            if *inbox {
                set("draft", true.into());
            }
            None
        }
    };
    match when {
        // Said outright, though Zernio's default would make the same draft.
        None => {
            body.insert("isDraft".into(), true.into());
        }
        Some(None) => {
            body.insert("publishNow".into(), true.into());
        }
        Some(Some(at)) => {
            let utc = at.at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            body.insert("scheduledFor".into(), utc.into());
            body.insert("timezone".into(), at.timezone.clone().into());
        }
    }

    body.insert("mediaItems".into(), media_items.into());
    body.insert(
        "platforms".into(),
        json!([{"platform": "tiktok", "accountId": post.account}]),
    );
    body.insert("tiktokSettings".into(), settings.into());
    if let Some(metadata) = &post.metadata {
        body.insert("metadata".into(), metadata.clone());
    }
    Value::Object(body)
}
