//! A read after an answered write never sees the older record: neither the backend (SQLite's
//! read pool beside its one writer) nor the read cache in front of it, while other reads of
//! the same post race the writes on other threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use tiktok_gateway::config::StoreUrl;
use tiktok_gateway::store::{self, PostRecord, Store};

const ROUNDS: u64 = 2000;
const READERS: usize = 3;

fn record(id: &str) -> PostRecord {
    let now = Utc::now();
    let mut r = PostRecord {
        id: id.into(),
        tenant: "acme".into(),
        account: "acc".into(),
        kind: "video".into(),
        mode: "now".into(),
        status: "publishing".into(),
        schedule_at: None,
        tiktok_url: None,
        error: None,
        fingerprint: format!("fp-{id}"),
        request_id: format!("req-{id}"),
        created_at: now,
        content: None,
        media_items: vec![],
        sync: Default::default(),
    };
    r.sync.revision = 1;
    r.sync.synced_at = Some(now);
    r
}

/// Writes revision after revision while `READERS` tasks read the post as fast as they can;
/// after each answered write, the next read must show it.
async fn reads_follow_writes(store: Arc<dyn Store>) {
    let mut post = record("fresh1");
    store.insert_post(&post).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    store.post_by_id("fresh1").await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut stale = Vec::new();
    for _ in 0..ROUNDS {
        let mut next = post.clone();
        next.sync.revision += 1;
        next.sync.synced_at = Some(Utc::now());
        assert!(
            store
                .replace_post(&next, post.sync.revision, None)
                .await
                .unwrap(),
            "nothing else writes the post"
        );
        post = next;
        let read = store.post_by_id("fresh1").await.unwrap().unwrap();
        if read.sync.revision != post.sync.revision {
            stale.push((post.sync.revision, read.sync.revision));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    assert!(
        stale.is_empty(),
        "{} of {ROUNDS} reads after a write saw an older record (written, read): {:?}",
        stale.len(),
        &stale[..stale.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_reads_follow_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.db");
    let backend = store::sqlite::SqliteStore::open(&path).await.unwrap();
    reads_follow_writes(Arc::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_sqlite_reads_follow_writes() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("gateway.db"));
    reads_follow_writes(store::open(&url).await.unwrap()).await;
}
