//! Arbitrary JSON and arbitrary strings, in every shape: `prepare` never panics, a refusal always
//! says why, and the same input always gives the same answer (same violations, same order).

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tiktok_gateway::tiktok::{CreatorConstraints, PrivacyLevel, Shape, flat_from_form, prepare};

const SHAPES: [Shape; 3] = [Shape::Native, Shape::ZernioCompat, Shape::Flat];

/// Keys of all three shapes, so arbitrary objects often hit real fields.
const KEYS: &[&str] = &[
    "account",
    "caption",
    "video",
    "photos",
    "url",
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
    "cover_timestamp_ms",
    "duration_ms",
    "size_bytes",
    "mime_type",
    "content_preview_confirmed",
    "express_consent_given",
    "content",
    "mediaItems",
    "type",
    "platforms",
    "platform",
    "accountId",
    "tiktokSettings",
    "privacy_level",
    "privacyLevel",
    "allowComment",
    "scheduledFor",
    "publishNow",
    "isDraft",
    "mimeType",
    "size",
    "video_url",
    "image_urls",
    "commercialContentType",
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(
            &[
                "true",
                "yes",
                "0",
                "",
                "public",
                "https://cdn.example.com/a.mp4",
                "2026-05-01T10:00:00Z",
                "Europe/Paris"
            ][..]
        )
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..10)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn creator() -> impl Strategy<Value = Option<CreatorConstraints>> {
    let levels = prop::collection::vec(prop::sample::select(&PrivacyLevel::ALL[..]), 0..4);
    prop::option::of(
        (
            levels,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(any::<u32>()),
        )
            .prop_map(
                |(privacy_levels, comment_disabled, duet_disabled, stitch_disabled, max)| {
                    CreatorConstraints {
                        privacy_levels,
                        comment_disabled,
                        duet_disabled,
                        stitch_disabled,
                        max_video_duration_sec: max,
                    }
                },
            ),
    )
}

/// Valid bodies of each shape, and the JSON pointers of their fields, to overwrite one at a time.
fn base(shape: Shape) -> (Value, &'static [&'static str]) {
    match shape {
        Shape::Native => (
            json!({
                "account": "acc", "caption": "hi",
                "video": {"url": "https://cdn.example.com/v.mp4", "cover_timestamp_ms": 1000, "duration_ms": 5000},
                "privacy": "public", "allow_comment": true, "allow_duet": true, "allow_stitch": false,
                "schedule_at": "2026-02-01T00:00:00Z", "timezone": "UTC", "commercial": "none",
                "consent": {"content_preview_confirmed": true, "express_consent_given": true}
            }),
            &[
                "/account",
                "/caption",
                "/video/url",
                "/video/cover_timestamp_ms",
                "/video/duration_ms",
                "/privacy",
                "/allow_comment",
                "/allow_duet",
                "/allow_stitch",
                "/schedule_at",
                "/timezone",
                "/commercial",
                "/consent/content_preview_confirmed",
                "/consent/express_consent_given",
                "/title",
                "/description",
                "/photos",
                "/metadata",
                "/draft",
                "/photo_cover_index",
            ],
        ),
        Shape::ZernioCompat => (
            json!({
                "content": "hi",
                "mediaItems": [{"type": "image", "url": "https://cdn.example.com/a.png"}, {"type": "image", "url": "https://cdn.example.com/b.webp"}],
                "platforms": [{"platform": "tiktok", "accountId": "acc"}],
                "tiktokSettings": {"privacy_level": "SELF_ONLY", "allow_comment": false, "photo_cover_index": 1,
                    "description": "d", "content_preview_confirmed": true, "express_consent_given": true},
                "scheduledFor": "2026-02-01T00:00:00Z", "timezone": "Asia/Tokyo"
            }),
            &[
                "/content",
                "/mediaItems/0/url",
                "/mediaItems/1/type",
                "/platforms/0/platform",
                "/platforms/0/accountId",
                "/tiktokSettings/privacy_level",
                "/tiktokSettings/allow_comment",
                "/tiktokSettings/photo_cover_index",
                "/tiktokSettings/description",
                "/scheduledFor",
                "/timezone",
                "/publishNow",
                "/isDraft",
                "/metadata",
                "/tiktokSettings/privacyLevel",
                "/tiktokSettings/commercialContentType",
                "/mediaItems/0/mimeType",
                "/mediaItems/1/size",
            ],
        ),
        Shape::Flat => (
            json!({
                "account": "acc", "caption": "a #title https://x.io",
                "image_urls": "https://cdn.example.com/a.jpg, https://cdn.example.com/b.jpg",
                "privacy": "friends", "allow_comment": "yes", "consent": "true", "photo_cover_index": "1",
                "auto_add_music": "no", "schedule_at": "2026-02-01 10:00", "timezone": "America/New_York"
            }),
            &[
                "/account",
                "/caption",
                "/image_urls",
                "/video_url",
                "/privacy",
                "/allow_comment",
                "/consent",
                "/photo_cover_index",
                "/auto_add_music",
                "/schedule_at",
                "/timezone",
                "/metadata",
                "/size_bytes",
                "/duration_ms",
                "/cover_timestamp_ms",
                "/title",
                "/draft",
            ],
        ),
    }
}

