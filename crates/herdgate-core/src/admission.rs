//! The admission frontier: how many queue positions are admitted at a given instant.
//!
//! A sale admits buyers at a steady rate from its start: position `p` (0-based) is admitted
//! once the frontier exceeds `p`. Because the frontier is a pure function of a small
//! [`Schedule`] and the clock, every edge isolate can answer "am I in yet?" from a ticket and a
//! cached schedule, without asking any central object.
//!
//! Live changes (pause, resume, a new rate, a start moved) re-base the schedule at the instant
//! the edge sees them ([`Schedule::rebased`]), so positions already admitted stay admitted and
//! the frontier never moves backwards.

use serde::{Deserialize, Serialize};

/// The admission schedule of one sale. Times are unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// When admission (re)started at `rate_per_sec`.
    pub since_ms: u64,
    /// Positions already admitted at `since_ms`.
    pub base: u64,
    /// Positions admitted per second from `since_ms`; 0 means paused.
    pub rate_per_sec: u32,
    /// The most positions admitted, whatever the time: the frontier waits there (when the
    /// passes already out cover the stock, see [`crate::gate::odds`]). `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<u64>,
}

impl Schedule {
    /// A schedule that admits nobody before `starts_at_ms` and `rate_per_sec` per second after.
    pub fn starting(starts_at_ms: u64, rate_per_sec: u32) -> Self {
        Schedule {
            since_ms: starts_at_ms,
            base: 0,
            rate_per_sec,
            cap: None,
        }
    }

    /// How many positions are admitted at `now_ms`: positions `0..frontier` may buy.
    pub fn frontier(&self, now_ms: u64) -> u64 {
        let uncapped = self.uncapped(now_ms);
        match self.cap {
            // A cap below the base (set before a restart of the schedule) never moves it back.
            Some(cap) => uncapped.min(cap.max(self.base)),
            None => uncapped,
        }
    }

    /// The frontier at `now_ms` without the cap.
    fn uncapped(&self, now_ms: u64) -> u64 {
        if now_ms < self.since_ms {
            return self.base;
        }
        let elapsed = u128::from(now_ms - self.since_ms);
        let grown = elapsed * u128::from(self.rate_per_sec) / 1000;
        self.base
            .saturating_add(u64::try_from(grown).unwrap_or(u64::MAX))
    }

    /// Whether the frontier has reached the cap at `now_ms` (and waits there).
    pub fn capped(&self, now_ms: u64) -> bool {
        self.cap
            .is_some_and(|cap| self.uncapped(now_ms) >= cap.max(self.base))
    }

    /// The schedule with its cap at `cap` (`None`: no limit) from `now_ms`: never below the
    /// frontier now, and a frontier the old cap held moves on from where it waited at the
    /// rate (no burst for the time it waited).
    pub fn with_cap(&self, cap: Option<u64>, now_ms: u64) -> Schedule {
        let cap = cap.map(|c| c.max(self.frontier(now_ms)));
        if cap == self.cap {
            return *self;
        }
        let mut next = if self.capped(now_ms) {
            self.rebased(now_ms, self.since_ms, self.rate_per_sec)
        } else {
            *self
        };
        next.cap = cap;
        next
    }

    /// Whether `position` is admitted at `now_ms`.
    pub fn is_admitted(&self, position: u64, now_ms: u64) -> bool {
        position < self.frontier(now_ms)
    }

    /// When `position` will be admitted (unix ms), or `None` while paused and not yet admitted.
    /// Returns a time at or before `now_ms` for a position already admitted.
    pub fn admitted_at_ms(&self, position: u64) -> Option<u64> {
        if position < self.base {
            return Some(self.since_ms);
        }
        if self.cap.is_some_and(|cap| position >= cap) {
            return None;
        }
        if self.rate_per_sec == 0 {
            return None;
        }
        // Smallest t with base + floor(t * rate / 1000) > position.
        let need = u128::from(position - self.base + 1);
        let ms = (need * 1000).div_ceil(u128::from(self.rate_per_sec));
        Some(
            self.since_ms
                .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX)),
        )
    }

    /// The schedule re-based at `now_ms`: what is admitted then stays admitted, and from
    /// then on, or from `starts_at_ms` if that is later, the frontier grows at `rate_per_sec`
    /// (0 pauses). The frontier never moves back.
    pub fn rebased(&self, now_ms: u64, starts_at_ms: u64, rate_per_sec: u32) -> Schedule {
        Schedule {
            since_ms: now_ms.max(starts_at_ms),
            base: self.frontier(now_ms),
            rate_per_sec,
            cap: self.cap,
        }
    }

    /// How long a waiting visitor at `position` should wait before polling again, in ms:
    /// about half the remaining wait, between `min_ms` and `max_ms`, so the crowd's poll rate
    /// falls with distance from the front.
    pub fn next_poll_ms(&self, position: u64, now_ms: u64, min_ms: u64, max_ms: u64) -> u64 {
        match self.admitted_at_ms(position) {
            Some(at) => (at.saturating_sub(now_ms) / 2).clamp(min_ms, max_ms.max(min_ms)),
            None => max_ms,
        }
    }
}

/// The soonest a sale with `remaining` items, admitting `rate_per_sec` buyers per second and
/// opening in `opens_in_ms`, could sell out, in ms: the remaining stock has to be admitted
/// first. (Buyers admitted earlier and not yet bought can make it sooner; callers halve it.)
/// With nothing left it is 0; while paused (rate 0) it is unbounded.
pub fn sellout_horizon_ms(remaining: u64, rate_per_sec: u32, opens_in_ms: u64) -> u64 {
    if remaining == 0 {
        return 0;
    }
    if rate_per_sec == 0 {
        return u64::MAX;
    }
    let admit_ms = u128::from(remaining) * 1000 / u128::from(rate_per_sec);
    opens_in_ms.saturating_add(u64::try_from(admit_ms).unwrap_or(u64::MAX))
}

