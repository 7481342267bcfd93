//! Satisfaction surveys' rules (SURV-1; issue 15 §4), pure: a service's
//! survey settings and their checks ([`SurveySettings`]), quiet hours on
//! the Helsinki wall clock across the daylight-saving changes
//! ([`QuietHours`]), the sampling draw ([`sampled`]), and what counts as a
//! reply ([`Reply::parse`]).
//!
//! Quiet hours are a wall-clock window, `start`–`end` (`22:00`–`09:00`
//! wraps midnight; equal ends mean none). When an invitation falls due
//! inside them it waits until the window's end on the Helsinki clock — on
//! the night the clocks go forward (last Sunday of March, 03:00 → 04:00)
//! an end inside the missing hour becomes the first instant after it, and
//! on the night they go back (last Sunday of October, 04:00 → 03:00) an end
//! in the repeated hour is its first occurrence, so nothing is sent in the
//! quiet window whichever hour the clock shows twice.
//!
//! What this module is not: storage, sending, or the decision whom a
//! survey may reach (objections and restrictions are the application's,
//! checked at send time).

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Helsinki;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest delay after a contact, in minutes: a week.
pub const MAX_DELAY_MINUTES: u32 = 7 * 24 * 60;

/// The longest "one invitation per person" period, in days: two years.
pub const MAX_PERIOD_DAYS: u32 = 730;

/// The longest invitation text, in characters (ten SMS parts).
pub const MAX_TEXT_CHARS: usize = 600;

/// The longest reply comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// Sampling is per mille: 1000 invites after every contact.
pub const PER_MILLE: u32 = 1000;

/// A wall-clock window on the Helsinki clock in which no invitation is
/// sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// When the quiet starts.
    start: NaiveTime,
    /// When it ends (before `start`: the window wraps midnight).
    end: NaiveTime,
}

/// A `HH:MM` time.
fn parse_time(value: &str, field: &'static str) -> Result<NaiveTime> {
    if value.len() != 5 {
        return Err(Error::Refused {
            code: "invalid_survey",
            reason: field,
        });
    }
    NaiveTime::parse_from_str(value, "%H:%M").map_err(|_| Error::Refused {
        code: "invalid_survey",
        reason: field,
    })
}

impl QuietHours {
    /// The window `start`–`end`, each `HH:MM`.
    pub fn parse(start: &str, end: &str) -> Result<Self> {
        Ok(Self {
            start: parse_time(start, "quiet_start must be a time, HH:MM")?,
            end: parse_time(end, "quiet_end must be a time, HH:MM")?,
        })
    }

    /// Whether the wall-clock time `local` is inside the window.
    fn contains(&self, local: NaiveTime) -> bool {
        if self.start == self.end {
            false
        } else if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }

    /// Whether `at` falls in the quiet hours in Helsinki.
    pub fn is_quiet(&self, at: DateTime<Utc>) -> bool {
        self.contains(at.with_timezone(&Helsinki).time())
    }

    /// The first instant at or after `at` outside the quiet hours.
    pub fn next_allowed(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if !self.is_quiet(at) {
            return at;
        }
        let local = at.with_timezone(&Helsinki).naive_local();
        let mut end_day = local.date();
        // Quiet in the evening part of a window that wraps midnight: it
        // ends tomorrow morning.
        if self.start > self.end && local.time() >= self.start {
            end_day = end_day.succ_opt().unwrap_or(end_day);
        }
        helsinki_instant(end_day.and_time(self.end)).max(at)
    }
}

/// The instant the Helsinki wall clock shows `local`: the first of two in
/// the hour October repeats, the first instant after the hour March skips.
fn helsinki_instant(local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    // A gap is one hour; a minute's steps find its end.
    for _ in 0..=120 {
        if let Some(at) = Helsinki.from_local_datetime(&probe).earliest() {
            return at.with_timezone(&Utc);
        }
        probe += Duration::minutes(1);
    }
    // Unreachable for Helsinki's rules; UTC reading is a safe upper bound.
    Utc.from_utc_datetime(&local)
}

