//! Validating and normalising the heaviest post the rules allow: a native 35-photo carousel
//! with a 4,000-UTF-16-unit description. Target: under 20 µs.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tiktok_gateway::tiktok::rules::{MAX_IMAGES, MAX_PHOTO_DESCRIPTION_UTF16, utf16_len};
use tiktok_gateway::tiktok::{Shape, prepare};

fn carousel() -> Value {
    // Mixed text, emoji (2 units each) and hashtags, exactly at the limit.
    let mut description = "Full trip recap from our weekend adventure 🌊 #travel ".repeat(60);
    while utf16_len(&description) < MAX_PHOTO_DESCRIPTION_UTF16 {
        description.push('a');
    }
    let photos: Vec<Value> = (0..MAX_IMAGES)
        .map(|i| json!({"url": format!("https://cdn.example.com/trips/2026/coast/photo-{i:02}.jpg?sig=abc123"), "size_bytes": 2_000_000}))
        .collect();
    json!({
        "account": "acc_123",
        "title": "My travel highlights along the coast #travel #roadtrip https://blog.example.com/trip",
        "photos": photos,
        "photo_cover_index": 3,
        "description": description,
        "auto_add_music": true,
        "privacy": "public",
        "allow_comment": true,
        "schedule_at": "2026-06-01T18:30:00",
        "timezone": "Europe/Paris",
        "consent": {"content_preview_confirmed": true, "express_consent_given": true},
        "metadata": {"campaign": "summer"}
    })
}

fn bench(c: &mut Criterion) {
    let body = carousel();
    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    assert!(prepare(Shape::Native, &body, None, now).is_ok());
    c.bench_function(
        "prepare native 35-photo carousel, 4,000-unit description",
        |b| b.iter(|| prepare(Shape::Native, black_box(&body), None, now)),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