fn replace(mut body: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    match body.pointer_mut(parent) {
        Some(Value::Object(obj)) => {
            obj.insert(key.to_owned(), value);
        }
        Some(Value::Array(list)) => {
            if let Some(slot) = key.parse::<usize>().ok().and_then(|i| list.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
    body
}

/// Runs `prepare` twice and checks both answers agree and a refusal explains itself.
fn check(
    shape: Shape,
    body: &Value,
    creator: Option<&CreatorConstraints>,
) -> Result<(), TestCaseError> {
    let first = prepare(shape, body, creator, now());
    let second = prepare(shape, body, creator, now());
    prop_assert_eq!(&first, &second);
    // The create path's two steps (the rules without the creator, then with it) end where one
    // step does.
    match tiktok_gateway::tiktok::check(shape, body, now()) {
        Ok(checked) => prop_assert_eq!(&checked.finish(creator, now()), &first),
        // A refusal held to the creator afterwards lists what one pass with the creator does.
        Err(unchecked) => match creator {
            Some(c) => prop_assert_eq!(&Err(unchecked.with_creator(c, now())), &first),
            None => prop_assert_eq!(&Err(unchecked.violations()), &first),
        },
    }
    if let Err(violations) = &first {
        prop_assert!(!violations.is_empty());
        for v in violations {
            prop_assert!(
                !v.field.is_empty() && !v.message.is_empty() && !v.fix.is_empty(),
                "{:?}",
                v
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_json_in_every_shape(body in json_value(), creator in creator()) {
        for shape in SHAPES {
            check(shape, &body, creator.as_ref())?;
        }
    }

    #[test]
    fn arbitrary_objects_in_every_shape(
        pairs in prop::collection::vec((key(), json_value()), 0..16),
        creator in creator(),
    ) {
        let body = Value::Object(pairs.into_iter().collect());
        for shape in SHAPES {
            check(shape, &body, creator.as_ref())?;
        }
    }

    #[test]
    fn arbitrary_strings_as_field_values(
        index in any::<prop::sample::Index>(),
        text in any::<String>(),
        creator in creator(),
    ) {
        for shape in SHAPES {
            let (body, fields) = base(shape);
            let pointer = fields[index.index(fields.len())];
            let body = replace(body, pointer, Value::String(text.clone()));
            check(shape, &body, creator.as_ref())?;
        }
    }

    #[test]
    fn arbitrary_json_as_field_values(
        index in any::<prop::sample::Index>(),
        value in json_value(),
        creator in creator(),
    ) {
        for shape in SHAPES {
            let (body, fields) = base(shape);
            let pointer = fields[index.index(fields.len())];
            let body = replace(body, pointer, value.clone());
            check(shape, &body, creator.as_ref())?;
        }
    }

    #[test]
    fn arbitrary_form_pairs(
        pairs in prop::collection::vec((key(), any::<String>()), 0..20),
        creator in creator(),
    ) {
        let body = flat_from_form(&pairs);
        check(Shape::Flat, &body, creator.as_ref())?;
    }
}

#[test]
fn the_property_bases_are_valid() {
    for shape in SHAPES {
        let (body, _) = base(shape);
        let result = prepare(shape, &body, None, now());
        assert!(result.is_ok(), "{shape:?}: {:#?}", result.err());
    }
}
