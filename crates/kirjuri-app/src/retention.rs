//! Retention policies (RET-1): how long each stored kind is kept and the
//! legal or contractual reference that says so. Deadlines are fixed at
//! intake from these ([`RetentionConfig::retain_until`]); a changed policy
//! reaches stored deadlines only through an explicit, audited
//! `kirjuri retention apply` ([`Kirjuri::apply_policies`]), which can shorten
//! and never lengthen.
//!
//! Also here: the retention overview behind `GET /api/v1/retention` — what
//! expires in the next days, the active holds and the policies in force.
//!
//! Not here: the purge (`purge`), legal holds themselves (`holds`), or the
//! calendar arithmetic (`kirjuri_core::retention`).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, FixedOffset, Months, TimeDelta, Utc};
use kirjuri_core::access::{Action, Actor};
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::retention::{local_call_date, retain_until_months};
use kirjuri_store::{ContactFilter, DeadlineChange};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::app::Kirjuri;
use crate::audit::to_row;
use crate::error::{Error, Result};
use crate::holds::HoldView;

/// The longest policy: 100 years.
pub const MAX_POLICY_MONTHS: u32 = 1200;

/// What the privacy notice (§12) promises for call recordings.
pub const NOTICE_RECORDING_MONTHS: u32 = 12;

/// The longest a reference text may be.
const MAX_REFERENCE_CHARS: usize = 500;

/// One kind's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Calendar months after the contact's day (Europe/Helsinki) that the
    /// data is kept.
    pub months: u32,
    /// The legal or contractual ground, quoted in tombstones and reports.
    pub reference: String,
}

impl Policy {
    fn notice(months: u32) -> Self {
        Self {
            months,
            reference: "Privacy notice §12: call recordings are kept at most 12 months from \
                        the day of the call; other data only as long as its purposes need it"
                .to_owned(),
        }
    }

    /// The rule a tombstone quotes, e.g. `call_recording: 12 months
    /// (Privacy notice §12: …)`.
    pub fn rule(&self, kind: StoredKind) -> String {
        format!(
            "{}: {} months ({})",
            kind.as_str(),
            self.months,
            self.reference
        )
    }
}

/// The stored kinds a policy is set for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredKind {
    /// Call recordings (the WAV evidence).
    CallRecording,
    /// Chat transcripts.
    ChatTranscript,
    /// Email messages.
    Email,
    /// Web form payloads.
    FormPayload,
    /// Files attached to a form, an email or a chat (`attachment_N`).
    Attachment,
    /// Waveform peaks and other derived artefacts.
    Derived,
    /// The contact's own record.
    ContactMetadata,
}

impl StoredKind {
    /// Every kind, in the order policies are shown.
    pub const ALL: [StoredKind; 7] = [
        StoredKind::CallRecording,
        StoredKind::ChatTranscript,
        StoredKind::Email,
        StoredKind::FormPayload,
        StoredKind::Attachment,
        StoredKind::Derived,
        StoredKind::ContactMetadata,
    ];

    /// The configuration key and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoredKind::CallRecording => "call_recording",
            StoredKind::ChatTranscript => "chat_transcript",
            StoredKind::Email => "email",
            StoredKind::FormPayload => "form_payload",
            StoredKind::Attachment => "attachment",
            StoredKind::Derived => "derived",
            StoredKind::ContactMetadata => "contact_metadata",
        }
    }

    /// The policy kind of a stored object's `kind` column (`recording`,
    /// `waveform`, …); `None` for a kind no policy names.
    pub fn of_object(kind: &str) -> Option<Self> {
        match kind {
            "recording" => Some(StoredKind::CallRecording),
            "waveform" => Some(StoredKind::Derived),
            "chat_transcript" | "transcript" => Some(StoredKind::ChatTranscript),
            "email" | "message" => Some(StoredKind::Email),
            "form_payload" | "form" => Some(StoredKind::FormPayload),
            _ if crate::attachments::is_attachment(kind) => Some(StoredKind::Attachment),
            _ => None,
        }
    }
}

