//! A circuit breaker per upstream operation (`create_post`, `get_post`, `list_posts`, ...).
//!
//! When Zernio fails, every caller waiting on it only adds load to an upstream that is already
//! down and keeps its own request open for the whole timeout. So after `failures` consecutive
//! failures of one operation (no answer, a timeout, a 5xx) the operation's breaker opens: calls
//! are refused at once, without sending, for `cool_down`. Then it is half-open: one call goes
//! through as a probe, the others are still refused; an answer closes the breaker, a failure
//! opens it again for another cool-down.
//!
//! A 4xx or a 429 is an answer: Zernio is up and said no, which is the caller's or the budget's
//! business, so it counts as a success here. Operations have breakers of their own because they
//! fail apart (analytics may be down while posting works).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (at least 1).
    pub failures: u32,
    /// How long an open breaker refuses calls before it lets a probe through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// What a call's outcome did to its breaker, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened,
    Closed,
}

/// Every operation's breaker. Operations are the client's own endpoint names, so the map stays
/// as small as the client's list of methods.
#[derive(Debug)]
pub struct Breakers {
    config: BreakerConfig,
    phases: Mutex<HashMap<&'static str, Phase>>,
}

/// Leave to send one call. Record its outcome with [`Permit::record`]; a permit dropped
/// without an outcome (the caller gave up) leaves the breaker as it was, and frees the probe
/// slot if it held it.
#[must_use = "a permit records the call's outcome"]
pub struct Permit<'a> {
    breakers: &'a Breakers,
    operation: &'static str,
    probe: bool,
    recorded: bool,
}

impl Breakers {
    pub fn new(config: BreakerConfig) -> Self {
        Breakers {
            config: BreakerConfig {
                failures: config.failures.max(1),
                cool_down: config.cool_down,
            },
            phases: Mutex::new(HashMap::new()),
        }
    }

    fn phases(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Phase>> {
        // The map holds plain values, each written whole: a panic elsewhere leaves it usable.
        self.phases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leave to call `operation` now, or how long until it may be tried again.
    pub fn admit(&self, operation: &'static str) -> Result<Permit<'_>, Duration> {
        let now = Instant::now();
        let mut phases = self.phases();
        let phase = phases
            .entry(operation)
            .or_insert(Phase::Closed { failures: 0 });
        let probe = match *phase {
            Phase::Closed { .. } => false,
            Phase::Open { until } if now < until => return Err(until - now),
            Phase::Open { .. } | Phase::HalfOpen { probing: false } => {
                *phase = Phase::HalfOpen { probing: true };
                true
            }
            // The probe's own call decides; until then the others wait at most a second or
            // so (the probe answers within the request timeout, or the breaker opens again).
            Phase::HalfOpen { probing: true } => return Err(Duration::from_secs(1)),
        };
        Ok(Permit {
            breakers: self,
            operation,
            probe,
            recorded: false,
        })
    }

    /// Whether `operation`'s breaker refuses calls now (open, or half-open with its probe out).
    pub fn is_open(&self, operation: &'static str) -> bool {
        match self.phases().get(operation) {
            None | Some(Phase::Closed { .. }) => false,
            Some(Phase::Open { .. } | Phase::HalfOpen { .. }) => true,
        }
    }

    fn record(&self, operation: &'static str, failed: bool) -> Option<Change> {
        let mut phases = self.phases();
        let phase = phases
            .entry(operation)
            .or_insert(Phase::Closed { failures: 0 });
        let was_closed = matches!(phase, Phase::Closed { .. });
        let next = match (*phase, failed) {
            (_, false) => Phase::Closed { failures: 0 },
            (Phase::Closed { failures }, true) if failures + 1 < self.config.failures => {
                Phase::Closed {
                    failures: failures + 1,
                }
            }
            // The threshold reached, a probe that failed, or a call admitted before the
            // breaker opened that failed too: (re)open for a full cool-down.
            (_, true) => Phase::Open {
                until: Instant::now() + self.config.cool_down,
            },
        };
        *phase = next;
        let is_closed = matches!(next, Phase::Closed { .. });
        match (was_closed, is_closed) {
            (true, false) => Some(Change::Opened),
            (false, true) => Some(Change::Closed),
            _ => None,
        }
    }
}

impl Permit<'_> {
    /// The call failed (`true`: no answer, a timeout, a 5xx) or was answered (`false`).
    pub fn record(mut self, failed: bool) -> Option<Change> {
        self.recorded = true;
        self.breakers.record(self.operation, failed)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.recorded || !self.probe {
            return;
        }
        let mut phases = self.breakers.phases();
        if let Some(phase @ Phase::HalfOpen { probing: true }) = phases.get_mut(self.operation) {
            *phase = Phase::HalfOpen { probing: false };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers(failures: u32, cool_down_ms: u64) -> Breakers {
        Breakers::new(BreakerConfig {
            failures,
            cool_down: Duration::from_millis(cool_down_ms),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breakers(3, 60_000);
        for _ in 0..2 {
            assert_eq!(b.admit("get_post").unwrap().record(true), None);
        }
        // An answer in between starts the count again.
        assert_eq!(b.admit("get_post").unwrap().record(false), None);
        for _ in 0..2 {
            assert_eq!(b.admit("get_post").unwrap().record(true), None);
        }
        assert_eq!(
            b.admit("get_post").unwrap().record(true),
            Some(Change::Opened)
        );
        let wait = b.admit("get_post").err().unwrap();
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
        assert!(b.is_open("get_post"));
        // Another operation is not affected.
        assert!(b.admit("create_post").is_ok());
        assert!(!b.is_open("create_post"));
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_answer_closes() {
        let b = breakers(1, 0);
        assert_eq!(
            b.admit("accounts").unwrap().record(true),
            Some(Change::Opened)
        );
        let probe = b.admit("accounts").unwrap();
        assert_eq!(b.admit("accounts").err(), Some(Duration::from_secs(1)));
        assert_eq!(probe.record(false), Some(Change::Closed));
        assert!(b.admit("accounts").is_ok());
    }

    #[test]
    fn a_failed_probe_opens_again_and_a_dropped_one_frees_the_slot() {
        let b = breakers(1, 0);
        let _ = b.admit("analytics").unwrap().record(true);
        drop(b.admit("analytics").unwrap());
        let probe = b.admit("analytics").unwrap();
        assert_eq!(probe.record(true), None);
        assert!(b.is_open("analytics"));
        let b = breakers(1, 60_000);
        let _ = b.admit("analytics").unwrap().record(true);
        assert!(b.admit("analytics").is_err());
    }

    #[test]
    fn zero_failures_means_one() {
        let b = breakers(0, 60_000);
        assert_eq!(b.admit("x").unwrap().record(true), Some(Change::Opened));
    }
}
