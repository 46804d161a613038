//! One row per rule: the smallest request that breaks it, the exact code and field it is
//! reported under (with a message and a fix), and the boundary that still passes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tiktok_gateway::tiktok::rules::{
    MAX_IMAGE_BYTES, MAX_IMAGES, MAX_PHOTO_DESCRIPTION_UTF16, MAX_VIDEO_BYTES,
    MAX_VIDEO_CAPTION_UTF16, MAX_VIDEO_DURATION_MS, MIN_VIDEO_DURATION_MS,
};
use tiktok_gateway::tiktok::{
    CreatorConstraints, PrivacyLevel, Rule, Shape, Violation, flat_from_form, prepare,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A valid native video post whose duration and size are known, so every media rule applies.
fn video() -> Value {
    json!({
        "account": "acc_1",
        "caption": "hello",
        "video": {"url": "https://cdn.example.com/v.mp4", "duration_ms": 10_000, "size_bytes": 1_000},
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "allow_duet": false,
        "allow_stitch": false,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

/// A valid native photo post with `n` images.
fn photos(n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"url": format!("https://cdn.example.com/p{i}.jpg"), "size_bytes": 1_000}))
        .collect();
    json!({
        "account": "acc_1",
        "title": "trip",
        "photos": list,
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

/// A valid Zernio-compatible video post.
fn zernio() -> Value {
    json!({
        "content": "hello",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_1"}],
        "tiktokSettings": {
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "allow_comment": true, "allow_duet": true, "allow_stitch": true,
            "content_preview_confirmed": true, "express_consent_given": true
        },
        "publishNow": true
    })
}

/// Sets (or, with `Value::Null` for `"-"`, removes) values by JSON pointer; parents must exist.
fn edit(mut body: Value, changes: &[(&str, Value)]) -> Value {
    for (pointer, value) in changes {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let Some(slot) = body.pointer_mut(parent) else {
            panic!("no {parent} in {body}")
        };
        match slot {
            Value::Object(obj) if value == &json!("-") => {
                obj.remove(key);
            }
            Value::Object(obj) => {
                obj.insert(key.to_owned(), value.clone());
            }
            Value::Array(list) => {
                let i: usize = key.parse().unwrap_or(usize::MAX);
                list[i] = value.clone();
            }
            _ => panic!("{parent} is not a container"),
        }
    }
    body
}

fn gone() -> Value {
    json!("-")
}

fn violations(shape: Shape, body: &Value, creator: Option<&CreatorConstraints>) -> Vec<Violation> {
    prepare(shape, body, creator, now())
        .err()
        .unwrap_or_default()
}

struct Row {
    name: &'static str,
    shape: Shape,
    creator: Option<CreatorConstraints>,
    broken: Value,
    code: &'static str,
    field: &'static str,
    /// The nearest request that passes.
    passing: Value,
}

fn row(
    name: &'static str,
    broken: Value,
    code: &'static str,
    field: &'static str,
    passing: Value,
) -> Row {
    Row {
        name,
        shape: Shape::Native,
        creator: None,
        broken,
        code,
        field,
        passing,
    }
}

fn emoji(n: usize) -> String {
    "😀".repeat(n)
}

fn creator() -> CreatorConstraints {
    CreatorConstraints {
        privacy_levels: vec![
            PrivacyLevel::FollowerOfCreator,
            PrivacyLevel::MutualFollowFriends,
            PrivacyLevel::SelfOnly,
        ],
        comment_disabled: true,
        duet_disabled: true,
        stitch_disabled: true,
        max_video_duration_sec: Some(60),
    }
}

fn rows() -> Vec<Row> {
    let zernio_row = |mut r: Row| {
        r.shape = Shape::ZernioCompat;
        r
    };
    let img = "/photos/0";
    vec![
        row(
            "unknown field",
            edit(video(), &[("/colour", json!("red"))]),
            "unknown_field",
            "colour",
            video(),
        ),
        row(
            "unknown nested field",
            edit(video(), &[("/video/thumbnail", json!("x"))]),
            "unknown_field",
            "video.thumbnail",
            video(),
        ),
        row(
            "wrong JSON type",
            edit(video(), &[("/allow_comment", json!("yes"))]),
            "invalid_type",
            "allow_comment",
            video(),
        ),
        row(
            "wrong JSON type, nested",
            edit(video(), &[("/video/size_bytes", json!(-1))]),
            "invalid_type",
            "video.size_bytes",
            edit(video(), &[("/video/size_bytes", json!(0))]),
        ),
        zernio_row(row(
            "another platform",
            edit(
                zernio(),
                &[(
                    "/platforms",
                    json!([{"platform": "tiktok", "accountId": "acc_1"}, {"platform": "instagram", "accountId": "ig"}]),
                )],
            ),
            "platform_not_supported",
            "platforms[1].platform",
            zernio(),
        )),
        zernio_row(row(
            "two TikTok accounts",
            edit(
                zernio(),
                &[(
                    "/platforms",
                    json!([{"platform": "tiktok", "accountId": "acc_1"}, {"platform": "TikTok", "accountId": "acc_2"}]),
                )],
            ),
            "too_many_accounts",
            "platforms[1]",
            zernio(),
        )),
        row(
            "no account",
            edit(video(), &[("/account", gone())]),
            "account_required",
            "account",
            video(),
        ),
        row(
            "empty account",
            edit(video(), &[("/account", json!("  "))]),
            "account_required",
            "account",
            video(),
        ),
        zernio_row(row(
            "no accountId",
            edit(zernio(), &[("/platforms/0", json!({"platform": "tiktok"}))]),
            "account_required",
            "platforms[0].accountId",
            zernio(),
        )),
        row(
            "no media",
            edit(video(), &[("/video", gone())]),
            "media_required",
            "video",
            video(),
        ),
        row(
            "a video with images",
            edit(
                video(),
                &[("/photos", json!([{"url": "https://cdn.example.com/p.jpg"}]))],
            ),
            "mixed_media",
            "photos",
            video(),
        ),
        zernio_row(row(
            "two videos",
            edit(
                zernio(),
                &[(
                    "/mediaItems",
                    json!([{"type": "video", "url": "https://cdn.example.com/a.mp4"}, {"type": "video", "url": "https://cdn.example.com/b.mp4"}]),
                )],
            ),
            "too_many_videos",
            "mediaItems[1].url",
            zernio(),
        )),
        row(
            "36 images (35 pass)",
            photos(MAX_IMAGES + 1),
            "too_many_images",
            "photos",
            photos(MAX_IMAGES),
        ),
        row(
            "http, not https",
            edit(
                video(),
                &[("/video/url", json!("http://cdn.example.com/v.mp4"))],
            ),
            "media_url_not_direct",
            "video.url",
            video(),
        ),
        row(
            "not a URL",
            edit(video(), &[("/video/url", json!("cdn.example.com/v.mp4"))]),
            "media_url_not_direct",
            "video.url",
            video(),
        ),
        row(
            "a GIF image",
            edit(
                photos(1),
                &[("/photos/0/url", json!("https://cdn.example.com/a.gif"))],
            ),
            "unsupported_format",
            "photos[0].url",
            edit(
                photos(1),
                &[("/photos/0/url", json!("https://cdn.example.com/a.WEBP?x=1"))],
            ),
        ),
        row(
            "an AVI video",
            edit(
                video(),
                &[("/video/url", json!("https://cdn.example.com/v.avi"))],
            ),
            "unsupported_format",
            "video.url",
            edit(
                video(),
                &[("/video/url", json!("https://cdn.example.com/v.MOV"))],
            ),
        ),
        row(
            "no extension, no MIME type",
            edit(
                video(),
                &[(
                    "/video/url",
                    json!("https://cdn.example.com/stream?id=v.mp4"),
                )],
            ),
            "unsupported_format",
            "video.url",
            edit(
                video(),
                &[
                    ("/video/url", json!("https://cdn.example.com/stream?id=1")),
                    ("/video/mime_type", json!("video/webm")),
                ],
            ),
        ),
        row(
            "a declared GIF",
            edit(
                photos(1),
                &[(&format!("{img}/mime_type"), json!("image/gif"))],
            ),
            "unsupported_format",
            "photos[0].mime_type",
            edit(
                photos(1),
                &[(&format!("{img}/mime_type"), json!("image/png"))],
            ),
        ),
        row(
            "an image as the video",
            edit(
                video(),
                &[("/video/url", json!("https://cdn.example.com/v.png"))],
            ),
            "unsupported_format",
            "video.url",
            video(),
        ),
        row(
            "image of 20 MB + 1 byte",
            edit(
                photos(1),
                &[(&format!("{img}/size_bytes"), json!(MAX_IMAGE_BYTES + 1))],
            ),
            "file_too_large",
            "photos[0].size_bytes",
            edit(
                photos(1),
                &[(&format!("{img}/size_bytes"), json!(MAX_IMAGE_BYTES))],
            ),
        ),
        row(
            "video of 4 GB + 1 byte",
            edit(
                video(),
                &[("/video/size_bytes", json!(MAX_VIDEO_BYTES + 1))],
            ),
            "file_too_large",
            "video.size_bytes",
            edit(video(), &[("/video/size_bytes", json!(MAX_VIDEO_BYTES))]),
        ),
        row(
            "video of 2,999 ms",
            edit(
                video(),
                &[("/video/duration_ms", json!(MIN_VIDEO_DURATION_MS - 1))],
            ),
            "bad_duration",
            "video.duration_ms",
            edit(
                video(),
                &[("/video/duration_ms", json!(MIN_VIDEO_DURATION_MS))],
            ),
        ),
        row(
            "video of 600,001 ms",
            edit(
                video(),
                &[("/video/duration_ms", json!(MAX_VIDEO_DURATION_MS + 1))],
            ),
            "bad_duration",
            "video.duration_ms",
            edit(
                video(),
                &[("/video/duration_ms", json!(MAX_VIDEO_DURATION_MS))],
            ),
        ),
        Row {
            creator: Some(CreatorConstraints {
                max_video_duration_sec: Some(60),
                ..Default::default()
            }),
            ..row(
                "longer than the creator's maximum",
                edit(video(), &[("/video/duration_ms", json!(60_001))]),
                "bad_duration",
                "video.duration_ms",
                edit(video(), &[("/video/duration_ms", json!(60_000))]),
            )
        },
        row(
            "video caption of 2,201 UTF-16 units",
            edit(
                video(),
                &[(
                    "/caption",
                    json!(format!("{}a", emoji(MAX_VIDEO_CAPTION_UTF16 / 2))),
                )],
            ),
            "caption_too_long",
            "caption",
            edit(
                video(),
                &[("/caption", json!(emoji(MAX_VIDEO_CAPTION_UTF16 / 2)))],
            ),
        ),
        row(
            "a media URL at the cloud metadata address",
            edit(
                video(),
                &[("/video/url", json!("https://169.254.169.254/latest/v.mp4"))],
            ),
            "media_host_not_public",
            "video.url",
            edit(
                video(),
                &[("/video/url", json!("https://93.184.216.34/v.mp4"))],
            ),
        ),
        row(
            "a NUL in a caption",
            edit(video(), &[("/caption", json!("Sunset\u{0000} tonight"))]),
            "control_characters",
            "caption",
            edit(video(), &[("/caption", json!("Sunset\ntonight\t#sunset"))]),
        ),
        row(
            "photo description of 4,001 UTF-16 units",
            edit(
                photos(1),
                &[(
                    "/description",
                    json!(format!("{}a", emoji(MAX_PHOTO_DESCRIPTION_UTF16 / 2))),
                )],
            ),
            "caption_too_long",
            "description",
            edit(
                photos(1),
                &[(
                    "/description",
                    json!(emoji(MAX_PHOTO_DESCRIPTION_UTF16 / 2)),
                )],
            ),
        ),
        row(
            "no privacy",
            edit(video(), &[("/privacy", gone())]),
            "privacy_required",
            "privacy",
            video(),
        ),
        row(
            "empty privacy",
            edit(video(), &[("/privacy", json!(""))]),
            "privacy_required",
            "privacy",
            video(),
        ),
        row(
            "unknown privacy",
            edit(video(), &[("/privacy", json!("everyone"))]),
            "privacy_invalid",
            "privacy",
            edit(video(), &[("/privacy", json!("Public"))]),
        ),
        Row {
            creator: Some(CreatorConstraints {
                privacy_levels: creator().privacy_levels,
                ..Default::default()
            }),
            ..row(
                "a level the creator lacks",
                video(),
                "privacy_level_unavailable",
                "privacy",
                edit(video(), &[("/privacy", json!("followers"))]),
            )
        },
        row(
            "branded content as SELF_ONLY",
            edit(
                video(),
                &[
                    ("/privacy", json!("private")),
                    ("/commercial", json!("brand_content")),
                ],
            ),
            "branded_content_private",
            "privacy",
            edit(
                video(),
                &[
                    ("/privacy", json!("private")),
                    ("/commercial", json!("brand_organic")),
                ],
            ),
        ),
        row(
            "consent flag false",
            edit(video(), &[("/consent/express_consent_given", json!(false))]),
            "consent_required",
            "consent.express_consent_given",
            video(),
        ),
        row(
            "consent flag missing",
            edit(video(), &[("/consent/content_preview_confirmed", gone())]),
            "consent_required",
            "consent.content_preview_confirmed",
            video(),
        ),
        row(
            "no allow_comment",
            edit(video(), &[("/allow_comment", gone())]),
            "interaction_setting_required",
            "allow_comment",
            video(),
        ),
        row(
            "no allow_duet on a video",
            edit(video(), &[("/allow_duet", gone())]),
            "interaction_setting_required",
            "allow_duet",
            photos(1),
        ),
        row(
            "no allow_stitch on a video",
            edit(video(), &[("/allow_stitch", gone())]),
            "interaction_setting_required",
            "allow_stitch",
            photos(1),
        ),
        Row {
            creator: Some(CreatorConstraints {
                comment_disabled: true,
                ..Default::default()
            }),
            ..row(
                "comments the creator disabled",
                video(),
                "interaction_disabled_by_creator",
                "allow_comment",
                edit(video(), &[("/allow_comment", json!(false))]),
            )
        },
        Row {
            creator: Some(CreatorConstraints {
                duet_disabled: true,
                ..Default::default()
            }),
            ..row(
                "duets the creator disabled",
                edit(video(), &[("/allow_duet", json!(true))]),
                "interaction_disabled_by_creator",
                "allow_duet",
                video(),
            )
        },
        Row {
            creator: Some(CreatorConstraints {
                stitch_disabled: true,
                ..Default::default()
            }),
            ..row(
                "stitches the creator disabled",
                edit(video(), &[("/allow_stitch", json!(true))]),
                "interaction_disabled_by_creator",
                "allow_stitch",
                video(),
            )
        },
        row(
            "auto_add_music on a video",
            edit(video(), &[("/auto_add_music", json!(true))]),
            "not_applicable",
            "auto_add_music",
            edit(photos(1), &[("/auto_add_music", json!(true))]),
        ),
        row(
            "description on a video",
            edit(video(), &[("/description", json!("long text"))]),
            "not_applicable",
            "description",
            edit(photos(1), &[("/description", json!("long text"))]),
        ),
        row(
            "duet on photos",
            edit(photos(1), &[("/allow_duet", json!(true))]),
            "not_applicable",
            "allow_duet",
            edit(photos(1), &[("/allow_duet", json!(false))]),
        ),
        row(
            "stitch on photos",
            edit(photos(1), &[("/allow_stitch", json!(true))]),
            "not_applicable",
            "allow_stitch",
            edit(photos(1), &[("/allow_stitch", json!(false))]),
        ),
        row(
            "cover index n of n images",
            edit(photos(3), &[("/photo_cover_index", json!(3))]),
            "cover_out_of_range",
            "photo_cover_index",
            edit(photos(3), &[("/photo_cover_index", json!(2))]),
        ),
        row(
            "negative cover index",
            edit(photos(3), &[("/photo_cover_index", json!(-1))]),
            "cover_out_of_range",
            "photo_cover_index",
            edit(photos(3), &[("/photo_cover_index", json!(0))]),
        ),
        row(
            "negative cover timestamp",
            edit(video(), &[("/video/cover_timestamp_ms", json!(-1))]),
            "cover_out_of_range",
            "video.cover_timestamp_ms",
            edit(video(), &[("/video/cover_timestamp_ms", json!(0))]),
        ),
        row(
            "cover past the end",
            edit(video(), &[("/video/cover_timestamp_ms", json!(10_001))]),
            "cover_out_of_range",
            "video.cover_timestamp_ms",
            edit(video(), &[("/video/cover_timestamp_ms", json!(10_000))]),
        ),
        row(
            "schedule not a time",
            edit(video(), &[("/schedule_at", json!("tomorrow"))]),
            "invalid_schedule",
            "schedule_at",
            edit(video(), &[("/schedule_at", json!("2026-01-02 09:00"))]),
        ),
        row(
            "schedule in a DST gap",
            edit(
                video(),
                &[
                    ("/schedule_at", json!("2026-03-29T02:30:00")),
                    ("/timezone", json!("Europe/Paris")),
                ],
            ),
            "invalid_schedule",
            "schedule_at",
            edit(
                video(),
                &[
                    ("/schedule_at", json!("2026-03-29T03:30:00")),
                    ("/timezone", json!("Europe/Paris")),
                ],
            ),
        ),
        row(
            "schedule a second ago",
            edit(
                video(),
                &[(
                    "/schedule_at",
                    json!((now() - Duration::seconds(1)).to_rfc3339()),
                )],
            ),
            "schedule_in_past",
            "schedule_at",
            edit(video(), &[("/schedule_at", json!(now().to_rfc3339()))]),
        ),
        row(
            "schedule beyond the horizon (a year)",
            edit(
                video(),
                &[(
                    "/schedule_at",
                    json!((now() + Duration::days(365) + Duration::seconds(1)).to_rfc3339()),
                )],
            ),
            "schedule_too_far",
            "schedule_at",
            edit(
                video(),
                &[(
                    "/schedule_at",
                    json!((now() + Duration::days(365)).to_rfc3339()),
                )],
            ),
        ),
        row(
            "unknown time zone",
            edit(video(), &[("/timezone", json!("Mars/Olympus"))]),
            "invalid_timezone",
            "timezone",
            edit(video(), &[("/timezone", json!("America/New_York"))]),
        ),
        row(
            "unknown commercial type",
            edit(video(), &[("/commercial", json!("sponsored"))]),
            "invalid_commercial_type",
            "commercial",
            edit(video(), &[("/commercial", json!("none"))]),
        ),
    ]
}

#[test]
fn every_rule_breaks_on_its_smallest_request_and_passes_at_its_boundary() {
    for r in rows() {
        let got = violations(r.shape, &r.broken, r.creator.as_ref());
        let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
        assert_eq!(pairs, [(r.code, r.field)], "{}: {got:#?}", r.name);
        for v in &got {
            assert!(
                !v.message.is_empty() && !v.fix.is_empty(),
                "{}: {v:?}",
                r.name
            );
        }
        let passing = prepare(r.shape, &r.passing, r.creator.as_ref(), now());
        assert!(
            passing.is_ok(),
            "{} (boundary): {:#?}",
            r.name,
            passing.err()
        );
    }
}

#[test]
fn every_rule_has_a_row() {
    let rows = rows();
    // What only the media probe finds has its cases in tests/probe.rs (a request alone
    // cannot break those rules).
    for rule in Rule::ALL
        .into_iter()
        .filter(|r| !tiktok_gateway::tiktok::media_rules::PROBE_ONLY.contains(r))
    {
        assert!(
            rows.iter().any(|r| r.code == rule.code()),
            "no row for {}",
            rule.code()
        );
    }
}

#[test]
fn messages_quote_the_limit_and_the_value() {
    let caption = format!("{}a", emoji(1100));
    let got = violations(
        Shape::Native,
        &edit(video(), &[("/caption", json!(caption))]),
        None,
    );
    assert_eq!(
        got[0].message,
        "caption is 2,201 UTF-16 units; TikTok allows at most 2,200 for a video caption"
    );
    let got = violations(Shape::Native, &photos(36), None);
    assert!(got[0].message.contains("36") && got[0].message.contains("35"));
    let got = violations(
        Shape::Native,
        &edit(video(), &[("/video/duration_ms", json!(2_999))]),
        None,
    );
    assert!(got[0].message.contains("2,999 ms"), "{}", got[0].message);
}

#[test]
fn every_privacy_alias_and_value_is_accepted() {
    for (given, sent) in [
        ("public", "PUBLIC_TO_EVERYONE"),
        ("friends", "MUTUAL_FOLLOW_FRIENDS"),
        ("followers", "FOLLOWER_OF_CREATOR"),
        ("private", "SELF_ONLY"),
        ("PRIVATE", "SELF_ONLY"),
        ("PUBLIC_TO_EVERYONE", "PUBLIC_TO_EVERYONE"),
        ("MUTUAL_FOLLOW_FRIENDS", "MUTUAL_FOLLOW_FRIENDS"),
        ("FOLLOWER_OF_CREATOR", "FOLLOWER_OF_CREATOR"),
        ("SELF_ONLY", "SELF_ONLY"),
    ] {
        let body = edit(video(), &[("/privacy", json!(given))]);
        let prepared = prepare(Shape::Native, &body, None, now());
        let level = prepared.map(|p| p.payload["tiktokSettings"]["privacy_level"].clone());
        assert_eq!(level, Ok(json!(sent)), "{given}");
    }
}

#[test]
fn an_unavailable_level_names_the_allowed_ones() {
    let limited = CreatorConstraints {
        privacy_levels: vec![PrivacyLevel::FollowerOfCreator, PrivacyLevel::SelfOnly],
        ..Default::default()
    };
    let got = violations(Shape::Native, &video(), Some(&limited));
    assert_eq!(
        got[0].message,
        "Selected privacy level 'PUBLIC_TO_EVERYONE' is not available for this creator. Available options: FOLLOWER_OF_CREATOR, SELF_ONLY"
    );
}

#[test]
fn each_share_page_host_is_refused_and_direct_hosts_pass() {
    for url in [
        "https://drive.google.com/file/d/abc/view.mp4",
        "https://docs.google.com/file/d/abc/v.mp4",
        "https://dropbox.com/s/abc/v.mp4",
        "https://www.dropbox.com/s/abc/v.mp4?dl=0",
        "https://onedrive.live.com/redir/v.mp4",
        "https://1drv.ms/v/s!abc.mp4",
        "https://contoso.sharepoint.com/sites/x/v.mp4",
        "https://sharepoint.com/v.mp4",
        "https://icloud.com/iclouddrive/v.mp4",
        "https://www.icloud.com/iclouddrive/v.mp4",
        "https://WWW.DROPBOX.COM/s/abc/v.mp4",
    ] {
        let got = violations(
            Shape::Native,
            &edit(video(), &[("/video/url", json!(url))]),
            None,
        );
        let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
        assert_eq!(pairs, [("media_url_not_direct", "video.url")], "{url}");
        assert!(got[0].fix.contains("direct"), "{url}");
    }
    for url in [
        "https://dl.dropboxusercontent.com/s/abc/v.mp4",
        "https://storage.googleapis.com/bucket/v.mp4",
        "https://notsharepoint.com.example.net/v.mp4",
    ] {
        let body = edit(video(), &[("/video/url", json!(url))]);
        assert!(prepare(Shape::Native, &body, None, now()).is_ok(), "{url}");
    }
}

#[test]
fn no_privacy_and_no_consent_are_refused_never_invented() {
    let body = edit(video(), &[("/privacy", gone()), ("/consent", gone())]);
    let got = violations(Shape::Native, &body, None);
    let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("privacy_required", "privacy"),
            ("consent_required", "consent.content_preview_confirmed"),
            ("consent_required", "consent.express_consent_given"),
        ]
    );

    // The same in the other shapes, under their own field names.
    let zernio_body = edit(
        zernio(),
        &[
            ("/tiktokSettings/privacy_level", gone()),
            ("/tiktokSettings/content_preview_confirmed", gone()),
            ("/tiktokSettings/express_consent_given", json!(false)),
        ],
    );
    let got = violations(Shape::ZernioCompat, &zernio_body, None);
    let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("privacy_required", "tiktokSettings.privacy_level"),
            (
                "consent_required",
                "tiktokSettings.content_preview_confirmed"
            ),
            ("consent_required", "tiktokSettings.express_consent_given"),
        ]
    );

    let flat = flat_from_form(&[
        ("account".to_string(), "acc".to_string()),
        (
            "video_url".to_string(),
            "https://cdn.example.com/v.mp4".to_string(),
        ),
        ("allow_comment".to_string(), "no".to_string()),
        ("allow_duet".to_string(), "no".to_string()),
        ("allow_stitch".to_string(), "no".to_string()),
        ("privacy".to_string(), "".to_string()),
        ("consent".to_string(), "".to_string()),
    ]);
    let got = violations(Shape::Flat, &flat, None);
    let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("privacy_required", "privacy"),
            ("consent_required", "consent")
        ]
    );
}

