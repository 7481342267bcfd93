//! The Finnish public-holiday calendar, computable for any year, and the
//! working days it leaves: what a data-subject request's deadline
//! ([`crate::deadline`]) rolls over.
//!
//! The statutory holidays are those of the Finnish calendar: fixed dates
//! (New Year, Epiphany, May Day, Independence Day, Christmas Day, St
//! Stephen's Day), Easter-based ones (Good Friday, Easter Sunday and Monday,
//! Ascension Day, Whit Sunday) and the Saturdays of Midsummer and All
//! Saints. Christmas Eve and Midsummer Eve are de facto days off, not
//! statutory ones; whether they count is the controller's policy
//! ([`HolidayPolicy`]), on by default because public offices close on them.
//! Saturdays and Sundays are never working days.
//!
//! Pure functions of their inputs: no clock, no tables to keep up to date.
//! [`CALENDAR_VERSION`] names these rules, so a stored deadline can say
//! which calendar computed it.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The version of these calendar rules, recorded with each computed
/// deadline; bump it when a rule changes.
pub const CALENDAR_VERSION: &str = "fi-2026.1";

/// Which de facto days off count as non-working days, besides the
/// statutory holidays and weekends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayPolicy {
    /// 24 December.
    pub christmas_eve: bool,
    /// The Friday between 19 and 25 June.
    pub midsummer_eve: bool,
}

impl Default for HolidayPolicy {
    /// Both eves are days off, as they are at Finnish public offices.
    fn default() -> Self {
        Self {
            christmas_eve: true,
            midsummer_eve: true,
        }
    }
}

/// A day that is not a working day although it is neither a Saturday nor
/// a Sunday, or a holiday that falls on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Holiday {
    NewYearsDay,
    Epiphany,
    GoodFriday,
    EasterSunday,
    EasterMonday,
    MayDay,
    AscensionDay,
    WhitSunday,
    MidsummerEve,
    MidsummerDay,
    AllSaintsDay,
    IndependenceDay,
    ChristmasEve,
    ChristmasDay,
    StStephensDay,
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous
/// Gregorian algorithm of Meeus, Jones and Butcher). `None` only for years
/// `chrono` cannot represent.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The holidays of `year` under `policy`, in date order. Empty only for
/// years `chrono` cannot represent.
pub fn holidays(year: i32, policy: HolidayPolicy) -> Vec<(NaiveDate, Holiday)> {
    let fixed = |month: u32, day: u32, holiday: Holiday| {
        NaiveDate::from_ymd_opt(year, month, day).map(|date| (date, holiday))
    };
    // The one `weekday` on or after `month`/`day` (a window of seven days).
    let first = |month: u32, day: u32, weekday: Weekday, holiday: Holiday| {
        let start = NaiveDate::from_ymd_opt(year, month, day)?;
        let ahead =
            (7 + weekday.num_days_from_monday() - start.weekday().num_days_from_monday()) % 7;
        start
            .checked_add_days(Days::new(u64::from(ahead)))
            .map(|date| (date, holiday))
    };
    let easter = easter_sunday(year);
    let from_easter = |offset: i64, holiday: Holiday| {
        easter
            .and_then(|easter| easter.checked_add_signed(chrono::TimeDelta::days(offset)))
            .map(|date| (date, holiday))
    };
    let mut days: Vec<(NaiveDate, Holiday)> = [
        fixed(1, 1, Holiday::NewYearsDay),
        fixed(1, 6, Holiday::Epiphany),
        from_easter(-2, Holiday::GoodFriday),
        from_easter(0, Holiday::EasterSunday),
        from_easter(1, Holiday::EasterMonday),
        fixed(5, 1, Holiday::MayDay),
        from_easter(39, Holiday::AscensionDay),
        from_easter(49, Holiday::WhitSunday),
        policy
            .midsummer_eve
            .then(|| first(6, 19, Weekday::Fri, Holiday::MidsummerEve))
            .flatten(),
        first(6, 20, Weekday::Sat, Holiday::MidsummerDay),
        first(10, 31, Weekday::Sat, Holiday::AllSaintsDay),
        fixed(12, 6, Holiday::IndependenceDay),
        policy
            .christmas_eve
            .then(|| fixed(12, 24, Holiday::ChristmasEve))
            .flatten(),
        fixed(12, 25, Holiday::ChristmasDay),
        fixed(12, 26, Holiday::StStephensDay),
    ]
    .into_iter()
    .flatten()
    .collect();
    days.sort_by_key(|(date, _)| *date);
    days
}

