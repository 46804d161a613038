//! A single instance's daily budgets and duplicate guard, in memory. Both are facts about the
//! posts of the last day, and the posts table already holds those: on start the windows are
//! rebuilt from it, so the file needs no row per slot and per claim, and a create costs the
//! writer one insert instead of a slot, a claim and its completion. What memory alone holds is
//! what is in flight (a slot and a claim between the check and Zernio's answer): a crash loses
//! those, and TikTok's own cap and duplicate check are then the backstop, as for any post whose
//! answer was lost. Several instances share limits through Redis, not through one SQLite file.
//!
//! One map entry per account, locked by the map's shard for the few microseconds of a
//! decision: no global lock.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::{millis, ms, ttl_ms};
use crate::store::rolling::{self, Placement};
use crate::store::{
    Claim, CreateHold, HoldDecision, Lane, SlotDecision, SlotMove, SlotUsage, StoreError,
};

#[derive(Default)]
pub struct Holds {
    accounts: DashMap<String, Account>,
}

#[derive(Default)]
struct Account {
    /// Per lane, the slots in the window, oldest first: (time in ms, slot).
    slots: [VecDeque<(i64, String)>; 3],
    /// Per lane, until when upstream said the account is out of posts (ms).
    exhausted: [i64; 3],
    /// The duplicate guard: content fingerprint -> its claim.
    content: HashMap<String, Content>,
}

struct Content {
    /// The post's id once it exists; `None` while its create is in flight.
    post: Option<Vec<u8>>,
    expires_at: i64,
}

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Video => 0,
        Lane::Photo => 1,
        Lane::Draft => 2,
    }
}

impl Account {
    fn prune(&mut self, lane: usize, start: i64) {
        let slots = &mut self.slots[lane];
        while slots.front().is_some_and(|(t, _)| *t <= start) {
            slots.pop_front();
        }
    }

    /// Where `slot` may go at `at`, itself left out of the count; nothing changes.
    fn decide(
        &mut self,
        lane: Lane,
        slot: &str,
        at: i64,
        limit: u32,
        window: i64,
        now: i64,
    ) -> Placement {
        let i = lane_index(lane);
        // No window that ends before the present or before `at` matters any more.
        self.prune(i, now.min(at).saturating_sub(window));
        let times: Vec<i64> = self.slots[i]
            .iter()
            .filter(|(_, s)| s != slot)
            .map(|(t, _)| *t)
            .collect();
        rolling::place(&times, at, limit, window, self.exhausted[i])
    }

    /// Puts `slot` at `at` (moving it if it is held); where it was, if it was.
    fn put(&mut self, lane: Lane, slot: &str, at: i64) -> Option<i64> {
        let slots = &mut self.slots[lane_index(lane)];
        let from = slots
            .iter()
            .position(|(_, s)| s == slot)
            .and_then(|p| slots.remove(p))
            .map(|(t, _)| t);
        // Kept in time order: a scheduled slot goes among the later ones.
        let position = slots.partition_point(|(t, _)| *t <= at);
        slots.insert(position, (at, slot.to_owned()));
        from
    }

    fn reserve(
        &mut self,
        lane: Lane,
        slot: &str,
        at: i64,
        limit: u32,
        window: i64,
        now: i64,
    ) -> Result<SlotDecision, StoreError> {
        match self.decide(lane, slot, at, limit, window, now) {
            Placement::Full { retry_at } => Ok(SlotDecision::Full {
                retry_at: millis(retry_at)?,
            }),
            Placement::Fits { used } => {
                self.put(lane, slot, at);
                Ok(SlotDecision::Reserved { used })
            }
        }
    }

    fn relocate(
        &mut self,
        lane: Lane,
        slot: &str,
        at: i64,
        limit: u32,
        window: i64,
        now: i64,
    ) -> Result<SlotMove, StoreError> {
        match self.decide(lane, slot, at, limit, window, now) {
            Placement::Full { retry_at } => Ok(SlotMove::Full {
                retry_at: millis(retry_at)?,
            }),
            Placement::Fits { used } => Ok(SlotMove::Moved {
                used,
                from: self.put(lane, slot, at).map(millis).transpose()?,
            }),
        }
    }

