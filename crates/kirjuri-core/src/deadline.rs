//! A data-subject request's clock (GDPR Art. 12(3), DSR-1): the due date
//! counted per Regulation (EEC, Euratom) 1182/71, the one extension, the
//! pauses and the reminders.
//!
//! - **The month.** A period in months ends on the same date in the next
//!   month, or on that month's last day if the date does not exist (31 Jan
//!   → 28/29 Feb); if that is a Saturday, Sunday or holiday
//!   ([`crate::calendar`]), on the next working day.
//! - **The day of receipt** is the request's date on the Helsinki wall
//!   clock ([`received_date`]); all arithmetic is on calendar dates.
//! - **Extension.** At most once, by one or two further months (counted
//!   from the day of receipt, so three months at most in all), only on or
//!   before the due date in force, and only with a reason — which the
//!   application sends to the requester.
//! - **Pauses.** While a request waits in a state the controller's policy
//!   lets stop the clock (e.g. awaiting proof of identity), the days it
//!   waited are added before rolling to a working day; which states may
//!   pause is the application's policy, and each pause is audited there.
//! - **Reminders** at seven days, two days and on the due day.
//!
//! Pure: the caller passes today's date; nothing here reads a clock.

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use chrono_tz::Europe::Helsinki;
use serde::Serialize;

use crate::calendar::{self, HolidayPolicy};
use crate::error::{Error, Result};

/// How many months a request may be extended by, at most (Art. 12(3)).
pub const MAX_EXTENSION_MONTHS: u32 = 2;

/// The longest reason for an extension, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// The date a request was received: its Helsinki calendar date.
pub fn received_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Helsinki).date_naive()
}

/// An extension granted: by how many months, why, and on which day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extension {
    /// 1 or 2.
    pub months: u32,
    /// Sent to the requester with the notice of extension.
    pub reason: String,
    /// The day it was granted (on or before the due date then in force).
    pub granted_on: NaiveDate,
}

/// A pause of the clock: from the day it began to the day it ended, or
/// still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

impl Pause {
    /// Whole days paused, counting a running pause up to `today`.
    fn days(self, today: NaiveDate) -> u64 {
        let end = self.until.unwrap_or(today).max(self.from);
        u64::try_from((end - self.from).num_days()).unwrap_or(0)
    }
}

/// One request's clock: everything the due date depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestClock {
    /// The day of receipt.
    pub received: NaiveDate,
    /// Whether the eves count as days off.
    pub policy: HolidayPolicy,
    pub extension: Option<Extension>,
    pub pauses: Vec<Pause>,
}

/// A reminder that a request's due date is near.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    /// Seven days or fewer left.
    SevenDays,
    /// Two days or fewer left.
    TwoDays,
    /// Due today, or overdue.
    DueDay,
}

impl RequestClock {
    /// A clock started on `received`.
    pub fn new(received: NaiveDate, policy: HolidayPolicy) -> Self {
        Self {
            received,
            policy,
            extension: None,
            pauses: Vec::new(),
        }
    }

    /// The due date on `today`: receipt plus one month (plus the
    /// extension's months), plus the days paused, rolled forward to a
    /// working day. Running pauses count up to `today`. Saturates at the
    /// end of `chrono`'s range rather than failing.
    pub fn due_date(&self, today: NaiveDate) -> NaiveDate {
        let months = 1 + self.extension.as_ref().map_or(0, |e| e.months);
        let paused: u64 = self.pauses.iter().map(|p| p.days(today)).sum();
        let end = self
            .received
            .checked_add_months(Months::new(months))
            .and_then(|end| end.checked_add_days(Days::new(paused)))
            .unwrap_or(NaiveDate::MAX);
        calendar::next_working_day(end, self.policy)
    }