/// A service's survey settings, as supervisors set them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveySettings {
    /// Whether invitations are sent at all.
    pub enabled: bool,
    /// How many contacts in a thousand get an invitation.
    pub sample_per_mille: u32,
    /// Minutes after the contact ended before the invitation is due.
    pub delay_minutes: u32,
    /// Quiet hours' start, `HH:MM` Helsinki.
    pub quiet_start: String,
    /// Quiet hours' end, `HH:MM` Helsinki.
    pub quiet_end: String,
    /// At most one invitation per person in this many days.
    pub period_days: u32,
    /// The invitation in Finnish.
    pub text_fi: String,
    /// In Swedish.
    pub text_sv: String,
    /// In English.
    pub text_en: String,
}

/// A field of [`SurveySettings`] that fails its check: the field's name
/// (as in the API's JSON and the settings form) and why, never quoting
/// the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidField {
    /// The field.
    pub field: &'static str,
    /// What it must be.
    pub reason: &'static str,
}

impl SurveySettings {
    /// Every field that fails its check, in the fields' order (empty when
    /// all pass): a form shows each beside its field.
    pub fn invalid_fields(&self) -> Vec<InvalidField> {
        let mut invalid = Vec::new();
        let mut refuse = |field, reason| invalid.push(InvalidField { field, reason });
        if self.sample_per_mille > PER_MILLE {
            refuse("sample_per_mille", "sample_per_mille is 0–1000");
        }
        if self.delay_minutes > MAX_DELAY_MINUTES {
            refuse("delay_minutes", "delay_minutes is at most 10080 (a week)");
        }
        if parse_time(&self.quiet_start, "").is_err() {
            refuse("quiet_start", "quiet_start must be a time, HH:MM");
        }
        if parse_time(&self.quiet_end, "").is_err() {
            refuse("quiet_end", "quiet_end must be a time, HH:MM");
        }
        if self.period_days == 0 || self.period_days > MAX_PERIOD_DAYS {
            refuse("period_days", "period_days is 1–730");
        }
        let texts = [
            (
                "text_fi",
                &self.text_fi,
                "text_fi is 1–600 characters",
                "text_fi has no control characters",
            ),
            (
                "text_sv",
                &self.text_sv,
                "text_sv is 1–600 characters",
                "text_sv has no control characters",
            ),
            (
                "text_en",
                &self.text_en,
                "text_en is 1–600 characters",
                "text_en has no control characters",
            ),
        ];
        for (field, text, length, control) in texts {
            let n = text.chars().count();
            if text.trim().is_empty() || n > MAX_TEXT_CHARS {
                refuse(field, length);
            } else if text.chars().any(|c| c.is_control() && c != '\n') {
                refuse(field, control);
            }
        }
        invalid
    }

    /// Checks every field; the error names the first failing field (see
    /// [`SurveySettings::invalid_fields`]), never quotes a text.
    pub fn check(&self) -> Result<QuietHours> {
        if let Some(first) = self.invalid_fields().first() {
            return Err(Error::Refused {
                code: "invalid_survey",
                reason: first.reason,
            });
        }
        QuietHours::parse(&self.quiet_start, &self.quiet_end)
    }

    /// The invitation text in `language` (`fi`, `sv`, `en`; Finnish for
    /// anything else).
    pub fn text(&self, language: &str) -> &str {
        match language {
            "sv" => &self.text_sv,
            "en" => &self.text_en,
            _ => &self.text_fi,
        }
    }
}

/// Whether a contact is sampled: `draw` is uniform in `0..1000`.
pub fn sampled(sample_per_mille: u32, draw: u32) -> bool {
    draw < sample_per_mille.min(PER_MILLE)
}

