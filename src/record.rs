//! The gateway's record of a post as the read model. Reads answer from it; what keeps it true
//! are observations: Zernio's answer to a create or an edit, its webhooks, the reconciler's
//! reads, a read that asked Zernio. Every one of them goes through [`apply`], so a change is
//! applied the same way whoever saw it first, and through [`announce`], so a tenant hears of
//! a change once, however many sources report it and in whatever order.
//!
//! Order: each record keeps the time its status came to hold (`status_at`). An observation
//! dated before it cannot change the status (an old `post.failed` replayed after
//! `post.published` changes nothing). A small allowance for clocks lets a status that moves
//! forward in a post's life through (scheduled, publishing, published) win a tie. The caller's
//! own actions (edit, cancel, retry) are Zernio's answer to them, so they always apply.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::store::{ChangeSource, PostEvent, PostRecord, kept};
use crate::zernio::{self, PlatformState, PostStatus, UpstreamError};

/// How far Zernio's clock and the gateway's may disagree.
const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(2);

/// After this long a post that still has not settled is left as it is.
pub const GIVE_UP_AFTER: TimeDelta = TimeDelta::hours(48);

/// The reconciler's pauses between reads of a post that has not changed.
const BACKOFF_SECS: [i64; 9] = [15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/// What one source says of a post at one time; `None` says nothing of that field.
#[derive(Debug, Clone)]
pub struct Observation {
    pub source: ChangeSource,
    /// When this held (a webhook's timestamp; a read's time).
    pub at: DateTime<Utc>,
    pub status: Option<String>,
    pub schedule_at: Option<Option<DateTime<Utc>>>,
    pub tiktok_url: Option<String>,
    /// `Some(None)` clears the error; `Some(Some((code, message)))` sets it.
    pub error: Option<Option<(String, String)>>,
    /// Zernio said it; `false` for a read that failed (it only moves the reconciler on).
    pub confirmed: bool,
}

impl Observation {
    pub fn new(source: ChangeSource, at: DateTime<Utc>) -> Observation {
        Observation {
            source,
            at,
            status: None,
            schedule_at: None,
            tiktok_url: None,
            error: None,
            confirmed: true,
        }
    }

    /// What a Zernio post (an answer or a webhook's `post`) says.
    pub fn of_post(post: &zernio::Post, source: ChangeSource, at: DateTime<Utc>) -> Observation {
        let tiktok = post.tiktok();
        let deleted = tiktok.is_some_and(|p| p.status == PlatformState::Other("deleted".into()));
        let status = if deleted {
            "deleted".to_owned()
        } else {
            post.status.as_str().to_owned()
        };
        let error = match post.status {
            PostStatus::Failed | PostStatus::Partial => Some(Some(failure(post))),
            PostStatus::Published | PostStatus::Publishing | PostStatus::Scheduled => Some(None),
            _ => None,
        };
        Observation {
            source,
            at,
            schedule_at: matches!(post.status, PostStatus::Scheduled)
                .then_some(post.scheduled_for)
                .flatten()
                .map(Some),
            tiktok_url: tiktok
                .and_then(|p| p.platform_post_url.clone())
                .filter(|u| !u.is_empty()),
            error,
            status: Some(status),
            confirmed: true,
        }
    }

    /// Whether tenants hear of what this observation changes (the caller's own actions are
    /// answered to the caller).
    fn announces(&self) -> bool {
        matches!(
            self.source,
            ChangeSource::Webhook | ChangeSource::Reconcile | ChangeSource::Read
        )
    }

    fn is_callers_action(&self) -> bool {
        matches!(
            self.source,
            ChangeSource::Edit | ChangeSource::Cancel | ChangeSource::Retry
        )
    }
}

/// The stable code and message of a failed post, as the create endpoint would name them.
pub fn failure(post: &zernio::Post) -> (String, String) {
    let mut failed = post.clone();
    failed.status = PostStatus::Failed;
    match UpstreamError::from_failed_post(200, failed, None) {
        Some(e) => (e.code().to_owned(), e.message.clone()),
        None => ("post_failed".to_owned(), "the post failed".to_owned()),
    }
}

/// Where a status stands in a post's life: an observation may move a post forward within the
/// clock allowance, never backward.
fn rank(status: &str) -> u8 {
    match status {
        "draft" | "saved" => 0,
        "scheduled" => 1,
        "publishing" => 2,
        "published" | "failed" | "partial" | "cancelled" => 3,
        "deleted" => 4,
        _ => 2,
    }
}

/// A record changed by an observation, and the history entry when its status changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub record: PostRecord,
    pub event: Option<PostEvent>,
}

