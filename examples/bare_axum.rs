//! The stack's ceiling for `bench/run`: axum on tokio answering the fake upstream's post JSON,
//! with none of the gateway's layers (no auth, limits, metrics, request id, traces). What the
//! gateway's served read costs above this is what its own layers cost.
//!
//!   cargo run --release --example bare_axum -- 127.0.0.1:8099
#![forbid(unsafe_code)]

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use axum::serve::ListenerExt;
use serde::Serialize;

// The same allocator as the gateway's binary, so that the comparison is of the layers only.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Serialize)]
struct Answer {
    post: Post,
}

#[derive(Serialize)]
struct Post {
    #[serde(rename = "_id")]
    id: String,
    content: &'static str,
    status: &'static str,
    platforms: [Platform; 1],
    #[serde(rename = "createdAt")]
    created_at: &'static str,
}

#[derive(Serialize)]
struct Platform {
    platform: &'static str,
    #[serde(rename = "accountId")]
    account_id: &'static str,
    status: &'static str,
    #[serde(rename = "platformPostUrl")]
    platform_post_url: &'static str,
}

async fn post(Path(id): Path<String>) -> Json<Answer> {
    Json(Answer {
        post: Post {
            id,
            content: "bench",
            status: "published",
            platforms: [Platform {
                platform: "tiktok",
                account_id: "bench_acc",
                status: "published",
                platform_post_url: "https://www.tiktok.com/@bench/video/1",
            }],
            created_at: "2026-11-28T10:00:00Z",
        },
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".to_owned());
    // Nagle off, as the gateway and nginx have it: otherwise the ceiling measures delayed ACKs.
    let listener = tokio::net::TcpListener::bind(&address)
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let app = Router::new().route("/api/v1/posts/{id}", get(post));
    axum::serve(listener, app).await
}