#[test]
fn camel_case_keys_are_named_as_sent() {
    let body = json!({
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_1"}],
        "tiktokSettings": {
            "privacyLevel": "nobody", "allowComment": "yes", "allowDuet": true, "allowStitch": true,
            "contentPreviewConfirmed": true, "expressConsentGiven": true
        }
    });
    let got = violations(Shape::ZernioCompat, &body, None);
    let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("invalid_type", "tiktokSettings.allowComment"),
            ("privacy_invalid", "tiktokSettings.privacyLevel"),
        ]
    );
}

#[test]
fn zernio_scheduling_precedence_is_the_specs() {
    let mode = |body: &Value| {
        let p = prepare(Shape::ZernioCompat, body, None, now()).unwrap();
        (p.post.mode(), p.payload)
    };
    let at = "2026-06-01T09:00:00Z";
    // isDraft beats publishNow and scheduledFor: a Zernio draft, said outright.
    let (m, payload) = mode(&edit(
        zernio(),
        &[("/isDraft", json!(true)), ("/scheduledFor", json!(at))],
    ));
    assert_eq!(m, "saved");
    assert_eq!(payload["isDraft"], true);
    assert!(payload.get("publishNow").is_none() && payload.get("scheduledFor").is_none());
    // publishNow beats scheduledFor.
    let (m, payload) = mode(&edit(zernio(), &[("/scheduledFor", json!(at))]));
    assert_eq!(m, "now");
    assert_eq!(payload["publishNow"], true);
    // scheduledFor alone schedules.
    let (m, payload) = mode(&edit(
        zernio(),
        &[("/publishNow", gone()), ("/scheduledFor", json!(at))],
    ));
    assert_eq!(m, "scheduled");
    assert_eq!(payload["scheduledFor"], at);
    // None of them, or publishNow: false alone, is a Zernio draft, as Zernio saves it.
    for body in [
        edit(zernio(), &[("/publishNow", gone())]),
        edit(zernio(), &[("/publishNow", json!(false))]),
    ] {
        let (m, payload) = mode(&body);
        assert_eq!(m, "saved", "{body}");
        assert_eq!(payload["isDraft"], true);
    }
    // The native shape keeps its documented default: published now.
    let native = prepare(Shape::Native, &video(), None, now()).unwrap();
    assert_eq!(native.post.mode(), "now");
}