/// The record after `obs`, or `None` when nothing would change. Pure: the rules of order.
pub fn merge(current: &PostRecord, obs: &Observation, now: DateTime<Utc>) -> Option<Merged> {
    let now = kept(now);
    let status_at = current.status_at();
    let callers = obs.is_callers_action();
    let fresh = callers || obs.at >= status_at;
    let mut next = current.clone();

    let status_changes = obs.status.as_deref().filter(|s| *s != current.status);
    let forward = |new: &str| rank(new) > rank(&current.status);
    let status_applies = status_changes
        .is_some_and(|new| fresh || (forward(new) && obs.at + CLOCK_SKEW >= status_at));
    // The other fields follow the status they came with: with it, or when it is current.
    let fields_apply = status_applies || (status_changes.is_none() && fresh);
    if status_applies && let Some(new) = status_changes {
        next.status = new.to_owned();
        // The caller's action is dated by the gateway, after anything it has seen, and
        // a clock allowance later still: an event of before it, arriving late, is old.
        next.sync.status_at = Some(if callers {
            now.max(status_at + TimeDelta::milliseconds(1)) + CLOCK_SKEW
        } else {
            kept(obs.at)
        });
        // What the new state stands for and was told already stays told (a failed post
        // that Zernio then calls partial is still the one failure; its URL the one URL).
        let kept: Vec<&str> = events_of(&next)
            .into_iter()
            .filter(|e| announced(current, e))
            .collect();
        next.sync.announced = kept.join(",");
    }
    if fields_apply {
        if let Some(at) = obs.schedule_at {
            next.schedule_at = at;
        }
        if let Some(error) = &obs.error {
            next.error = error.as_ref().map(|(_, m)| m.clone());
            next.sync.error_code = error.as_ref().map(|(c, _)| c.clone());
        }
    }
    // A URL only ever arrives: it fills a gap whatever the order, and replaces one only fresh.
    if let Some(url) = &obs.tiktok_url
        && (current.tiktok_url.is_none()
            || (fields_apply && current.tiktok_url.as_ref() != Some(url)))
    {
        next.tiktok_url = Some(url.clone());
    }
    let visible = next.status != current.status
        || next.schedule_at != current.schedule_at
        || next.tiktok_url != current.tiktok_url
        || next.error != current.error
        || next.sync.error_code != current.sync.error_code;
    if visible {
        next.sync.updated_at = Some(now);
        next.sync.sync_attempts = 0;
    } else if obs.source == ChangeSource::Reconcile {
        next.sync.sync_attempts = current.sync.sync_attempts.saturating_add(1);
    }
    if obs.confirmed {
        next.sync.synced_at = Some(now);
    }
    next.sync.next_sync_at = next_sync(&next, now);
    if next == *current {
        return None;
    }
    // Only the reconciler's own schedule moved: worth writing for it, not for anyone else.
    if !visible && obs.source != ChangeSource::Reconcile && next.sync.next_sync_at.is_some() {
        next.sync.next_sync_at = current.sync.next_sync_at.or(next.sync.next_sync_at);
    }
    next.sync.revision = current.sync.revision + 1;
    let event = (next.status != current.status).then(|| PostEvent {
        revision: next.sync.revision,
        at: next.status_at(),
        recorded_at: now,
        source: obs.source,
        status: next.status.clone(),
        previous: Some(current.status.clone()),
        error_code: next.sync.error_code.clone(),
    });
    Some(Merged {
        record: next,
        event,
    })
}

