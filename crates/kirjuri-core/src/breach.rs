//! A personal-data breach's 72-hour clock (GDPR Art. 33(1); reference §4
//! I.49): the controller notifies the supervisory authority without undue
//! delay and, where feasible, within 72 hours of becoming *aware* of the
//! breach; a later notification states the reasons for the delay.
//!
//! - **The clock** starts at `aware_at` and is due 72 hours later.
//! - **Alerts** at 24, 48 and 66 hours elapsed: the highest reached is the
//!   one in force ([`Alert`]), so the UI and the list can say how urgent an
//!   open incident is.
//! - **States** ([`ClockState`]): `open` until due, `overdue` after it
//!   without a notification, `notified` / `notified_late` once the
//!   authority's notification is recorded (late when after the due time),
//!   and `not_required` when the controller decided, with reasoning, that
//!   the breach is unlikely to result in a risk (Art. 33(1)) and so does
//!   not notify.
//! - [`delay_reasons_required`]: a notification recorded after the due time
//!   must carry the reasons for the delay (Art. 33(1), last sentence).
//!
//! Pure: the caller passes "now"; nothing here reads a clock.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// Hours from awareness to the authority's deadline (Art. 33(1)).
pub const NOTIFY_WITHIN_HOURS: i64 = 72;

/// The alerts, in hours elapsed since awareness (reference §4 I.49).
pub const ALERT_HOURS: [i64; 3] = [24, 48, 66];

crate::wire_enum! {
    /// The alert in force on an open incident: the highest of
    /// [`ALERT_HOURS`] that has elapsed.
    pub enum Alert("breach alert") {
        /// 24 hours have passed since awareness.
        Hours24 = "24h",
        /// 48 hours have passed.
        Hours48 = "48h",
        /// 66 hours have passed: six hours are left.
        Hours66 = "66h",
    }
}

crate::wire_enum! {
    /// Where an incident stands against its 72-hour clock.
    pub enum ClockState("breach clock state") {
        /// Not yet due and not notified.
        Open = "open",
        /// Due time passed without the authority notified.
        Overdue = "overdue",
        /// The authority was notified within 72 hours.
        Notified = "notified",
        /// The authority was notified after 72 hours.
        NotifiedLate = "notified_late",
        /// The controller decided, with reasoning, not to notify.
        NotRequired = "not_required",
    }
}

/// What the clock needs to know of an incident: its current view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreachClock {
    /// When the controller became aware: the clock starts here.
    pub aware_at: DateTime<Utc>,
    /// The decision in force: notify the authority (`true`) or not.
    pub notify_authority: bool,
    /// When the authority was notified, if it was.
    pub authority_notified_at: Option<DateTime<Utc>>,
}

/// The clock read at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockReading {
    /// The state.
    pub state: ClockState,
    /// The authority's deadline: `aware_at` + 72 h.
    pub due_at: DateTime<Utc>,
    /// Whole seconds to the deadline (negative once past it); `None` once
    /// notified or not required, when no deadline runs.
    pub seconds_left: Option<i64>,
    /// The alert in force while open; `None` before 24 h and in every
    /// other state.
    pub alert: Option<Alert>,
}

/// The authority's deadline for an incident the controller became aware
/// of at `aware_at`.
pub fn due_at(aware_at: DateTime<Utc>) -> DateTime<Utc> {
    aware_at + TimeDelta::hours(NOTIFY_WITHIN_HOURS)
}

/// Whether a notification at `notified_at` is late and so must state the
/// reasons for the delay.
pub fn delay_reasons_required(aware_at: DateTime<Utc>, notified_at: DateTime<Utc>) -> bool {
    notified_at > due_at(aware_at)
}