/// A reply to an invitation: a score and, optionally, words.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// 1 (poor) … 5 (excellent).
    pub score: u8,
    /// What else the person wrote (personal data), trimmed and bounded.
    pub comment: Option<String>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the comment.
        f.debug_struct("Reply")
            .field("score", &self.score)
            .field("comment", &self.comment.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Reply {
    /// A reply's text: a digit 1–5 first (after spaces), then optionally a
    /// separator and words. Anything else is not a reply (`None`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let mut chars = text.chars();
        let first = chars.next()?;
        let score = first.to_digit(10).filter(|d| (1..=5).contains(d))?;
        let rest = chars.as_str();
        if rest.chars().next().is_some_and(|c| c.is_alphanumeric()) {
            // "12" or "5x" is not a score.
            return None;
        }
        let comment: String = rest
            .trim_start_matches(|c: char| c.is_whitespace() || ",.;:-/".contains(c))
            .trim()
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .take(MAX_COMMENT_CHARS)
            .collect();
        Some(Reply {
            score: u8::try_from(score).ok()?,
            comment: (!comment.is_empty()).then_some(comment),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn night() -> QuietHours {
        QuietHours::parse("21:00", "09:00").unwrap()
    }

    #[test]
    fn outside_quiet_hours_an_invitation_goes_at_once() {
        let at = utc("2026-06-10T09:00:00Z"); // 12:00 in Helsinki (UTC+3)
        assert_eq!(night().next_allowed(at), at);
    }

    #[test]
    fn an_evening_invitation_waits_until_nine_next_morning_in_helsinki() {
        // 22:30 Helsinki summer time → 09:00 next day = 06:00Z.
        let at = utc("2026-06-10T19:30:00Z");
        assert_eq!(night().next_allowed(at), utc("2026-06-11T06:00:00Z"));
        // Winter: UTC+2.
        let at = utc("2026-01-10T20:30:00Z");
        assert_eq!(night().next_allowed(at), utc("2026-01-11T07:00:00Z"));
    }

    #[test]
    fn across_the_march_change_the_morning_end_is_on_summer_time() {
        // Sat 28 Mar 2026 23:00 EET (21:00Z); clocks go forward on Sun 29
        // Mar at 03:00 → 04:00; 09:00 Sunday is EEST (06:00Z), not 07:00Z.
        let at = utc("2026-03-28T21:00:00Z");
        assert!(night().is_quiet(at));
        assert_eq!(night().next_allowed(at), utc("2026-03-29T06:00:00Z"));
    }

    #[test]
    fn across_the_october_change_the_morning_end_is_on_winter_time() {
        // Sat 24 Oct 2026 23:00 EEST (20:00Z); clocks go back on Sun 25
        // Oct at 04:00 → 03:00; 09:00 Sunday is EET (07:00Z).
        let at = utc("2026-10-24T20:00:00Z");
        assert_eq!(night().next_allowed(at), utc("2026-10-25T07:00:00Z"));
    }

    #[test]
    fn an_end_in_the_skipped_hour_is_the_first_instant_after_it() {
        let quiet = QuietHours::parse("01:00", "03:30").unwrap();
        // 01:30 EET on 29 Mar = 23:30Z on 28 Mar; 03:30 does not exist,
        // 04:00 EEST = 01:00Z.
        let at = utc("2026-03-28T23:30:00Z");
        assert_eq!(quiet.next_allowed(at), utc("2026-03-29T01:00:00Z"));
        assert!(!quiet.is_quiet(utc("2026-03-29T01:00:00Z")));
    }

    #[test]
    fn an_end_in_the_repeated_hour_is_its_first_occurrence_and_nothing_is_sent_in_the_window() {
        let quiet = QuietHours::parse("01:00", "03:30").unwrap();
        // 02:00 EEST on 25 Oct = 23:00Z on 24 Oct; 03:30 happens at
        // 00:30Z (EEST) and again at 01:30Z (EET); the first.
        let at = utc("2026-10-24T23:00:00Z");
        assert_eq!(quiet.next_allowed(at), utc("2026-10-25T00:30:00Z"));
        // Every minute of the night until then is quiet.
        let mut t = at;
        while t < utc("2026-10-25T00:30:00Z") {
            assert!(quiet.is_quiet(t), "{t}");
            t += Duration::minutes(1);
        }
    }

    #[test]
    fn equal_ends_mean_no_quiet_hours_and_bad_times_are_refused() {
        let none = QuietHours::parse("00:00", "00:00").unwrap();
        let at = utc("2026-06-10T23:59:00Z");
        assert_eq!(none.next_allowed(at), at);
        assert!(QuietHours::parse("24:00", "09:00").is_err());
        assert!(QuietHours::parse("9:00", "09:00").is_err());
        assert!(QuietHours::parse("21:00", "09:00 ").is_err());
    }

    #[test]
    fn sampling_takes_the_rate_in_a_thousand() {
        assert!(!sampled(0, 0));
        assert!(sampled(1000, 999));
        assert!(sampled(250, 249));
        assert!(!sampled(250, 250));
        assert_eq!((0..1000).filter(|d| sampled(100, *d)).count(), 100);
    }

    #[test]
    fn a_reply_is_a_score_one_to_five_and_optional_words() {
        let r = Reply::parse(" 4 ").unwrap();
        assert_eq!((r.score, r.comment), (4, None));
        let r = Reply::parse("5, very helpful").unwrap();
        assert_eq!((r.score, r.comment.as_deref()), (5, Some("very helpful")));
        let r = Reply::parse("1\nslow").unwrap();
        assert_eq!(r.comment.as_deref(), Some("slow"));
        for not_a_reply in ["", "0", "6", "12", "5x", "great", "-3", "٣"] {
            assert!(Reply::parse(not_a_reply).is_none(), "{not_a_reply:?}");
        }
        let long = format!("3 {}", "a".repeat(5000));
        assert_eq!(
            Reply::parse(&long)
                .unwrap()
                .comment
                .unwrap()
                .chars()
                .count(),
            MAX_COMMENT_CHARS
        );
        assert!(!format!("{:?}", Reply::parse("2 secret words").unwrap()).contains("secret"));
    }

    fn settings() -> SurveySettings {
        SurveySettings {
            enabled: true,
            sample_per_mille: 100,
            delay_minutes: 60,
            quiet_start: "21:00".into(),
            quiet_end: "09:00".into(),
            period_days: 90,
            text_fi: "Arvioi palvelumme 1-5".into(),
            text_sv: "Betygsätt 1-5".into(),
            text_en: "Rate us 1-5".into(),
        }
    }

    #[test]
    fn settings_out_of_range_are_refused_naming_the_field() {
        assert!(settings().check().is_ok());
        let refused = |s: SurveySettings| match s.check() {
            Err(Error::Refused { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        let mut s = settings();
        s.sample_per_mille = 1001;
        assert!(refused(s).contains("sample_per_mille"));
        let mut s = settings();
        s.period_days = 0;
        assert!(refused(s).contains("period_days"));
        let mut s = settings();
        s.delay_minutes = MAX_DELAY_MINUTES + 1;
        assert!(refused(s).contains("delay_minutes"));
        let mut s = settings();
        s.text_sv = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(refused(s).contains("text_sv"));
        let mut s = settings();
        s.text_en = "a\u{0}b".into();
        assert!(refused(s).contains("text_en has no control"));
        let mut s = settings();
        s.quiet_end = "9".into();
        assert!(refused(s).contains("quiet_end"));
        assert_eq!(settings().text("sv"), "Betygsätt 1-5");
        assert_eq!(settings().text("de"), "Arvioi palvelumme 1-5");
    }

    #[test]
    fn every_failing_field_is_named_once_in_the_fields_order() {
        assert!(settings().invalid_fields().is_empty());
        let s = SurveySettings {
            sample_per_mille: 1001,
            quiet_start: "25:00".into(),
            period_days: 731,
            text_fi: " ".into(),
            text_en: "a\u{1b}b".into(),
            ..settings()
        };
        let fields: Vec<&str> = s.invalid_fields().iter().map(|i| i.field).collect();
        assert_eq!(
            fields,
            [
                "sample_per_mille",
                "quiet_start",
                "period_days",
                "text_fi",
                "text_en"
            ]
        );
        assert!(
            s.invalid_fields()
                .iter()
                .all(|i| i.reason.starts_with(i.field))
        );
        let first = match s.check() {
            Err(Error::Refused { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(first, "sample_per_mille is 0–1000");
    }
}