#[test]
fn the_tiktok_entry_overrides_the_root_as_the_spec_says() {
    let body = edit(
        zernio(),
        &[
            ("/tiktokSettings/privacy_level", json!("SELF_ONLY")),
            (
                "/platforms/0/platformSpecificData",
                json!({"privacyLevel": "MUTUAL_FOLLOW_FRIENDS", "allow_duet": false, "videoCoverTimestampMs": 1500}),
            ),
            ("/platforms/0/customContent", json!("tiktok caption")),
            (
                "/platforms/0/customMedia",
                json!([{"type": "video", "url": "https://cdn.example.com/tiktok-cut.mp4"}]),
            ),
        ],
    );
    let p = prepare(Shape::ZernioCompat, &body, None, now()).unwrap();
    let settings = &p.payload["tiktokSettings"];
    assert_eq!(settings["privacy_level"], "MUTUAL_FOLLOW_FRIENDS");
    assert_eq!(settings["allow_duet"], false);
    assert_eq!(
        settings["allow_stitch"], true,
        "the root's where the entry says nothing"
    );
    assert_eq!(settings["video_cover_timestamp_ms"], 1500);
    assert_eq!(p.payload["content"], "tiktok caption");
    assert_eq!(
        p.payload["mediaItems"],
        json!([{"type": "video", "url": "https://cdn.example.com/tiktok-cut.mp4"}])
    );

    // The spec's TikTokPlatformData alone, with no tiktokSettings at all, is a valid body.
    let only_entry = json!({
        "content": "hello",
        "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "acc_1", "platformSpecificData": {
            "privacy_level": "PUBLIC_TO_EVERYONE", "allowComment": true, "allowDuet": true,
            "allowStitch": true, "contentPreviewConfirmed": true, "expressConsentGiven": true}}],
        "publishNow": true
    });
    assert!(prepare(Shape::ZernioCompat, &only_entry, None, now()).is_ok());

    // A refusal names the field where the caller put it.
    let bad = edit(
        only_entry,
        &[(
            "/platforms/0/platformSpecificData/allowComment",
            json!("yes"),
        )],
    );
    let got = violations(Shape::ZernioCompat, &bad, None);
    assert!(
        got.iter()
            .any(|v| v.field == "platforms[0].platformSpecificData.allowComment"),
        "{got:?}"
    );
}

