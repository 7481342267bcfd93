//! Retention arithmetic (docs/requirements.md RET-1): deadlines fixed at intake, computed
//! in Europe/Helsinki calendar terms. Pure functions of their inputs.
//!
//! A call's "day" is its date on the Helsinki wall clock, whatever offset the
//! PBX stamped it with; deadlines are Helsinki midnights returned as UTC
//! instants. Not here: reading the clock, legal holds, or deciding what to
//! purge — the purge compares these instants with a [`crate::clock::Clock`].

use chrono::{
    DateTime, FixedOffset, Months, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Europe::Helsinki;

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
///
/// Month arithmetic clamps to the last day of the target month (31 Jan + 1
/// month = 28 or 29 Feb). `months = 0` gives the start of the call's own day.
/// If the target date is beyond what `chrono` can represent (only with absurd
/// month counts), the result saturates at [`DateTime::<Utc>::MAX_UTC`].
pub fn retain_until_months(call_started: DateTime<FixedOffset>, months: u32) -> DateTime<Utc> {
    local_call_date(call_started)
        .checked_add_months(Months::new(months))
        .map_or(DateTime::<Utc>::MAX_UTC, start_of_local_day)
}

/// The call's date on the Helsinki wall clock. A call stamped
/// `2026-03-31T23:30:00Z` happened on 1 April 2026 in Helsinki.
pub fn local_call_date(call_started: DateTime<FixedOffset>) -> NaiveDate {
    call_started.with_timezone(&Helsinki).date_naive()
}

/// The instant the given Helsinki calendar day begins (00:00 local), as UTC.
///
/// Helsinki changes its clocks at 03:00/04:00, so midnight always exists and
/// is never ambiguous. Should a future tz-data change put a gap at midnight,
/// the day begins when the gap does: the offset in force just after it is
/// subtracted from the wall-clock midnight. This never panics.
pub fn start_of_local_day(date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    if let Some(start) = Helsinki.from_local_datetime(&midnight).earliest() {
        return start.with_timezone(&Utc);
    }
    // Read as UTC, wall-clock midnight is 2–3 hours after the local one, so
    // past any gap around it.
    let offset = Helsinki.offset_from_utc_datetime(&midnight).fix();
    midnight
        .checked_sub_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc())))
        .map_or(DateTime::<Utc>::MAX_UTC, |utc| utc.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;
    use proptest::prelude::*;

    use super::*;

    fn at(rfc3339: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap()
    }

    fn utc(rfc3339: &str) -> DateTime<Utc> {
        at(rfc3339).with_timezone(&Utc)
    }

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// A recording of a call at `call` is kept until `deadline`.
    fn assert_deadline(call: &str, deadline: &str) {
        assert_eq!(
            recording_retain_until(at(call)),
            utc(deadline),
            "a call at {call}"
        );
    }

    /// Data of a call at `call` kept `months` is kept until `deadline`.
    fn assert_months(call: &str, months: u32, deadline: &str) {
        assert_eq!(
            retain_until_months(at(call), months),
            utc(deadline),
            "a call at {call}, {months} months"
        );
    }

    #[test]
    fn a_recording_is_kept_until_helsinki_midnight_twelve_months_later() {
        // Winter: Helsinki is UTC+2.
        assert_deadline("2026-01-15T10:00:00+02:00", "2027-01-14T22:00:00Z");
        // Summer: Helsinki is UTC+3.
        assert_deadline("2026-06-15T10:00:00+03:00", "2027-06-14T21:00:00Z");
    }

    #[test]
    fn a_call_just_before_utc_midnight_in_spring_belongs_to_the_next_helsinki_day() {
        let call = at("2026-03-31T23:30:00Z");
        assert_eq!(local_call_date(call), date(2026, 4, 1));
        assert_eq!(recording_retain_until(call), utc("2027-03-31T21:00:00Z"));
    }

    #[test]
    fn the_offset_the_call_was_stamped_with_does_not_matter() {
        let expected = utc("2027-03-31T21:00:00Z");
        for stamp in [
            "2026-03-31T23:30:00Z",
            "2026-03-31T18:30:00-05:00",
            "2026-04-01T09:30:00+10:00",
        ] {
            assert_eq!(recording_retain_until(at(stamp)), expected, "{stamp}");
        }
    }

    #[test]
    fn calls_either_side_of_helsinki_midnight_get_consecutive_deadlines() {
        // Summer midnight is 21:00 UTC.
        assert_deadline("2026-06-30T20:59:59Z", "2027-06-29T21:00:00Z");
        assert_deadline("2026-06-30T21:00:00Z", "2027-06-30T21:00:00Z");
        // Winter midnight is 22:00 UTC.
        assert_deadline("2026-12-31T21:59:59Z", "2027-12-30T22:00:00Z");
        assert_deadline("2026-12-31T22:00:00Z", "2027-12-31T22:00:00Z");
    }

    #[test]
    fn month_ends_stay_month_ends_over_twelve_months() {
        assert_deadline("2026-01-31T12:00:00+02:00", "2027-01-30T22:00:00Z");
        assert_deadline("2026-03-31T12:00:00+03:00", "2027-03-30T21:00:00Z");
        assert_deadline("2026-08-31T12:00:00+03:00", "2027-08-30T21:00:00Z");
    }

    #[test]
    fn shorter_periods_clamp_to_the_last_day_of_a_shorter_month() {
        // 31 Jan + 1 month = 28 Feb (2026 is not a leap year).
        assert_months("2026-01-31T12:00:00+02:00", 1, "2026-02-27T22:00:00Z");
        // 31 Jan 2028 + 1 month = 29 Feb (leap year).
        assert_months("2028-01-31T12:00:00+02:00", 1, "2028-02-28T22:00:00Z");
        // 31 Mar + 1 month = 30 Apr.
        assert_months("2026-03-31T12:00:00+03:00", 1, "2026-04-29T21:00:00Z");
        // 31 Aug + 6 months = 28 Feb.
        assert_months("2026-08-31T12:00:00+03:00", 6, "2027-02-27T22:00:00Z");
    }

    #[test]
    fn a_leap_day_call_is_kept_until_28_february_next_year() {
        assert_deadline("2028-02-29T12:00:00+02:00", "2029-02-27T22:00:00Z");
    }

    #[test]
    fn a_28_february_call_is_not_stretched_to_a_leap_day() {
        assert_deadline("2027-02-28T12:00:00+02:00", "2028-02-27T22:00:00Z");
    }

    #[test]
    fn calls_on_the_spring_forward_day_use_the_local_date() {
        // 29 Mar 2026: clocks go 03:00 → 04:00. 29 Mar 2027 is summer time
        // (2027 changes on 28 Mar), so its midnight is 21:00 UTC.
        let expected = utc("2027-03-28T21:00:00Z");
        for (call, local_time) in [
            ("2026-03-28T22:30:00Z", "00:30 EET"),
            ("2026-03-29T00:59:59Z", "02:59:59 EET"),
            ("2026-03-29T01:00:00Z", "04:00 EEST"),
            ("2026-03-29T20:59:59Z", "23:59:59 EEST"),
        ] {
            assert_eq!(recording_retain_until(at(call)), expected, "{local_time}");
        }
    }

    #[test]
    fn both_copies_of_the_repeated_hour_on_the_fall_back_day_are_the_same_day() {
        // 25 Oct 2026: clocks go 04:00 → 03:00, so 03:30 happens twice.
        // 25 Oct 2027 is still summer time (2027 changes on 31 Oct).
        let expected = utc("2027-10-24T21:00:00Z");
        for (call, local_time) in [
            ("2026-10-25T00:30:00Z", "03:30 EEST"),
            ("2026-10-25T01:30:00Z", "03:30 EET"),
            ("2026-10-25T21:59:59Z", "23:59:59 EET"),
        ] {
            assert_eq!(recording_retain_until(at(call)), expected, "{local_time}");
        }
    }

    #[test]
    fn deadlines_falling_on_a_clock_change_day_start_at_its_midnight() {
        // 28 Mar 2027 changes at 03:00, so its midnight is still UTC+2.
        assert_deadline("2026-03-28T12:00:00+02:00", "2027-03-27T22:00:00Z");
        // 31 Oct 2027 changes at 04:00, so its midnight is still UTC+3.
        assert_deadline("2026-10-31T12:00:00+02:00", "2027-10-30T21:00:00Z");
    }

    #[test]
    fn zero_months_is_the_start_of_the_call_day() {
        assert_months("2026-05-20T15:00:00+03:00", 0, "2026-05-19T21:00:00Z");
    }

    #[test]
    fn an_absurd_number_of_months_saturates_instead_of_panicking() {
        assert_eq!(
            retain_until_months(at("2026-05-20T15:00:00+03:00"), u32::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn the_start_of_a_local_day_is_helsinki_midnight() {
        assert_eq!(
            start_of_local_day(date(2026, 1, 1)),
            utc("2025-12-31T22:00:00Z")
        );
        assert_eq!(
            start_of_local_day(date(2026, 7, 1)),
            utc("2026-06-30T21:00:00Z")
        );
    }

    /// Instants from 2000 to 2100, with any offset a PBX might stamp.
    fn any_call() -> impl Strategy<Value = DateTime<FixedOffset>> {
        (946_684_800i64..4_102_444_800, -12 * 3600i32..=14 * 3600).prop_map(|(seconds, offset)| {
            let offset = FixedOffset::east_opt(offset).unwrap();
            DateTime::from_timestamp(seconds, 0)
                .unwrap()
                .with_timezone(&offset)
        })
    }

    fn days_in_month(year: i32, month: u32) -> u32 {
        let next = if month == 12 {
            date(year + 1, 1, 1)
        } else {
            date(year, month + 1, 1)
        };
        next.pred_opt().unwrap().day()
    }

    proptest! {
        #[test]
        fn the_deadline_is_always_at_helsinki_midnight(call in any_call()) {
            let local = recording_retain_until(call).with_timezone(&Helsinki);
            prop_assert_eq!(local.time(), NaiveTime::MIN);
        }

        #[test]
        fn the_deadline_is_the_same_day_next_year_or_the_month_end(call in any_call()) {
            let called = local_call_date(call);
            let deadline = recording_retain_until(call).with_timezone(&Helsinki).date_naive();
            prop_assert_eq!(deadline.year(), called.year() + 1);
            prop_assert_eq!(deadline.month(), called.month());
            prop_assert_eq!(deadline.day(), called.day().min(days_in_month(called.year() + 1, called.month())));
        }

        /// 365 or 366 calendar days between the local dates, minus up to a
        /// 25-hour call day, give or take an hour of summer time:
        /// 364 days − 1 hour < kept ≤ 366 days + 1 hour.
        #[test]
        fn the_recording_is_kept_between_364_and_366_days(call in any_call()) {
            let kept = recording_retain_until(call) - call.with_timezone(&Utc);
            prop_assert!(kept > TimeDelta::days(364) - TimeDelta::hours(1), "kept {kept}");
            prop_assert!(kept <= TimeDelta::days(366) + TimeDelta::hours(1), "kept {kept}");
        }

        #[test]
        fn a_later_call_never_gets_an_earlier_deadline(a in any_call(), b in any_call()) {
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(recording_retain_until(first) <= recording_retain_until(second));
        }

        #[test]
        fn the_stamp_offset_never_changes_the_deadline(call in any_call(), offset in -12 * 3600i32..=14 * 3600) {
            let restamped = call.with_timezone(&FixedOffset::east_opt(offset).unwrap());
            prop_assert_eq!(recording_retain_until(restamped), recording_retain_until(call));
        }

        #[test]
        fn retention_never_panics_for_any_instant_or_month_count(
            seconds in DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
            offset in -86_399i32..=86_399,
            months in any::<u32>(),
        ) {
            let call = DateTime::from_timestamp(seconds, 0)
                .unwrap()
                .with_timezone(&FixedOffset::east_opt(offset).unwrap());
            let _ = retain_until_months(call, months);
        }
    }
}
