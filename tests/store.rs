//! The store contract, run against every backend: tenant scoping, newest-first cursor pages,
//! filters and updates.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tiktok_gateway::audit::{AuditEntry, AuditFilter, Credential};
use tiktok_gateway::config::StoreUrl;
use tiktok_gateway::store::{
    self, ChangeSource, Claim, CreateHold, HoldDecision, Lane, PostCursor, PostEvent, PostFilter,
    PostRecord, PostUpdate, RatePolicy, SlotDecision, SlotMove, Store, UpstreamCharge,
};

fn record(id: &str, tenant: &str, account: &str, created_at: DateTime<Utc>) -> PostRecord {
    PostRecord {
        id: id.into(),
        tenant: tenant.into(),
        account: account.into(),
        kind: "video".into(),
        mode: "now".into(),
        status: "published".into(),
        schedule_at: None,
        tiktok_url: None,
        error: None,
        fingerprint: format!("fp-{id}"),
        request_id: format!("req-{id}"),
        created_at,
        content: Some(format!("caption of {id}")),
        media_items: vec![tiktok_gateway::store::MediaRef {
            kind: "video".into(),
            url: format!("https://cdn.example.com/{id}.mp4"),
        }],
        sync: Default::default(),
    }
}

/// The record as the read model: compare-and-set on the revision, the history written with
/// it, the reconciler's schedule, and every write heard on the change feed.
async fn read_model(store: Arc<dyn Store>) {
    let now = Utc::now();
    let mut post = record("rm1", "acme", "acc_rm", now);
    post.status = "publishing".into();
    post.sync.revision = 1;
    post.sync.next_sync_at = Some(now - Duration::seconds(1));
    store.insert_post(&post).await.unwrap();
    let mut later = record("rm2", "acme", "acc_rm", now);
    later.sync.revision = 1;
    later.sync.next_sync_at = Some(now + Duration::hours(1));
    store.insert_post(&later).await.unwrap();
    assert_eq!(
        store.due_for_sync(now, 10).await.unwrap(),
        vec!["rm1".to_owned()]
    );

    let mut changes = store.changes().expect("the store has a change feed");
    let mut next = post.clone();
    next.status = "published".into();
    next.tiktok_url = Some("https://www.tiktok.com/@a/video/1".into());
    next.sync.revision = 2;
    next.sync.updated_at = Some(now);
    next.sync.synced_at = Some(now);
    next.sync.status_at = Some(now);
    next.sync.error_code = None;
    next.sync.announced = "post.published".into();
    next.sync.next_sync_at = None;
    let event = PostEvent {
        revision: 2,
        at: now,
        recorded_at: now,
        source: ChangeSource::Reconcile,
        status: "published".into(),
        previous: Some("publishing".into()),
        error_code: None,
    };
    // A stale revision writes nothing.
    assert!(!store.replace_post(&next, 7, Some(&event)).await.unwrap());
    assert_eq!(
        store.post("acme", "rm1").await.unwrap().unwrap().status,
        "publishing"
    );
    assert!(store.post_events("rm1").await.unwrap().is_empty());
    assert!(store.replace_post(&next, 1, Some(&event)).await.unwrap());
    let read = store.post("acme", "rm1").await.unwrap().unwrap();
    assert_eq!(read.status, "published");
    assert_eq!(read.sync.revision, 2);
    assert_eq!(read.sync.announced, "post.published");
    assert_eq!(
        read.sync.updated_at.map(|t| t.timestamp_millis()),
        Some(now.timestamp_millis())
    );
    // Settled: off the schedule.
    assert!(
        store
            .due_for_sync(now + Duration::hours(2), 10)
            .await
            .unwrap()
            == vec!["rm2".to_owned()]
    );
    let events = store.post_events("rm1").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].source, ChangeSource::Reconcile);
    assert_eq!(events[0].previous.as_deref(), Some("publishing"));
    // The same revision again loses: another writer got there first.
    assert!(!store.replace_post(&next, 1, None).await.unwrap());
    let mut heard = false;
    while let Ok(id) = changes.try_recv() {
        heard |= id == "rm1";
    }
    assert!(heard, "the change was not on the feed");
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("nested/dir/gateway.db"));
    (store::open(&url).await.expect("sqlite store opens"), dir)
}