#[test]
fn an_inbox_video_draft_needs_no_privacy_or_interactions() {
    // The spec's own `tiktokVideoDraft` example: TikTok's inbox endpoint takes the media alone.
    let example = json!({
        "content": "New video draft!",
        "mediaItems": [{"type": "video", "url": "https://example.com/video.mp4"}],
        "platforms": [{"platform": "tiktok", "accountId": "64e1f0a9e2b5af0012ab34cd"}],
        "tiktokSettings": {"draft": true, "contentPreviewConfirmed": true, "expressConsentGiven": true}
    });
    let p = prepare(Shape::ZernioCompat, &example, None, now()).unwrap();
    assert_eq!(p.post.privacy, None);
    assert_eq!(p.payload["tiktokSettings"]["draft"], true);
    assert!(p.payload["tiktokSettings"].get("privacy_level").is_none());
    // Consent is still the caller's to give.
    let no_consent = edit(example, &[("/tiktokSettings/expressConsentGiven", gone())]);
    let got = violations(Shape::ZernioCompat, &no_consent, None);
    assert_eq!(got[0].code, "consent_required");
    // A direct video post still needs them.
    let direct = edit(zernio(), &[("/tiktokSettings/privacy_level", gone())]);
    let got = violations(Shape::ZernioCompat, &direct, None);
    assert_eq!(got[0].code, "privacy_required");
}

