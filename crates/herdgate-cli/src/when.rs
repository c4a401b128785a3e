//! Moments and spans as operators write them: `now`, `+10m` (from now), an RFC 3339 time
//! (`2026-12-01T10:00:00Z`, `2026-12-01T11:00:00+01:00`), or unix milliseconds; spans as
//! `90s`, `10m`, `2h`, `1d` or milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// Bare numbers below this (March 1973 in milliseconds, the year 5138 in seconds) are refused
/// as moments: they are unix seconds given where milliseconds are asked.
const SECONDS_LOOK_LIKE: u64 = 100_000_000_000;

/// A moment, unix ms, from `text` (relative ones from `now_ms`).
pub fn moment(text: &str, now_ms: u64) -> Result<u64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now_ms);
    }
    if let Some(span_text) = text.strip_prefix('+') {
        return Ok(now_ms.saturating_add(span(span_text)?));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = text
            .parse()
            .map_err(|_| format!("{text}: too large for unix milliseconds"))?;
        // Unix seconds given for milliseconds would be a moment in 1970.
        if ms < SECONDS_LOOK_LIKE {
            return Err(format!(
                "{text}: looks like unix seconds; give milliseconds or an RFC 3339 time"
            ));
        }
        return Ok(ms);
    }
    let at = DateTime::parse_from_rfc3339(text).map_err(|_| {
        format!("{text}: not a time (now, +10m, 2026-12-01T10:00:00Z or unix milliseconds)")
    })?;
    u64::try_from(at.timestamp_millis()).map_err(|_| format!("{text}: before 1970"))
}

/// A span, ms, from `text`: a number with `ms`, `s`, `m`, `h` or `d`, or bare milliseconds.
pub fn span(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text}: not a span (90s, 10m, 2h, 1d or milliseconds)"))?;
    let per = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text}: unknown unit {unit} (ms, s, m, h or d)")),
    };
    n.checked_mul(per)
        .ok_or_else(|| format!("{text}: too long"))
}

/// `at` as RFC 3339 in UTC, with how far it is from `now_ms` (`in 5m`, `3h ago`).
pub fn show(at_ms: u64, now_ms: u64) -> String {
    let stamp = i64::try_from(at_ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map_or_else(
            || format!("{at_ms} ms"),
            |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    let (d, later) = if at_ms >= now_ms {
        (at_ms - now_ms, true)
    } else {
        (now_ms - at_ms, false)
    };
    let s = d / 1000;
    let rough = match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m", s / 60),
        3_600..=86_399 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    };
    if later {
        format!("{stamp} (in {rough})")
    } else {
        format!("{stamp} ({rough} ago)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_496_800_000; // 2025-11-30T10:00:00Z

    #[test]
    fn moments_in_every_spelling() {
        assert_eq!(moment("now", NOW), Ok(NOW));
        assert_eq!(moment("+10m", NOW), Ok(NOW + 600_000));
        assert_eq!(moment("+1500", NOW), Ok(NOW + 1_500));
        assert_eq!(moment("2025-11-30T10:00:00Z", 0), Ok(NOW));
        assert_eq!(moment("2025-11-30T11:00:00+01:00", 0), Ok(NOW));
        assert_eq!(moment("1764496800000", 0), Ok(NOW));
    }

    #[test]
    fn bad_moments_and_spans_say_what_is_accepted() {
        for bad in [
            "tomorrow",
            "",
            "+",
            "+10y",
            "2025-13-01T00:00:00Z",
            "1969-01-01T00:00:00Z",
            "1764496800",
        ] {
            assert!(moment(bad, NOW).is_err(), "{bad} was accepted");
        }
        assert!(span("10 m").is_err());
        assert!(span("99999999999999999999d").is_err());
        assert_eq!(span("2h"), Ok(7_200_000));
        assert_eq!(span("250ms"), Ok(250));
    }

    #[test]
    fn shown_with_how_far() {
        assert_eq!(show(NOW + 300_000, NOW), "2025-11-30T10:05:00Z (in 5m)");
        assert_eq!(
            show(NOW - 7_260_000, NOW),
            "2025-11-30T07:59:00Z (2h 1m ago)"
        );
    }
}
