//! What `kirjuri audit verify` reports: [`Finding`], one thing wrong with
//! the log or its checkpoints, named by sequence numbers and sizes only, and
//! its sentence for the operator.
//!
//! Not here: how findings are reached (the verifier in `verify.rs`);
//! a finding never quotes an event's contents.

use std::fmt;

/// One thing wrong with the log or its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Events `first..=last` are missing: deleted from the middle of the log.
    Missing {
        /// First missing sequence number.
        first: u64,
        /// Last missing sequence number.
        last: u64,
    },
    /// A stored event whose number cannot follow the one before it (zero,
    /// negative): inserted.
    Unexpected {
        /// Its sequence number.
        seq: i64,
        /// The number the log expected there.
        expected: u64,
    },
    /// Events `first..=last` were changed, inserted, removed or reordered:
    /// they no longer reproduce the root checkpoint `checkpoint` signed,
    /// while the next checkpoint shows that checkpoint is genuine.
    Changed {
        /// First event of the interval.
        first: u64,
        /// Last event of the interval (= `checkpoint`).
        last: u64,
        /// The checkpoint whose root fails.
        checkpoint: u64,
    },
    /// Events `first..=last` do not reproduce checkpoint `checkpoint`'s
    /// root, and no later checkpoint decides whether the events were changed
    /// or the checkpoint is not genuine.
    Mismatch {
        /// First event of the interval.
        first: u64,
        /// Last event of the interval.
        last: u64,
        /// The checkpoint whose root fails.
        checkpoint: u64,
    },
    /// A validly signed checkpoint that the log does not match, while a later
    /// checkpoint does: the checkpoint is inconsistent with the rest (signed
    /// with a stolen key, or by a faulty writer).
    InconsistentCheckpoint {
        /// Its size.
        size: u64,
        /// The later checkpoint the events agree with.
        confirmed_by: u64,
    },
    /// The log ends at `events` but checkpoint `size` signs more.
    Truncated {
        /// The last event present.
        events: u64,
        /// The largest checkpoint beyond it.
        size: u64,
    },
    /// A stored checkpoint that is not usable evidence.
    BadCheckpoint {
        /// The size its row claims.
        size: u64,
        /// Why.
        reason: String,
    },
    /// A checkpoint's stored frontier does not reproduce its signed root, so
    /// checking cannot restart there after earlier damage.
    DamagedFrontier {
        /// The checkpoint.
        size: u64,
    },
    /// A consistency proof between two confirmed checkpoints failed.
    Inconsistent {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// The outside witness's checkpoint is not usable.
    BadWitness {
        /// Why.
        reason: String,
    },
    /// The log is shorter than the witness's checkpoint: events at its end
    /// were deleted, or the database was rolled back.
    WitnessTruncated {
        /// The last event present.
        events: u64,
        /// The witness checkpoint's size.
        size: u64,
    },
    /// The log no longer extends the witness's checkpoint.
    WitnessMismatch {
        /// The witness checkpoint's size.
        size: u64,
    },
    /// The log was already broken before the witness's checkpoint, so it
    /// could not be compared.
    WitnessUnchecked {
        /// The witness checkpoint's size.
        size: u64,
    },
    /// Events could not be read at all after `after`.
    Unreadable {
        /// The last event read.
        after: u64,
        /// The database's complaint.
        error: String,
    },
}

impl Finding {
    /// The first event the finding concerns, to order findings along the log.
    pub fn position(&self) -> u64 {
        match self {
            Finding::Missing { first, .. }
            | Finding::Changed { first, .. }
            | Finding::Mismatch { first, .. } => *first,
            Finding::Unexpected { expected, .. } => *expected,
            Finding::Truncated { events, .. } | Finding::WitnessTruncated { events, .. } => {
                events + 1
            }
            Finding::InconsistentCheckpoint { size, .. }
            | Finding::BadCheckpoint { size, .. }
            | Finding::DamagedFrontier { size }
            | Finding::WitnessMismatch { size }
            | Finding::WitnessUnchecked { size } => *size,
            Finding::Inconsistent { old, .. } => old + 1,
            Finding::BadWitness { .. } => 0,
            Finding::Unreadable { after, .. } => after + 1,
        }
    }
}