impl fmt::Display for StoredKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Retention per stored kind, and how the purge runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Call recordings (the WAV evidence). The notice promises at most 12
    /// months; more is refused unless `call_recording_exceeds_notice_reason`
    /// says why (and the notice should then be changed too).
    pub call_recording: Policy,
    /// Chat transcripts.
    pub chat_transcript: Policy,
    /// Email messages.
    pub email: Policy,
    /// Web form payloads.
    pub form_payload: Policy,
    /// Attachments (of forms, emails and chats), stored as delivered.
    pub attachment: Policy,
    /// Waveform peaks and other derived artefacts: never longer than their
    /// source, whatever this says.
    pub derived: Policy,
    /// The contact's own record (its sealed document and blind indexes).
    pub contact_metadata: Policy,
    /// Why call recordings are kept longer than the notice's 12 months (a
    /// statute or contract); without it such a policy is refused.
    pub call_recording_exceeds_notice_reason: Option<String>,
    /// Seconds between background purges in `serve`.
    pub purge_interval_seconds: u64,
    /// The longest a legal hold may go before its review date, in months.
    pub hold_max_review_months: u32,
    /// Days before a hold's review date that its owner is reminded.
    pub hold_reminder_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            call_recording: Policy::notice(12),
            chat_transcript: Policy::notice(12),
            email: Policy::notice(12),
            form_payload: Policy::notice(12),
            attachment: Policy::notice(12),
            derived: Policy::notice(12),
            contact_metadata: Policy::notice(12),
            call_recording_exceeds_notice_reason: None,
            purge_interval_seconds: 300,
            hold_max_review_months: 24,
            hold_reminder_days: 14,
        }
    }
}

/// A retention configuration that cannot be used; the message names the
/// setting and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRetention(String);

impl RetentionConfig {
    /// The policy for a kind.
    pub fn policy(&self, kind: StoredKind) -> &Policy {
        match kind {
            StoredKind::CallRecording => &self.call_recording,
            StoredKind::ChatTranscript => &self.chat_transcript,
            StoredKind::Email => &self.email,
            StoredKind::FormPayload => &self.form_payload,
            StoredKind::Attachment => &self.attachment,
            StoredKind::Derived => &self.derived,
            StoredKind::ContactMetadata => &self.contact_metadata,
        }
    }

    /// Every policy, in [`StoredKind::ALL`] order.
    pub fn policies(&self) -> impl Iterator<Item = (StoredKind, &Policy)> {
        StoredKind::ALL.into_iter().map(|k| (k, self.policy(k)))
    }

    /// The deadline a kind gets for a contact that started at `started`:
    /// Helsinki midnight `months` calendar months after its local day.
    pub fn retain_until(&self, kind: StoredKind, started: DateTime<FixedOffset>) -> DateTime<Utc> {
        retain_until_months(started, self.policy(kind).months)
    }

    /// A derived artefact's deadline: its own policy's, but never later
    /// than its source's.
    pub fn derived_retain_until(
        &self,
        started: DateTime<FixedOffset>,
        source: DateTime<Utc>,
    ) -> DateTime<Utc> {
        self.retain_until(StoredKind::Derived, started).min(source)
    }

