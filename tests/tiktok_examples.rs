//! The reference's three examples (quick-start video, video with a cover timestamp, photo
//! carousel): the native equivalent of each must normalise to the reference's JSON body key for
//! key, and the same post sent in the Zernio-compatible and flat shapes must give the same payload.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tiktok_gateway::tiktok::{Prepared, Shape, TikTokPost, Violation, flat_from_form, prepare};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ok(shape: Shape, body: &Value) -> Prepared {
    match prepare(shape, body, None, now()) {
        Ok(prepared) => prepared,
        Err(violations) => panic!("{shape:?} refused {body}: {violations:#?}"),
    }
}

fn payload(shape: Shape, body: &Value) -> Value {
    ok(shape, body).payload
}

// ---- the reference's bodies, verbatim ----

fn reference_quick_start() -> Value {
    json!({
        "content": "Check out this amazing sunset! #sunset #nature",
        "mediaItems": [
            {"type": "video", "url": "https://cdn.example.com/sunset-video.mp4"}
        ],
        "platforms": [
            {"platform": "tiktok", "accountId": "YOUR_ACCOUNT_ID"}
        ],
        "tiktokSettings": {
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "allow_comment": true,
            "allow_duet": true,
            "allow_stitch": true,
            "content_preview_confirmed": true,
            "express_consent_given": true
        },
        "publishNow": true
    })
}

fn reference_video_with_cover() -> Value {
    json!({
        "content": "New cooking tutorial #recipe #foodtok",
        "mediaItems": [
            {"type": "video", "url": "https://cdn.example.com/cooking-tutorial.mp4"}
        ],
        "platforms": [
            {"platform": "tiktok", "accountId": "YOUR_ACCOUNT_ID"}
        ],
        "tiktokSettings": {
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "allow_comment": true,
            "allow_duet": true,
            "allow_stitch": true,
            "video_cover_timestamp_ms": 3000,
            "content_preview_confirmed": true,
            "express_consent_given": true
        },
        "publishNow": true
    })
}

const DESCRIPTION: &str = "Full trip recap from our weekend adventure across the coast. These are the best moments we captured along the way! #travel #roadtrip #adventure";

fn reference_photo_carousel() -> Value {
    json!({
        "content": "My travel highlights",
        "mediaItems": [
            {"type": "image", "url": "https://cdn.example.com/photo1.jpg"},
            {"type": "image", "url": "https://cdn.example.com/photo2.jpg"},
            {"type": "image", "url": "https://cdn.example.com/photo3.jpg"}
        ],
        "platforms": [
            {"platform": "tiktok", "accountId": "YOUR_ACCOUNT_ID"}
        ],
        "tiktokSettings": {
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "allow_comment": true,
            "media_type": "photo",
            "photo_cover_index": 0,
            "description": "Full trip recap from our weekend adventure across the coast. These are the best moments we captured along the way! #travel #roadtrip #adventure",
            "auto_add_music": true,
            "content_preview_confirmed": true,
            "express_consent_given": true
        },
        "publishNow": true
    })
}

// ---- the native equivalents ----