    fn release(&mut self, lane: Lane, slot: &str) {
        self.slots[lane_index(lane)].retain(|(_, s)| s != slot);
    }

    fn claim(&mut self, fingerprint: &str, ttl: i64, now: i64) -> Claim {
        self.content.retain(|_, c| c.expires_at > now);
        match self.content.get(fingerprint) {
            Some(Content {
                post: Some(post), ..
            }) => Claim::Done {
                fingerprint: fingerprint.to_owned(),
                payload: post.clone(),
            },
            Some(Content { post: None, .. }) => Claim::Pending {
                fingerprint: fingerprint.to_owned(),
            },
            None => {
                self.content.insert(
                    fingerprint.to_owned(),
                    Content {
                        post: None,
                        expires_at: now.saturating_add(ttl),
                    },
                );
                Claim::Acquired
            }
        }
    }
}

impl Holds {
    pub fn hold(&self, h: &CreateHold<'_>) -> Result<HoldDecision, StoreError> {
        let mut account = self.accounts.entry(h.account.to_owned()).or_default();
        let now = ms(h.now);
        match account.reserve(h.lane, h.slot, ms(h.at), h.limit, ttl_ms(h.window), now)? {
            SlotDecision::Full { retry_at } => Ok(HoldDecision::Full { retry_at }),
            SlotDecision::Reserved { used } => {
                match account.claim(h.fingerprint, ttl_ms(h.claim_ttl), now) {
                    Claim::Acquired => Ok(HoldDecision::Held { used }),
                    taken => {
                        account.release(h.lane, h.slot);
                        Ok(HoldDecision::Duplicate(taken))
                    }
                }
            }
        }
    }

