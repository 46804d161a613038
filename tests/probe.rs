//! The media probe (issue 14), black-box: the real gateway with `[media] probe = "full"` in
//! front of the fake Zernio, its media URLs on a loopback media server of this test that serves
//! real files made by ffmpeg (`scripts/media-fixtures`, into target/media-fixtures) with HEAD
//! and Range, and scripted misbehaviours: a 404, a redirect to 127.0.0.1, a web page under
//! `.mp4`, a Content-Length over 20 MB without the bytes, a server that drips.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// The probe's deadline in these tests: short, so that the drip case ends quickly.
const PROBE_MS: u64 = 1500;

fn fixtures() -> PathBuf {
    std::env::var_os("MEDIA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/media-fixtures"))
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/media-fixtures first (scripts/test does)",
            path.display()
        )
    })
}

#[derive(Clone, Default)]
struct Server {
    /// Requests seen, by path and method.
    seen: Arc<Mutex<HashMap<(String, String), usize>>>,
}

struct MediaServer {
    addr: SocketAddr,
    server: Server,
}

impl MediaServer {
    async fn start() -> MediaServer {
        let server = Server::default();
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::any(serve))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        MediaServer { addr, server }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    fn seen(&self, path: &str, method: &str) -> usize {
        let seen = self.server.seen.lock().unwrap();
        *seen
            .get(&(format!("/{path}"), method.to_owned()))
            .unwrap_or(&0)
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "png" => "image/png",
        _ => "image/jpeg",
    }
}

/// `bytes=a-b` (or `bytes=a-`) within a file of `len` bytes.
fn range(headers: &HeaderMap, len: usize) -> Option<(usize, usize)> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: usize = a.parse().ok()?;
    let end: usize = if b.is_empty() {
        len - 1
    } else {
        b.parse::<usize>().ok()?.min(len - 1)
    };
    (start <= end).then_some((start, end))
}

fn file_answer(
    method: &Method,
    headers: &HeaderMap,
    name: &str,
    bytes: Vec<u8>,
    declared_len: usize,
) -> Response {
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type(name))
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{}-{}\"", name, bytes.len()));
    if *method == Method::HEAD {
        return builder
            .header(header::CONTENT_LENGTH, declared_len)
            .body(Body::empty())
            .unwrap();
    }
    match range(headers, declared_len) {
        Some((start, end)) => {
            let part = bytes
                .get(start..(end + 1).min(bytes.len()))
                .unwrap_or_default()
                .to_vec();
            builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{declared_len}"),
                )
                .body(Body::from(part))
                .unwrap()
        }
        None => builder.body(Body::from(bytes)).unwrap(),
    }
}

async fn serve(
    State(server): State<Server>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    *server
        .seen
        .lock()
        .unwrap()
        .entry((format!("/{path}"), method.to_string()))
        .or_default() += 1;
    match path.as_str() {
        "missing.mp4" => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .unwrap(),
        "redirect.mp4" => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "http://127.0.0.1/internal/video.mp4")
            .body(Body::empty())
            .unwrap(),
        // A Content-Length over 20 MB, and only a JPEG's head behind it.
        "big.jpg" => file_answer(
            &method,
            &headers,
            "big.jpg",
            fixture_bytes("photo.jpg"),
            25_000_000,
        ),
        // A PNG's bytes under a .jpg name.
        "png-as.jpg" => file_answer(
            &method,
            &headers,
            "png-as.jpg",
            fixture_bytes("photo.png"),
            fixture_bytes("photo.png").len(),
        ),
        // HTML under .mp4, served as text/html.
        "share-page.mp4" => Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from(fixture_bytes("page.mp4")))
            .unwrap(),
        // A web page under .mp4 that claims to be a video: only its bytes tell.
        "page.mp4" => file_answer(
            &method,
            &headers,
            "page.mp4",
            fixture_bytes("page.mp4"),
            fixture_bytes("page.mp4").len(),
        ),
        // HEAD answers at once; the body comes one chunk, then nothing, never ending.
        "drip.mp4" => {
            if method == Method::HEAD {
                return Response::builder()
                    .header(header::CONTENT_TYPE, "video/mp4")
                    .header(header::CONTENT_LENGTH, 1_000_000)
                    .body(Body::empty())
                    .unwrap();
            }
            let first = fixture_bytes("good.mp4")[..16].to_vec();
            let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(first))])
                .chain(futures_util::stream::pending());
            Response::builder()
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_TYPE, "video/mp4")
                .body(Body::from_stream(stream))
                .unwrap()
        }
        name => {
            let bytes = fixture_bytes(name);
            let len = bytes.len();
            file_answer(&method, &headers, name, bytes, len)
        }
    }
}