/// Whether `obs` would only confirm the record (its `synced_at`): nothing shown, scheduled or
/// owed to the tenant changes. Such a confirmation need not be written at once.
pub fn only_confirms(current: &PostRecord, obs: &Observation, now: DateTime<Utc>) -> bool {
    if !obs.confirmed || events_of(current).iter().any(|e| !announced(current, e)) {
        return false;
    }
    let Some(merged) = merge(current, obs, now) else {
        return false;
    };
    let mut next = merged.record;
    next.sync.synced_at = current.sync.synced_at;
    next.sync.revision = current.sync.revision;
    merged.event.is_none() && next == *current
}

/// When the reconciler should read the post again, or `None` when it can no longer change
/// (settled, or too old to wait for).
pub fn next_sync(record: &PostRecord, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let may_change = match record.status.as_str() {
        "publishing" | "scheduled" => true,
        // TikTok's URL can come after the publication.
        "published" => record.tiktok_url.is_none() && record.mode != "draft",
        // A draft waiting in the Creator Inbox; a Zernio draft (`saved`) is not sent anywhere.
        "draft" => record.mode == "draft",
        _ => false,
    };
    if !may_change {
        return None;
    }
    let anchor = record
        .schedule_at
        .filter(|at| *at > record.created_at)
        .unwrap_or(record.created_at);
    if now > anchor + GIVE_UP_AFTER {
        return None;
    }
    // A scheduled post's first look is just after it is due.
    if record.status == "scheduled"
        && let Some(at) = record.schedule_at.filter(|at| *at > now)
    {
        return Some(at + TimeDelta::seconds(BACKOFF_SECS[0]));
    }
    let step = (record.sync.sync_attempts as usize).min(BACKOFF_SECS.len() - 1);
    Some(now + TimeDelta::seconds(BACKOFF_SECS[step]))
}

/// A new record's sync part: revision 1, confirmed now, first look scheduled.
pub fn created(record: &mut PostRecord, now: DateTime<Utc>) {
    let now = kept(now);
    record.created_at = kept(record.created_at);
    record.sync.revision = 1;
    record.sync.updated_at = Some(now);
    record.sync.synced_at = Some(now);
    record.sync.status_at = Some(now);
    record.sync.next_sync_at = next_sync(record, now);
}

/// The tenant events a record's current state stands for.
fn events_of(record: &PostRecord) -> Vec<&'static str> {
    let mut events = Vec::with_capacity(2);
    match record.status.as_str() {
        "published" => events.push("post.published"),
        "failed" | "partial" => events.push("post.failed"),
        "scheduled" => events.push("post.scheduled"),
        "cancelled" => events.push("post.cancelled"),
        "deleted" => events.push("post.deleted"),
        _ => {}
    }
    // A URL means TikTok published it, even before the record heard so.
    if record.tiktok_url.is_some() && record.status != "deleted" {
        events.push("post.url_resolved");
    }
    events
}

fn announced(record: &PostRecord, event: &str) -> bool {
    record.sync.announced.split(',').any(|e| e == event)
}

/// How many times a write that lost a race is tried again.
const RETRIES: usize = 8;

