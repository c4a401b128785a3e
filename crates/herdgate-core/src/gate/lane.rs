//! The no-JavaScript lane: when its lane token becomes valid.
//!
//! The lane skips the proof of work, so it pays with time instead: its token (a challenge of
//! difficulty 0) becomes valid some seconds after the sale opens or after the visit, whichever
//! is later, and only then takes a place at the back of the line as it is. So the lane cannot
//! jump the queue.

/// When a lane token issued at `now_s` (unix seconds) becomes valid, unix seconds:
/// `delay_secs` (the edge's `NOJS_DELAY_SECS`) after the sale opens (`starts_at_ms`, taken to
/// the second below) or after `now_s`, whichever is later.
pub fn token_valid_from(now_s: u64, starts_at_ms: u64, delay_secs: u64) -> u64 {
    now_s.max(starts_at_ms / 1000) + delay_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_sale_counts_the_delay_from_the_visit() {
        assert_eq!(token_valid_from(1_000, 500_000, 30), 1_030);
        assert_eq!(token_valid_from(1_000, 1_000_000, 30), 1_030);
    }

    #[test]
    fn before_the_start_the_delay_counts_from_the_opening() {
        assert_eq!(token_valid_from(100, 500_000, 30), 530);
        // An opening within a second counts from that second.
        assert_eq!(token_valid_from(100, 500_999, 30), 530);
        assert_eq!(token_valid_from(500, 500_999, 30), 530);
    }

    #[test]
    fn without_a_delay_the_token_is_valid_from_the_later_of_the_two() {
        assert_eq!(token_valid_from(1_000, 0, 0), 1_000);
        assert_eq!(token_valid_from(1_000, 2_000_000, 0), 2_000);
    }
}