async fn contract(store: Arc<dyn Store>) {
    let t0 = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
    for i in 0..5 {
        store
            .insert_post(&record(
                &format!("a{i}"),
                "acme",
                if i % 2 == 0 { "acc_a1" } else { "acc_a2" },
                t0 + Duration::seconds(i),
            ))
            .await
            .unwrap();
    }
    // Same instant as a4: the id breaks the tie, so pages never skip or repeat.
    store
        .insert_post(&record("a5", "acme", "acc_a1", t0 + Duration::seconds(4)))
        .await
        .unwrap();
    store
        .insert_post(&record(
            "b0",
            "globex",
            "acc_b1",
            t0 + Duration::seconds(10),
        ))
        .await
        .unwrap();

    assert_eq!(
        store.post("acme", "a1").await.unwrap().unwrap().account,
        "acc_a2"
    );
    assert_eq!(
        store.post("globex", "a1").await.unwrap(),
        None,
        "another tenant's post is not found"
    );
    assert_eq!(
        store.post_by_id("b0").await.unwrap().unwrap().tenant,
        "globex"
    );
    assert!(
        store
            .insert_post(&record("a1", "globex", "acc_b1", t0))
            .await
            .is_err(),
        "ids are unique"
    );

    let all = PostFilter::default();
    let first = store.posts("acme", &all, None, 4).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a5", "a4", "a3", "a2"]);
    let last = first.last().unwrap();
    let cursor = PostCursor {
        created_at: last.created_at,
        id: last.id.clone(),
    };
    let second = store.posts("acme", &all, Some(&cursor), 4).await.unwrap();
    let ids: Vec<&str> = second.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a0"]);

    let by_account = PostFilter {
        account: Some("acc_a2".into()),
        ..Default::default()
    };
    let ids: Vec<String> = store
        .posts("acme", &by_account, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["a3", "a1"]);
    let since = PostFilter {
        since: Some(t0 + Duration::seconds(3)),
        ..Default::default()
    };
    assert_eq!(
        store.posts("acme", &since, None, 10).await.unwrap().len(),
        3
    );
    // Content and media are kept; the count and the upper bound of the compatible list.
    let a1 = store.post("acme", "a1").await.unwrap().unwrap();
    assert_eq!(a1, record("a1", "acme", "acc_a2", a1.created_at));
    assert_eq!(a1.content.as_deref(), Some("caption of a1"));
    assert_eq!(store.count_posts("acme", &all).await.unwrap(), 6);
    assert_eq!(store.count_posts("acme", &since).await.unwrap(), 3);
    let window = PostFilter {
        since: Some(t0 + Duration::seconds(3)),
        until: Some(t0 + Duration::seconds(3)),
        ..Default::default()
    };
    assert_eq!(store.count_posts("acme", &window).await.unwrap(), 1);
    assert_eq!(
        store.posts("acme", &window, None, 10).await.unwrap().len(),
        1
    );
    assert!(
        store
            .posts(
                "acme",
                &PostFilter {
                    account: Some("acc_b1".into()),
                    ..Default::default()
                },
                None,
                10
            )
            .await
            .unwrap()
            .is_empty()
    );

    store
        .update_post(
            "a0",
            &PostUpdate {
                status: Some("failed".into()),
                error: Some(Some("spam_risk".into())),
                tiktok_url: Some("https://www.tiktok.com/@x/video/1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let a0 = store.post("acme", "a0").await.unwrap().unwrap();
    assert_eq!(
        (a0.status.as_str(), a0.error.as_deref()),
        ("failed", Some("spam_risk"))
    );
    assert_eq!(
        a0.tiktok_url.as_deref(),
        Some("https://www.tiktok.com/@x/video/1")
    );
    let failed = PostFilter {
        status: Some("failed".into()),
        ..Default::default()
    };
    assert_eq!(
        store.posts("acme", &failed, None, 10).await.unwrap().len(),
        1
    );
    store
        .update_post(
            "a0",
            &PostUpdate {
                error: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let a0 = store.post("acme", "a0").await.unwrap().unwrap();
    assert_eq!(
        (a0.status.as_str(), a0.error),
        ("failed", None),
        "None keeps, Some(None) clears"
    );
}

async fn claims(store: Arc<dyn Store>) {
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(store.peek_claim("idem:acme", "k1").await.unwrap(), None);
    assert_eq!(
        store.claim("idem:acme", "k1", "fp-a", day).await.unwrap(),
        Claim::Acquired
    );
    // A peek reads the holder and takes nothing.
    assert_eq!(
        store.peek_claim("idem:acme", "k1").await.unwrap(),
        Some(Claim::Pending {
            fingerprint: "fp-a".into()
        })
    );
    assert_eq!(
        store.claim("idem:acme", "k1", "fp-b", day).await.unwrap(),
        Claim::Pending {
            fingerprint: "fp-a".into()
        }
    );
    assert_eq!(
        store.claim("idem:globex", "k1", "fp-b", day).await.unwrap(),
        Claim::Acquired,
        "scopes are separate"
    );
    store
        .complete_claim("idem:acme", "k1", b"{\"answer\":1}", day)
        .await
        .unwrap();
    assert_eq!(
        store.claim("idem:acme", "k1", "fp-c", day).await.unwrap(),
        Claim::Done {
            fingerprint: "fp-a".into(),
            payload: b"{\"answer\":1}".to_vec()
        }
    );
    assert_eq!(
        store.peek_claim("idem:acme", "k1").await.unwrap(),
        Some(Claim::Done {
            fingerprint: "fp-a".into(),
            payload: b"{\"answer\":1}".to_vec()
        })
    );
    store.release_claim("idem:acme", "k1").await.unwrap();
    assert_eq!(store.peek_claim("idem:acme", "k1").await.unwrap(), None);
    assert_eq!(
        store.claim("idem:acme", "k1", "fp-d", day).await.unwrap(),
        Claim::Acquired
    );

    // Many at once: exactly one wins.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim("idem:acme", "race", &format!("fp-{i}"), day)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut acquired = 0;
    for task in tasks {
        if task.await.unwrap() == Claim::Acquired {
            acquired += 1;
        }
    }
    assert_eq!(acquired, 1);
}

async fn slots(store: Arc<dyn Store>) {
    let window = std::time::Duration::from_secs(86_400);
    let t0 = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
    for i in 0..3 {
        let at = t0 + Duration::minutes(i);
        let decision = store
            .reserve_slot("acc_a1", Lane::Video, &format!("s{i}"), 3, window, at)
            .await
            .unwrap();
        assert_eq!(decision, SlotDecision::Reserved { used: i as u32 + 1 });
    }
    let later = t0 + Duration::hours(1);
    let full = store
        .reserve_slot("acc_a1", Lane::Video, "s3", 3, window, later)
        .await
        .unwrap();
    assert_eq!(
        full,
        SlotDecision::Full {
            retry_at: t0 + Duration::hours(24)
        },
        "the oldest leaves the window then"
    );
    let usage = store
        .slot_usage("acc_a1", Lane::Video, window, later)
        .await
        .unwrap();
    assert_eq!(
        (usage.used, usage.frees_at),
        (3, Some(t0 + Duration::hours(24)))
    );
    assert!(
        matches!(
            store
                .reserve_slot("acc_a1", Lane::Draft, "d0", 3, window, later)
                .await
                .unwrap(),
            SlotDecision::Reserved { used: 1 }
        ),
        "drafts count apart"
    );
    assert!(matches!(
        store
            .reserve_slot("acc_a2", Lane::Video, "x0", 3, window, later)
            .await
            .unwrap(),
        SlotDecision::Reserved { used: 1 }
    ));

    store
        .release_slot("acc_a1", Lane::Video, "s1")
        .await
        .unwrap();
    assert!(matches!(
        store
            .reserve_slot("acc_a1", Lane::Video, "s3", 3, window, later)
            .await
            .unwrap(),
        SlotDecision::Reserved { used: 3 }
    ));
    // A day after the first slot, it has left the window.
    let next_day = t0 + Duration::hours(24) + Duration::milliseconds(1);
    assert!(matches!(
        store
            .reserve_slot("acc_a1", Lane::Video, "s4", 3, window, next_day)
            .await
            .unwrap(),
        SlotDecision::Reserved { .. }
    ));

    // Upstream says the account is out of posts: full until then, whatever the count.
    let now = Utc::now();
    let until = now + Duration::hours(5);
    store
        .mark_exhausted("acc_a2", Lane::Video, until)
        .await
        .unwrap();
    let decision = store
        .reserve_slot("acc_a2", Lane::Video, "x1", 15, window, now)
        .await
        .unwrap();
    let SlotDecision::Full { retry_at } = decision else {
        panic!("exhausted account reserved a slot")
    };
    assert_eq!(retry_at.timestamp_millis(), until.timestamp_millis());
    assert_eq!(
        store
            .slot_usage("acc_a2", Lane::Video, window, now)
            .await
            .unwrap()
            .exhausted_until
            .map(|t| t.timestamp_millis()),
        Some(until.timestamp_millis())
    );

    // Concurrent reservations never overshoot.
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve_slot("acc_busy", Lane::Video, &format!("c{i}"), 15, window, now)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut reserved = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), SlotDecision::Reserved { .. }) {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 15);
}

async fn rates(store: Arc<dyn Store>) {
    let policy = RatePolicy {
        rate: 1,
        period: std::time::Duration::from_secs(60),
        burst: 5,
    };
    let decisions: Vec<_> = {
        let mut out = Vec::new();
        for _ in 0..6 {
            out.push(store.rate_limit("tenant:acme", policy).await.unwrap());
        }
        out
    };
    let remaining: Vec<u32> = decisions.iter().take(5).map(|d| d.remaining).collect();
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    assert!(decisions[..5].iter().all(|d| d.allowed));
    let refused = decisions[5];
    assert!(!refused.allowed);
    assert!(
        refused.retry_after > std::time::Duration::from_secs(55)
            && refused.retry_after <= std::time::Duration::from_secs(60),
        "{refused:?}"
    );
    assert!(
        store
            .rate_limit("tenant:globex", policy)
            .await
            .unwrap()
            .allowed
    );
}

/// A create's two steps: the slot and the content claim together or neither, then the record
/// and the settled claim together.
async fn holds(store: Arc<dyn Store>) {
    let t0 = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
    let hold = |slot: &'static str, fingerprint: &'static str, limit: u32| CreateHold {
        account: "acc_h",
        lane: Lane::Video,
        slot,
        limit,
        window: std::time::Duration::from_secs(86_400),
        at: t0,
        now: t0,
        fingerprint,
        claim_ttl: std::time::Duration::from_secs(60),
        upstream: None,
    };
    assert_eq!(
        store.hold(&hold("r1", "fp-h1", 2)).await.unwrap(),
        HoldDecision::Held { used: 1 }
    );
    // Same content while the first is in flight: refused, and its slot is not kept.
    assert_eq!(
        store.hold(&hold("r2", "fp-h1", 2)).await.unwrap(),
        HoldDecision::Duplicate(Claim::Pending {
            fingerprint: "fp-h1".into()
        })
    );
    let mut post = record("h1", "acme", "acc_h", t0);
    post.fingerprint = "fp-h1".into();
    // The create's audit entry goes in the same step as its record.
    let entry = AuditEntry {
        id: String::new(),
        at: t0,
        tenant: "acme".into(),
        credential: Credential {
            kind: "api_key".into(),
            id: Some("cms".into()),
        },
        request_id: "req-h1".into(),
        action: "post.create".into(),
        object_id: Some("h1".into()),
        account: Some("acc_h".into()),
        kind: Some("video".into()),
        consent: None,
        payload_sha256: Some("ab".repeat(32)),
        status: 201,
        code: None,
    };
    store
        .record_created(
            &post,
            std::time::Duration::from_secs(60),
            Some(store::AuditAppend {
                entry: &entry,
                retention: std::time::Duration::from_secs(86_400 * 365 * 100),
            }),
        )
        .await
        .unwrap();
    assert_eq!(store.post("acme", "h1").await.unwrap(), Some(post.clone()));
    let filter = AuditFilter {
        object_id: Some("h1".into()),
        ..AuditFilter::default()
    };
    let trail = store
        .audit_entries("acme", &filter, None, 10)
        .await
        .unwrap();
    assert_eq!(
        trail.len(),
        1,
        "the entry is appended once, with the record"
    );
    assert_eq!(
        AuditEntry {
            id: String::new(),
            ..trail[0].clone()
        },
        entry
    );
    assert!(!trail[0].id.is_empty(), "the store gives the entry its id");
    assert!(store.post("globex", "h1").await.unwrap().is_none());
    assert_eq!(
        store.hold(&hold("r3", "fp-h1", 2)).await.unwrap(),
        HoldDecision::Duplicate(Claim::Done {
            fingerprint: "fp-h1".into(),
            payload: b"h1".to_vec()
        }),
        "a settled claim names the post"
    );
    // Zernio's replay of the same post: recorded once, the first record kept as it was.
    let mut replayed = post.clone();
    replayed.status = "failed".into();
    store
        .record_created(&replayed, std::time::Duration::from_secs(60), None)
        .await
        .unwrap();
    assert_eq!(
        store.post("acme", "h1").await.unwrap(),
        Some(post.clone()),
        "a post is recorded once"
    );
    // The duplicates above gave their slots back: one is left.
    assert_eq!(
        store.hold(&hold("r4", "fp-h2", 2)).await.unwrap(),
        HoldDecision::Held { used: 2 }
    );
    let full = store.hold(&hold("r5", "fp-h3", 2)).await.unwrap();
    assert_eq!(
        full,
        HoldDecision::Full {
            retry_at: t0 + Duration::hours(24)
        }
    );
    // A refusal for the budget claims nothing: the same content passes once there is room.
    assert_eq!(
        store.hold(&hold("r6", "fp-h3", 3)).await.unwrap(),
        HoldDecision::Held { used: 3 }
    );

    // The upstream budget's unit, taken in the same step: the reserve's one unit, then the
    // pool's, then neither, and that refusal gives the slot and the claim back.
    let one_a_minute = RatePolicy {
        rate: 1,
        period: std::time::Duration::from_secs(60),
        burst: 1,
    };
    let charge = UpstreamCharge {
        reserve_key: "upstream:tenant:acme".into(),
        reserve: one_a_minute,
        pool_key: "upstream:shared".into(),
        pool: one_a_minute,
    };
    let charged = |slot: &'static str, fingerprint: &'static str| CreateHold {
        upstream: Some(&charge),
        ..hold(slot, fingerprint, 10)
    };
    for (slot, fingerprint, used) in [("u1", "fp-u1", 4), ("u2", "fp-u2", 5)] {
        assert_eq!(
            store.hold(&charged(slot, fingerprint)).await.unwrap(),
            HoldDecision::Held { used }
        );
    }
    match store.hold(&charged("u3", "fp-u3")).await.unwrap() {
        HoldDecision::UpstreamBusy { retry_after } => assert!(
            retry_after > std::time::Duration::from_secs(55)
                && retry_after <= std::time::Duration::from_secs(60),
            "{retry_after:?}"
        ),
        other => panic!("expected the upstream budget to refuse, got {other:?}"),
    }
    assert_eq!(
        store.hold(&hold("u4", "fp-u3", 10)).await.unwrap(),
        HoldDecision::Held { used: 6 },
        "the refused hold kept neither its slot nor its claim"
    );
}

/// Slots at their posts' times: TikTok's rolling rule at a time, moves and releases.
async fn schedules(store: Arc<dyn Store>) {
    let window = std::time::Duration::from_secs(86_400);
    let t0 = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
    let h = Duration::hours;
    let at = |slot: &'static str, fingerprint: &'static str, when: DateTime<Utc>| CreateHold {
        account: "acc_s",
        lane: Lane::Video,
        slot,
        limit: 2,
        window,
        at: when,
        now: t0,
        fingerprint,
        claim_ttl: std::time::Duration::from_secs(60),
        upstream: None,
    };
    // Two tomorrow: today's budget stays free.
    assert_eq!(
        store.hold(&at("s1", "fp-s1", t0 + h(30))).await.unwrap(),
        HoldDecision::Held { used: 1 }
    );
    assert_eq!(
        store.hold(&at("s2", "fp-s2", t0 + h(31))).await.unwrap(),
        HoldDecision::Held { used: 2 }
    );
    assert_eq!(
        store.hold(&at("n1", "fp-n1", t0)).await.unwrap(),
        HoldDecision::Held { used: 1 },
        "a post now is in none of tomorrow's windows"
    );
    // A third tomorrow: full, with room once the first of the pair leaves the window.
    assert_eq!(
        store.hold(&at("s3", "fp-s3", t0 + h(32))).await.unwrap(),
        HoldDecision::Full {
            retry_at: t0 + h(54)
        }
    );
    let usage = store
        .slot_usage("acc_s", Lane::Video, window, t0)
        .await
        .unwrap();
    assert_eq!(
        (usage.used, usage.scheduled, usage.frees_at),
        (1, 2, Some(t0 + h(24))),
        "the window of now counts the post now; the two tomorrow are scheduled"
    );

    // Moved to the day after, s2 frees tomorrow's second slot.
    assert_eq!(
        store
            .move_slot("acc_s", Lane::Video, "s2", t0 + h(60), 2, window, t0)
            .await
            .unwrap(),
        SlotMove::Moved {
            used: 1,
            from: Some(t0 + h(31))
        }
    );
    assert_eq!(
        store.hold(&at("s3", "fp-s3", t0 + h(32))).await.unwrap(),
        HoldDecision::Held { used: 2 }
    );
    // A slot moved within its own full window: it does not count against itself.
    assert_eq!(
        store
            .move_slot("acc_s", Lane::Video, "s1", t0 + h(33), 2, window, t0)
            .await
            .unwrap(),
        SlotMove::Moved {
            used: 2,
            from: Some(t0 + h(30))
        }
    );
    // Slots at 32 h, 33 h and 60 h: a slot not held, taken at 31 h, would share the windows
    // that hold 32 h and 33 h until 32 h leaves them, at 56 h. Refused, nothing moves.
    assert_eq!(
        store
            .move_slot("acc_s", Lane::Video, "s4", t0 + h(31), 2, window, t0)
            .await
            .unwrap(),
        SlotMove::Full {
            retry_at: t0 + h(56)
        }
    );
    // Refused to move s2 back next to them: it stays at 60 h.
    assert_eq!(
        store
            .move_slot("acc_s", Lane::Video, "s2", t0 + h(40), 2, window, t0)
            .await
            .unwrap(),
        SlotMove::Full {
            retry_at: t0 + h(56)
        }
    );
    assert_eq!(
        store
            .slot_usage("acc_s", Lane::Video, window, t0)
            .await
            .unwrap()
            .scheduled,
        3
    );
    assert_eq!(
        store.hold(&at("s5", "fp-s5", t0 + h(61))).await.unwrap(),
        HoldDecision::Held { used: 2 },
        "s2 is at 60 h still"
    );
    // A release (a cancel) gives the slot back; then s4 is taken at 31 h.
    store
        .release_slot("acc_s", Lane::Video, "s3")
        .await
        .unwrap();
    assert_eq!(
        store
            .move_slot("acc_s", Lane::Video, "s4", t0 + h(31), 2, window, t0)
            .await
            .unwrap(),
        SlotMove::Moved {
            used: 2,
            from: None
        }
    );

    // A post now must fit with the posts scheduled in the next 24 h too.
    let soon = |slot: &'static str, fingerprint: &'static str, when: DateTime<Utc>| CreateHold {
        account: "acc_s2",
        ..at(slot, fingerprint, when)
    };
    assert_eq!(
        store.hold(&soon("p1", "fp-p1", t0 + h(10))).await.unwrap(),
        HoldDecision::Held { used: 1 }
    );
    assert_eq!(
        store.hold(&soon("p2", "fp-p2", t0)).await.unwrap(),
        HoldDecision::Held { used: 2 }
    );
    assert_eq!(
        store
            .reserve_slot("acc_s2", Lane::Video, "p3", 2, window, t0 + h(1))
            .await
            .unwrap(),
        SlotDecision::Full {
            retry_at: t0 + h(24)
        },
        "the window that ends at 10 h holds p2, p1 and this one"
    );
    // Concurrent moves into one window never overshoot: ten slots, each alone on a day of its
    // own, moved at once to where three fit.
    for i in 0..10 {
        let slot = format!("m{i}");
        assert!(matches!(
            store
                .move_slot(
                    "acc_m",
                    Lane::Video,
                    &slot,
                    t0 + h(100 + 30 * i),
                    3,
                    window,
                    t0
                )
                .await
                .unwrap(),
            SlotMove::Moved { .. }
        ));
    }
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .move_slot(
                        "acc_m",
                        Lane::Video,
                        &format!("m{i}"),
                        t0 + h(1000),
                        3,
                        window,
                        t0,
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut moved = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), SlotMove::Moved { .. }) {
            moved += 1;
        }
    }
    assert_eq!(moved, 3);

    // Other lanes are apart, scheduled or not.
    assert_eq!(
        store
            .move_slot("acc_s2", Lane::Photo, "q1", t0 + h(10), 2, window, t0)
            .await
            .unwrap(),
        SlotMove::Moved {
            used: 1,
            from: None
        }
    );
}

#[tokio::test]
async fn sqlite_keeps_the_store_contract() {
    let (store, _dir) = sqlite().await;
    contract(store.clone()).await;
    claims(store.clone()).await;
    slots(store.clone()).await;
    holds(store.clone()).await;
    schedules(store.clone()).await;
    read_model(store.clone()).await;
    rates(store).await;
}

/// The Redis the test command started (`scripts/test` sets TEST_REDIS_URL), with a database of
/// this test's own so that runs do not see each other's keys.
async fn redis(db: u8) -> Arc<dyn Store> {
    let base = std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL is not set: run the tests through scripts/test, which starts Redis",
    );
    let url = format!("{base}/{db}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    store::open(&StoreUrl::Redis(url))
        .await
        .expect("redis store opens")
}

#[tokio::test]
async fn redis_keeps_the_store_contract() {
    let store = redis(1).await;
    contract(store.clone()).await;
    claims(store.clone()).await;
    slots(store.clone()).await;
    holds(store.clone()).await;
    schedules(store.clone()).await;
    read_model(store.clone()).await;
    rates(store).await;
}

#[tokio::test]
async fn a_closed_redis_store_is_unavailable() {
    let store = redis(2).await;
    store.ping().await.unwrap();
    store.close().await;
    assert!(store.ping().await.is_err());
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let (store, _dir) = sqlite().await;
    store.close().await;
    assert!(store.ping().await.is_err());
}

/// A single instance keeps budgets and the duplicate guard in memory: a restart rebuilds them
/// from the posts of the last day, so neither resets with the process.
#[tokio::test]
async fn sqlite_budgets_and_duplicates_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("gateway.db"));
    let now = Utc::now();
    let hold = |slot: &'static str, fingerprint: &'static str, lane: Lane| CreateHold {
        account: "acc_r",
        lane,
        slot,
        limit: 2,
        window: std::time::Duration::from_secs(86_400),
        at: now,
        now,
        fingerprint,
        claim_ttl: std::time::Duration::from_secs(60),
        upstream: None,
    };
    {
        let store = store::open(&url).await.unwrap();
        for (i, fingerprint) in ["fp-r1", "fp-r2"].into_iter().enumerate() {
            assert!(matches!(
                store
                    .hold(&hold("r", fingerprint, Lane::Video))
                    .await
                    .unwrap(),
                HoldDecision::Held { .. }
            ));
            let mut post = record(&format!("r{i}"), "acme", "acc_r", now);
            post.fingerprint = fingerprint.into();
            store
                .record_created(&post, std::time::Duration::from_secs(86_400), None)
                .await
                .unwrap();
        }
        // A post older than the window counts no more.
        let mut old = record("old", "acme", "acc_r", now - Duration::hours(25));
        old.fingerprint = "fp-old".into();
        store.insert_post(&old).await.unwrap();
        // Other tenants' posts, on either side of acme: the rebuild reads every tenant.
        for (tenant, account) in [("aardvark", "acc_first"), ("zeta", "acc_last")] {
            let mut post = record(&format!("{tenant}_1"), tenant, account, now);
            post.fingerprint = format!("fp-{tenant}");
            store.insert_post(&post).await.unwrap();
        }
        store
            .mark_exhausted("acc_x", Lane::Draft, now + Duration::hours(2))
            .await
            .unwrap();
        store.close().await;
    }
    let store = store::open(&url).await.unwrap();
    assert_eq!(
        store.hold(&hold("r3", "fp-r3", Lane::Video)).await.unwrap(),
        HoldDecision::Full {
            retry_at: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap()
                + Duration::hours(24)
        }
    );
    // Drafts count apart: room there, but the same content is still a duplicate of r1.
    assert_eq!(
        store.hold(&hold("r4", "fp-r1", Lane::Draft)).await.unwrap(),
        HoldDecision::Duplicate(Claim::Done {
            fingerprint: "fp-r1".into(),
            payload: b"r0".to_vec()
        })
    );
    assert!(matches!(
        store
            .hold(&hold("r5", "fp-old", Lane::Draft))
            .await
            .unwrap(),
        HoldDecision::Held { used: 1 }
    ));
    for account in ["acc_first", "acc_last"] {
        let one_a_day = CreateHold {
            account,
            limit: 1,
            ..hold("t", "fp-t", Lane::Video)
        };
        assert!(
            matches!(
                store.hold(&one_a_day).await.unwrap(),
                HoldDecision::Full { .. }
            ),
            "{account}"
        );
    }
    let usage = store
        .slot_usage(
            "acc_x",
            Lane::Draft,
            std::time::Duration::from_secs(86_400),
            now,
        )
        .await
        .unwrap();
    assert!(usage.exhausted_until.is_some(), "{usage:?}");
}

