//! Daily budgets that follow a post's life, over HTTP: a scheduled post counts in the windows
//! of its own time, a cancel gives its slot back, a reschedule moves it (refused, before
//! Zernio, when the new time is full), and a restart keeps the slots at their times. On
//! SQLite, and on Redis with TEST_STORE=redis.

mod common;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::*;
use serde_json::{Value, json};

const PLANNER_KEY: &str = "tgw_planner-tenant-key-00000000000000000000000";

/// A tenant of two videos a day on `acc_nobody` (an account the fake Zernio lists).
fn planner() -> String {
    format!(
        r#"
[[tenants]]
id = "planner"
accounts = ["acc_nobody"]
daily_posts_per_account = 2

[[tenants.api_keys]]
id = "planner"
sha256 = "{}"
scopes = ["posts:write", "posts:read"]
"#,
        sha256_hex(PLANNER_KEY)
    )
}

fn video(caption: &str, at: Option<DateTime<Utc>>) -> Value {
    let mut body = json!({
        "account": "acc_nobody",
        "caption": caption,
        "video": {"url": "https://cdn.example.com/planned.mp4"},
        "privacy": "public",
        "allow_comment": true, "allow_duet": true, "allow_stitch": true,
        "consent": {"content_preview_confirmed": true, "express_consent_given": true}
    });
    if let Some(at) = at {
        body["schedule_at"] = json!(text(at));
    }
    body
}

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Now, to the second: the times the gateway names are in whole seconds.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

async fn create(gw: &TestGateway, caption: &str, at: Option<DateTime<Utc>>) -> reqwest::Response {
    gw.post_json("/v1/tiktok/posts", PLANNER_KEY, &video(caption, at))
        .await
}

async fn created_id(gw: &TestGateway, caption: &str, at: Option<DateTime<Utc>>) -> String {
    let response = create(gw, caption, at).await;
    assert_eq!(response.status(), 201, "{caption}");
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// A refusal of a post scheduled at `at`: no Retry-After (waiting does not help), the time
/// with room in `retry_at`.
async fn refused_for_schedule(response: reqwest::Response, at: DateTime<Utc>, room: DateTime<Utc>) {
    assert!(
        !response.headers().contains_key("retry-after"),
        "{:?}",
        response.headers()
    );
    let body = problem(response, 429).await;
    assert_eq!(body["code"], "daily_limit_reached");
    assert_eq!(body["schedule_at"], text(at));
    assert_eq!(body["retry_at"], text(room));
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&text(room)), "{detail}");
}

async fn videos_budget(gw: &TestGateway) -> Value {
    budget_of(gw, "videos").await
}

async fn budget_of(gw: &TestGateway, lane: &str) -> Value {
    let accounts: Value = gw
        .get_with_key("/v1/tiktok/accounts", PLANNER_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["items"][0]["id"], "acc_nobody", "{accounts}");
    accounts["items"][0][lane].clone()
}