#[test]
fn flat_shape_rules_name_flat_fields() {
    let mut pairs: Vec<(String, String)> = [
        ("account", "acc"),
        ("caption", "hi"),
        ("privacy", "public"),
        ("allow_comment", "maybe"),
        ("consent", "true"),
        ("size_bytes", "12"),
        ("colour", "red"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for i in 0..=MAX_IMAGES {
        pairs.push((
            "image_urls".into(),
            format!("https://cdn.example.com/{i}.png"),
        ));
    }
    pairs.push(("image_urls".into(), "http://cdn.example.com/x.gif".into()));
    let got = violations(Shape::Flat, &flat_from_form(&pairs), None);
    let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("unknown_field", "colour"),
            ("invalid_type", "allow_comment"),
            ("too_many_images", "image_urls"),
            ("media_url_not_direct", "image_urls[36]"),
            ("unsupported_format", "image_urls[36]"),
            ("not_applicable", "size_bytes"),
        ]
    );
}

#[test]
fn all_violations_together_in_a_stable_order() {
    let body = json!({
        "caption": format!("{}a", emoji(1100)),
        "video": {"url": "http://drive.google.com/v.avi", "duration_ms": 1, "size_bytes": MAX_VIDEO_BYTES + 1, "cover_timestamp_ms": -5, "codec": "h264"},
        "privacy": "everyone",
        "allow_duet": "sure",
        "auto_add_music": true,
        "description": "d",
        "commercial": "ads",
        "schedule_at": "2020-01-01T00:00:00Z",
        "timezone": "Nowhere/Land",
        "consent": {"content_preview_confirmed": false}
    });
    let first = violations(Shape::Native, &body, Some(&creator()));
    let codes: Vec<&str> = first.iter().map(|v| v.code).collect();
    assert_eq!(
        codes,
        [
            "unknown_field",
            "invalid_type",
            "account_required",
            "media_url_not_direct",
            "unsupported_format",
            "file_too_large",
            "bad_duration",
            "caption_too_long",
            "privacy_invalid",
            "consent_required",
            "consent_required",
            "interaction_setting_required",
            "interaction_setting_required",
            "not_applicable",
            "not_applicable",
            "cover_out_of_range",
            "schedule_in_past",
            "invalid_timezone",
            "invalid_commercial_type",
        ]
    );
    // Reported by rule, in the order the rules are declared.
    let rank = |code: &str| Rule::ALL.iter().position(|r| r.code() == code);
    let ranks: Vec<_> = codes.iter().map(|c| rank(c)).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
    for _ in 0..5 {
        assert_eq!(violations(Shape::Native, &body, Some(&creator())), first);
    }
}