/// The rebuild on start puts each slot at its post's time, named by the create's id: a
/// scheduled post created days ago counts tomorrow still, a cancelled one not at all.
#[tokio::test]
async fn sqlite_slots_stay_at_their_schedule_times_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("gateway.db"));
    let now = Utc::now();
    let scheduled = |id: &str, created_at: DateTime<Utc>, at: DateTime<Utc>| PostRecord {
        mode: "scheduled".into(),
        status: "scheduled".into(),
        schedule_at: Some(at),
        ..record(id, "acme", "acc_t", created_at)
    };
    {
        let store = store::open(&url).await.unwrap();
        // Created two days ago for tomorrow; created now for tomorrow.
        store
            .insert_post(&scheduled(
                "t1",
                now - Duration::hours(48),
                now + Duration::hours(30),
            ))
            .await
            .unwrap();
        store
            .insert_post(&scheduled("t2", now, now + Duration::hours(31)))
            .await
            .unwrap();
        // Cancelled: no slot. A Zernio draft: no slot either.
        let mut cancelled = scheduled("t3", now, now + Duration::hours(32));
        cancelled.status = "cancelled".into();
        store.insert_post(&cancelled).await.unwrap();
        let mut saved = record("t4", "acme", "acc_t", now);
        saved.mode = "saved".into();
        saved.status = "draft".into();
        store.insert_post(&saved).await.unwrap();
        store.close().await;
    }
    let store = store::open(&url).await.unwrap();
    let hold = |slot: &'static str, fingerprint: &'static str, at: DateTime<Utc>| CreateHold {
        account: "acc_t",
        lane: Lane::Video,
        slot,
        limit: 2,
        window: std::time::Duration::from_secs(86_400),
        at,
        now,
        fingerprint,
        claim_ttl: std::time::Duration::from_secs(60),
        upstream: None,
    };
    let ms = |t: DateTime<Utc>| DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap();
    assert_eq!(
        store.hold(&hold("n", "fp-n", now)).await.unwrap(),
        HoldDecision::Held { used: 1 },
        "today is free: the saved draft holds nothing"
    );
    assert_eq!(
        store
            .hold(&hold("x", "fp-x", now + Duration::hours(32)))
            .await
            .unwrap(),
        HoldDecision::Full {
            retry_at: ms(now + Duration::hours(54))
        },
        "t1 and t2 fill tomorrow; t3 holds nothing"
    );
    let usage = store
        .slot_usage(
            "acc_t",
            Lane::Video,
            std::time::Duration::from_secs(86_400),
            now,
        )
        .await
        .unwrap();
    assert_eq!((usage.used, usage.scheduled), (1, 2));
    // The slot is named by the record's request_id: released by it, tomorrow has room.
    store
        .release_slot("acc_t", Lane::Video, "req-t1")
        .await
        .unwrap();
    assert_eq!(
        store
            .hold(&hold("x", "fp-x", now + Duration::hours(32)))
            .await
            .unwrap(),
        HoldDecision::Held { used: 2 }
    );
}

