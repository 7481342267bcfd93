//! Retention policies (RET-1): how long each stored kind is kept and the
//! legal or contractual reference that says so. Deadlines are fixed at
//! intake from these; a changed policy reaches stored deadlines only through
//! an explicit, audited `kirjuri retention apply`, which can shorten and
//! never lengthen.

use serde::{Deserialize, Serialize};

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
}

/// Retention per stored kind, and how the purge runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Call recordings (the WAV evidence).
    pub call_recording: Policy,
    /// Chat transcripts.
    pub chat_transcript: Policy,
    /// Email messages.
    pub email: Policy,
    /// Web form payloads.
    pub form_payload: Policy,
    /// Waveform peaks and other derived artefacts: never longer than their
    /// source, whatever this says.
    pub derived: Policy,
    /// The contact's own record (its sealed document and blind indexes).
    pub contact_metadata: Policy,
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
            derived: Policy::notice(12),
            contact_metadata: Policy::notice(12),
            purge_interval_seconds: 300,
            hold_max_review_months: 24,
            hold_reminder_days: 14,
        }
    }
}
