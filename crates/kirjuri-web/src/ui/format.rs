//! How pages show times, durations and sizes: times in Europe/Helsinki (the
//! register's zone, as retention deadlines are), durations as h:mm:ss, sizes
//! in binary units. The same in every language, so a time read aloud on the
//! phone is unambiguous.

use chrono::{DateTime, FixedOffset, Utc};

/// `2026-11-29 09:15:02` in Helsinki time.
pub fn time(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Helsinki)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A time as the contact stated it, shown in Helsinki time.
pub fn time_fixed(at: DateTime<FixedOffset>) -> String {
    time(at.to_utc())
}

/// A date in Helsinki time.
pub fn date(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Helsinki)
        .format("%Y-%m-%d")
        .to_string()
}

/// `1:02:03` or `2:03`.
pub fn duration_ms(ms: u64) -> String {
    let seconds = ms / 1000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_helsinki_and_durations_as_clock_time() {
        let at = DateTime::parse_from_rfc3339("2026-11-29T07:15:02Z").unwrap();
        assert_eq!(time(at.to_utc()), "2026-11-29 09:15:02");
        assert_eq!(duration_ms(278_000), "4:38");
        assert_eq!(duration_ms(3_723_000), "1:02:03");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