/// Records and claims written as hashes, as the Redis store kept them before strings, are
/// still read, listed, updated and settled until they expire.
#[tokio::test]
async fn redis_reads_records_and_claims_of_the_hash_format() {
    let store = redis(3).await;
    let url = format!("{}/3", std::env::var("TEST_REDIS_URL").unwrap());
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let created_at = 1_790_000_000_000_i64;
    let _: () = redis::cmd("HSET")
        .arg("tgw:post:legacy_1")
        .arg(&[
            ("id", "legacy_1"),
            ("tenant", "acme"),
            ("account", "acc_old"),
            ("kind", "video"),
            ("mode", "now"),
            ("status", "publishing"),
            ("schedule_at", ""),
            ("tiktok_url", ""),
            ("error", ""),
            ("fingerprint", "fp_old"),
            ("request_id", "req_old"),
        ])
        .arg("created_at")
        .arg(created_at)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("tgw:posts:acme")
        .arg(0)
        .arg(format!("{created_at:013}:legacy_1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("tgw:claim:idem:acme:done")
        .arg(&[("fp", "fp_done"), ("payload", "stored answer")])
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("tgw:claim:idem:acme:pending")
        .arg(&[("fp", "fp_pending")])
        .query_async(&mut conn)
        .await
        .unwrap();

    let post = store.post("acme", "legacy_1").await.unwrap().expect("read");
    assert_eq!(
        (post.account.as_str(), post.status.as_str()),
        ("acc_old", "publishing")
    );
    assert_eq!(post.created_at.timestamp_millis(), created_at);
    store
        .update_post(
            "legacy_1",
            &PostUpdate {
                status: Some("published".into()),
                ..PostUpdate::default()
            },
        )
        .await
        .unwrap();
    let listed = store
        .posts("acme", &PostFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, "published");

    let ttl = std::time::Duration::from_secs(60);
    assert_eq!(
        store.claim("idem:acme", "done", "fp_x", ttl).await.unwrap(),
        Claim::Done {
            fingerprint: "fp_done".into(),
            payload: b"stored answer".to_vec()
        }
    );
    assert_eq!(
        store
            .claim("idem:acme", "pending", "fp_x", ttl)
            .await
            .unwrap(),
        Claim::Pending {
            fingerprint: "fp_pending".into()
        }
    );
    store
        .complete_claim("idem:acme", "pending", b"late answer", ttl)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim("idem:acme", "pending", "fp_x", ttl)
            .await
            .unwrap(),
        Claim::Done {
            fingerprint: "fp_pending".into(),
            payload: b"late answer".to_vec()
        }
    );
}

/// The rolling rule lives twice, in Rust for SQLite and in Lua for Redis: the same random
/// moves, takes and releases get the same answers from both.
#[tokio::test]
async fn redis_and_sqlite_place_slots_alike() {
    let (sqlite, _dir) = sqlite().await;
    let redis = redis(4).await;
    let window = std::time::Duration::from_secs(86_400);
    let t0 = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let (mut moved, mut refused) = (0, 0);
    for step in 0..600 {
        let account = format!("acc_{}", next(3));
        let limit = 2 + next(2) as u32;
        let slot = format!("x{}", next(14));
        if next(8) == 0 {
            sqlite
                .release_slot(&account, Lane::Video, &slot)
                .await
                .unwrap();
            redis
                .release_slot(&account, Lane::Video, &slot)
                .await
                .unwrap();
            continue;
        }
        // Quarter hours over five days, so that slots meet and part at window edges.
        let at = t0 + Duration::minutes(15 * next(480) as i64);
        let a = sqlite
            .move_slot(&account, Lane::Video, &slot, at, limit, window, t0)
            .await
            .unwrap();
        let b = redis
            .move_slot(&account, Lane::Video, &slot, at, limit, window, t0)
            .await
            .unwrap();
        assert_eq!(
            a, b,
            "step {step}: {slot} of {account} to {at}, limit {limit}"
        );
        match a {
            SlotMove::Moved { .. } => moved += 1,
            SlotMove::Full { .. } => refused += 1,
        }
    }
    // Both answers were exercised.
    assert!(
        moved > 50 && refused > 50,
        "{moved} moved, {refused} refused"
    );
}