fn range(first: u64, last: u64) -> String {
    if first == last {
        format!("event {first}")
    } else {
        format!("events {first}..{last}")
    }
}

/// "between checkpoints a and b", or from the start of the log.
fn interval(first: u64, checkpoint: u64) -> String {
    match first.saturating_sub(1) {
        0 => format!("before checkpoint {checkpoint}"),
        previous => format!("between checkpoints {previous} and {checkpoint}"),
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Missing { first, last } => {
                write!(f, "{} missing (deleted)", range(*first, *last))
            }
            Finding::Unexpected { seq, expected } => write!(
                f,
                "event with sequence number {seq} found where event {expected} belongs (inserted)"
            ),
            Finding::Changed {
                first,
                last,
                checkpoint,
            } => write!(
                f,
                "{} ({}) changed, inserted, removed or reordered: they no longer reproduce the \
                 root checkpoint {checkpoint} signed, and the next checkpoint confirms it",
                range(*first, *last),
                interval(*first, *checkpoint),
            ),
            Finding::Mismatch {
                first,
                last,
                checkpoint,
            } => write!(
                f,
                "{} ({}) do not reproduce the root checkpoint {checkpoint} signed: an event in \
                 that range was changed, inserted, removed or reordered, or the checkpoint is not \
                 genuine",
                range(*first, *last),
                interval(*first, *checkpoint),
            ),
            Finding::InconsistentCheckpoint { size, confirmed_by } => write!(
                f,
                "checkpoint {size} is validly signed but inconsistent with the log, which \
                 checkpoint {confirmed_by} confirms (forged with the signing key, or a faulty writer)"
            ),
            Finding::Truncated { events, size } => write!(
                f,
                "the log is truncated: it ends at event {events} but checkpoint {size} signs {size} events"
            ),
            Finding::BadCheckpoint { size, reason } => {
                write!(f, "checkpoint {size} {reason}")
            }
            Finding::DamagedFrontier { size } => write!(
                f,
                "the stored frontier of checkpoint {size} does not reproduce its signed root"
            ),
            Finding::Inconsistent { old, new } => write!(
                f,
                "checkpoints {old} and {new} are not consistent (consistency proof fails)"
            ),
            Finding::BadWitness { reason } => write!(f, "the witness checkpoint {reason}"),
            Finding::WitnessTruncated { events, size } => write!(
                f,
                "the log is truncated: it ends at event {events} but the witness checkpoint \
                 signs {size} events"
            ),
            Finding::WitnessMismatch { size } => write!(
                f,
                "the log does not extend the witness checkpoint of size {size}: its first {size} \
                 events hash to another root"
            ),
            Finding::WitnessUnchecked { size } => write!(
                f,
                "the witness checkpoint of size {size} could not be compared: the log is broken before it"
            ),
            Finding::Unreadable { after, error } => {
                write!(f, "events after {after} cannot be read: {error}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_read_as_sentences_naming_sequence_numbers_only() {
        let texts = [
            Finding::Missing { first: 6, last: 6 }.to_string(),
            Finding::Changed {
                first: 257,
                last: 512,
                checkpoint: 512,
            }
            .to_string(),
            Finding::Mismatch {
                first: 1,
                last: 256,
                checkpoint: 256,
            }
            .to_string(),
        ];
        assert_eq!(texts[0], "event 6 missing (deleted)");
        assert!(texts[1].starts_with("events 257..512 (between checkpoints 256 and 512) changed"));
        assert!(texts[2].starts_with("events 1..256 (before checkpoint 256) do not reproduce"));
    }
}
