//! Step 4, wait (and step 5, admitted): where a queue position stands, and how soon its holder
//! should ask again.
//!
//! The edge answers every status poll from the ticket's position and its cached copies of the
//! sale's state and admission control; [`standing`] is that answer before any pass is signed.

use crate::admission::sellout_horizon_ms;
use crate::wire::{ControlState, SaleState, SaleStatus};

/// The shortest and longest poll interval the edge tells waiters, ms (its `POLL_MIN_MS` and
/// `POLL_MAX_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollBounds {
    /// Never ask a waiter to poll sooner than this.
    pub min_ms: u64,
    /// Never ask a waiter to wait longer than this (a paused one: at most
    /// [`PAUSED_POLL_MAX_MS`]).
    pub max_ms: u64,
}

/// The longest a waiter is asked to wait while admission is paused, ms, so a resume is
/// noticed soon.
pub const PAUSED_POLL_MAX_MS: u64 = 5_000;

/// Where a queue position stands: the status the edge answers, before a pass is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Nothing left to buy.
    SoldOut,
    /// The admission frontier has passed the position: the edge issues a pass
    /// ([`super::pass::issue`]) and answers `admitted`.
    Admit,
    /// Admission is paused by the operator and has not reached the position.
    Paused {
        /// Poll again after this many milliseconds.
        poll_after_ms: u64,
    },
    /// Waiting for the frontier.
    Queued {
        /// Positions before this one that are not yet admitted.
        ahead: u64,
        /// Estimated milliseconds until admission (`u64::MAX - now_ms` while the rate is 0).
        eta_ms: u64,
        /// Poll again after this many milliseconds.
        poll_after_ms: u64,
    },
}

/// The place in line of queue number `position` (as its shard handed it out): the number
/// itself for a sale without a pre-queue; for one with a pre-queue, its place in the draw
/// ([`crate::draw::Draw::place`]) once the draw is made (the control has the tally and the
/// state the revealed seed, matching its commitment), and `None` until then.
pub fn place(state: &SaleState, control: &ControlState, position: u64) -> Option<u64> {
    place_with(state, control, position, |tally| {
        let seed = state.draw_seed()?;
        Some(crate::draw::Draw::new(&seed, state.sale.as_str(), tally))
    })
}

/// [`place`], with the draw made by `draw` from the tally (and the state's revealed seed): an
/// edge isolate hands in its cached copy, so a poll pays only for its place's rounds.
pub fn place_with<D: std::borrow::Borrow<crate::draw::Draw>>(
    state: &SaleState,
    control: &ControlState,
    position: u64,
    draw: impl FnOnce(&crate::draw::Tally) -> Option<D>,
) -> Option<u64> {
    if state.draw.is_none() {
        return Some(position);
    }
    let tally = control.tally.as_ref()?;
    // A late arrival's place needs only the tally.
    if let Some(late) = tally.late_place(position) {
        return Some(late);
    }
    draw(tally).map(|d| d.borrow().place(position))
}

