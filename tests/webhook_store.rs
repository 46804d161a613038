//! The webhook part of the store contract, run against every backend: tenant-scoped
//! subscriptions, idempotent enqueueing, leases that hand a delivery to one worker at a time,
//! attempts recorded only under the lease, and what is left to see afterwards.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tiktok_gateway::config::StoreUrl;
use tiktok_gateway::store::{self, Attempt, DeliveryStatus, NewDelivery, Store, Subscription};

const LEASE: StdDuration = StdDuration::from_secs(30);

fn subscription(id: &str, tenant: &str, created_at: DateTime<Utc>) -> Subscription {
    Subscription {
        id: id.into(),
        tenant: tenant.into(),
        target_url: format!("https://{tenant}.example.com/hooks/{id}"),
        events: vec!["post.published".into(), "post.failed".into()],
        secret: format!("whsec_secret-of-{id}"),
        created_at,
    }
}

fn delivery(id: &str, tenant: &str, sub: &str, created_at: DateTime<Utc>) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        tenant: tenant.into(),
        subscription: sub.into(),
        event_type: "post.published".into(),
        post_id: format!("post-of-{id}"),
        payload: format!(r#"{{"type":"post.published","data":{{"id":"{id}"}}}}"#),
        created_at,
    }
}

fn retry_at(at: DateTime<Utc>, next: DateTime<Utc>, code: u16) -> Attempt {
    Attempt {
        at,
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(next),
        status_code: Some(code),
        error: Some(format!("the target answered {code}")),
    }
}

fn done(at: DateTime<Utc>, status: DeliveryStatus, code: u16) -> Attempt {
    Attempt {
        at,
        status,
        next_attempt_at: None,
        status_code: Some(code),
        error: None,
    }
}

fn ids(deliveries: &[store::Delivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.id.as_str()).collect()
}