    /// Checks the configuration once, at start-up: every policy 1..=1200
    /// months with a reference; call recordings within the notice's 12
    /// months unless a reason for more is configured; sane hold limits.
    pub fn validate(&self) -> std::result::Result<(), InvalidRetention> {
        for (kind, policy) in self.policies() {
            if !(1..=MAX_POLICY_MONTHS).contains(&policy.months) {
                return Err(InvalidRetention(format!(
                    "retention.{kind}.months must be between 1 and {MAX_POLICY_MONTHS} \
                     (it is {})",
                    policy.months
                )));
            }
            let reference = policy.reference.trim();
            if reference.is_empty() {
                return Err(InvalidRetention(format!(
                    "retention.{kind}.reference must name the legal or contractual ground \
                     for keeping {kind} data {} months",
                    policy.months
                )));
            }
            if reference.chars().count() > MAX_REFERENCE_CHARS
                || reference.chars().any(char::is_control)
            {
                return Err(InvalidRetention(format!(
                    "retention.{kind}.reference must be one line of at most \
                     {MAX_REFERENCE_CHARS} characters"
                )));
            }
        }
        let reason = self
            .call_recording_exceeds_notice_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if self.call_recording.months > NOTICE_RECORDING_MONTHS && reason.is_none() {
            return Err(InvalidRetention(format!(
                "retention.call_recording.months is {}, but the privacy notice promises at most \
                 {NOTICE_RECORDING_MONTHS} months for call recordings; lower it, or set \
                 retention.call_recording_exceeds_notice_reason to the statute or contract \
                 that requires keeping them longer (and update the notice)",
                self.call_recording.months
            )));
        }
        if !(1..=MAX_POLICY_MONTHS).contains(&self.hold_max_review_months) {
            return Err(InvalidRetention(format!(
                "retention.hold_max_review_months must be between 1 and {MAX_POLICY_MONTHS} \
                 (it is {})",
                self.hold_max_review_months
            )));
        }
        if self.purge_interval_seconds == 0 {
            return Err(InvalidRetention(
                "retention.purge_interval_seconds must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// One policy as shown (`kirjuri retention policies`, the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    /// The kind.
    pub kind: StoredKind,
    /// Calendar months kept.
    pub months: u32,
    /// The legal or contractual reference.
    pub reference: String,
}

/// What `kirjuri retention apply` found (and, unless a dry run, did), per
/// kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Deadlines the current policy brings earlier.
    pub shortened: u64,
    /// Deadlines the current policy would move later: refused, kept as they
    /// are (a deadline never silently lengthens).
    pub refused_longer: u64,
    /// Deadlines already as the policy says.
    pub unchanged: u64,
}

/// The outcome of [`Kirjuri::apply_policies`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyApplication {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Counts per kind (`contact_metadata`, `call_recording`, `derived`, …).
    pub kinds: BTreeMap<StoredKind, KindCounts>,
    /// Stored objects whose kind no policy names (left alone).
    pub unknown_kinds: u64,
    /// How many deadlines the store actually lowered (equals the sum of
    /// `shortened` unless something changed meanwhile; 0 for a dry run).
    pub applied: u64,
}

impl PolicyApplication {
    /// The total of deadlines shortened (or, in a dry run, to shorten).
    pub fn shortened(&self) -> u64 {
        self.kinds.values().map(|c| c.shortened).sum()
    }

    /// The total of deadlines that would lengthen and are refused.
    pub fn refused_longer(&self) -> u64 {
        self.kinds.values().map(|c| c.refused_longer).sum()
    }

    fn count(&mut self, kind: StoredKind, stored: DateTime<Utc>, wanted: DateTime<Utc>) -> bool {
        let counts = self.kinds.entry(kind).or_default();
        if wanted < stored {
            counts.shortened += 1;
            true
        } else if wanted > stored {
            counts.refused_longer += 1;
            false
        } else {
            counts.unchanged += 1;
            false
        }
    }
}

/// Contacts read per page while recomputing deadlines.
const APPLY_PAGE: u32 = 1000;

/// The most days `GET /api/v1/retention` looks ahead.
pub const MAX_OVERVIEW_DAYS: u32 = 3650;

/// Deadlines listed by id in the overview (the counts cover all).
const OVERVIEW_ITEMS: u32 = 100;

/// Deadlines counted per kind in the overview, at most.
const OVERVIEW_COUNT_LIMIT: u32 = 100_000;

/// One upcoming deadline, by ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineView {
    /// The object's id, or the contact's for its own record.
    pub id: Uuid,
    /// The contact.
    pub contact_id: ContactId,
    /// `recording`, `waveform`, … or `contact`.
    pub kind: String,
    /// The deadline.
    pub retain_until: DateTime<Utc>,
    /// Whether an active hold keeps it past the deadline.
    pub held: bool,
}

/// `GET /api/v1/retention`.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionOverview {
    /// Now, as the server saw it.
    pub now: DateTime<Utc>,
    /// How many days ahead it looked.
    pub days: u32,
    /// The end of the window.
    pub until: DateTime<Utc>,
    /// Deadlines in the window per kind (`contact`, `recording`, …).
    pub counts: BTreeMap<String, u64>,
    /// Whether the counts stopped at their cap (there are more).
    pub counts_truncated: bool,
    /// The first deadlines, soonest first, by ids only.
    pub items: Vec<DeadlineView>,
    /// Active holds by review date; `due_for_review` marks those whose
    /// review date is within the reminder window or past.
    pub holds: Vec<HoldView>,
    /// The policies in force.
    pub policies: Vec<PolicyView>,
}

