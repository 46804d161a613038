//! Request-limit units taken from Redis a few at a time. A served read costs the gateway about
//! 25 µs; a Redis round trip per request for its tenant's limit was as much again, on both
//! sides. Under sustained traffic a replica takes several units of the shared GCRA cell in one
//! call and hands them out locally; a key seen seldom takes one unit per request, exactly as
//! before.
//!
//! What stays true: Redis counts every unit when it is leased, so replicas together never admit
//! more than the shared cell allows; a lease is used within [`LEASE_FOR`] or dropped, so units
//! taken early cannot add to a later burst by more than a lease; and a lease is at most an
//! eighth of what the cell has left (and [`MOST`]), so near the limit it is one unit, and
//! another replica is not starved by units this one holds. The answer's `RateLimit` remaining
//! is Redis's remaining plus the units still held here, as one replica alone would count it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::store::RateDecision;

/// How long leased units may be handed out.
pub(super) const LEASE_FOR: Duration = Duration::from_millis(50);

/// The most units one call takes.
pub(super) const MOST: u32 = 64;

/// This replica's lease of each request-limit key.
#[derive(Default)]
pub(super) struct Leases {
    cells: DashMap<String, Arc<tokio::sync::Mutex<Lease>>>,
}

impl Leases {
    /// The key's lease; one request at a time refills it (the others wait for its units).
    pub(super) fn of(&self, key: &str) -> Arc<tokio::sync::Mutex<Lease>> {
        if let Some(cell) = self.cells.get(key) {
            return cell.clone();
        }
        self.cells.entry(key.to_owned()).or_default().clone()
    }
}

#[derive(Debug, Default)]
pub(super) struct Lease {
    /// Leased and not handed out yet.
    units: u32,
    /// Redis's remaining once the lease was taken.
    remaining: u32,
    /// Redis's reset time once the lease was taken, and the cell's interval.
    reset_after: Duration,
    interval: Duration,
    leased_at: Option<Instant>,
    /// Units the last call took.
    size: u32,
}

impl Lease {
    /// A unit of a recent lease, if one is left.
    pub(super) fn take(&mut self, now: Instant) -> Option<RateDecision> {
        let age = now.saturating_duration_since(self.leased_at?);
        if self.units == 0 || age >= LEASE_FOR {
            return None;
        }
        self.units -= 1;
        Some(self.decision(age))
    }

    /// How many units the next call should ask for: twice the last lease when it was used up
    /// in time (the key is busy), else one.
    pub(super) fn wanted(&self, now: Instant) -> u32 {
        let busy = self
            .leased_at
            .is_some_and(|at| self.units == 0 && now.saturating_duration_since(at) < LEASE_FOR);
        let size = if busy { self.size.saturating_mul(2) } else { 1 };
        size.clamp(1, MOST).min((self.remaining / 8).max(1))
    }

    /// Redis granted `granted` units (0: refused); the first is this request's.
    pub(super) fn granted(
        &mut self,
        granted: u32,
        decision: RateDecision,
        interval: Duration,
        now: Instant,
    ) -> RateDecision {
        if granted == 0 || !decision.allowed {
            *self = Lease::default();
            return decision;
        }
        self.units = granted - 1;
        self.remaining = decision.remaining;
        self.reset_after = decision.reset_after;
        self.interval = interval;
        self.leased_at = Some(now);
        self.size = granted;
        self.decision(Duration::ZERO)
    }

    /// What the request just handed a unit sees, as if each unit had been taken alone.
    fn decision(&self, age: Duration) -> RateDecision {
        RateDecision {
            allowed: true,
            remaining: self.remaining.saturating_add(self.units),
            reset_after: self
                .reset_after
                .saturating_sub(self.interval.saturating_mul(self.units))
                .saturating_sub(age),
            retry_after: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(remaining: u32, reset_ms: u64) -> RateDecision {
        RateDecision {
            allowed: true,
            remaining,
            reset_after: Duration::from_millis(reset_ms),
            retry_after: Duration::ZERO,
        }
    }

    #[test]
    fn a_key_seen_seldom_takes_one_unit_a_call() {
        let mut lease = Lease::default();
        let t0 = Instant::now();
        assert_eq!(lease.wanted(t0), 1);
        let d = lease.granted(1, allowed(99, 1_000), Duration::from_millis(10), t0);
        assert_eq!(d.remaining, 99);
        assert!(lease.take(t0).is_none(), "nothing left to hand out");
        // Used up, but the next request comes after the lease's time: one again.
        assert_eq!(lease.wanted(t0 + LEASE_FOR), 1);
    }

    #[test]
    fn a_busy_key_doubles_its_lease_and_counts_as_one_replica_would() {
        let interval = Duration::from_millis(10);
        let mut lease = Lease::default();
        let t0 = Instant::now();
        lease.granted(1, allowed(1_000, 100), interval, t0);
        assert_eq!(lease.wanted(t0), 2);
        lease.granted(2, allowed(998, 120), interval, t0);
        // Redis took 2: this request sees 999 (one more still held here), the next 998.
        assert_eq!(lease.take(t0).map(|d| d.remaining), Some(998));
        assert_eq!(lease.wanted(t0), 4);
        let first = lease.granted(4, allowed(994, 160), interval, t0);
        assert_eq!(first.remaining, 997);
        assert_eq!(first.reset_after, Duration::from_millis(130));
        let seen: Vec<u32> = (0..3)
            .filter_map(|_| lease.take(t0))
            .map(|d| d.remaining)
            .collect();
        assert_eq!(seen, vec![996, 995, 994]);
        assert!(lease.take(t0).is_none());
    }

    #[test]
    fn near_the_limit_a_lease_is_one_unit() {
        let mut lease = Lease::default();
        let t0 = Instant::now();
        lease.granted(8, allowed(15, 100), Duration::from_millis(1), t0);
        while lease.take(t0).is_some() {}
        assert_eq!(lease.wanted(t0), 1, "an eighth of 15 is less than 2");
        let mut big = Lease::default();
        big.granted(MOST, allowed(100_000, 100), Duration::from_millis(1), t0);
        while big.take(t0).is_some() {}
        assert_eq!(big.wanted(t0), MOST);
    }

    #[test]
    fn an_old_lease_hands_out_nothing_and_a_refusal_ends_it() {
        let mut lease = Lease::default();
        let t0 = Instant::now();
        lease.granted(8, allowed(500, 100), Duration::from_millis(1), t0);
        assert!(lease.take(t0 + LEASE_FOR).is_none());
        let refused = RateDecision {
            allowed: false,
            remaining: 0,
            reset_after: Duration::from_secs(1),
            retry_after: Duration::from_millis(5),
        };
        let d = lease.granted(0, refused, Duration::from_millis(1), t0);
        assert!(!d.allowed);
        assert!(lease.take(t0).is_none());
        assert_eq!(lease.wanted(t0), 1);
    }
}
