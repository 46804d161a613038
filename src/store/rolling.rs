//! TikTok's daily cap as a rule about a time: a post at `at` is allowed when no 24 h window
//! that contains it would hold more than the limit. TikTok counts a post when it is published,
//! so a post scheduled for tomorrow is counted in tomorrow's windows, not in today's, and it
//! still has to fit with every post around its own time (before it and after it).
//!
//! The same rule runs in Lua for Redis (`ROLLING_FN` in `redis.rs`): keep the two alike.
//!
//! How: the number of slots in the window ending at `T`, `(T - W, T]`, is a step function of
//! `T` that rises at each slot's time and falls a window later. Where it has reached the limit
//! is "full"; a slot at `t` fits when `[t, t + W)` (the ends of the windows that contain it)
//! meets no full stretch. One sweep over the slots finds the full stretches; the earliest time
//! that fits is then found in one more pass, so a refusal can name when there is room.

/// Where a slot may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It fits; `used` is the count of the fullest window it is in, itself included.
    Fits { used: u32 },
    /// It does not fit; `retry_at` is the earliest time at or after the asked one where it
    /// would (ms).
    Full { retry_at: i64 },
}

/// Decides a slot at `at` (ms) among `slots` (their times in ms, ascending, the slot itself
/// not among them), `limit` per `window` (ms), the lane refused before `exhausted_until`.
pub fn place(slots: &[i64], at: i64, limit: u32, window: i64, exhausted_until: i64) -> Placement {
    let from = at.max(exhausted_until);
    if limit == 0 {
        return Placement::Full {
            retry_at: from.saturating_add(window),
        };
    }
    let (full, peak) = full_stretches(slots, at, limit, window);
    let earliest = earliest_fit(&full, from, window);
    if at >= exhausted_until && earliest == at {
        Placement::Fits {
            used: peak.saturating_add(1),
        }
    } else {
        Placement::Full { retry_at: earliest }
    }
}

/// The stretches `[start, end)` of window ends where the window holds `limit` slots already,
/// in order, and the count of the fullest window ending in `[at, at + window)`.
fn full_stretches(slots: &[i64], at: i64, limit: u32, window: i64) -> (Vec<(i64, i64)>, u32) {
    let limit = limit as usize;
    let (mut rises, mut falls) = (0usize, 0usize);
    let mut count = 0usize;
    let mut peak = 0usize;
    let mut open: Option<i64> = None;
    let mut full = Vec::new();
    let n = slots.len();
    // Every slot rises before it falls, so `falls <= rises` and the fall events run out last.
    while falls < n {
        let fall = slots[falls].saturating_add(window);
        let event = if rises < n && slots[rises] <= fall {
            slots[rises]
        } else {
            fall
        };
        while rises < n && slots[rises] == event {
            count += 1;
            rises += 1;
        }
        while falls < n && slots[falls].saturating_add(window) == event {
            count -= 1;
            falls += 1;
        }
        // `count` holds from `event` to the next event.
        let next = match (slots.get(rises), slots.get(falls)) {
            (Some(r), Some(f)) => (*r).min(f.saturating_add(window)),
            (None, Some(f)) => f.saturating_add(window),
            _ => i64::MAX,
        };
        if event < at.saturating_add(window) && next > at {
            peak = peak.max(count);
        }
        match (count >= limit, open) {
            (true, None) => open = Some(event),
            (false, Some(start)) => {
                full.push((start, event));
                open = None;
            }
            _ => {}
        }
    }
    (full, u32::try_from(peak).unwrap_or(u32::MAX))
}

