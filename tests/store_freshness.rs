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

/// Two replicas' read caches on one Redis, on a database of this test's own, and a connection
/// to publish on its feed as a replica would.
async fn redis_replicas(
    db: u8,
) -> (
    Arc<dyn Store>,
    Arc<dyn Store>,
    redis::aio::MultiplexedConnection,
) {
    let base = std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL is not set: run the tests through scripts/test, which starts Redis",
    );
    let url = format!("{base}/{db}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    let url = StoreUrl::Redis(url);
    (
        store::open(&url).await.unwrap(),
        store::open(&url).await.unwrap(),
        conn,
    )
}

/// Waits until the cache has handled a change of `id` (its feed passes each on after dropping
/// what it must).
async fn heard(feed: &mut tokio::sync::broadcast::Receiver<String>, id: &str) {
    let wait = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while feed.recv().await.unwrap() != id {}
    });
    wait.await.expect("the change reached the feed");
}

/// A replica hears its own changes back from Redis, some time after it wrote them, and by
/// then it may have read the record again (and confirmed it in place). A change of a revision
/// it holds already leaves that cached; a newer one, or one without its revision, drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_heard_back_keeps_a_record_as_new_as_it() {
    let (a, b, mut conn) = redis_replicas(200).await;
    let post = record("echo1");
    a.insert_post(&post).await.unwrap();
    let mut feed = a.changes().expect("a Redis store has a change feed");
    let mut next = post.clone();
    next.sync.revision = 2;
    assert!(a.replace_post(&next, 1, None).await.unwrap());
    // Dropped here at once, then heard from Redis.
    heard(&mut feed, "echo1").await;
    heard(&mut feed, "echo1").await;
    assert_eq!(
        a.post_by_id("echo1").await.unwrap().unwrap().sync.revision,
        2
    );
    let every = std::time::Duration::from_secs(60);
    let confirm = |store: &Arc<dyn Store>| store.confirm_cached("echo1", 2, Utc::now(), every);
    assert!(confirm(&a).is_some(), "revision 2 is cached");

    // The same change heard once more, late (as a busy server delivers it).
    let publish = |message: &'static str| {
        redis::cmd("PUBLISH")
            .arg(store::redis::CHANGES_CHANNEL)
            .arg(message)
            .to_owned()
    };
    let _: i64 = publish("echo1 2").query_async(&mut conn).await.unwrap();
    heard(&mut feed, "echo1").await;
    assert!(
        confirm(&a).is_some(),
        "a change of the revision cached dropped it"
    );

    // Another replica's newer change drops it; the next read is of that revision.
    let mut newer = next.clone();
    newer.sync.revision = 3;
    assert!(b.replace_post(&newer, 2, None).await.unwrap());
    heard(&mut feed, "echo1").await;
    assert!(confirm(&a).is_none(), "revision 3 was written elsewhere");
    assert_eq!(
        a.post_by_id("echo1").await.unwrap().unwrap().sync.revision,
        3
    );

    // A change that names no revision (a deletion) drops whatever is cached.
    let _: i64 = publish("echo1").query_async(&mut conn).await.unwrap();
    heard(&mut feed, "echo1").await;
    assert!(
        a.confirm_cached("echo1", 3, Utc::now(), every).is_none(),
        "a change without a revision left the record cached"
    );
}