async fn gateway(extra: &str) -> (TestGateway, common::fake_zernio::FakeZernio) {
    TestGateway::with_fake(&format!(
        "[media]\nprobe = \"full\"\nallowed_hosts = [\"127.0.0.1\"]\nprobe_timeout_ms = {PROBE_MS}\n{extra}"
    ))
    .await
}

fn video_post(url: &str) -> Value {
    json!({
        "account": "acc_a1",
        "caption": "probe",
        "video": {"url": url},
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

fn photo_post(urls: &[String]) -> Value {
    let photos: Vec<Value> = urls.iter().map(|u| json!({"url": u})).collect();
    json!({
        "account": "acc_a2",
        "title": "probe",
        "photos": photos,
        "privacy": "PUBLIC_TO_EVERYONE",
        "allow_comment": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    })
}

async fn validate(gw: &TestGateway, body: &Value) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts/validate"))
        .bearer_auth(ACME_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    (response, started.elapsed())
}

/// The violations of a refused validate, as (field, code, message).
async fn refused(gw: &TestGateway, body: &Value) -> Vec<(String, String, String)> {
    let (response, took) = validate(gw, body).await;
    assert!(
        took < Duration::from_millis(PROBE_MS + 1000),
        "took {took:?}"
    );
    let problem = problem(response, 422).await;
    assert_eq!(problem["code"], "validation_failed");
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn accepted(gw: &TestGateway, body: &Value) -> Value {
    let (response, took) = validate(gw, body).await;
    assert!(
        took < Duration::from_millis(PROBE_MS + 1000),
        "took {took:?}"
    );
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn good_videos_of_every_accepted_codec_pass_and_show_what_was_found() {
    let media = MediaServer::start().await;
    let (gw, _fake) = gateway("").await;
    for (file, format, codec) in [
        ("good.mp4", "mp4", "H.264"),
        ("faststart.mp4", "mp4", "H.264"),
        ("hevc.mp4", "mp4", "H.265"),
        ("vp9.webm", "webm", "VP9"),
    ] {
        let url = media.url(file);
        let body = accepted(&gw, &video_post(&url)).await;
        let found = &body["media"][0];
        assert_eq!(found["field"], "video.url", "{file}");
        assert_eq!(found["url"], url.as_str());
        assert_eq!(found["outcome"], "ok", "{file}: {found}");
        assert_eq!(found["format"], format, "{file}");
        assert_eq!(found["codec"], codec, "{file}");
        assert_eq!(
            (found["width"].as_u64(), found["height"].as_u64()),
            (Some(360), Some(640)),
            "{file}"
        );
        let ms = found["duration_ms"].as_u64().unwrap();
        assert!((3_900..=4_100).contains(&ms), "{file}: {ms} ms");
        let fps = found["fps"].as_f64().unwrap();
        assert!((fps - 30.0).abs() < 0.1, "{file}: {fps} fps");
        assert_eq!(
            found["size_bytes"].as_u64(),
            Some(fixture_bytes(file).len() as u64)
        );
        // 360x640 is 9:16: no warning.
        assert_eq!(body["warnings"], json!([]), "{file}");
    }
}

#[tokio::test]
async fn each_broken_video_is_refused_with_its_rule_and_evidence() {
    let media = MediaServer::start().await;
    let (gw, fake) = gateway("").await;
    let cases = [
        (
            "short.mp4",
            "bad_duration",
            "video.url lasts 2 s by its container, outside 3 s to 600 s",
        ),
        (
            "long.mp4",
            "bad_duration",
            "video.url lasts 660 s by its container, outside 3 s to 600 s",
        ),
        (
            "slow.mp4",
            "frame_rate_out_of_range",
            "video.url runs at 20.00 fps, outside TikTok's 23 to 60 fps",
        ),
        (
            "small.mp4",
            "resolution_out_of_range",
            "video.url is 200x200, outside TikTok's 360 to 4096 px per side",
        ),
        (
            "prores.mov",
            "unsupported_codec",
            "video.url is encoded as ProRes; TikTok takes H.264, H.265, VP8 or VP9",
        ),
        (
            "mpeg4.mp4",
            "unsupported_codec",
            "video.url is encoded as MPEG-4 Part 2; TikTok takes H.264, H.265, VP8 or VP9",
        ),
        (
            "missing.mp4",
            "media_unreachable",
            "video.url answered 404: TikTok's download would fail",
        ),
        (
            "redirect.mp4",
            "media_unreachable",
            "video.url answered 302, a redirect to http://127.0.0.1/internal/video.mp4: TikTok follows no redirects, so its download would fail",
        ),
        (
            "share-page.mp4",
            "media_url_not_direct",
            "video.url serves a web page (Content-Type text/html; charset=utf-8), not the file: TikTok's download would fail",
        ),
        (
            "page.mp4",
            "media_url_not_direct",
            "video.url serves a web page (HTML bytes), not the file: TikTok's download would fail",
        ),
        (
            "drip.mp4",
            "media_unreachable",
            "video.url could not be read in time (no complete answer within the probe's 1500 ms)",
        ),
    ];
    for (file, code, message) in cases {
        let errors = refused(&gw, &video_post(&media.url(file))).await;
        assert_eq!(
            errors,
            [("video.url".to_owned(), code.to_owned(), message.to_owned())],
            "{file}"
        );
    }
    // The redirect was not followed: nothing asked for its target.
    assert_eq!(media.seen("internal/video.mp4", "GET"), 0);
    assert!(
        fake.calls("create").is_empty(),
        "nothing reached Zernio's create"
    );
}

#[tokio::test]
async fn photos_are_judged_by_their_bytes_and_size() {
    let media = MediaServer::start().await;
    let (gw, _fake) = gateway("").await;
    let errors = refused(
        &gw,
        &photo_post(&[
            media.url("photo.jpg"),
            media.url("heic.jpg"),
            media.url("big.jpg"),
            media.url("photo.png"),
        ]),
    )
    .await;
    assert_eq!(
        errors,
        [
            (
                "photos[1].url".to_owned(),
                "unsupported_format".to_owned(),
                "photos[1].url is HEIC by its first bytes, whatever its name says; TikTok takes JPEG, PNG or WebP photos".to_owned()
            ),
            (
                "photos[2].url".to_owned(),
                "file_too_large".to_owned(),
                "photos[2].url is 25000000 bytes by its Content-Length, over the 20 MB photo limit of 20971520 bytes".to_owned()
            ),
        ]
    );
    let body = accepted(
        &gw,
        &photo_post(&[media.url("photo.jpg"), media.url("wide.jpg")]),
    )
    .await;
    assert_eq!(body["media"][0]["format"], "jpeg");
    assert_eq!(
        (
            body["media"][0]["width"].as_u64(),
            body["media"][0]["height"].as_u64()
        ),
        (Some(1080), Some(1920))
    );
    assert_eq!(
        body["warnings"],
        json!([{
            "field": "photos[1].url",
            "code": "image_cropped",
            "message": "photos[1].url is 1920x1080: Zernio's resize to 1080x1920 cuts away 68% of it"
        }])
    );
}

#[tokio::test]
async fn a_png_named_jpg_is_a_format_mismatch() {
    let media = MediaServer::start().await;
    let (gw, _fake) = gateway("").await;
    let errors = refused(&gw, &photo_post(&[media.url("png-as.jpg")])).await;
    assert_eq!(
        errors,
        [(
            "photos[0].url".to_owned(),
            "format_mismatch".to_owned(),
            "photos[0].url is named or declared JPEG but its bytes are PNG".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_refused_probe_spends_no_slot_and_sends_nothing() {
    let media = MediaServer::start().await;
    let (gw, fake) = gateway("").await;
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .json(&video_post(&media.url("short.mp4")))
        .send()
        .await
        .unwrap();
    let problem = problem(response, 422).await;
    assert_eq!(problem["errors"][0]["code"], "bad_duration");
    assert!(fake.calls("create").is_empty());
    // And a good one goes through, probed once more (the cache skips the body, not the HEAD).
    let response = gw
        .client
        .post(gw.url("/v1/tiktok/posts"))
        .bearer_auth(ACME_KEY)
        .json(&video_post(&media.url("good.mp4")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(fake.calls("create").len(), 1);
    let gets = media.seen("good.mp4", "GET");
    accepted(&gw, &video_post(&media.url("good.mp4"))).await;
    assert_eq!(
        media.seen("good.mp4", "GET"),
        gets,
        "a cached URL and ETag read no body again"
    );
    assert_eq!(media.seen("good.mp4", "HEAD"), 2);
}

#[tokio::test]
async fn on_unreachable_warn_sends_the_post_with_a_warning() {
    let media = MediaServer::start().await;
    let (gw, _fake) = gateway("on_unreachable = \"warn\"").await;
    let body = accepted(&gw, &video_post(&media.url("missing.mp4"))).await;
    assert_eq!(body["warnings"][0]["code"], "media_unreachable");
    assert_eq!(
        body["warnings"][0]["message"],
        "video.url answered 404: TikTok's download would fail; the post was sent anyway ([media] on_unreachable = \"warn\")"
    );
    assert_eq!(body["media"][0]["outcome"], "status");
    assert_eq!(body["media"][0]["status"], 404);
}

#[tokio::test]
async fn probe_off_and_headers_modes_read_less() {
    let media = MediaServer::start().await;
    // A tenant of its own: acme probes headers only, by its [tenants.media] override.
    let (gw, _fake) = gateway("").await;
    drop(gw);
    let tenants = tenants_toml().replacen(
        "[[tenants.api_keys]]",
        "[tenants.media]\nprobe = \"headers\"\n\n[[tenants.api_keys]]",
        1,
    );
    let fake = common::fake_zernio::FakeZernio::start().await;
    let toml = format!(
        "[zernio]\nbase_url = \"{}\"\nrequest_timeout_ms = 1000\n[media]\nprobe = \"full\"\nallowed_hosts = [\"127.0.0.1\"]\n",
        fake.base_url
    );
    let gw = TestGateway::spawn_with_tenants(
        None,
        &toml,
        &tenants,
        &[("ZERNIO_API_KEY", FAKE_ZERNIO_KEY)],
    )
    .await;
    let body = accepted(&gw, &video_post(&media.url("short.mp4"))).await;
    assert_eq!(body["media"][0]["outcome"], "ok");
    assert_eq!(
        body["media"][0]["format"],
        Value::Null,
        "headers mode reads no byte of the body"
    );
    assert_eq!(
        body["media"][0]["size_bytes"].as_u64(),
        Some(fixture_bytes("short.mp4").len() as u64)
    );
    assert_eq!(media.seen("short.mp4", "GET"), 0);
    assert_eq!(media.seen("short.mp4", "HEAD"), 1);
}

/// A name that resolves to an internal address, with the resolution injected (no name leaves
/// the machine in a test): refused before any connection, with the address named.
#[tokio::test]
async fn a_host_resolving_to_a_private_address_is_refused() {
    use tiktok_gateway::config::{MediaConfig, ProbeMode};
    use tiktok_gateway::probe::Prober;
    use tiktok_gateway::tiktok::{self, Shape, media_rules::Outcome};
    let media = MediaServer::start().await;
    let port = media.addr.port();
    let lookup: tiktok_gateway::address::Lookup = Arc::new(move |host: String| {
        Box::pin(async move {
            Ok(match host.as_str() {
                "media.internal.test" => vec![SocketAddr::from(([127, 0, 0, 1], port))],
                "metadata.test" => vec![SocketAddr::from(([169, 254, 169, 254], port))],
                _ => vec![],
            })
        })
    });
    let config = MediaConfig::default();
    let prober =
        Prober::with_lookup(&config, &tiktok_gateway::metrics::Metrics::new(), lookup).unwrap();
    for (host, address) in [
        ("media.internal.test", "127.0.0.1"),
        ("metadata.test", "169.254.169.254"),
    ] {
        let body = video_post(&format!("https://{host}:{port}/good.mp4"));
        let checked = tiktok::check(Shape::Native, &body, chrono::Utc::now()).unwrap();
        let probed = prober
            .probe_post(ProbeMode::Full, checked.post(), &checked.media_fields())
            .await;
        assert_eq!(
            probed[0].outcome,
            Outcome::Unreachable {
                reason: format!("`{host}` resolves to {address}, not a public address"),
                timed_out: false
            }
        );
    }
    assert_eq!(media.seen("good.mp4", "HEAD"), 0, "no connection was made");
}

/// The probe's added latency per post against the loopback media server: p50 and p99 of
/// `probe_post` over `PROBE_BENCH_POSTS` posts (default 200) of each kind, every URL new (no
/// cache) and then the same URL again (cache: a HEAD only). Run:
/// `cargo test --release --test probe probe_latency -- --ignored --nocapture` (bench/RESULTS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn probe_latency() {
    use tiktok_gateway::config::{MediaConfig, ProbeMode};
    use tiktok_gateway::probe::Prober;
    use tiktok_gateway::tiktok::{self, Shape};
    let posts: usize = std::env::var("PROBE_BENCH_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let media = MediaServer::start().await;
    let config = MediaConfig {
        allowed_hosts: vec!["127.0.0.1".into()],
        ..MediaConfig::default()
    };
    let prober = Prober::new(&config, &tiktok_gateway::metrics::Metrics::new()).unwrap();
    type Post<'a> = Box<dyn Fn(usize) -> Value + 'a>;
    let kinds: [(&str, Post); 4] = [
        (
            "video, moov at the end (HEAD + 2 GETs)",
            Box::new(|i| video_post(&format!("{}?n={i}", media.url("good.mp4")))),
        ),
        (
            "video, moov in front (HEAD + 1 GET)",
            Box::new(|i| video_post(&format!("{}?n={i}", media.url("faststart.mp4")))),
        ),
        (
            "4-photo carousel",
            Box::new(|i| {
                photo_post(
                    &(0..4)
                        .map(|k| format!("{}?n={i}-{k}", media.url("photo.jpg")))
                        .collect::<Vec<_>>(),
                )
            }),
        ),
        (
            "video, cached URL and ETag (HEAD only)",
            Box::new(|_| video_post(&media.url("good.mp4"))),
        ),
    ];
    println!("| post | posts | p50 ms | p99 ms |\n|---|---|---|---|");
    for (name, body) in kinds {
        let mut took = Vec::with_capacity(posts);
        for i in 0..posts {
            let body = body(i);
            let now = tiktok::Moment::new(chrono::Utc::now(), 365)
                .with_media_hosts(&config.allowed_hosts);
            let checked = tiktok::check(Shape::Native, &body, now).unwrap();
            let started = Instant::now();
            let probed = prober
                .probe_post(ProbeMode::Full, checked.post(), &checked.media_fields())
                .await;
            took.push(started.elapsed());
            assert!(
                probed
                    .iter()
                    .all(|p| matches!(p.outcome, tiktok::media_rules::Outcome::Found(_))),
                "{probed:?}"
            );
        }
        took.sort();
        let at = |q: f64| {
            took[((took.len() as f64 * q) as usize).min(took.len() - 1)].as_secs_f64() * 1000.0
        };
        println!("| {name} | {posts} | {:.3} | {:.3} |", at(0.50), at(0.99));
    }
}