impl BreachClock {
    /// The clock at `now`.
    pub fn read(&self, now: DateTime<Utc>) -> ClockReading {
        let due_at = due_at(self.aware_at);
        let settled = |state| ClockReading {
            state,
            due_at,
            seconds_left: None,
            alert: None,
        };
        if let Some(at) = self.authority_notified_at {
            return settled(if delay_reasons_required(self.aware_at, at) {
                ClockState::NotifiedLate
            } else {
                ClockState::Notified
            });
        }
        if !self.notify_authority {
            return settled(ClockState::NotRequired);
        }
        let seconds_left = (due_at - now).num_seconds();
        if now >= due_at {
            return ClockReading {
                state: ClockState::Overdue,
                due_at,
                seconds_left: Some(seconds_left),
                alert: None,
            };
        }
        let elapsed = now - self.aware_at;
        let alert = ALERT_HOURS
            .iter()
            .zip(Alert::ALL)
            .rev()
            .find(|(hours, _)| elapsed >= TimeDelta::hours(**hours))
            .map(|(_, alert)| *alert);
        ClockReading {
            state: ClockState::Open,
            due_at,
            seconds_left: Some(seconds_left),
            alert,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn clock() -> BreachClock {
        BreachClock {
            aware_at: at("2026-03-02T08:00:00Z"),
            notify_authority: true,
            authority_notified_at: None,
        }
    }

    #[test]
    fn an_open_incident_raises_its_alerts_at_24_48_and_66_hours_and_is_overdue_at_72() {
        let clock = clock();
        let start = clock.aware_at;
        let cases = [
            (TimeDelta::zero(), ClockState::Open, None),
            (
                TimeDelta::hours(24) - TimeDelta::seconds(1),
                ClockState::Open,
                None,
            ),
            (TimeDelta::hours(24), ClockState::Open, Some(Alert::Hours24)),
            (TimeDelta::hours(47), ClockState::Open, Some(Alert::Hours24)),
            (TimeDelta::hours(48), ClockState::Open, Some(Alert::Hours48)),
            (TimeDelta::hours(65), ClockState::Open, Some(Alert::Hours48)),
            (TimeDelta::hours(66), ClockState::Open, Some(Alert::Hours66)),
            (
                TimeDelta::hours(72) - TimeDelta::seconds(1),
                ClockState::Open,
                Some(Alert::Hours66),
            ),
            (TimeDelta::hours(72), ClockState::Overdue, None),
            (TimeDelta::days(30), ClockState::Overdue, None),
        ];
        for (elapsed, state, alert) in cases {
            let reading = clock.read(start + elapsed);
            assert_eq!(reading.state, state, "{elapsed}");
            assert_eq!(reading.alert, alert, "{elapsed}");
            assert_eq!(reading.due_at, at("2026-03-05T08:00:00Z"));
            assert_eq!(
                reading.seconds_left,
                Some(TimeDelta::hours(72).num_seconds() - elapsed.num_seconds())
            );
        }
    }

    #[test]
    fn a_notification_within_72_hours_is_on_time_and_after_it_late() {
        let mut clock = clock();
        clock.authority_notified_at = Some(clock.aware_at + TimeDelta::hours(72));
        let reading = clock.read(clock.aware_at + TimeDelta::days(10));
        assert_eq!(reading.state, ClockState::Notified);
        assert_eq!((reading.seconds_left, reading.alert), (None, None));
        clock.authority_notified_at =
            Some(clock.aware_at + TimeDelta::hours(72) + TimeDelta::seconds(1));
        assert_eq!(
            clock.read(clock.aware_at).state,
            ClockState::NotifiedLate,
            "late is judged on the notification's time, not the reading's"
        );
    }

    #[test]
    fn a_decision_not_to_notify_stops_the_clock_but_a_recorded_notification_wins() {
        let mut clock = clock();
        clock.notify_authority = false;
        let later = clock.aware_at + TimeDelta::days(5);
        assert_eq!(clock.read(later).state, ClockState::NotRequired);
        clock.authority_notified_at = Some(clock.aware_at + TimeDelta::hours(1));
        assert_eq!(clock.read(later).state, ClockState::Notified);
    }

    #[test]
    fn delay_reasons_are_required_only_after_the_due_time() {
        let aware = at("2026-03-02T08:00:00Z");
        assert!(!delay_reasons_required(aware, aware));
        assert!(!delay_reasons_required(aware, at("2026-03-05T08:00:00Z")));
        assert!(delay_reasons_required(aware, at("2026-03-05T08:00:01Z")));
    }

    #[test]
    fn states_and_alerts_have_their_wire_names() {
        assert_eq!(ClockState::NotifiedLate.as_str(), "notified_late");
        assert_eq!(Alert::Hours66.to_string(), "66h");
        assert_eq!("48h".parse::<Alert>().unwrap(), Alert::Hours48);
    }
}