impl Kirjuri {
    /// The policies in force.
    pub fn policies(&self) -> Vec<PolicyView> {
        self.config
            .retention
            .policies()
            .map(|(kind, policy)| PolicyView {
                kind,
                months: policy.months,
                reference: policy.reference.clone(),
            })
            .collect()
    }

    /// Recomputes every stored deadline under the policies in force and
    /// lowers those that come out earlier, in one transaction with one
    /// audit event carrying the counts. A deadline that would come out later
    /// is refused and counted: deadlines never silently lengthen. A dry run
    /// counts and writes nothing. Run by the operator (`kirjuri retention
    /// apply`).
    pub async fn apply_policies(&self, dry_run: bool) -> Result<PolicyApplication> {
        let config = &self.config.retention;
        let mut outcome = PolicyApplication {
            dry_run,
            ..PolicyApplication::default()
        };
        let mut changes = Vec::new();
        let mut filter = ContactFilter {
            limit: APPLY_PAGE,
            ..ContactFilter::default()
        };
        loop {
            let page = self.store.search_contacts(&filter).await?;
            for contact in &page {
                // The day is the Helsinki date of the start, whatever offset
                // it was stamped with, so the stored UTC instant is enough.
                let started = contact.started_at.fixed_offset();
                let wanted = config.retain_until(StoredKind::ContactMetadata, started);
                if outcome.count(StoredKind::ContactMetadata, contact.retain_until, wanted) {
                    changes.push(DeadlineChange {
                        id: *contact.id.as_uuid(),
                        contact: true,
                        retain_until: wanted,
                    });
                }
                let objects = self.store.objects_for_contact(&contact.id).await?;
                // Sources first, so a derived artefact can follow its
                // source's new (or kept) deadline.
                let mut effective = BTreeMap::new();
                for object in objects.iter().filter(|o| o.source.is_none()) {
                    let Some(kind) = StoredKind::of_object(&object.kind) else {
                        outcome.unknown_kinds += 1;
                        effective.insert(object.id, object.retain_until);
                        continue;
                    };
                    let wanted = config.retain_until(kind, started);
                    let shorten = outcome.count(kind, object.retain_until, wanted);
                    if shorten {
                        changes.push(DeadlineChange {
                            id: *object.id.as_uuid(),
                            contact: false,
                            retain_until: wanted,
                        });
                    }
                    effective.insert(object.id, wanted.min(object.retain_until));
                }
                for object in objects.iter().filter(|o| o.source.is_some()) {
                    let source = object.source.and_then(|s| effective.get(&s).copied());
                    let own = config.retain_until(StoredKind::Derived, started);
                    let wanted = source.map_or(own, |s| own.min(s));
                    if outcome.count(StoredKind::Derived, object.retain_until, wanted) {
                        changes.push(DeadlineChange {
                            id: *object.id.as_uuid(),
                            contact: false,
                            retain_until: wanted,
                        });
                    }
                }
            }
            if page.len() < APPLY_PAGE as usize {
                break;
            }
            filter.before = page.last().map(|c| (c.started_at, c.id));
        }
        if dry_run {
            return Ok(outcome);
        }
        let event = AuditEvent::RetentionPolicyApplied {
            counts: json!({
                "kinds": outcome.kinds,
                "shortened": outcome.shortened(),
                "refused_longer": outcome.refused_longer(),
                "unknown_kinds": outcome.unknown_kinds,
                "policies": self.config.retention.policies()
                    .map(|(kind, p)| (kind.as_str(), p.months))
                    .collect::<BTreeMap<_, _>>(),
            }),
        };
        let audit = to_row(self.clock.now(), None, &event);
        outcome.applied = self.store.shorten_deadlines(&changes, &[audit]).await?;
        Ok(outcome)
    }