async fn subscriptions(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    for (i, (id, tenant)) in [("s1", "acme"), ("s2", "acme"), ("g1", "globex")]
        .iter()
        .enumerate()
    {
        assert!(
            store
                .create_subscription(
                    &subscription(id, tenant, t0 + Duration::seconds(i as i64)),
                    25
                )
                .await
                .unwrap()
        );
    }
    let acme: Vec<String> = store
        .subscriptions("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(acme, ["s1", "s2"], "the tenant's own, oldest first");
    let s1 = store.subscription("acme", "s1").await.unwrap().unwrap();
    assert_eq!(s1, subscription("s1", "acme", t0), "stored as given");
    assert!(
        !format!("{s1:?}").contains("whsec_"),
        "Debug leaves the secret out"
    );
    assert_eq!(
        store.subscription("globex", "s1").await.unwrap(),
        None,
        "another tenant's subscription is not found"
    );
    assert!(!store.delete_subscription("globex", "s1").await.unwrap());
    assert!(store.subscription("acme", "s1").await.unwrap().is_some());
}

async fn outbox(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.oldest_pending), (0, None));

    let batch = [
        delivery("d1", "acme", "s1", t0),
        delivery("d2", "acme", "s2", t0 + Duration::seconds(1)),
        delivery("d3", "globex", "g1", t0 + Duration::seconds(2)),
    ];
    assert_eq!(store.enqueue_deliveries(&batch, t0).await.unwrap(), 3);
    assert_eq!(
        store.enqueue_deliveries(&batch, t0).await.unwrap(),
        0,
        "enqueueing the same event again adds nothing"
    );
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.oldest_pending), (3, Some(t0)));

    assert!(
        store
            .lease_deliveries(t0 - Duration::seconds(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due before its time"
    );
    let mut leased = store.lease_deliveries(t0, LEASE, 10).await.unwrap();
    leased.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ids(&leased), ["d1", "d2", "d3"]);
    let d1 = leased[0].clone();
    assert_eq!(d1.status, DeliveryStatus::Pending);
    assert_eq!(d1.attempts, 0);
    assert_eq!(d1.payload, batch[0].payload);
    assert_eq!(d1.subscription, "s1");
    let lease1 = d1
        .lease
        .clone()
        .expect("a leased delivery carries its lease");
    assert!(
        store
            .lease_deliveries(t0 + Duration::seconds(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "a leased delivery is handed to nobody else"
    );

    // Only the holder of the lease records the attempt.
    assert!(
        !store
            .record_attempt("d1", "not-the-lease", &retry_at(t0, t0, 500))
            .await
            .unwrap()
    );
    let next = t0 + Duration::seconds(5);
    assert!(
        store
            .record_attempt("d1", &lease1, &retry_at(t0, next, 503))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_attempt("d1", &lease1, &retry_at(t0, next, 503))
            .await
            .unwrap(),
        "a lease records one attempt"
    );
    let d2 = &leased[1];
    assert!(
        store
            .record_attempt(
                "d2",
                d2.lease.as_deref().unwrap(),
                &done(t0, DeliveryStatus::Delivered, 204)
            )
            .await
            .unwrap()
    );
    // d3 is given back without an attempt, as at shutdown: due again at once.
    let d3 = &leased[2];
    store
        .release_delivery("d3", d3.lease.as_deref().unwrap())
        .await
        .unwrap();
    let again = store
        .lease_deliveries(t0 + Duration::seconds(1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), ["d3"]);
    assert_eq!(again[0].attempts, 0, "a released lease is no attempt");

    // d1 comes back when its retry is due, with its attempt counted.
    let retried = store.lease_deliveries(next, LEASE, 10).await.unwrap();
    assert_eq!(ids(&retried), ["d1"]);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].last_status_code, Some(503));
    // Its holder dies: the lease runs out and another worker takes it.
    let stale = retried[0].lease.clone().unwrap();
    let later = next + Duration::from_std(LEASE).unwrap() + Duration::milliseconds(1);
    let taken = store.lease_deliveries(later, LEASE, 10).await.unwrap();
    let taken: Vec<_> = taken.into_iter().filter(|d| d.id == "d1").collect();
    assert_eq!(taken.len(), 1, "an expired lease is free again");
    assert!(
        !store
            .record_attempt("d1", &stale, &done(later, DeliveryStatus::Delivered, 200))
            .await
            .unwrap(),
        "the dead worker's lease is worth nothing now"
    );
    assert!(
        store
            .record_attempt(
                "d1",
                taken[0].lease.as_deref().unwrap(),
                &done(later, DeliveryStatus::Failed, 500)
            )
            .await
            .unwrap()
    );

    let seen = store.deliveries("acme", "s1", 10).await.unwrap();
    assert_eq!(ids(&seen), ["d1"]);
    let d1 = &seen[0];
    assert_eq!(d1.status, DeliveryStatus::Failed);
    assert_eq!(d1.attempts, 2);
    assert_eq!(d1.last_status_code, Some(500));
    assert_eq!(d1.last_attempt_at, Some(later));
    assert_eq!(d1.next_attempt_at, None);
    assert_eq!(d1.lease, None);
    let d2 = &store.deliveries("acme", "s2", 10).await.unwrap()[0];
    assert_eq!((d2.status, d2.attempts), (DeliveryStatus::Delivered, 1));
    assert!(
        store
            .deliveries("globex", "s1", 10)
            .await
            .unwrap()
            .is_empty(),
        "another tenant's deliveries are not shown"
    );
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.pending, 1, "only d3 is still pending");
    assert_eq!(stats.oldest_pending, Some(t0 + Duration::seconds(2)));

    // Newest first, at most the limit.
    let more: Vec<NewDelivery> = (0..4)
        .map(|i| {
            delivery(
                &format!("m{i}"),
                "acme",
                "s2",
                t0 + Duration::seconds(10 + i),
            )
        })
        .collect();
    assert_eq!(store.enqueue_deliveries(&more, later).await.unwrap(), 4);
    assert_eq!(
        ids(&store.deliveries("acme", "s2", 3).await.unwrap()),
        ["m3", "m2", "m1"]
    );

    // Deleting a subscription takes its deliveries with it, pending ones included.
    assert!(store.delete_subscription("acme", "s2").await.unwrap());
    assert!(store.subscription("acme", "s2").await.unwrap().is_none());
    assert!(store.deliveries("acme", "s2", 10).await.unwrap().is_empty());
    let far = later + Duration::days(1);
    let left = store.lease_deliveries(far, LEASE, 10).await.unwrap();
    assert_eq!(
        ids(&left),
        ["d3"],
        "the deleted subscription's deliveries are gone"
    );
    assert!(!store.delete_subscription("acme", "s2").await.unwrap());
}