#[test]
fn a_body_that_is_not_an_object_is_one_violation() {
    for shape in [Shape::Native, Shape::ZernioCompat, Shape::Flat] {
        let got = violations(shape, &json!([1, 2]), None);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].code, got[0].field.as_str()),
            ("invalid_type", "body")
        );
    }
}

#[test]
fn zernio_media_types_are_read_or_told_by_the_file() {
    let gif = edit(
        zernio(),
        &[(
            "/mediaItems/0",
            json!({"type": "gif", "url": "https://cdn.example.com/a.gif"}),
        )],
    );
    let got = violations(Shape::ZernioCompat, &gif, None);
    let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
    assert_eq!(pairs, [("unsupported_format", "mediaItems[0].type")]);

    // Without a type, the extension or the MIME type tells a photo from a video.
    let untyped = edit(
        zernio(),
        &[
            ("/tiktokSettings/allow_duet", gone()),
            ("/tiktokSettings/allow_stitch", gone()),
            (
                "/mediaItems",
                json!([{"url": "https://cdn.example.com/a.png"}, {"url": "https://cdn.example.com/b", "mimeType": "image/webp", "size": 10}]),
            ),
        ],
    );
    let prepared = prepare(Shape::ZernioCompat, &untyped, None, now());
    assert_eq!(prepared.map(|p| p.post.kind()), Ok("photo"));

    let unknown = edit(
        zernio(),
        &[("/mediaItems", json!([{"url": "https://cdn.example.com/b"}]))],
    );
    let got = violations(Shape::ZernioCompat, &unknown, None);
    let pairs: Vec<(&str, &str)> = got.iter().map(|v| (v.code, v.field.as_str())).collect();
    assert!(
        pairs.contains(&("unsupported_format", "mediaItems[0].url")),
        "{pairs:?}"
    );
    assert!(
        got[0].fix.contains("mediaItems[0].mimeType"),
        "{}",
        got[0].fix
    );
}