    /// Days from `today` to the due date: 0 on the due day, negative when
    /// overdue.
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        (self.due_date(today) - today).num_days()
    }

    /// Grants the one extension. Refused if one was granted already, if
    /// `months` is not 1 or 2, if the reason is blank or too long, or if
    /// `today` is past the due date in force.
    pub fn extend(&mut self, months: u32, reason: &str, today: NaiveDate) -> Result<()> {
        let refuse = |reason: &'static str| {
            Err(Error::Refused {
                code: "extension_refused",
                reason,
            })
        };
        if self.extension.is_some() {
            return refuse("a request can be extended only once");
        }
        if !(1..=MAX_EXTENSION_MONTHS).contains(&months) {
            return refuse("an extension is one or two months");
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return refuse("an extension needs a reason, which is sent to the requester");
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return refuse("the reason is longer than 2000 characters");
        }
        if today > self.due_date(today) {
            return refuse("the due date has passed; an extension must be made before it");
        }
        self.extension = Some(Extension {
            months,
            reason: reason.to_owned(),
            granted_on: today,
        });
        Ok(())
    }

    /// Stops the clock on `today`. Refused while it is stopped already.
    pub fn pause(&mut self, today: NaiveDate) -> Result<()> {
        if self.is_paused() {
            return Err(Error::Refused {
                code: "clock_paused",
                reason: "the clock is stopped already",
            });
        }
        self.pauses.push(Pause {
            from: today,
            until: None,
        });
        Ok(())
    }

    /// Restarts the clock on `today`. Refused while it runs.
    pub fn resume(&mut self, today: NaiveDate) -> Result<()> {
        match self.pauses.last_mut() {
            Some(pause) if pause.until.is_none() => {
                pause.until = Some(today.max(pause.from));
                Ok(())
            }
            _ => Err(Error::Refused {
                code: "clock_running",
                reason: "the clock is not stopped",
            }),
        }
    }

    /// Whether the clock is stopped now.
    pub fn is_paused(&self) -> bool {
        self.pauses.last().is_some_and(|p| p.until.is_none())
    }

    /// The reminder `today` calls for, if any: the most urgent one reached.
    /// The caller sends it when it differs from the last one sent, so each
    /// is sent once even if a day is skipped.
    pub fn reminder(&self, today: NaiveDate) -> Option<Reminder> {
        match self.days_left(today) {
            ..=0 => Some(Reminder::DueDay),
            1..=2 => Some(Reminder::TwoDays),
            3..=7 => Some(Reminder::SevenDays),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn clock(received: &str) -> RequestClock {
        RequestClock::new(date(received), HolidayPolicy::default())
    }

    #[test]
    fn the_due_date_follows_regulation_1182_71() {
        for (received, due) in [
            ("2025-01-31", "2025-02-28"), // no 31 Feb: the month's last day, a Friday
            ("2024-01-31", "2024-02-29"), // a leap year
            ("2025-05-01", "2025-06-02"), // 1 June is a Sunday
            ("2025-11-25", "2025-12-29"), // Christmas Day, St Stephen's, a weekend
            ("2025-03-15", "2025-04-15"), // an ordinary Tuesday
            ("2026-05-24", "2026-06-24"), // Whit Sunday received; due a Wednesday
            ("2026-11-24", "2026-12-28"), // Christmas Eve (Thu) counts by default
            ("2025-11-06", "2025-12-08"), // Independence Day is a Saturday
        ] {
            let clock = clock(received);
            assert_eq!(clock.due_date(date(received)), date(due), "{received}");
        }
    }

    #[test]
    fn a_statutory_only_policy_does_not_skip_christmas_eve() {
        let clock = RequestClock::new(
            date("2026-11-24"),
            HolidayPolicy {
                christmas_eve: false,
                midsummer_eve: false,
            },
        );
        assert_eq!(clock.due_date(date("2026-11-24")), date("2026-12-24"));
    }

    #[test]
    fn the_receipt_day_is_the_helsinki_date() {
        let late_evening_utc: DateTime<Utc> = "2025-01-30T22:30:00Z".parse().unwrap();
        assert_eq!(received_date(late_evening_utc), date("2025-01-31"));
    }

    #[test]
    fn one_extension_of_up_to_two_months_before_the_due_date_with_a_reason() {
        let mut c = clock("2025-01-31");
        let due = date("2025-02-28");
        assert!(c.extend(3, "complex", due).is_err(), "three months");
        assert!(c.extend(0, "complex", due).is_err(), "zero months");
        assert!(c.extend(2, "   ", due).is_err(), "a blank reason");
        assert!(c.extend(2, &"x".repeat(2001), due).is_err(), "an essay");
        assert!(
            c.extend(2, "complex", date("2025-03-01")).is_err(),
            "after the due date"
        );
        c.extend(2, " many recordings to review ", due).unwrap();
        // 31 Jan + 3 months = 30 April (Wed).
        assert_eq!(c.due_date(due), date("2025-04-30"));
        assert_eq!(
            c.extension.as_ref().unwrap().reason,
            "many recordings to review"
        );
        let again = c.extend(1, "more", due).unwrap_err();
        assert!(again.to_string().contains("only once"), "{again}");
    }

    #[test]
    fn pauses_add_the_days_waited_and_the_history_reproduces_the_due_date() {
        let mut c = clock("2025-03-03"); // due 3 April (Thu)
        c.pause(date("2025-03-10")).unwrap();
        assert!(c.pause(date("2025-03-11")).is_err(), "paused twice");
        // While paused, the due date moves a day per day.
        assert_eq!(c.due_date(date("2025-03-12")), date("2025-04-07")); // 5 Apr is a Sat
        c.resume(date("2025-03-17")).unwrap(); // 7 days
        assert!(c.resume(date("2025-03-18")).is_err(), "resumed twice");
        assert_eq!(c.due_date(date("2025-03-20")), date("2025-04-10"));
        // The same history, replayed on any later day, gives the same date.
        let replay = RequestClock {
            pauses: vec![Pause {
                from: date("2025-03-10"),
                until: Some(date("2025-03-17")),
            }],
            ..clock("2025-03-03")
        };
        assert_eq!(replay.due_date(date("2025-09-01")), date("2025-04-10"));
    }

    #[test]
    fn stepping_day_by_day_sends_three_reminders_in_order() {
        let c = clock("2025-03-03"); // due 3 April
        let mut sent = Vec::new();
        let mut day = date("2025-03-03");
        while day <= date("2025-04-10") {
            if let Some(reminder) = c.reminder(day)
                && sent.last() != Some(&reminder)
            {
                sent.push(reminder);
                match reminder {
                    Reminder::SevenDays => assert_eq!(day, date("2025-03-27")),
                    Reminder::TwoDays => assert_eq!(day, date("2025-04-01")),
                    Reminder::DueDay => assert_eq!(day, date("2025-04-03")),
                }
            }
            day = day.succ_opt().unwrap();
        }
        assert_eq!(
            sent,
            [Reminder::SevenDays, Reminder::TwoDays, Reminder::DueDay]
        );
        assert_eq!(c.days_left(date("2025-04-05")), -2, "overdue");
    }

    proptest::proptest! {
        /// For any day of receipt 1900–2200: the due date is a working day
        /// at most five days after the month is up (the longest run of days
        /// off: a weekend, then Christmas Eve to St Stephen's Day), never
        /// before it, and a later receipt
        /// never gets an earlier due date.
        #[test]
        fn the_due_date_is_a_working_day_a_month_on_and_monotonic(days in 0u64..110_000) {
            let received = date("1900-01-01").checked_add_days(Days::new(days)).unwrap();
            let due = clock(&received.to_string()).due_date(received);
            let month_up = received.checked_add_months(Months::new(1)).unwrap();
            proptest::prop_assert!(calendar::is_working_day(due, HolidayPolicy::default()));
            proptest::prop_assert!(due >= month_up);
            proptest::prop_assert!((due - month_up).num_days() <= 5, "{received} -> {due}");
            let next = received.succ_opt().unwrap();
            proptest::prop_assert!(clock(&next.to_string()).due_date(next) >= due);
        }
    }
}