/// The holiday `date` is under `policy`, if any.
pub fn holiday(date: NaiveDate, policy: HolidayPolicy) -> Option<Holiday> {
    holidays(date.year(), policy)
        .into_iter()
        .find_map(|(day, holiday)| (day == date).then_some(holiday))
}

/// Whether `date` is a working day: not a Saturday, Sunday or holiday.
pub fn is_working_day(date: NaiveDate, policy: HolidayPolicy) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && holiday(date, policy).is_none()
}

/// `date` itself if it is a working day, else the next one. At the very end
/// of `chrono`'s range, `date` (nothing later exists).
pub fn next_working_day(date: NaiveDate, policy: HolidayPolicy) -> NaiveDate {
    let mut day = date;
    // A run of days off is at most five long (a weekend, then Christmas
    // Eve to St Stephen's Day), so this loop is short.
    while !is_working_day(day, policy) {
        match day.succ_opt() {
            Some(next) => day = next,
            None => return date,
        }
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_matches_the_published_dates() {
        for (year, easter) in [
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2029, "2029-04-01"),
            (2030, "2030-04-21"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter_sunday(year), Some(date(easter)), "{year}");
        }
    }

    /// The movable holidays 2024–2030 as the almanac lists them, written
    /// out by hand rather than computed: Good Friday, Easter Monday,
    /// Ascension, Whit Sunday, Midsummer Eve, Midsummer Day, All Saints.
    #[test]
    fn the_movable_holidays_2024_to_2030_match_the_almanac() {
        let fixture = [
            (
                2024,
                [
                    "03-29", "04-01", "05-09", "05-19", "06-21", "06-22", "11-02",
                ],
            ),
            (
                2025,
                [
                    "04-18", "04-21", "05-29", "06-08", "06-20", "06-21", "11-01",
                ],
            ),
            (
                2026,
                [
                    "04-03", "04-06", "05-14", "05-24", "06-19", "06-20", "10-31",
                ],
            ),
            (
                2027,
                [
                    "03-26", "03-29", "05-06", "05-16", "06-25", "06-26", "11-06",
                ],
            ),
            (
                2028,
                [
                    "04-14", "04-17", "05-25", "06-04", "06-23", "06-24", "11-04",
                ],
            ),
            (
                2029,
                [
                    "03-30", "04-02", "05-10", "05-20", "06-22", "06-23", "11-03",
                ],
            ),
            (
                2030,
                [
                    "04-19", "04-22", "05-30", "06-09", "06-21", "06-22", "11-02",
                ],
            ),
        ];
        let kinds = [
            Holiday::GoodFriday,
            Holiday::EasterMonday,
            Holiday::AscensionDay,
            Holiday::WhitSunday,
            Holiday::MidsummerEve,
            Holiday::MidsummerDay,
            Holiday::AllSaintsDay,
        ];
        for (year, days) in fixture {
            let computed = holidays(year, HolidayPolicy::default());
            assert_eq!(computed.len(), 15, "{year}");
            for (day, kind) in days.iter().zip(kinds) {
                let expected = date(&format!("{year}-{day}"));
                assert!(
                    computed.contains(&(expected, kind)),
                    "{year}: {kind:?} should be {expected}, got {computed:?}"
                );
            }
        }
    }

    #[test]
    fn the_eves_are_days_off_only_by_policy() {
        let statutory = HolidayPolicy {
            christmas_eve: false,
            midsummer_eve: false,
        };
        // 24 Dec 2025 is a Wednesday; Midsummer Eve 2025 is 20 June, a Friday.
        for eve in ["2025-12-24", "2025-06-20"] {
            assert!(
                !is_working_day(date(eve), HolidayPolicy::default()),
                "{eve}"
            );
            assert!(is_working_day(date(eve), statutory), "{eve}");
        }
        assert_eq!(holidays(2025, statutory).len(), 13);
    }

    #[test]
    fn weekends_and_holidays_roll_to_the_next_working_day() {
        let policy = HolidayPolicy::default();
        for (from, to) in [
            ("2025-06-02", "2025-06-02"), // a Monday
            ("2025-06-01", "2025-06-02"), // Sunday
            ("2025-12-24", "2025-12-29"), // Christmas Eve to the Monday after
            ("2026-04-03", "2026-04-07"), // Good Friday over Easter Monday
            ("2026-12-31", "2026-12-31"), // New Year's Eve is a working day
            ("2027-01-01", "2027-01-04"), // New Year's Day (Fri) to Monday
            ("2103-12-22", "2103-12-27"), // Saturday to Wednesday: five days off
        ] {
            assert_eq!(next_working_day(date(from), policy), date(to), "{from}");
        }
    }
}