/// The admission time slice that `now_ms` falls in, for slices of `slice_ms` milliseconds.
/// Passes name their slice and are valid from its start.
pub fn slice_of(now_ms: u64, slice_ms: u64) -> u64 {
    now_ms / slice_ms.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_floor_above_the_ceiling_is_the_interval_not_a_panic() {
        let s = Schedule::starting(0, 10);
        assert_eq!(s.next_poll_ms(1_000, 0, 5_000, 1_000), 5_000);
    }

    #[test]
    fn sellout_horizon_is_the_time_to_admit_the_remaining_stock() {
        assert_eq!(sellout_horizon_ms(0, 500, 10_000), 0);
        assert_eq!(sellout_horizon_ms(1_000, 500, 0), 2_000);
        assert_eq!(sellout_horizon_ms(1_000, 500, 10_000), 12_000);
        assert_eq!(sellout_horizon_ms(1, 0, 0), u64::MAX);
        assert_eq!(sellout_horizon_ms(u64::MAX, 1, u64::MAX), u64::MAX);
    }

    #[test]
    fn frontier_grows_at_the_rate_from_the_start() {
        let s = Schedule::starting(10_000, 500);
        assert_eq!(s.frontier(0), 0);
        assert_eq!(s.frontier(10_000), 0);
        assert_eq!(s.frontier(10_001), 0);
        assert_eq!(s.frontier(10_002), 1);
        assert_eq!(s.frontier(11_000), 500);
        assert_eq!(s.frontier(210_000), 100_000);
        assert!(!s.is_admitted(500, 11_000));
        assert!(s.is_admitted(499, 11_000));
    }

    #[test]
    fn admitted_at_is_the_first_instant_the_frontier_passes() {
        let s = Schedule::starting(1_000, 3);
        for p in 0..50 {
            let at = s.admitted_at_ms(p).unwrap();
            assert!(s.is_admitted(p, at), "position {p} at {at}");
            assert!(!s.is_admitted(p, at - 1), "position {p} before {at}");
        }
    }

    #[test]
    fn pause_and_resume_keep_the_frontier_continuous() {
        let s = Schedule::starting(0, 100);
        let paused = s.rebased(5_000, s.since_ms, 0);
        assert_eq!(paused.frontier(5_000), 500);
        assert_eq!(paused.frontier(60_000), 500);
        assert_eq!(paused.admitted_at_ms(500), None);
        assert_eq!(paused.admitted_at_ms(10), Some(5_000));
        let resumed = paused.rebased(60_000, paused.since_ms, 200);
        assert_eq!(resumed.frontier(60_000), 500);
        assert_eq!(resumed.frontier(61_000), 700);
    }

    #[test]
    fn a_change_in_the_past_never_moves_the_frontier_back() {
        let s = Schedule::starting(10_000, 100);
        let changed = s.rebased(5_000, s.since_ms, 1_000);
        assert_eq!(changed.since_ms, 10_000);
        assert_eq!(changed.frontier(11_000), 1_000);
    }

    #[test]
    fn no_overflow_at_the_extremes() {
        let s = Schedule {
            since_ms: 0,
            base: u64::MAX - 1,
            rate_per_sec: u32::MAX,
            cap: None,
        };
        assert_eq!(s.frontier(u64::MAX), u64::MAX);
        assert_eq!(
            Schedule::starting(0, 1).admitted_at_ms(u64::MAX - 1),
            Some(u64::MAX)
        );
    }

    #[test]
    fn polls_slow_down_with_distance() {
        let s = Schedule::starting(0, 100);
        let near = s.next_poll_ms(10, 0, 1_000, 30_000);
        let far = s.next_poll_ms(100_000, 0, 1_000, 30_000);
        assert_eq!(near, 1_000);
        assert_eq!(far, 30_000);
        assert_eq!(s.next_poll_ms(3_000, 0, 1_000, 30_000), 15_005);
        assert_eq!(
            s.rebased(0, s.since_ms, 0)
                .next_poll_ms(5, 0, 1_000, 30_000),
            30_000
        );
    }

    #[test]
    fn a_cap_holds_the_frontier_and_raising_it_moves_on_without_a_burst() {
        let s = Schedule::starting(0, 100).with_cap(Some(300), 0);
        assert_eq!(s.frontier(2_000), 200);
        assert_eq!(s.frontier(10_000), 300);
        assert!(s.capped(10_000) && s.capped(3_000) && !s.capped(2_990));
        assert_eq!(s.admitted_at_ms(299), Some(3_000));
        assert_eq!(s.admitted_at_ms(300), None);
        // Raised at 10 s: from 300 at the rate, not to 1,000 at once.
        let raised = s.with_cap(Some(400), 10_000);
        assert_eq!(raised.frontier(10_000), 300);
        assert_eq!(raised.frontier(11_000), 400);
        assert_eq!(raised.frontier(20_000), 400);
        // Never below the frontier, and lifted entirely.
        assert_eq!(raised.with_cap(Some(10), 20_000).frontier(20_000), 400);
        let free = raised.with_cap(None, 20_000);
        assert_eq!(free.frontier(21_000), 500);
        // A cap not holding yet changes nothing else.
        let early = Schedule::starting(0, 100).with_cap(Some(300), 0);
        assert_eq!(early.with_cap(Some(500), 1_000).frontier(4_000), 400);
    }

    #[test]
    fn slices() {
        assert_eq!(slice_of(0, 10_000), 0);
        assert_eq!(slice_of(19_999, 10_000), 1);
        assert_eq!(slice_of(5, 0), 5);
    }
}