/// Applies `obs` to the post's record (compare and set, tried again when another writer got
/// there first) and, when its source speaks for Zernio, tells the tenant what it has not
/// heard yet. `post` is Zernio's post when the observation came with one (its metadata goes
/// to the tenant). `None`: the gateway has no record of the post.
pub async fn apply(
    state: &AppState,
    id: &str,
    obs: &Observation,
    post: Option<&zernio::Post>,
) -> Result<Option<Applied>, ApiError> {
    for _ in 0..RETRIES {
        let Some(current) = state.store.post_by_id(id).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let (record, changed) = match merge(&current, obs, now) {
            None => (current, false),
            Some(merged) => {
                if !state
                    .store
                    .replace_post(&merged.record, current.sync.revision, merged.event.as_ref())
                    .await?
                {
                    continue;
                }
                let visible = merged.record.updated_at() != current.updated_at();
                // Cancelled outside the gateway (Zernio's dashboard, another client): its
                // budget slot is free again, as after the caller's own cancel.
                if merged.record.status == "cancelled"
                    && current.status != "cancelled"
                    && obs.source != ChangeSource::Cancel
                {
                    crate::limits::budget::cancelled(state, &merged.record).await;
                }
                (merged.record, visible)
            }
        };
        let (record, deliveries) = if obs.announces() {
            announce(state, record, post).await?
        } else {
            (record, 0)
        };
        if changed {
            state.metrics.record_changed(obs.source.as_str());
        }
        return Ok(Some(Applied {
            record,
            changed,
            deliveries,
        }));
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "post {id} kept changing while an update was applied"
    )))
}

/// What [`apply`] did.
#[derive(Debug)]
pub struct Applied {
    /// The record as it is now.
    pub record: PostRecord,
    /// Whether this observation changed what the post shows (status, URL, error, schedule).
    pub changed: bool,
    /// Deliveries enqueued for the tenant.
    pub deliveries: u32,
}

/// Enqueues the tenant events the record stands for and the tenant has not heard of, then
/// marks them heard. A crash between the two is made good by the next observation (a
/// retried webhook, the reconciler): the deliveries' ids come from the post, the event and
/// the time of the status, so writing them twice adds nothing.
pub async fn announce(
    state: &AppState,
    mut record: PostRecord,
    post: Option<&zernio::Post>,
) -> Result<(PostRecord, u32), ApiError> {
    let mut added = 0;
    for _ in 0..RETRIES {
        let due: Vec<&str> = events_of(&record)
            .into_iter()
            .filter(|e| !announced(&record, e))
            .collect();
        if due.is_empty() {
            return Ok((record, added));
        }
        added += crate::webhooks::fan_out(state, &record, &due, metadata_of(post)).await?;
        let mut next = record.clone();
        for event in &due {
            if !next.sync.announced.is_empty() {
                next.sync.announced.push(',');
            }
            next.sync.announced.push_str(event);
        }
        next.sync.revision = record.sync.revision + 1;
        if state
            .store
            .replace_post(&next, record.sync.revision, None)
            .await?
        {
            return Ok((next, added));
        }
        match state.store.post_by_id(&record.id).await? {
            Some(fresh) => record = fresh,
            None => return Ok((record, added)),
        }
    }
    Ok((record, added))
}

