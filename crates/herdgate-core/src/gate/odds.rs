//! Honest odds: how likely a waiter is to find stock at their turn, and where the admission
//! frontier waits so that it does not admit people to a sale they cannot buy in.
//!
//! The sale's control object keeps a few samples of (time, places admitted, items bought),
//! about one a second; "bought" counts the orders the audit cancelled too, since those buyers
//! had their turn. From them:
//!
//! - the **conversion** `c`: items bought per place admitted, over the places admitted at
//!   least `window` ago (they have had their time to buy). Until enough places are that old it
//!   is taken as 1, the cautious guess (everyone admitted buys);
//! - the **expected buys** still to come from places already admitted: `c·A − bought`;
//! - the **cap** ([`cap`]): the places whose expected buys cover the stock,
//!   `(bought + remaining) / c`. The frontier waits there (`Schedule::cap`, applied by every
//!   isolate from its cached schedule, so it never overshoots), and the cap rises as soon as
//!   items come back (an order cancelled by the audit, a capture that failed) or the measured
//!   conversion falls (admitted buyers who never came).
//!
//! The cap is a count of places; the frontier counts positions. Queue shards hand out
//! positions interleaved (shard `s` of `N` gives `s`, `s + N`, `s + 2N`, …), so a shard with
//! fewer joins than the others leaves positions nobody holds, and a place nobody holds never
//! buys. [`cap_position`] turns the cap into the position below which that many places are
//! held, from each shard's joins: without it a small line could wait behind empty positions,
//! items unsold, until the conversion is measured.
//!
//! A waiter `ahead` places behind the frontier gets [`chance_pct`]: the probability that fewer
//! than `remaining` buys happen before their turn, with those buys modelled as `c` per place
//! (a normal approximation of the binomial).

use serde::{Deserialize, Serialize};

/// Conversion is carried in parts per million, so the control state stays `Eq`.
pub const PPM: u32 = 1_000_000;

/// Places that must have had their time to buy before the conversion is measured rather than
/// guessed.
pub const MIN_SETTLED: u64 = 20;

/// One sample of a sale's admission and sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When, unix ms.
    pub at_ms: u64,
    /// Places admitted (the frontier).
    pub admitted: u64,
    /// Items bought: sold, and the orders the audit cancelled.
    pub bought: u64,
}

/// The conversion (ppm) measured from `samples` (oldest first) at `now`: items bought per place
/// admitted, over the places admitted at least `window_ms` before `now` — or 1 (cautious)
/// while fewer than [`MIN_SETTLED`] are.
pub fn conversion_ppm(samples: &[Sample], now: Sample, window_ms: u64) -> u32 {
    let cutoff = now.at_ms.saturating_sub(window_ms);
    let settled = samples
        .iter()
        .rev()
        .find(|s| s.at_ms <= cutoff)
        .map_or(0, |s| s.admitted);
    if settled < MIN_SETTLED {
        return PPM;
    }
    // Items bought by now, over the places admitted long enough ago: it counts the buys of
    // places admitted since as well, so it errs on the side of more buys (more waiting, lower
    // odds), and is exact once the frontier has waited a whole window.
    let c = u128::from(now.bought) * u128::from(PPM) / u128::from(settled);
    u32::try_from(c.min(u128::from(PPM))).unwrap_or(PPM)
}

/// Buys still expected from the places already admitted: `c·admitted − bought`, at least 0.
pub fn expected_buys(conversion_ppm: u32, admitted: u64, bought: u64) -> u64 {
    let c = u128::from(conversion_ppm.min(PPM));
    let total = (u128::from(admitted) * c).div_ceil(u128::from(PPM));
    u64::try_from(total.saturating_sub(u128::from(bought))).unwrap_or(u64::MAX)
}