/// Where `position` stands at `now_ms`, given the sale's `state` and its admission `control`.
///
/// A sold-out sale answers [`Standing::SoldOut`] whatever the position; an admitted position
/// [`Standing::Admit`], even while paused, once the sale's start has come (a position the
/// frontier passed before the operator postponed the sale waits at the front, for the new
/// start). A waiter polls about half its remaining wait
/// ([`crate::Schedule::next_poll_ms`]) within `polls`, and, however far back, at most half the
/// sale's sell-out horizon ([`sellout_horizon_ms`] at the configured rate), so it learns of a
/// sell-out soon after one can happen. A paused waiter polls every
/// `max_ms.min(PAUSED_POLL_MAX_MS).max(min_ms)`, within the same cap.
/// A `polls.min_ms` above `polls.max_ms` (a misconfiguration) counts as both being
/// `min_ms`.
pub fn standing(
    state: &SaleState,
    control: &ControlState,
    position: u64,
    now_ms: u64,
    polls: PollBounds,
) -> Standing {
    if state.status == SaleStatus::SoldOut {
        return Standing::SoldOut;
    }
    let schedule = control.schedule;
    if schedule.is_admitted(position, now_ms) {
        if now_ms >= state.starts_at_ms {
            return Standing::Admit;
        }
        // Admitted before the operator postponed the sale: first in line again at the new
        // start, and no pass before it (the origin would refuse it).
        let eta_ms = state.starts_at_ms - now_ms;
        return Standing::Queued {
            ahead: 0,
            eta_ms,
            poll_after_ms: (eta_ms / 2).clamp(polls.min_ms, polls.max_ms.max(polls.min_ms)),
        };
    }
    // However far back a waiter is, they poll often enough to learn of a sell-out soon after
    // it can happen: the sale cannot sell out before its remaining stock has had time to be
    // admitted, so the interval is at most half that time.
    let sellout_horizon = sellout_horizon_ms(
        state.unsold(),
        control.rate,
        state.starts_at_ms.saturating_sub(now_ms),
    );
    let cap = (sellout_horizon / 2).clamp(polls.min_ms, polls.max_ms.max(polls.min_ms));
    if control.paused {
        return Standing::Paused {
            poll_after_ms: polls
                .max_ms
                .min(PAUSED_POLL_MAX_MS)
                .max(polls.min_ms)
                .min(cap),
        };
    }
    let admitted_at = schedule.admitted_at_ms(position).unwrap_or(u64::MAX);
    let frontier = schedule.frontier(now_ms);
    let ahead = position.saturating_sub(frontier);
    // Behind a cap (the passes out cover the stock) nobody knows when the line moves again;
    // a waiter polls as if it moved at the rate from now, so those near the front notice at
    // once when it does, and those far back do not poll more for it.
    let moving = crate::Schedule {
        since_ms: now_ms.max(schedule.since_ms),
        base: frontier,
        cap: None,
        ..schedule
    };
    // A waiter the remaining stock cannot reach (under 1 % at the conversion seen, which
    // the answer tells them) is not asked to poll for the sell-out: of a line of 100,000 for
    // 1,000 items, 99,000 would otherwise ask every second while the stock goes. They poll at
    // the longest interval, and sooner as the line moves towards them.
    let reach = crate::gate::odds::chance_pct(
        control.conversion_ppm,
        frontier,
        state.sold + state.cancelled,
        state.unsold(),
        ahead,
    );
    let cap = if reach == 0 {
        polls.max_ms.max(polls.min_ms)
    } else {
        cap
    };
    Standing::Queued {
        ahead,
        eta_ms: admitted_at.saturating_sub(now_ms),
        poll_after_ms: moving
            .next_poll_ms(position, now_ms, polls.min_ms, polls.max_ms)
            .min(cap),
    }
}

/// How widely the first polls after a draw are spread, ms.
pub const DRAW_POLL_SPREAD_MS: u64 = 10_000;

/// The longest an entry of a pre-queue waits between polls before its draw, ms.
pub const ENTERED_POLL_MAX_MS: u64 = 300_000;

/// When an entry of a pre-queue, `to_close_ms` before the draw closes, should poll again, ms.
///
/// Nothing changes for an entry before the draw (its place is not drawn, the close cannot
/// move, and the page counts down to it), so it polls once, when its place is out: after the
/// close and the seed's reveal ([`crate::draw::REVEAL_AFTER_MS`]), at a moment spread over
/// [`DRAW_POLL_SPREAD_MS`] by its entry digest, so that a whole pre-queue does not ask in the
/// same second. An entry made long before the close also polls every
/// [`ENTERED_POLL_MAX_MS`] (or the longest interval, if that is longer), so an open page
/// notices a sale that was sold out or called off.
pub fn entered_poll_ms(to_close_ms: u64, entry: &str, polls: PollBounds) -> u64 {
    let spread = entry
        .get(..8)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
        % DRAW_POLL_SPREAD_MS;
    let after_draw = to_close_ms + crate::draw::REVEAL_AFTER_MS + spread;
    after_draw.min(ENTERED_POLL_MAX_MS.max(polls.max_ms).max(polls.min_ms))
}