fn native_quick_start() -> Value {
    json!({
        "account": "YOUR_ACCOUNT_ID",
        "caption": "Check out this amazing sunset! #sunset #nature",
        "video": {"url": "https://cdn.example.com/sunset-video.mp4"},
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "allow_duet": true,
        "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

fn native_video_with_cover() -> Value {
    json!({
        "account": "YOUR_ACCOUNT_ID",
        "caption": "New cooking tutorial #recipe #foodtok",
        "video": {"url": "https://cdn.example.com/cooking-tutorial.mp4", "cover_timestamp_ms": 3000},
        "privacy": "public",
        "allow_comment": true,
        "allow_duet": true,
        "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

fn native_photo_carousel() -> Value {
    json!({
        "account": "YOUR_ACCOUNT_ID",
        "caption": "My travel highlights",
        "photos": [
            {"url": "https://cdn.example.com/photo1.jpg"},
            {"url": "https://cdn.example.com/photo2.jpg"},
            {"url": "https://cdn.example.com/photo3.jpg"}
        ],
        "photo_cover_index": 0,
        "description": DESCRIPTION,
        "auto_add_music": true,
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

#[test]
fn native_quick_start_is_the_reference_body() {
    let prepared = ok(Shape::Native, &native_quick_start());
    assert_eq!(prepared.payload, reference_quick_start());
    assert!(prepared.warnings.is_empty());
    assert_eq!(prepared.post.kind(), "video");
    assert_eq!(prepared.post.mode(), "now");
    assert_eq!(prepared.post.account(), "YOUR_ACCOUNT_ID");
    assert_eq!(prepared.post.schedule_at(), None);
}

#[test]
fn native_video_with_cover_is_the_reference_body() {
    assert_eq!(
        payload(Shape::Native, &native_video_with_cover()),
        reference_video_with_cover()
    );
}

#[test]
fn native_photo_carousel_is_the_reference_body() {
    let prepared = ok(Shape::Native, &native_photo_carousel());
    assert_eq!(prepared.payload, reference_photo_carousel());
    assert!(prepared.warnings.is_empty(), "{:?}", prepared.warnings);
    assert_eq!(prepared.post.kind(), "photo");
    assert_eq!(prepared.post.title(), Some("My travel highlights"));
}

#[test]
fn the_photo_title_may_come_from_title_instead_of_caption() {
    let mut body = native_photo_carousel();
    if let Some(obj) = body.as_object_mut() {
        obj.remove("caption");
        obj.insert("title".into(), json!("My travel highlights"));
    }
    assert_eq!(payload(Shape::Native, &body), reference_photo_carousel());
}

#[test]
fn the_reference_bodies_pass_through_the_zernio_shape_unchanged() {
    for body in [
        reference_quick_start(),
        reference_video_with_cover(),
        reference_photo_carousel(),
    ] {
        assert_eq!(payload(Shape::ZernioCompat, &body), body);
    }
}

/// Rewrites `tiktokSettings` keys to camelCase, as the JavaScript SDK's types spell them.
fn camel_case_settings(mut body: Value) -> Value {
    fn camel(key: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in key.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }
    if let Some(Value::Object(settings)) = body.get_mut("tiktokSettings") {
        let renamed = std::mem::take(settings)
            .into_iter()
            .map(|(k, v)| (camel(&k), v))
            .collect();
        *settings = renamed;
    }
    body
}

#[test]
fn camel_case_tiktok_settings_give_the_same_payload() {
    for body in [
        reference_quick_start(),
        reference_video_with_cover(),
        reference_photo_carousel(),
    ] {
        let camel = camel_case_settings(body.clone());
        assert!(camel["tiktokSettings"].get("privacyLevel").is_some());
        assert_eq!(payload(Shape::ZernioCompat, &camel), body);
    }
}

#[test]
fn zernio_extra_keys_are_tolerated_but_not_forwarded() {
    let mut body = reference_quick_start();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("dryRun".into(), json!(false));
        obj.insert("sdkVersion".into(), json!("1.2.3"));
        obj["tiktokSettings"]["somethingNew"] = json!(1);
        obj["mediaItems"][0]["filename"] = json!("sunset-video.mp4");
    }
    assert_eq!(payload(Shape::ZernioCompat, &body), reference_quick_start());
}

#[test]
fn flat_json_with_form_strings_gives_the_same_payloads() {
    let quick = json!({
        "account": "YOUR_ACCOUNT_ID",
        "caption": "Check out this amazing sunset! #sunset #nature",
        "video_url": "https://cdn.example.com/sunset-video.mp4",
        "privacy": "public",
        "allow_comment": "true",
        "allow_duet": "yes",
        "allow_stitch": "1",
        "consent": "true",
        "title": "",
        "schedule_at": ""
    });
    assert_eq!(payload(Shape::Flat, &quick), reference_quick_start());

    let cover = json!({
        "account": "YOUR_ACCOUNT_ID",
        "caption": "New cooking tutorial #recipe #foodtok",
        "video_url": "https://cdn.example.com/cooking-tutorial.mp4",
        "cover_timestamp_ms": "3000",
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "allow_duet": "YES",
        "allow_stitch": "True",
        "consent": "yes"
    });
    assert_eq!(payload(Shape::Flat, &cover), reference_video_with_cover());

    let photos = json!({
        "account": "YOUR_ACCOUNT_ID",
        "caption": "My travel highlights",
        "image_urls": "https://cdn.example.com/photo1.jpg, https://cdn.example.com/photo2.jpg\nhttps://cdn.example.com/photo3.jpg",
        "photo_cover_index": "0",
        "description": DESCRIPTION,
        "auto_add_music": "yes",
        "privacy": "public",
        "allow_comment": "true",
        "consent": true
    });
    assert_eq!(payload(Shape::Flat, &photos), reference_photo_carousel());

    let listed = json!({
        "account": "YOUR_ACCOUNT_ID",
        "caption": "My travel highlights",
        "image_urls": [
            "https://cdn.example.com/photo1.jpg",
            "https://cdn.example.com/photo2.jpg",
            "https://cdn.example.com/photo3.jpg"
        ],
        "photo_cover_index": 0,
        "description": DESCRIPTION,
        "auto_add_music": true,
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "consent": true
    });
    assert_eq!(payload(Shape::Flat, &listed), reference_photo_carousel());
}

fn form(pairs: &[(&str, &str)]) -> Value {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    flat_from_form(&pairs)
}

#[test]
fn form_fields_give_the_same_payloads() {
    let quick = form(&[
        ("account", "YOUR_ACCOUNT_ID"),
        ("caption", "Check out this amazing sunset! #sunset #nature"),
        ("video_url", "https://cdn.example.com/sunset-video.mp4"),
        ("privacy", "public"),
        ("allow_comment", "true"),
        ("allow_duet", "yes"),
        ("allow_stitch", "true"),
        ("consent", "true"),
        ("timezone", ""),
    ]);
    assert_eq!(payload(Shape::Flat, &quick), reference_quick_start());

    let cover = form(&[
        ("account", "YOUR_ACCOUNT_ID"),
        ("caption", "New cooking tutorial #recipe #foodtok"),
        ("video_url", "https://cdn.example.com/cooking-tutorial.mp4"),
        ("cover_timestamp_ms", "3000"),
        ("privacy", "PUBLIC_TO_EVERYONE"),
        ("allow_comment", "yes"),
        ("allow_duet", "yes"),
        ("allow_stitch", "yes"),
        ("consent", "1"),
    ]);
    assert_eq!(payload(Shape::Flat, &cover), reference_video_with_cover());

    let photos = form(&[
        ("account", "YOUR_ACCOUNT_ID"),
        ("caption", "My travel highlights"),
        ("image_urls", "https://cdn.example.com/photo1.jpg"),
        ("image_urls", "https://cdn.example.com/photo2.jpg"),
        ("image_urls[]", "https://cdn.example.com/photo3.jpg"),
        ("photo_cover_index", "0"),
        ("description", DESCRIPTION),
        ("auto_add_music", "true"),
        ("privacy", "public"),
        ("allow_comment", "true"),
        ("allow_duet", ""),
        ("consent", "true"),
    ]);
    assert_eq!(payload(Shape::Flat, &photos), reference_photo_carousel());
}

#[test]
fn all_three_shapes_make_the_same_post() {
    let native = ok(Shape::Native, &native_photo_carousel()).post;
    let zernio = ok(Shape::ZernioCompat, &reference_photo_carousel()).post;
    let flat = ok(
        Shape::Flat,
        &form(&[
            ("account", "YOUR_ACCOUNT_ID"),
            ("caption", "My travel highlights"),
            (
                "image_urls",
                "https://cdn.example.com/photo1.jpg,https://cdn.example.com/photo2.jpg,https://cdn.example.com/photo3.jpg",
            ),
            ("photo_cover_index", "0"),
            ("description", DESCRIPTION),
            ("auto_add_music", "yes"),
            ("privacy", "public"),
            ("allow_comment", "yes"),
            ("consent", "yes"),
        ]),
    )
    .post;
    assert_eq!(native, zernio);
    assert_eq!(native, flat);
    assert_eq!(native.content_fingerprint(), flat.content_fingerprint());
}

// ---- modes and optional keys ----

fn with(mut body: Value, key: &str, value: Value) -> Value {
    if let Some(obj) = body.as_object_mut() {
        obj.insert(key.into(), value);
    }
    body
}

#[test]
fn a_scheduled_post_sends_scheduled_for_in_utc_and_the_timezone() {
    let body = with(
        with(
            native_quick_start(),
            "schedule_at",
            json!("2026-03-01T09:30:00"),
        ),
        "timezone",
        json!("Europe/Paris"),
    );
    let prepared = ok(Shape::Native, &body);
    let mut want = reference_quick_start();
    if let Some(obj) = want.as_object_mut() {
        obj.remove("publishNow");
        obj.insert("scheduledFor".into(), json!("2026-03-01T08:30:00Z"));
        obj.insert("timezone".into(), json!("Europe/Paris"));
    }
    assert_eq!(prepared.payload, want);
    assert_eq!(prepared.post.mode(), "scheduled");
    assert_eq!(
        prepared.post.schedule_at(),
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 30, 0).single()
    );

    let offset = with(
        native_quick_start(),
        "schedule_at",
        json!("2026-03-01T10:30:00+02:00"),
    );
    assert_eq!(
        payload(Shape::Native, &offset)["scheduledFor"],
        json!("2026-03-01T08:30:00Z")
    );
    assert_eq!(payload(Shape::Native, &offset)["timezone"], json!("UTC"));
}

#[test]
fn an_inbox_draft_is_sent_now_with_draft_true_or_at_its_time() {
    let draft = with(native_quick_start(), "draft", json!(true));
    let prepared = ok(Shape::Native, &draft);
    assert_eq!(prepared.post.mode(), "draft");
    assert_eq!(prepared.payload["publishNow"], json!(true));
    assert_eq!(prepared.payload["tiktokSettings"]["draft"], json!(true));

    let scheduled = with(draft, "schedule_at", json!("2026-02-01T00:00:00Z"));
    let prepared = ok(Shape::Native, &scheduled);
    assert_eq!(prepared.post.mode(), "draft");
    assert!(prepared.payload.get("publishNow").is_none());
    assert_eq!(
        prepared.payload["scheduledFor"],
        json!("2026-02-01T00:00:00Z")
    );
    assert_eq!(prepared.payload["tiktokSettings"]["draft"], json!(true));

    let not_draft = with(native_quick_start(), "draft", json!(false));
    assert_eq!(payload(Shape::Native, &not_draft), reference_quick_start());
}

#[test]
fn optional_settings_are_sent_only_when_given() {
    let body = with(
        with(
            with(native_quick_start(), "ai_generated", json!(false)),
            "commercial",
            json!("brand_organic"),
        ),
        "metadata",
        json!({"campaign": "spring", "n": 1}),
    );
    let got = payload(Shape::Native, &body);
    assert_eq!(got["tiktokSettings"]["video_made_with_ai"], json!(false));
    assert_eq!(
        got["tiktokSettings"]["commercialContentType"],
        json!("brand_organic")
    );
    assert_eq!(got["metadata"], json!({"campaign": "spring", "n": 1}));

    let plain = payload(Shape::Native, &native_quick_start());
    let settings = plain["tiktokSettings"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for absent in [
        "video_made_with_ai",
        "commercialContentType",
        "draft",
        "media_type",
        "description",
        "auto_add_music",
        "photo_cover_index",
        "video_cover_timestamp_ms",
    ] {
        assert!(!settings.contains_key(absent), "{absent} sent");
    }
    assert!(plain.get("metadata").is_none());
    assert!(!plain.to_string().contains("null"));
}

#[test]
fn photo_posts_never_carry_duet_or_stitch_and_false_ones_are_let_through() {
    let body = with(
        with(native_photo_carousel(), "allow_duet", json!(false)),
        "allow_stitch",
        json!(false),
    );
    assert_eq!(payload(Shape::Native, &body), reference_photo_carousel());
}

#[test]
fn flat_metadata_may_be_json_text() {
    let body = form(&[
        ("account", "acc"),
        ("video_url", "https://cdn.example.com/v.mp4"),
        ("privacy", "public"),
        ("allow_comment", "no"),
        ("allow_duet", "no"),
        ("allow_stitch", "no"),
        ("consent", "true"),
        ("metadata", r#"{"zap": "123"}"#),
    ]);
    let got = payload(Shape::Flat, &body);
    assert_eq!(got["metadata"], json!({"zap": "123"}));
    assert!(got.get("content").is_none());
}

#[test]
fn a_photo_title_is_cleaned_and_the_caller_is_told() {
    let body = with(
        native_photo_carousel(),
        "caption",
        json!("My   travel highlights #travel https://blog.example.com/trip"),
    );
    let prepared = ok(Shape::Native, &body);
    assert_eq!(prepared.payload["content"], json!("My travel highlights"));
    assert_eq!(prepared.warnings.len(), 1);
    let warning = &prepared.warnings[0];
    assert_eq!(warning.code, "title_adjusted");
    assert_eq!(warning.field, "caption");
    assert!(warning.message.contains("\"My travel highlights\""));
}

#[test]
fn zernio_publish_now_beats_scheduled_for_with_a_warning() {
    let body = with(
        reference_quick_start(),
        "scheduledFor",
        json!("2026-05-01T00:00:00Z"),
    );
    let prepared = ok(Shape::ZernioCompat, &body);
    assert_eq!(prepared.payload, reference_quick_start());
    assert_eq!(prepared.warnings.len(), 1);
    assert_eq!(prepared.warnings[0].code, "schedule_ignored");

    let mut scheduled = body.clone();
    if let Some(obj) = scheduled.as_object_mut() {
        obj.remove("publishNow");
    }
    let prepared = ok(Shape::ZernioCompat, &scheduled);
    assert_eq!(prepared.post.mode(), "scheduled");
    assert_eq!(
        prepared.payload["scheduledFor"],
        json!("2026-05-01T00:00:00Z")
    );
}

#[test]
fn the_fingerprint_is_stable_and_tells_posts_apart() {
    let a = ok(Shape::Native, &native_quick_start()).post;
    let b = ok(Shape::ZernioCompat, &reference_quick_start()).post;
    let c = ok(Shape::Native, &native_video_with_cover()).post;
    assert_eq!(a.content_fingerprint(), b.content_fingerprint());
    assert_ne!(a.content_fingerprint(), c.content_fingerprint());
    assert!(a.content_fingerprint().starts_with("fnv1a64:"));
    assert_eq!(a.content_fingerprint().len(), "fnv1a64:".len() + 16);
}

#[test]
fn violations_serialize_as_the_api_shows_them() {
    let refused: Vec<Violation> = prepare(Shape::Native, &json!({}), None, now())
        .err()
        .unwrap_or_default();
    let first = serde_json::to_value(&refused[0]).unwrap_or_default();
    let keys: Vec<&String> = first
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["code", "field", "fix", "message"]);
}

#[test]
fn a_post_serializes_and_reads_back_in_every_mode() {
    for body in [
        native_quick_start(),
        with(native_quick_start(), "draft", json!(true)),
        with(
            native_photo_carousel(),
            "schedule_at",
            json!("2026-02-01T00:00:00Z"),
        ),
        with(
            with(native_photo_carousel(), "draft", json!(true)),
            "schedule_at",
            json!("2026-02-01T00:00:00Z"),
        ),
    ] {
        let post = ok(Shape::Native, &body).post;
        let stored = serde_json::to_value(&post).unwrap_or_default();
        let back: Option<TikTokPost> = serde_json::from_value(stored.clone()).ok();
        assert_eq!(back.as_ref(), Some(&post), "{stored}");
    }
}