    /// `GET /api/v1/retention?days=N`: deadlines in the next `days` days
    /// (counts per kind and the first items, by ids only), the active holds
    /// with their review dates, and the policies. Supervisors, registrars
    /// and administrators; the read is audited, a refusal too.
    pub async fn retention_overview(
        &self,
        actor: &Actor,
        actor_id: UserId,
        days: Option<u32>,
    ) -> Result<RetentionOverview> {
        self.authorize_register(actor, actor_id, Action::ReadRetention, None)
            .await?;
        let days = days.unwrap_or(30);
        if !(1..=MAX_OVERVIEW_DAYS).contains(&days) {
            return Err(Error::bad_request(
                "invalid_parameter",
                format!("days must be between 1 and {MAX_OVERVIEW_DAYS}"),
            ));
        }
        let now = self.clock.now();
        let until = now + TimeDelta::days(i64::from(days));
        let upcoming = self
            .store
            .upcoming_deadlines(now, until, OVERVIEW_COUNT_LIMIT + 1)
            .await?;
        let counts_truncated = upcoming.len() > OVERVIEW_COUNT_LIMIT as usize;
        let mut counts = BTreeMap::new();
        for deadline in upcoming.iter().take(OVERVIEW_COUNT_LIMIT as usize) {
            *counts.entry(deadline.kind.clone()).or_insert(0u64) += 1;
        }
        let items = upcoming
            .iter()
            .take(OVERVIEW_ITEMS as usize)
            .map(|d| DeadlineView {
                id: d.id,
                contact_id: d.contact_id,
                kind: d.kind.clone(),
                retain_until: d.retain_until,
                held: d.held,
            })
            .collect();
        let holds = self.hold_views(self.store.holds(Some(now)).await?).await?;
        self.audit(Some(actor_id), &AuditEvent::RetentionRead { days })
            .await?;
        Ok(RetentionOverview {
            now,
            days,
            until,
            counts,
            counts_truncated,
            items,
            holds,
            policies: self.policies(),
        })
    }
}