/// An `eta_ms` at or above this is "not known" (paused, or behind the cap): say so, not a
/// number.
pub const UNKNOWN_ETA_MS: u64 = 1 << 50;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AdmissionSettings;
    use crate::SaleId;

    const POLLS: PollBounds = PollBounds {
        min_ms: 1_000,
        max_ms: 30_000,
    };

    /// An open sale with `remaining` items that opened (or opens) at `starts_at_ms`.
    fn sale(remaining: u64, starts_at_ms: u64, rate: u32) -> SaleState {
        SaleState {
            sale: SaleId::parse("drop-1").unwrap(),
            status: SaleStatus::at(remaining, starts_at_ms, 0),
            remaining,
            sold: 0,
            starts_at_ms,
            admission_rate: rate,
            per_visitor_limit: 1,
            price: None,
            paused: false,
            revision: 1,
            cancelled: 0,
            pending: 0,
            draw: None,
            seated: None,
            countries: Vec::new(),
            moving: 0,
            given: 0,
            received: 0,
        }
    }

    #[test]
    fn an_entry_polls_once_after_the_draw_spread_out_and_rarely_before_it() {
        // Ten seconds or three minutes before: once, after the close and the reveal, spread
        // by the digest.
        assert_eq!(entered_poll_ms(10_000, "00000000", POLLS), 15_000);
        assert_eq!(entered_poll_ms(10_000, "000003e8", POLLS), 16_000);
        assert_eq!(entered_poll_ms(180_000, "000003e8", POLLS), 186_000);
        assert_eq!(
            entered_poll_ms(0, "ffffffff", POLLS),
            5_000 + 0xffff_ffff % 10_000
        );
        assert_eq!(entered_poll_ms(0, "not hex", POLLS), 5_000);
        // An hour before: every five minutes until then.
        assert_eq!(entered_poll_ms(3_600_000, "00000000aa", POLLS), 300_000);
        // A longest interval above five minutes is kept.
        let slow = PollBounds {
            min_ms: 1_000,
            max_ms: 600_000,
        };
        assert_eq!(entered_poll_ms(3_600_000, "00000000aa", slow), 600_000);
    }

    #[test]
    fn a_sold_out_sale_answers_sold_out_at_any_position() {
        let state = sale(0, 0, 100);
        let control = ControlState::starting(0, 100);
        assert_eq!(
            standing(&state, &control, 0, 60_000, POLLS),
            Standing::SoldOut
        );
        assert_eq!(
            standing(&state, &control, 10_000_000, 60_000, POLLS),
            Standing::SoldOut
        );
    }

    #[test]
    fn the_position_at_the_frontier_waits_and_the_one_before_it_is_admitted() {
        let state = sale(1_000, 0, 100);
        let control = ControlState::starting(0, 100);
        // At 1 s the frontier is 100: positions 0..100 are admitted.
        assert_eq!(
            standing(&state, &control, 99, 1_000, POLLS),
            Standing::Admit
        );
        assert_eq!(
            standing(&state, &control, 100, 1_000, POLLS),
            Standing::Queued {
                ahead: 0,
                // Admitted at ceil(101 * 1000 / 100) = 1010 ms.
                eta_ms: 10,
                poll_after_ms: 1_000,
            }
        );
    }

    #[test]
    fn far_back_polls_no_slower_than_half_the_sellout_horizon_while_in_reach() {
        let control = ControlState::starting(0, 100);
        // Half of those admitted buy.
        let halves = ControlState {
            conversion_ppm: 500_000,
            ..control.clone()
        };
        // 1000 items at 100/s: sold out in 10 s at the soonest, so a waiter the stock can
        // still reach (1500 ahead, 1000 left, half buying) polls every 5 s.
        assert_eq!(
            standing(&sale(1_000, 0, 100), &halves, 1_600, 1_000, POLLS),
            Standing::Queued {
                ahead: 1_500,
                eta_ms: 16_010 - 1_000,
                poll_after_ms: 5_000,
            }
        );
        // One the stock cannot reach (999,900 ahead of 1000 items, at a conversion of 1)
        // polls at the longest interval: its answer says its chance is under 1 %.
        assert_eq!(
            standing(&sale(1_000, 0, 100), &control, 1_000_000, 1_000, POLLS),
            Standing::Queued {
                ahead: 999_900,
                eta_ms: 10_000_010 - 1_000,
                poll_after_ms: 30_000,
            }
        );
        // Plenty of stock: the longest interval.
        assert_eq!(
            standing(&sale(1_000_000, 0, 100), &control, 1_000_000, 1_000, POLLS),
            Standing::Queued {
                ahead: 999_900,
                eta_ms: 10_000_010 - 1_000,
                poll_after_ms: 30_000,
            }
        );
        // Almost nothing left: the cap never goes below the shortest interval.
        assert_eq!(
            standing(&sale(1, 0, 100), &control, 100, 1_000, POLLS),
            Standing::Queued {
                ahead: 0,
                eta_ms: 10,
                poll_after_ms: 1_000,
            }
        );
    }

    #[test]
    fn items_on_their_way_between_regions_count_as_stock_for_the_waiters() {
        let halves = ControlState {
            conversion_ppm: 500_000,
            ..ControlState::starting(0, 100)
        };
        let in_stock = sale(1_000, 0, 100);
        // The same items, all on their way from one region to another at this moment (the
        // merged state of several regions is open while they are).
        let on_their_way = SaleState {
            remaining: 0,
            moving: 1_000,
            status: SaleStatus::Open,
            ..in_stock.clone()
        };
        assert_eq!(on_their_way.unsold(), 1_000);
        let waiting = standing(&on_their_way, &halves, 1_600, 1_000, POLLS);
        assert_eq!(waiting, standing(&in_stock, &halves, 1_600, 1_000, POLLS));
        // (Counted as gone, the waiter would be out of reach, at the longest interval.)
        assert_eq!(
            waiting,
            Standing::Queued {
                ahead: 1_500,
                eta_ms: 16_010 - 1_000,
                poll_after_ms: 5_000,
            }
        );
    }

    #[test]
    fn before_the_start_nobody_is_admitted_and_the_wait_counts_from_the_start() {
        let state = sale(1_000, 60_000, 100);
        let control = ControlState::starting(60_000, 100);
        assert_eq!(
            standing(&state, &control, 0, 0, POLLS),
            Standing::Queued {
                ahead: 0,
                eta_ms: 60_010,
                poll_after_ms: 30_000,
            }
        );
        // One item left, opening in 40 s: it cannot sell out for 40.01 s, so the waiter (in
        // reach: 5 ahead, half of them buying) polls after half of that, a little sooner than
        // half its own wait.
        let halves = ControlState {
            conversion_ppm: 500_000,
            ..control.clone()
        };
        assert_eq!(
            standing(&sale(1, 60_000, 100), &halves, 5, 20_000, POLLS),
            Standing::Queued {
                ahead: 5,
                eta_ms: 40_060,
                poll_after_ms: 20_005,
            }
        );
    }

    #[test]
    fn a_position_admitted_before_a_postponement_waits_at_the_front_for_the_new_start() {
        // Opened at 0 and admitted 100 by 1 s; then postponed to 60 s.
        let control = ControlState::starting(0, 100).follow(
            &AdmissionSettings {
                starts_at_ms: 60_000,
                rate: 100,
                paused: false,
                revision: 1,
                draw_closes_at_ms: None,
                choosing: None,
            },
            1_000,
        );
        let state = sale(1_000, 60_000, 100);
        assert_eq!(
            standing(&state, &control, 5, 20_000, POLLS),
            Standing::Queued {
                ahead: 0,
                eta_ms: 40_000,
                poll_after_ms: 20_000,
            }
        );
        assert_eq!(
            standing(&state, &control, 5, 60_000, POLLS),
            Standing::Admit
        );
    }

    #[test]
    fn paused_waiters_poll_every_five_seconds_within_the_cap() {
        let state = sale(1_000, 0, 100);
        let paused = ControlState::starting(0, 100).follow(
            &AdmissionSettings {
                starts_at_ms: 0,
                rate: 100,
                paused: true,
                revision: 1,
                draw_closes_at_ms: None,
                choosing: None,
            },
            1_000,
        );
        assert_eq!(
            standing(&state, &paused, 500, 60_000, POLLS),
            Standing::Paused {
                poll_after_ms: 5_000
            }
        );
        // Positions the frontier passed before the pause stay admitted.
        assert_eq!(
            standing(&state, &paused, 99, 60_000, POLLS),
            Standing::Admit
        );
        // The cap comes from the configured rate, not the paused one: 10 items at 100/s.
        assert_eq!(
            standing(&sale(10, 0, 100), &paused, 500, 60_000, POLLS),
            Standing::Paused {
                poll_after_ms: 1_000
            }
        );
        // A longest interval under 5 s wins; a shortest one above it too.
        let short = PollBounds {
            min_ms: 500,
            max_ms: 2_000,
        };
        assert_eq!(
            standing(&state, &paused, 500, 60_000, short),
            Standing::Paused {
                poll_after_ms: 2_000
            }
        );
        let slow = PollBounds {
            min_ms: 8_000,
            max_ms: 30_000,
        };
        assert_eq!(
            standing(&sale(1_000_000, 0, 100), &paused, 500, 60_000, slow),
            Standing::Paused {
                poll_after_ms: 8_000
            }
        );
    }

    #[test]
    fn a_rate_of_zero_waits_without_an_estimate_at_the_longest_interval() {
        let state = sale(1_000, 0, 0);
        let control = ControlState::starting(0, 0);
        assert_eq!(
            standing(&state, &control, 0, 5_000, POLLS),
            Standing::Queued {
                ahead: 0,
                eta_ms: u64::MAX - 5_000,
                poll_after_ms: 30_000,
            }
        );
    }
}