/// The caller's own metadata of a Zernio post, without the tag the gateway adds to its creates.
fn metadata_of(post: Option<&zernio::Post>) -> Option<Value> {
    post?
        .metadata
        .as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            let mut m = m.clone();
            m.remove(crate::pipeline::REQUEST_TAG);
            m
        })
        .filter(|m| !m.is_empty())
        .map(Value::Object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: &str) -> PostRecord {
        let created = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut r = PostRecord {
            id: "p1".into(),
            tenant: "t".into(),
            account: "acc".into(),
            kind: "video".into(),
            mode: "now".into(),
            status: status.into(),
            schedule_at: None,
            tiktok_url: None,
            error: None,
            fingerprint: "f".into(),
            request_id: "r".into(),
            created_at: created,
            content: None,
            media_items: Vec::new(),
            sync: Default::default(),
        };
        created_at(&mut r, created);
        r
    }

    fn created_at(r: &mut PostRecord, now: DateTime<Utc>) {
        created(r, now);
    }

    fn seen(source: ChangeSource, at: DateTime<Utc>, status: &str) -> Observation {
        Observation {
            status: Some(status.into()),
            ..Observation::new(source, at)
        }
    }

    fn secs(r: &PostRecord, s: i64) -> DateTime<Utc> {
        r.created_at + TimeDelta::seconds(s)
    }

    /// The store keeps milliseconds: a record kept in memory must not hold finer times, or
    /// the same moment prints two ways depending on the path that answered.
    #[test]
    fn a_record_holds_its_times_to_the_millisecond() {
        let fine = DateTime::from_timestamp(1_800_000_000, 606_688_406).unwrap();
        let mut r = record("publishing");
        r.created_at = fine;
        created(&mut r, fine);
        let m = merge(&r, &seen(ChangeSource::Webhook, fine, "published"), fine).unwrap();
        let coarse = DateTime::from_timestamp_millis(1_800_000_000_606).unwrap();
        for t in [
            m.record.created_at,
            m.record.updated_at(),
            m.record.status_at(),
            m.record.sync.synced_at.unwrap(),
            m.event.unwrap().recorded_at,
        ] {
            assert_eq!(t, coarse);
        }
    }

    #[test]
    fn a_newer_status_applies_and_is_in_the_history() {
        let r = record("publishing");
        let m = merge(
            &r,
            &seen(ChangeSource::Webhook, secs(&r, 10), "published"),
            secs(&r, 11),
        )
        .unwrap();
        assert_eq!(m.record.status, "published");
        assert_eq!(m.record.sync.revision, 2);
        assert_eq!(m.record.status_at(), secs(&r, 10));
        let e = m.event.unwrap();
        assert_eq!(
            (e.status.as_str(), e.previous.as_deref(), e.source),
            ("published", Some("publishing"), ChangeSource::Webhook)
        );
    }

    #[test]
    fn an_older_event_after_a_newer_one_changes_nothing() {
        let r = record("publishing");
        let published = merge(
            &r,
            &seen(ChangeSource::Webhook, secs(&r, 20), "published"),
            secs(&r, 21),
        )
        .unwrap()
        .record;
        let mut late = seen(ChangeSource::Webhook, secs(&r, 10), "failed");
        late.error = Some(Some(("spam_risk".into(), "risky".into())));
        let after = merge(&published, &late, secs(&r, 30));
        let after = after.map(|m| m.record).unwrap_or(published.clone());
        assert_eq!(after.status, "published");
        assert_eq!(after.error, None);
        assert_eq!(after.updated_at(), published.updated_at());
    }

    #[test]
    fn forward_within_the_clock_allowance_applies_backward_does_not() {
        let r = record("publishing");
        // Zernio's clock 1 s behind the gateway's: published still moves publishing on.
        let m = merge(
            &r,
            &seen(ChangeSource::Webhook, secs(&r, -1), "published"),
            secs(&r, 1),
        )
        .unwrap();
        assert_eq!(m.record.status, "published");
        let s = record("scheduled");
        assert!(
            merge(
                &m.record,
                &seen(ChangeSource::Webhook, secs(&s, -2), "scheduled"),
                secs(&s, 2)
            )
            .is_none_or(|x| x.record.status == "published")
        );
    }

    #[test]
    fn the_callers_retry_moves_a_failed_post_back_to_publishing() {
        let r = record("failed");
        let m = merge(
            &r,
            &seen(ChangeSource::Retry, secs(&r, -100), "publishing"),
            secs(&r, 5),
        )
        .unwrap();
        assert_eq!(m.record.status, "publishing");
        assert_eq!(m.record.status_at(), secs(&r, 7));
        // The failure of before the retry, arriving late, does not undo it.
        let late = seen(ChangeSource::Webhook, secs(&r, 3), "failed");
        assert!(
            merge(&m.record, &late, secs(&r, 6)).is_none_or(|x| x.record.status == "publishing")
        );
    }

    #[test]
    fn a_url_fills_in_whatever_the_order() {
        let mut r = record("published");
        r.sync.status_at = Some(secs(&r, 50));
        let mut obs = Observation::new(ChangeSource::Webhook, secs(&r, 40));
        obs.tiktok_url = Some("https://www.tiktok.com/@a/video/1".into());
        let m = merge(&r, &obs, secs(&r, 60)).unwrap();
        assert_eq!(
            m.record.tiktok_url.as_deref(),
            Some("https://www.tiktok.com/@a/video/1")
        );
        assert!(m.event.is_none());
        assert_eq!(m.record.sync.next_sync_at, None);
    }

    #[test]
    fn the_reconcile_schedule_backs_off_and_gives_up() {
        let mut r = record("publishing");
        assert_eq!(r.sync.next_sync_at, Some(secs(&r, 15)));
        let mut at = secs(&r, 15);
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let m = merge(&r, &seen(ChangeSource::Reconcile, at, "publishing"), at).unwrap();
            r = m.record;
            let next = r.sync.next_sync_at.unwrap();
            gaps.push((next - at).num_seconds());
            at = next;
        }
        assert_eq!(gaps, vec![30, 60, 120, 300, 600, 1200]);
        let late = r.created_at + GIVE_UP_AFTER + TimeDelta::seconds(1);
        let m = merge(&r, &seen(ChangeSource::Reconcile, late, "publishing"), late).unwrap();
        assert_eq!(m.record.sync.next_sync_at, None);
    }

    #[test]
    fn a_scheduled_post_is_first_read_just_after_its_time() {
        let mut r = record("scheduled");
        r.mode = "scheduled".into();
        r.schedule_at = Some(secs(&r, 3600));
        assert_eq!(next_sync(&r, secs(&r, 0)), Some(secs(&r, 3615)));
        for settled in ["published", "failed", "cancelled", "deleted", "partial"] {
            let mut s = record(settled);
            s.tiktok_url = Some("u".into());
            assert_eq!(next_sync(&s, secs(&s, 1)), None, "{settled}");
        }
        let mut inbox = record("draft");
        inbox.mode = "draft".into();
        assert!(next_sync(&inbox, secs(&inbox, 1)).is_some());
        inbox.mode = "saved".into();
        assert_eq!(next_sync(&inbox, secs(&inbox, 1)), None);
    }

    #[test]
    fn a_read_that_finds_nothing_new_only_confirms() {
        let mut r = record("publishing");
        let now = secs(&r, 5);
        assert!(only_confirms(
            &r,
            &seen(ChangeSource::Read, now, "publishing"),
            now
        ));
        assert!(!only_confirms(
            &r,
            &seen(ChangeSource::Read, now, "published"),
            now
        ));
        let mut url = seen(ChangeSource::Read, now, "publishing");
        url.tiktok_url = Some("u".into());
        assert!(!only_confirms(&r, &url, now), "a new URL is a change");
        let mut unconfirmed = seen(ChangeSource::Read, now, "publishing");
        unconfirmed.confirmed = false;
        assert!(!only_confirms(&r, &unconfirmed, now));
        // A state the tenant has not heard of yet is announced, so written.
        r.status = "published".into();
        r.sync.next_sync_at = next_sync(&r, now);
        assert!(!only_confirms(
            &r,
            &seen(ChangeSource::Read, now, "published"),
            now
        ));
        r.sync.announced = "post.published".into();
        assert!(only_confirms(
            &r,
            &seen(ChangeSource::Read, now, "published"),
            now
        ));
    }

    #[test]
    fn events_stand_for_the_state_once() {
        let mut r = record("published");
        r.tiktok_url = Some("u".into());
        assert_eq!(events_of(&r), vec!["post.published", "post.url_resolved"]);
        r.sync.announced = "post.published".into();
        assert!(announced(&r, "post.published"));
        assert!(!announced(&r, "post.url_resolved"));
    }
}