async fn patch(gw: &TestGateway, id: &str, body: Value) -> reqwest::Response {
    gw.client
        .patch(gw.url(&format!("/v1/tiktok/posts/{id}")))
        .bearer_auth(PLANNER_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(gw: &TestGateway, path: &str) -> reqwest::Response {
    gw.client
        .delete(gw.url(path))
        .bearer_auth(PLANNER_KEY)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn scheduled_posts_count_at_their_time_and_cancels_and_reschedules_move_their_slots() {
    let (gw, fake) = TestGateway::with_fake(&planner()).await;
    let now = now();
    let tomorrow = now + Duration::hours(30);
    let first = created_id(&gw, "tomorrow one", Some(tomorrow)).await;
    let second = created_id(&gw, "tomorrow two", Some(tomorrow + Duration::hours(1))).await;
    // Today's budget is untouched by them.
    created_id(&gw, "right now", None).await;
    let budget = videos_budget(&gw).await;
    assert_eq!(
        (
            &budget["limit"],
            &budget["used"],
            &budget["remaining"],
            &budget["scheduled"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(2)),
        "{budget}"
    );
    // A third tomorrow: refused before Zernio; room once the first leaves the window.
    let third_at = tomorrow + Duration::hours(2);
    refused_for_schedule(
        create(&gw, "tomorrow three", Some(third_at)).await,
        third_at,
        tomorrow + Duration::hours(24),
    )
    .await;
    assert_eq!(fake.calls("create").len(), 3);

    // Cancelling one frees its slot: the third fits now.
    assert_eq!(
        delete(&gw, &format!("/v1/tiktok/posts/{second}"))
            .await
            .status(),
        204
    );
    created_id(&gw, "tomorrow three", Some(third_at)).await;
    refused_for_schedule(
        create(&gw, "tomorrow four", Some(third_at)).await,
        third_at,
        tomorrow + Duration::hours(24),
    )
    .await;

    // Rescheduling the first to the day after frees tomorrow's slot.
    let day_after = now + Duration::hours(60);
    let moved = patch(&gw, &first, json!({"schedule_at": text(day_after)})).await;
    assert_eq!(moved.status(), 200, "{:?}", moved.text().await);
    assert_eq!(
        fake.calls("update")[0].body,
        json!({"scheduledFor": text(day_after)})
    );
    let fourth = created_id(&gw, "tomorrow four", Some(tomorrow + Duration::hours(3))).await;

    // Tomorrow is full again (third, fourth): moving the first back is refused, and Zernio is
    // not asked.
    let back = tomorrow + Duration::hours(1);
    refused_for_schedule(
        patch(&gw, &first, json!({"schedule_at": text(back)})).await,
        back,
        third_at + Duration::hours(24),
    )
    .await;
    assert_eq!(fake.calls("update").len(), 1);
    // It stayed at the day after: a post there has room for one more beside it.
    created_id(&gw, "day after", Some(day_after + Duration::hours(1))).await;
    refused_for_schedule(
        create(&gw, "day after again", Some(day_after + Duration::hours(2))).await,
        day_after + Duration::hours(2),
        day_after + Duration::hours(24),
    )
    .await;

    // Zernio refusing an edit leaves the slot where it was.
    fake.script(
        "update",
        common::fake_zernio::Reply::json(
            400,
            json!({"error": "Post cannot be edited", "type": "invalid_request_error"}),
        ),
    );
    let later = now + Duration::hours(100);
    let failed = patch(&gw, &fourth, json!({"schedule_at": text(later)})).await;
    assert_eq!(
        problem(failed, 422).await["code"],
        "upstream_invalid_request"
    );
    // Tomorrow is still full with it (room from third's leaving, 56 h); a post from 56 h
    // would share windows with the two full ones of the day after, so the first time with
    // room is when the first of those leaves, at 84 h.
    refused_for_schedule(
        create(&gw, "tomorrow five", Some(tomorrow + Duration::hours(4))).await,
        tomorrow + Duration::hours(4),
        day_after + Duration::hours(24),
    )
    .await;

    let budget = videos_budget(&gw).await;
    assert_eq!(
        (&budget["used"], &budget["scheduled"]),
        (&json!(1), &json!(4)),
        "{budget}"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn the_compatible_put_and_delete_move_and_free_slots_too() {
    let (gw, fake) = TestGateway::with_fake(&planner()).await;
    let tomorrow = now() + Duration::hours(30);
    let a = created_id(&gw, "compat a", Some(tomorrow)).await;
    let b = created_id(&gw, "compat b", Some(tomorrow + Duration::hours(1))).await;
    let put = |id: String, at: DateTime<Utc>| {
        gw.client
            .put(gw.url(&format!("/api/v1/posts/{id}")))
            .bearer_auth(PLANNER_KEY)
            .json(&json!({"scheduledFor": text(at)}))
            .send()
    };
    // `a` moved from tomorrow to the day after: tomorrow has room for one.
    let day_after = tomorrow + Duration::hours(30);
    assert_eq!(put(a.clone(), day_after).await.unwrap().status(), 200);
    created_id(&gw, "compat c", Some(tomorrow + Duration::hours(2))).await;
    // Moving `a` back into the full tomorrow: Zernio's 429 shape, and Zernio is not asked.
    let refused = put(a.clone(), tomorrow).await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["details"]["gatewayCode"], "daily_limit_reached",
        "{body}"
    );
    assert_eq!(fake.calls("update").len(), 1);
    // Zernio's delete of `b` frees its slot: `a` can come back.
    let deleted = delete(&gw, &format!("/api/v1/posts/{b}")).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(put(a, tomorrow).await.unwrap().status(), 200);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn deleting_a_creator_inbox_draft_gives_its_slot_back_and_a_published_post_keeps_its() {
    let (gw, fake) = TestGateway::with_fake(&planner()).await;
    let mut draft = video("for the inbox", None);
    draft["draft"] = json!(true);
    let response = gw.post_json("/v1/tiktok/posts", PLANNER_KEY, &draft).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(budget_of(&gw, "drafts").await["used"], 1);
    assert_eq!(
        delete(&gw, &format!("/v1/tiktok/posts/{id}"))
            .await
            .status(),
        204
    );
    assert_eq!(budget_of(&gw, "drafts").await["used"], 0);

    // A post published now: TikTok counted it, and it cannot be cancelled (409
    // post_not_cancellable, Zernio not asked), so it keeps its slot.
    let published = created_id(&gw, "out already", None).await;
    assert_eq!(
        delete(&gw, &format!("/v1/tiktok/posts/{published}"))
            .await
            .status(),
        409
    );
    assert!(
        fake.calls("delete")
            .iter()
            .all(|c| !c.path.ends_with(&published))
    );
    assert_eq!(videos_budget(&gw).await["used"], 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_restart_on_sqlite_keeps_the_slots_at_their_scheduled_times() {
    let fake = common::fake_zernio::FakeZernio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}/gateway.db", dir.path().display());
    let tomorrow = now() + Duration::hours(30);
    let gw = TestGateway::in_front_of(&fake, Some(&store), &planner()).await;
    let cancelled = created_id(&gw, "kept a", Some(tomorrow)).await;
    created_id(&gw, "kept b", Some(tomorrow + Duration::hours(1))).await;
    assert_eq!(
        delete(&gw, &format!("/v1/tiktok/posts/{cancelled}"))
            .await
            .status(),
        204
    );
    created_id(&gw, "kept c", Some(tomorrow + Duration::hours(2))).await;
    gw.stop().await;

    let gw = TestGateway::in_front_of(&fake, Some(&store), &planner()).await;
    created_id(&gw, "now, after the restart", None).await;
    let budget = videos_budget(&gw).await;
    assert_eq!(
        (&budget["used"], &budget["scheduled"]),
        (&json!(1), &json!(2))
    );
    let at = tomorrow + Duration::hours(3);
    refused_for_schedule(
        create(&gw, "tomorrow, after the restart", Some(at)).await,
        at,
        tomorrow + Duration::hours(25),
    )
    .await;
}
