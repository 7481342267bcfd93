//! The requests' watch, run with the purge (under its lease, on its
//! interval): deadline reminders and the end of a closed request's record.
//!
//! - **Reminders** (reference §4 B.13): at seven days, two days and on the
//!   due day (core's `RequestClock::reminder`), each once per due date —
//!   an extension moves the date, and the reminders start again for the
//!   new one. A reminder is a timeline entry and an audit event, plus an
//!   email to each `[requests] alert_to` address queued in the outbox in
//!   the same transaction. A paused clock sends none. The alert names the
//!   reference, the due date and the days left — no personal data.
//! - **The record's retention** (DSR records, §4 E.32): a request closed
//!   more than `[requests] retention_years` ago is deleted with everything
//!   it holds; the audit log keeps an event naming its reference.

use chrono::NaiveDate;
use kirjuri_core::deadline::Reminder;
use kirjuri_store::NewOutboxMessage;
use serde_json::json;

use super::{QUEUE_LIMIT, Step, StoredClock, today};
use crate::app::Kirjuri;
use crate::error::Result;
use crate::outbox::Content;

/// Records deleted per run at most; the next run takes the rest.
const DELETE_BATCH: u32 = 1000;

/// What one watch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchReport {
    /// Reminders recorded (each with its alerts).
    pub reminders: u64,
    /// Closed requests whose record was deleted.
    pub deleted: u64,
}

/// A reminder's wire name.
fn reminder_name(reminder: Reminder) -> &'static str {
    match reminder {
        Reminder::SevenDays => "seven_days",
        Reminder::TwoDays => "two_days",
        Reminder::DueDay => "due_day",
    }
}

/// The alert's subject and text, in Finnish and English (staff mail).
fn alert_text(reference: &str, due: NaiveDate, days_left: i64) -> (String, String) {
    let date = due.format("%-d.%-m.%Y");
    let subject = if days_left < 0 {
        format!("Myöhässä / Overdue: {reference}")
    } else {
        format!("Määräaika lähestyy / Due soon: {reference}")
    };
    let text = format!(
        "Tietosuojapyyntö {reference}: määräpäivä {date}, päiviä jäljellä {days_left}.\n\
         Data-subject request {reference}: due {date}, days left {days_left}.\n"
    );
    (subject, text)
}

impl Kirjuri {
    /// Runs the watch once: reminders for open requests, then the end of
    /// closed requests' records.
    pub async fn watch_requests(&self) -> Result<WatchReport> {
        let mut report = WatchReport {
            reminders: self.remind_requests().await?,
            ..WatchReport::default()
        };
        report.deleted = self.delete_expired_requests().await?;
        Ok(report)
    }

    /// Records each reminder due and not yet recorded for its due date.
    async fn remind_requests(&self) -> Result<u64> {
        let now = self.clock.now();
        let today = today(now);
        let mut reminded = 0;
        for row in self.store.open_requests(QUEUE_LIMIT).await? {
            let clock = StoredClock::load(&row)?;
            if clock.is_paused() {
                continue;
            }
            let Some(reminder) = clock.reminder(today) else {
                continue;
            };
            let due = clock.due_date(today);
            let due_text = due.to_string();
            let sent = self.store.request_events(&row.id).await?.iter().any(|e| {
                e.kind == "reminder"
                    && e.detail["due_date"] == due_text.as_str()
                    && e.detail["rank"].as_u64() >= Some(reminder as u64)
            });
            if sent {
                continue;
            }
            let days_left = clock.days_left(today);
            let step = Step::done(
                "reminder",
                json!({
                    "reminder": reminder_name(reminder),
                    "rank": reminder as u64,
                    "due_date": due_text,
                    "days_left": days_left,
                    "alerts": self.config.requests.alert_to.len(),
                }),
            );
            let (subject, text) = alert_text(&row.reference, due, days_left);
            let messages = self
                .config
                .requests
                .alert_to
                .iter()
                .map(|to| {
                    let content = Content::email(to, &subject, &text)?;
                    self.seal_message("dsr.deadline_alert", &content)
                })
                .collect::<Result<Vec<NewOutboxMessage>>>()?;
            self.store
                .note_request(
                    &row.id,
                    &step.timeline(now, None),
                    &messages,
                    &step.audit(now, None, Some(row.id)),
                )
                .await?;
            tracing::info!(
                reference = %row.reference,
                reminder = reminder_name(reminder),
                days_left,
                "data-subject request deadline reminder"
            );
            reminded += 1;
        }
        Ok(reminded)
    }

    /// Deletes closed requests whose record's retention has ended.
    async fn delete_expired_requests(&self) -> Result<u64> {
        let now = self.clock.now();
        let mut deleted = 0;
        for (id, reference) in self.store.expired_requests(now, DELETE_BATCH).await? {
            let step = Step::done(
                "record_deleted",
                json!({
                    "reference": reference,
                    "retention_years": self.config.requests.retention_years,
                }),
            );
            if self
                .store
                .delete_request(&id, now, &step.audit(now, None, Some(id)))
                .await?
            {
                deleted += 1;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "closed data-subject requests' records deleted");
        }
        Ok(deleted)
    }
}
