//! The wall clock, read only by the request handlers and the reconciler's loop.
//!
//! Everything below them takes `now_ms` as an argument: one request sees one instant (the pass
//! is checked, the order dated and its payment settled at the same time), and the code that
//! decides can be tested at any time it is given.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, unix ms (0 before 1970, `u64::MAX` after the year 584 million).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