/// Many workers leasing at once: every delivery goes to exactly one of them.
async fn leases_are_exclusive(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    assert!(
        store
            .create_subscription(&subscription("race", "acme", t0), 25)
            .await
            .unwrap()
    );
    let many: Vec<NewDelivery> = (0..40)
        .map(|i| delivery(&format!("r{i:02}"), "acme", "race", t0))
        .collect();
    assert_eq!(store.enqueue_deliveries(&many, t0).await.unwrap(), 40);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .lease_deliveries(t0 + Duration::days(2), LEASE, 3)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|d| d.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    let race: Vec<&String> = all.iter().filter(|id| id.starts_with('r')).collect();
    assert_eq!(race.len(), 40, "every delivery leased: {all:?}");
    assert_eq!(unique.len(), all.len(), "none leased twice: {all:?}");
}

/// Creates at once against a limit: the count and the insert are one step, so exactly the limit
/// is made, whatever the interleaving (finding 10 of issue 13: 20 at once against 5 made more).
async fn the_subscription_limit_holds_under_concurrent_creates(
    store: &Arc<dyn Store>,
    t0: DateTime<Utc>,
) {
    let creates: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_subscription(&subscription(&format!("cap{i:02}"), "capped", t0), 5)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for create in creates {
        created += u32::from(create.await.unwrap());
    }
    assert_eq!(created, 5, "exactly the limit is created");
    assert_eq!(store.subscriptions("capped").await.unwrap().len(), 5);
    // Another tenant's count is its own.
    assert!(
        store
            .create_subscription(&subscription("other-cap", "uncapped", t0), 1)
            .await
            .unwrap()
    );
}

/// A secret is replaced only when it is still what the caller read (a re-seal).
async fn secrets_are_replaced_only_when_unchanged(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    assert!(
        store
            .create_subscription(&subscription("reseal", "acme", t0), 25)
            .await
            .unwrap()
    );
    let old = "whsec_secret-of-reseal";
    assert!(
        !store
            .replace_subscription_secret("globex", "reseal", old, "enc:v1:x:y")
            .await
            .unwrap(),
        "another tenant's subscription is not found"
    );
    assert!(
        !store
            .replace_subscription_secret("acme", "reseal", "whsec_stale", "enc:v1:x:y")
            .await
            .unwrap(),
        "a value that changed meanwhile is left"
    );
    assert!(
        store
            .replace_subscription_secret("acme", "reseal", old, "enc:v1:x:y")
            .await
            .unwrap()
    );
    let stored = store.subscription("acme", "reseal").await.unwrap().unwrap();
    assert_eq!(stored.secret, "enc:v1:x:y");
    assert!(store.delete_subscription("acme", "reseal").await.unwrap());
}