/// The latest review date a hold placed at `now` may have: the Helsinki day
/// `max_months` calendar months after today.
pub fn latest_review_date(now: DateTime<Utc>, max_months: u32) -> chrono::NaiveDate {
    let today = local_call_date(now.fixed_offset());
    today
        .checked_add_months(Months::new(max_months))
        .unwrap_or(chrono::NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn the_default_policies_are_valid_and_keep_recordings_twelve_months() {
        let config = RetentionConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.call_recording.months, 12);
        assert_eq!(config.hold_max_review_months, 24);
    }

    #[test]
    fn months_outside_1_to_1200_are_refused_naming_the_setting() {
        for months in [0, 1201, u32::MAX] {
            let mut config = RetentionConfig::default();
            config.email.months = months;
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("retention.email.months"), "{error}");
            assert!(error.contains("between 1 and 1200"), "{error}");
        }
        let mut config = RetentionConfig::default();
        config.email.months = 1200;
        config.derived.months = 1;
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn an_empty_or_blank_reference_is_refused() {
        for reference in ["", "   ", "\t"] {
            let mut config = RetentionConfig::default();
            config.contact_metadata.reference = reference.into();
            let error = config.validate().unwrap_err().to_string();
            assert!(
                error.contains("retention.contact_metadata.reference"),
                "{error}"
            );
        }
        let mut config = RetentionConfig::default();
        config.form_payload.reference = "line one\nline two".into();
        assert!(config.validate().is_err());
    }

    #[test]
    fn recordings_kept_past_the_notices_twelve_months_need_a_stated_reason() {
        let mut config = RetentionConfig::default();
        config.call_recording.months = 13;
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("the privacy notice promises at most 12 months"),
            "{error}"
        );
        assert!(
            error.contains("call_recording_exceeds_notice_reason"),
            "{error}"
        );
        config.call_recording_exceeds_notice_reason = Some("  ".into());
        assert!(config.validate().is_err(), "a blank reason is no reason");
        config.call_recording_exceeds_notice_reason =
            Some("Accounting Act 2:10 for order calls".into());
        assert_eq!(config.validate(), Ok(()));
        // Shorter than the notice needs no reason.
        let mut config = RetentionConfig::default();
        config.call_recording.months = 6;
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn hold_review_limit_must_be_positive() {
        let config = RetentionConfig {
            hold_max_review_months: 0,
            ..RetentionConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("hold_max_review_months")
        );
    }

    #[test]
    fn a_six_month_recording_policy_gives_a_six_month_deadline() {
        let mut config = RetentionConfig::default();
        config.call_recording.months = 6;
        assert_eq!(
            config.retain_until(StoredKind::CallRecording, at("2026-01-15T10:00:00+02:00")),
            at("2026-07-14T21:00:00Z").to_utc()
        );
        // The contact's own record follows its own policy.
        assert_eq!(
            config.retain_until(StoredKind::ContactMetadata, at("2026-01-15T10:00:00+02:00")),
            at("2027-01-14T22:00:00Z").to_utc()
        );
    }

    #[test]
    fn a_derived_artefact_never_outlives_its_source() {
        let mut config = RetentionConfig::default();
        config.derived.months = 24;
        let started = at("2026-01-15T10:00:00+02:00");
        let source = config.retain_until(StoredKind::CallRecording, started);
        assert_eq!(config.derived_retain_until(started, source), source);
        config.derived.months = 1;
        assert!(config.derived_retain_until(started, source) < source);
    }

    #[test]
    fn object_kinds_map_to_their_policies() {
        assert_eq!(
            StoredKind::of_object("recording"),
            Some(StoredKind::CallRecording)
        );
        assert_eq!(StoredKind::of_object("waveform"), Some(StoredKind::Derived));
        assert_eq!(StoredKind::of_object("something_else"), None);
    }

    #[test]
    fn counting_shortens_only_earlier_deadlines() {
        let mut outcome = PolicyApplication::default();
        let stored = at("2027-01-14T22:00:00Z").to_utc();
        assert!(outcome.count(
            StoredKind::CallRecording,
            stored,
            stored - TimeDelta::days(1)
        ));
        assert!(!outcome.count(
            StoredKind::CallRecording,
            stored,
            stored + TimeDelta::days(1)
        ));
        assert!(!outcome.count(StoredKind::CallRecording, stored, stored));
        assert_eq!(
            outcome.kinds[&StoredKind::CallRecording],
            KindCounts {
                shortened: 1,
                refused_longer: 1,
                unchanged: 1
            }
        );
    }

    /// A data folder opened with `retention` in its configuration, at the
    /// given instant.
    async fn open(dir: &std::path::Path, retention: RetentionConfig, now: &str) -> Kirjuri {
        let config = crate::Config {
            data: dir.to_path_buf(),
            retention,
            ..crate::Config::default()
        };
        let clock = std::sync::Arc::new(kirjuri_core::clock::FixedClock::new(at(now).to_utc()));
        Kirjuri::open(config, clock).await.unwrap()
    }

    fn months(call_recording: u32) -> RetentionConfig {
        let mut config = RetentionConfig::default();
        config.call_recording.months = call_recording;
        config
    }

    /// Stores a call of 15 Jan 2026 with a recording; returns its id.
    async fn recorded_call(app: &Kirjuri) -> ContactId {
        let input = kirjuri_core::contact::ContactInput::from_json(
            br#"{"channel": "call_in", "started_at": "2026-01-15T10:00:00+02:00", "agent": "aino"}"#,
        )
        .unwrap();
        let (id, _) = app.create_contact(None, input).await.unwrap();
        let wav = kirjuri_core::wav::synth::wav_bytes(
            kirjuri_core::wav::Encoding::PcmS16,
            1,
            8000,
            8000,
            false,
        );
        let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(wav))]);
        app.store_recording(None, id, body, 1 << 20).await.unwrap();
        id
    }

    async fn deadlines(app: &Kirjuri, id: ContactId) -> BTreeMap<String, DateTime<Utc>> {
        let mut found: BTreeMap<String, DateTime<Utc>> = app
            .store
            .objects_for_contact(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|o| (o.kind, o.retain_until))
            .collect();
        let contact = app.store.contact(&id).await.unwrap().unwrap();
        found.insert("contact".into(), contact.retain_until);
        found
    }

    #[tokio::test]
    async fn intake_fixes_deadlines_from_the_configured_policies() {
        let dir = tempfile::tempdir().unwrap();
        let app = open(dir.path(), months(6), "2026-01-15T12:00:00+02:00").await;
        let id = recorded_call(&app).await;
        let found = deadlines(&app, id).await;
        let six_months = at("2026-07-14T21:00:00Z").to_utc();
        assert_eq!(found["recording"], six_months);
        assert_eq!(found["contact"], at("2027-01-14T22:00:00Z").to_utc());
        if let Some(waveform) = found.get("waveform") {
            assert_eq!(*waveform, six_months, "the waveform follows its recording");
        }
    }

    #[tokio::test]
    async fn applying_policies_shortens_deadlines_and_never_lengthens_them() {
        let dir = tempfile::tempdir().unwrap();
        let now = "2026-02-01T12:00:00+02:00";
        let twelve = open(dir.path(), months(12), now).await;
        let id = recorded_call(&twelve).await;
        let before = deadlines(&twelve, id).await;
        assert_eq!(before["recording"], at("2027-01-14T22:00:00Z").to_utc());

        // A dry run under six months counts and changes nothing.
        let six = open(dir.path(), months(6), now).await;
        let dry = six.apply_policies(true).await.unwrap();
        assert_eq!(dry.kinds[&StoredKind::CallRecording].shortened, 1);
        assert_eq!(dry.applied, 0);
        assert_eq!(deadlines(&six, id).await, before);

        // A real run lowers the recording (and what derives from it), not
        // the contact's own record.
        let applied = six.apply_policies(false).await.unwrap();
        assert_eq!(applied.kinds[&StoredKind::CallRecording].shortened, 1);
        assert_eq!(applied.kinds[&StoredKind::ContactMetadata].unchanged, 1);
        assert_eq!(applied.applied, applied.shortened());
        let after = deadlines(&six, id).await;
        assert_eq!(after["recording"], at("2026-07-14T21:00:00Z").to_utc());
        assert_eq!(after["contact"], before["contact"]);
        if let Some(waveform) = after.get("waveform") {
            assert_eq!(*waveform, after["recording"]);
        }

        // Back to twelve months: refused, counted, nothing moves later.
        let again = twelve.apply_policies(false).await.unwrap();
        assert_eq!(again.shortened(), 0);
        assert_eq!(again.kinds[&StoredKind::CallRecording].refused_longer, 1);
        assert_eq!(again.applied, 0);
        assert_eq!(deadlines(&twelve, id).await, after);

        // Each real run left one audit event with its counts.
        let events = twelve
            .store
            .search_audit(&kirjuri_store::AuditFilter {
                action: Some("retention.policy_applied".into()),
                limit: 10,
                ..kirjuri_store::AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.details["shortened"], applied.shortened());
        assert_eq!(events[1].event.details["refused_longer"], 1);
    }

    #[test]
    fn the_latest_review_date_is_calendar_months_ahead_in_helsinki() {
        // 23:30 UTC on 31 Jan is already 1 Feb in Helsinki.
        let now = at("2026-01-31T23:30:00Z").to_utc();
        assert_eq!(
            latest_review_date(now, 24),
            chrono::NaiveDate::from_ymd_opt(2028, 2, 1).unwrap()
        );
    }
}