/// The earliest `t >= from` whose `[t, t + window)` meets none of the `full` stretches.
fn earliest_fit(full: &[(i64, i64)], from: i64, window: i64) -> i64 {
    let mut t = from;
    for &(start, end) in full {
        if end <= t {
            continue;
        }
        if start >= t.saturating_add(window) {
            break;
        }
        t = end;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const DAY: i64 = 24 * H;

    /// The rule as it is stated, for every window end that matters: the check the sweep must
    /// agree with.
    fn fits_by_definition(slots: &[i64], at: i64, limit: u32) -> bool {
        let count = |end: i64| {
            slots
                .iter()
                .filter(|x| **x > end - DAY && **x <= end)
                .count()
                + 1
        };
        std::iter::once(at)
            .chain(slots.iter().copied().filter(|x| *x >= at && *x < at + DAY))
            .all(|end| count(end) <= limit as usize)
    }

    #[test]
    fn a_slot_tomorrow_leaves_today_free_and_a_full_tomorrow_refuses() {
        let tomorrow = 30 * H;
        let slots = [tomorrow, tomorrow + H];
        assert_eq!(place(&slots, 0, 2, DAY, 0), Placement::Fits { used: 1 });
        // A third tomorrow does not fit; the first time with room is when the first of them
        // leaves the window that holds the pair.
        assert_eq!(
            place(&slots, tomorrow + 2 * H, 2, DAY, 0),
            Placement::Full {
                retry_at: tomorrow + DAY
            }
        );
        // Before them, it must fit with them too: 22 h before the first, the window ending at
        // the second holds all three.
        assert_eq!(
            place(&slots, tomorrow - 22 * H, 2, DAY, 0),
            Placement::Full {
                retry_at: tomorrow + DAY
            }
        );
        // A day before the first, it leaves every window before the first one comes; half an
        // hour later it shares one with the first, not with both.
        assert_eq!(
            place(&slots, tomorrow - 24 * H, 2, DAY, 0),
            Placement::Fits { used: 1 }
        );
        assert_eq!(
            place(&slots, tomorrow - 24 * H + H / 2, 2, DAY, 0),
            Placement::Fits { used: 2 }
        );
    }

    #[test]
    fn a_full_window_now_frees_when_its_oldest_leaves() {
        let slots = [0, H];
        assert_eq!(
            place(&slots, 2 * H, 2, DAY, 0),
            Placement::Full { retry_at: DAY }
        );
        assert_eq!(place(&slots, DAY, 2, DAY, 0), Placement::Fits { used: 2 });
    }

    #[test]
    fn exhaustion_refuses_until_it_ends_and_then_the_rule_holds() {
        assert_eq!(
            place(&[], 0, 2, DAY, 5 * H),
            Placement::Full { retry_at: 5 * H }
        );
        assert_eq!(
            place(&[], 5 * H, 2, DAY, 5 * H),
            Placement::Fits { used: 1 }
        );
        // Exhausted until 5 h, and the windows around 5 h full until 24 h.
        assert_eq!(
            place(&[0, H], 0, 2, DAY, 5 * H),
            Placement::Full { retry_at: DAY }
        );
    }

    #[test]
    fn a_zero_limit_never_fits() {
        assert_eq!(
            place(&[], 7, 0, DAY, 0),
            Placement::Full { retry_at: 7 + DAY }
        );
    }

    #[test]
    fn the_sweep_agrees_with_the_definition_everywhere() {
        // A small deterministic generator: spread slots over four days, ask at many times.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..400 {
            let limit = 1 + next(4) as u32;
            let mut slots: Vec<i64> = (0..next(9)).map(|_| next(96) as i64 * H).collect();
            slots.sort_unstable();
            for step in 0..120 {
                let at = step * H;
                match place(&slots, at, limit, DAY, 0) {
                    Placement::Fits { .. } => assert!(
                        fits_by_definition(&slots, at, limit),
                        "{slots:?} {at} {limit}"
                    ),
                    Placement::Full { retry_at } => {
                        assert!(!fits_by_definition(&slots, at, limit));
                        assert!(retry_at > at);
                        assert!(fits_by_definition(&slots, retry_at, limit));
                        // Nothing earlier fits (checked on the hour and just before).
                        for t in (at..retry_at).step_by(H as usize / 2) {
                            assert!(!fits_by_definition(&slots, t, limit), "{t}");
                        }
                        assert!(!fits_by_definition(&slots, retry_at - 1, limit));
                    }
                }
            }
        }
    }

    #[test]
    fn used_counts_the_fullest_window_the_slot_is_in() {
        // One slot an hour before, two 20 h after: the window ending at the later ones holds
        // all of them but the first.
        let slots = [-H, 20 * H, 21 * H];
        assert_eq!(place(&slots, 0, 5, DAY, 0), Placement::Fits { used: 4 });
    }
}