/// The places whose expected buys cover the stock: `(bought + remaining) / c`, rounded up.
/// Admitting past it would let in people who, at the conversion seen, will find nothing left.
/// With a conversion of 0 there is no cap.
pub fn cap(conversion_ppm: u32, bought: u64, remaining: u64) -> Option<u64> {
    let c = u128::from(conversion_ppm.min(PPM));
    if c == 0 {
        return None;
    }
    let need = u128::from(bought) + u128::from(remaining);
    u64::try_from((need * u128::from(PPM)).div_ceil(c)).ok()
}

/// The places held below position `position`, with `joined[s]` joins at queue shard `s` of
/// `joined.len()` (shard `s`'s `j`-th join holds position `s + j·N`).
pub fn held_below(position: u64, joined: &[u64]) -> u64 {
    let n = joined.len() as u64;
    joined
        .iter()
        .zip(0u64..)
        .map(|(&j, s)| {
            // Positions s, s + N, … below `position`.
            let slots = if position > s {
                (position - s).div_ceil(n)
            } else {
                0
            };
            slots.min(j)
        })
        .fold(0u64, u64::saturating_add)
}

/// The position below which `places` places are held (see [`held_below`]): where the
/// frontier waits for a cap of `places`. Never below `places`. While fewer have joined than
/// `places`, the answer is the last position handed out plus one per place still to come (as
/// if the next joins took the positions after it): asked again once more have joined, it
/// moves on. Without shards (`joined` empty) it is `places`.
///
/// A later join at a shard with fewer joins takes that shard's next position, which may be
/// one this counted as nobody's; below the frontier, it is let in at once (as any join whose
/// position the frontier passed), so the places let in can exceed `places` by the positions
/// that were nobody's when the cap was set: a few, at the end of a short line.
pub fn cap_position(places: u64, joined: &[u64]) -> u64 {
    if joined.is_empty() || places == 0 {
        return places;
    }
    let n = joined.len() as u64;
    // Just past the last position handed out: every join is below it.
    let end = joined
        .iter()
        .zip(0u64..)
        .map(|(&j, s)| if j == 0 { 0 } else { s + (j - 1) * n + 1 })
        .max()
        .unwrap_or(0);
    let all: u64 = joined.iter().fold(0u64, |a, &j| a.saturating_add(j));
    if all < places {
        return end.saturating_add(places - all).max(places);
    }
    // The smallest position with `places` held below it: held_below grows with the position.
    let (mut lo, mut hi) = (places, end);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if held_below(mid, joined) >= places {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The chance, in whole percent (0 = under 1 %), that stock remains when a waiter `ahead`
/// places behind the frontier comes to the front, with `remaining` items left, `admitted`
/// places admitted and `bought` items bought at conversion `conversion_ppm`.
pub fn chance_pct(
    conversion_ppm: u32,
    admitted: u64,
    bought: u64,
    remaining: u64,
    ahead: u64,
) -> u8 {
    if remaining == 0 {
        return 0;
    }
    let c = f64::from(conversion_ppm.min(PPM)) / f64::from(PPM);
    let outstanding = admitted.saturating_sub(bought) as f64;
    let mean = expected_buys(conversion_ppm, admitted, bought) as f64 + c * ahead as f64;
    let variance = c * (1.0 - c) * (ahead as f64 + outstanding);
    // Stock remains if fewer than `remaining` buys come first (continuity-corrected).
    let margin = remaining as f64 - 0.5 - mean;
    let p = if variance < 1e-9 {
        if margin > 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        normal_cdf(margin / variance.sqrt())
    };
    // Floor, so "100 %" is said only when it is all but certain.
    (p * 100.0).floor().clamp(0.0, 100.0) as u8
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26, error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u64, admitted: u64, sold: u64) -> Sample {
        Sample {
            at_ms,
            admitted,
            bought: sold,
        }
    }

    #[test]
    fn conversion_is_cautious_until_enough_places_have_settled() {
        let now = s(100_000, 1_000, 900);
        assert_eq!(conversion_ppm(&[], now, 60_000), PPM);
        assert_eq!(conversion_ppm(&[s(30_000, 10, 0)], now, 60_000), PPM);
        // 1,000 admitted a minute ago, 500 sold by now.
        let c = conversion_ppm(
            &[s(30_000, 1_000, 0), s(90_000, 1_000, 400)],
            s(100_000, 1_000, 500),
            60_000,
        );
        assert_eq!(c, 500_000);
        // Never above 1.
        assert_eq!(
            conversion_ppm(&[s(0, 100, 0)], s(100_000, 5_000, 900), 60_000),
            PPM
        );
    }

    #[test]
    fn the_cap_is_where_the_passes_out_should_buy_the_stock() {
        // 1,000 items, everyone buys: 1,000 places.
        assert_eq!(cap(PPM, 0, 1_000), Some(1_000));
        assert_eq!(cap(PPM, 400, 600), Some(1_000));
        // Half of them buy: 2,000 places.
        assert_eq!(cap(500_000, 0, 1_000), Some(2_000));
        // An order cancelled: bought stays (that buyer had their turn), one more remains.
        assert_eq!(cap(PPM, 1_000, 1), Some(1_001));
        // Nobody buys: no cap.
        assert_eq!(cap(0, 0, 10), None);
        assert_eq!(expected_buys(PPM, 1_000, 400), 600);
        assert_eq!(expected_buys(500_000, 1_000, 600), 0);
    }

    #[test]
    fn the_cap_passes_over_positions_nobody_holds() {
        // Four shards with 3, 3, 1 and 3 joins: positions 0..12 but for 6 and 10 are held.
        let joined = [3, 3, 1, 3];
        assert_eq!(held_below(6, &joined), 6);
        assert_eq!(held_below(7, &joined), 6);
        assert_eq!(held_below(12, &joined), 10);
        // Six places: positions 0 to 5. Position 6 is nobody's, so the seventh place is
        // position 7 and the frontier waits at 8.
        assert_eq!(cap_position(6, &joined), 6);
        assert_eq!(cap_position(7, &joined), 8);
        assert_eq!(cap_position(9, &joined), 10);
        // Every join: just past the last position handed out (11).
        assert_eq!(cap_position(10, &joined), 12);
        // More places than joins: the positions still to come count as held.
        assert_eq!(cap_position(12, &joined), 14);
        // Even shards, no gap: the cap in places is the position.
        assert_eq!(cap_position(7, &[5, 5, 5, 5]), 7);
        // Nothing known of the shards, or nobody joined yet.
        assert_eq!(cap_position(7, &[]), 7);
        assert_eq!(cap_position(7, &[0, 0, 0, 0]), 7);
        assert_eq!(cap_position(0, &joined), 0);
        // Whatever the shards, the position holds the places and no fewer.
        for places in 0..16 {
            let p = cap_position(places, &joined);
            assert!(p >= places);
            if places <= 10 {
                assert!(held_below(p, &joined) >= places);
                assert!(p == 0 || held_below(p - 1, &joined) < places);
            }
        }
    }

    #[test]
    fn odds_fall_with_distance_and_are_certain_only_when_they_are() {
        // 1,000 left, nobody admitted, everyone buys: the first 999 behind are sure.
        assert_eq!(chance_pct(PPM, 0, 0, 1_000, 0), 100);
        assert_eq!(chance_pct(PPM, 0, 0, 1_000, 999), 100);
        assert_eq!(chance_pct(PPM, 0, 0, 1_000, 1_000), 0);
        // Half buy: 2,000 behind is a coin toss, 1,000 behind near certain, 3,000 hopeless.
        let near = chance_pct(500_000, 0, 0, 1_000, 1_000);
        let even = chance_pct(500_000, 0, 0, 1_000, 2_000);
        let far = chance_pct(500_000, 0, 0, 1_000, 3_000);
        assert!(near >= 99, "{near}");
        assert!((45..=55).contains(&even), "{even}");
        assert_eq!(far, 0);
        assert_eq!(chance_pct(PPM, 10, 0, 0, 0), 0);
    }

    #[test]
    fn the_normal_approximation_is_close() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-6);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-3);
        assert!((normal_cdf(-1.96) - 0.025).abs() < 1e-3);
    }
}