    pub fn reserve(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        limit: u32,
        window: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotDecision, StoreError> {
        self.accounts
            .entry(account.to_owned())
            .or_default()
            .reserve(lane, slot, ms(now), limit, ttl_ms(window), ms(now))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn relocate(
        &self,
        account: &str,
        lane: Lane,
        slot: &str,
        at: DateTime<Utc>,
        limit: u32,
        window: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotMove, StoreError> {
        self.accounts
            .entry(account.to_owned())
            .or_default()
            .relocate(lane, slot, ms(at), limit, ttl_ms(window), ms(now))
    }

    pub fn release_slot(&self, account: &str, lane: Lane, slot: &str) {
        if let Some(mut a) = self.accounts.get_mut(account) {
            a.release(lane, slot);
        }
    }

    /// Gives a hold's slot and content claim back.
    pub fn release(&self, account: &str, lane: Lane, slot: &str, fingerprint: &str) {
        if let Some(mut a) = self.accounts.get_mut(account) {
            a.release(lane, slot);
            a.content.remove(fingerprint);
        }
    }

    /// The content claim now names its post, for `ttl` from `now`.
    pub fn complete(
        &self,
        account: &str,
        fingerprint: &str,
        post: &[u8],
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) {
        self.accounts
            .entry(account.to_owned())
            .or_default()
            .content
            .insert(
                fingerprint.to_owned(),
                Content {
                    post: Some(post.to_vec()),
                    expires_at: ms(now).saturating_add(ttl_ms(ttl)),
                },
            );
    }

    pub fn mark_exhausted(&self, account: &str, lane: Lane, until: DateTime<Utc>) {
        let mut a = self.accounts.entry(account.to_owned()).or_default();
        let i = lane_index(lane);
        a.exhausted[i] = a.exhausted[i].max(ms(until));
    }

    pub fn usage(
        &self,
        account: &str,
        lane: Lane,
        window: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<SlotUsage, StoreError> {
        let (window, now) = (ttl_ms(window), ms(now));
        let Some(a) = self.accounts.get(account) else {
            return Ok(SlotUsage {
                used: 0,
                scheduled: 0,
                frees_at: None,
                exhausted_until: None,
            });
        };
        let i = lane_index(lane);
        let live = || {
            a.slots[i]
                .iter()
                .filter(|(t, _)| *t > now - window && *t <= now)
        };
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(SlotUsage {
            used: count(live().count()),
            scheduled: count(a.slots[i].iter().filter(|(t, _)| *t > now).count()),
            frees_at: live().next().map(|(t, _)| millis(t + window)).transpose()?,
            exhausted_until: (a.exhausted[i] > now)
                .then(|| millis(a.exhausted[i]))
                .transpose()?,
        })
    }

    /// A post's slot, read back on start. Added, never moved: records of before the create's
    /// own id named slots may share a name, and each of them counted.
    pub fn restore_slot(&self, account: &str, lane: Lane, slot: &str, at: i64) {
        let mut a = self.accounts.entry(account.to_owned()).or_default();
        let slots = &mut a.slots[lane_index(lane)];
        let position = slots.partition_point(|(t, _)| *t <= at);
        slots.insert(position, (at, slot.to_owned()));
    }

    /// A post's settled content claim, read back on start: it lasts a window from the post's
    /// creation.
    pub fn restore_claim(
        &self,
        account: &str,
        fingerprint: &str,
        post: &str,
        created_at: i64,
        window: std::time::Duration,
    ) {
        let mut a = self.accounts.entry(account.to_owned()).or_default();
        a.content.insert(
            fingerprint.to_owned(),
            Content {
                post: Some(post.as_bytes().to_vec()),
                expires_at: created_at.saturating_add(ttl_ms(window)),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    fn hold<'a>(slot: &'a str, fingerprint: &'a str, now: DateTime<Utc>) -> CreateHold<'a> {
        CreateHold {
            account: "acc",
            lane: Lane::Video,
            slot,
            limit: 2,
            window: DAY,
            at: now,
            now,
            fingerprint,
            claim_ttl: Duration::from_secs(60),
            upstream: None,
        }
    }

    #[test]
    fn restored_posts_count_and_name_themselves() {
        let holds = Holds::default();
        let t0 = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
        holds.restore_slot("acc", Lane::Video, "req-p1", ms(t0));
        holds.restore_claim("acc", "fp1", "p1", ms(t0), DAY);
        let later = t0 + chrono::Duration::hours(1);
        assert_eq!(
            holds.hold(&hold("r1", "fp1", later)).unwrap(),
            HoldDecision::Duplicate(Claim::Done {
                fingerprint: "fp1".into(),
                payload: b"p1".to_vec()
            })
        );
        assert_eq!(
            holds.hold(&hold("r2", "fp2", later)).unwrap(),
            HoldDecision::Held { used: 2 }
        );
        assert_eq!(
            holds.hold(&hold("r3", "fp3", later)).unwrap(),
            HoldDecision::Full {
                retry_at: t0 + chrono::Duration::hours(24)
            }
        );
        // A day after the restored post, its slot and claim are gone (and so is r2's, a day
        // after it).
        let next_day = t0 + chrono::Duration::hours(25);
        assert_eq!(
            holds.hold(&hold("r4", "fp1", next_day)).unwrap(),
            HoldDecision::Held { used: 1 }
        );
    }

    #[test]
    fn exhaustion_refuses_until_it_ends() {
        let holds = Holds::default();
        let t0 = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
        let until = t0 + chrono::Duration::hours(3);
        holds.mark_exhausted("acc", Lane::Video, until);
        assert_eq!(
            holds.hold(&hold("r1", "fp1", t0)).unwrap(),
            HoldDecision::Full { retry_at: until }
        );
        let usage = holds.usage("acc", Lane::Video, DAY, t0).unwrap();
        assert_eq!(usage.exhausted_until, Some(until));
        assert_eq!(
            holds.hold(&hold("r1", "fp1", until)).unwrap(),
            HoldDecision::Held { used: 1 }
        );
    }
}