/// Due deliveries are handed out round by tenant within each tenant's share: a tenant with a
/// backlog of older deliveries does not come before another tenant's first one (finding 7).
async fn leases_are_fair_between_tenants(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    // The earlier parts leave their leases running until just after two days.
    let far = t0 + Duration::days(2);
    let mut backlog: Vec<NewDelivery> = (0..10)
        .map(|i| {
            delivery(
                &format!("fa{i:02}"),
                "busy",
                "s-busy",
                t0 + Duration::seconds(i),
            )
        })
        .collect();
    backlog.push(delivery(
        "fb00",
        "quiet",
        "s-quiet",
        t0 + Duration::seconds(60),
    ));
    for d in &backlog {
        store
            .enqueue_deliveries(std::slice::from_ref(d), d.created_at)
            .await
            .unwrap();
    }
    let fair = |busy: u32| store::Fairness {
        per_tenant: 2,
        in_flight: std::collections::HashMap::from([("busy".to_owned(), busy)]),
    };
    let first = store
        .lease_deliveries_fairly(far, LEASE, 3, &fair(0))
        .await
        .unwrap();
    assert_eq!(
        ids(&first),
        ["fa00", "fb00", "fa01"],
        "round by tenant, older first"
    );
    // `busy` holds its share: nothing more of it, and `quiet` has nothing left.
    let full = store
        .lease_deliveries_fairly(far, LEASE, 10, &fair(2))
        .await
        .unwrap();
    assert!(full.is_empty(), "{:?}", ids(&full));
    let more = store
        .lease_deliveries_fairly(far, LEASE, 10, &fair(1))
        .await
        .unwrap();
    assert_eq!(ids(&more), ["fa02"]);
    for d in first.iter().chain(&more) {
        let done = store::Attempt {
            at: far,
            status: store::DeliveryStatus::Delivered,
            next_attempt_at: None,
            status_code: Some(200),
            error: None,
        };
        assert!(
            store
                .record_attempt(&d.id, d.lease.as_deref().unwrap(), &done)
                .await
                .unwrap()
        );
    }
    // Without fairness, the oldest first, whoever's.
    let rest = store.lease_deliveries(far, LEASE, 100).await.unwrap();
    assert_eq!(rest.len(), 7);
    assert!(rest.iter().all(|d| d.tenant == "busy"));
}

async fn contract(store: Arc<dyn Store>) {
    // An hour ahead, so that "due at once" (the real clock) is always before the test's times.
    let t0 = DateTime::from_timestamp_millis((Utc::now() + Duration::hours(1)).timestamp_millis())
        .unwrap();
    subscriptions(&store, t0).await;
    outbox(&store, t0).await;
    leases_are_exclusive(&store, t0).await;
    the_subscription_limit_holds_under_concurrent_creates(&store, t0).await;
    secrets_are_replaced_only_when_unchanged(&store, t0).await;
    leases_are_fair_between_tenants(&store, t0).await;
}

#[tokio::test]
async fn sqlite_keeps_the_webhook_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("gateway.db"));
    contract(store::open(&url).await.expect("sqlite store opens")).await;
}

#[tokio::test]
async fn redis_keeps_the_webhook_store_contract() {
    let base = std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL is not set: run the tests through scripts/test, which starts Redis",
    );
    let url = format!("{base}/9");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    contract(
        store::open(&StoreUrl::Redis(url.clone()))
            .await
            .expect("redis store opens"),
    )
    .await;

    // An outbox of before the tenants had due sets of their own: one `tgw:outbox:due`. The
    // first lease moves it into the tenants' sets, and its deliveries go out as ever.
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    let store = store::open(&StoreUrl::Redis(url)).await.unwrap();
    let t0 = Utc::now() - Duration::seconds(10);
    store
        .enqueue_deliveries(&[delivery("legacy1", "acme", "s1", t0)], t0)
        .await
        .unwrap();
    let _: () = redis::pipe()
        .del("tgw:outbox:due:acme")
        .del("tgw:outbox:tenants")
        .zadd("tgw:outbox:due", "legacy1", t0.timestamp_millis())
        .query_async(&mut conn)
        .await
        .unwrap();
    let leased = store.lease_deliveries(Utc::now(), LEASE, 10).await.unwrap();
    assert_eq!(ids(&leased), ["legacy1"]);
    let old: bool = redis::cmd("EXISTS")
        .arg("tgw:outbox:due")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!old, "the old due set is gone");
    let done = Attempt {
        at: Utc::now(),
        status: DeliveryStatus::Delivered,
        next_attempt_at: None,
        status_code: Some(200),
        error: None,
    };
    assert!(
        store
            .record_attempt("legacy1", leased[0].lease.as_deref().unwrap(), &done)
            .await
            .unwrap()
    );
}
