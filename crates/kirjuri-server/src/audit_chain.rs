//! Tamper evidence for the audit log (AUD-2): an RFC 6962 Merkle tree over
//! the stored events, Ed25519-signed C2SP checkpoints of it, the background
//! writer that signs them, and the verifier behind `kirjuri audit verify`.
//!
//! **Leaves.** Event `seq` is leaf `seq - 1`; its leaf data is
//! [`kirjuri_core::audit::encode_leaf`] of the stored row (every column, byte
//! for byte), so the tree can be recomputed from the database alone and any
//! change to a row, its position or the set of rows changes the root.
//!
//! **Checkpoints.** The writer ([`AuditChain::checkpoint`], run every
//! `audit_checkpoint_events` events or `audit_checkpoint_seconds` by
//! [`run_checkpointer`] and once more at shutdown) signs
//! `kirjuri/<log id>/audit`, the tree size and its root. Before signing it
//! (1) checks the previous checkpoint's signature, (2) resumes the tree from
//! that checkpoint's stored frontier and checks it reproduces the signed
//! root, (3) reads only the newer events, refusing any gap in their
//! sequence, and (4) verifies an RFC 9162 consistency proof from the
//! previous signed (size, root) to the new one, built from the frontier and
//! the new leaves in hand. Any failure refuses to sign (logged, nothing
//! written). The new checkpoint is stored only if the previous one is still
//! the latest, so processes sharing a data folder never store two
//! checkpoints of one size or a checkpoint that skips another's check.
//! Because the writer never rereads old rows, a later edit of an old row
//! cannot leak into a new signature: the signed chain stays the tree of the
//! events as they were written.
//!
//! **Verification** ([`verify`]) streams every event once in constant memory
//! and checks: sequence numbers run 1, 2, 3, … (a gap is a deleted event, a
//! number out of place an inserted one); every stored checkpoint's signature
//! and origin; the recomputed root at each checkpoint's size; a consistency
//! proof between each pair of consecutive confirmed checkpoints (computed
//! from the leaves in hand, as the writer does); that the log is not shorter
//! than any checkpoint (truncation); and, given a checkpoint exported
//! earlier to an outside witness, that the log still extends it.
//!
//! **Localising damage.** A gap or a misplaced number is named exactly. A
//! changed event can only be localised to the checkpoint interval whose root
//! fails — storing per-row hashes would not help, since whoever edits a row
//! edits its hash too. So at the first checkpoint `c` whose root the events
//! no longer reproduce, the verifier keeps two hypotheses: the events
//! changed (it rebases on `c`'s stored frontier, checked against `c`'s
//! signed root, and carries on) or checkpoint `c` is not genuine (it carries
//! on with the events as stored). The next checkpoint tells them apart: the
//! report names "events a..c changed" or "checkpoint c is inconsistent"; in
//! the last interval, with nothing after to decide, it names the range and
//! both possibilities. Rebasing also lets every later interval be checked on
//! its own, so one damaged interval does not hide another.
//!
//! **What it cannot see** (documented limits): events after the latest
//! checkpoint are not yet signed, so deleting them, or rolling the whole
//! database back to an earlier checkpoint, is only caught against a
//! checkpoint held elsewhere — export one regularly (`kirjuri audit
//! checkpoint --export`) and verify with `--checkpoint`. Whoever holds the
//! signing key can sign anything; verify with a verifier key pinned outside
//! the data folder (`--verifier-key`) to catch a replaced key.
//!
//! Not here: the leaf encoding (core), the tree and its proofs
//! (`kirjuri_core::merkle`), the note format and Ed25519 (`kirjuri_vault::
//! checkpoint`), storage (`kirjuri_store`).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kirjuri_core::audit::leaf_hash_of;
use kirjuri_core::clock::Clock;
/// The streaming consistency-proof builder, now in core (pure maths).
pub use kirjuri_core::merkle::ProofBuilder;
use kirjuri_core::merkle::{self, Hash, TreeBuilder};
use kirjuri_store::{AuditCheckpointRow, Store, StoredAuditEvent};
use kirjuri_vault::{AuditSigner, Checkpoint, verify_signed};

use crate::app::{JobLease, Kirjuri};
use crate::config::Config;
use crate::error::{Error, Result};

/// Events read (and hashed, by the store) per query.
const EVENT_PAGE: u32 = 65_536;
/// Checkpoints read per query.
const CHECKPOINT_PAGE: u32 = 4_096;
/// How often the background writer looks for new events.
const POLL: Duration = Duration::from_secs(1);
/// After a failed attempt the writer waits at least this long.
const MIN_RETRY: Duration = Duration::from_secs(10);
/// At most this many findings are kept in a report (the first one matters).
const MAX_FINDINGS: usize = 100;

/// The checkpoint origin of the log with this id (C2SP: a schema-less,
/// stable name of the log).
pub fn origin(log_id: &str) -> String {
    format!("kirjuri/{log_id}/audit")
}

/// The leaf hash of one stored event; `buffer` is scratch space. (The
/// store computes the same in bulk: [`Store::audit_leaves`].)
pub fn event_leaf(event: &StoredAuditEvent, buffer: &mut Vec<u8>) -> Hash {
    leaf_hash_of(&event.leaf_fields(), buffer)
}

/// The tree's compact range as stored: its hashes concatenated.
fn frontier_bytes(tree: &TreeBuilder) -> Vec<u8> {
    tree.frontier().iter().flatten().copied().collect()
}

/// Resumes the tree of `size` leaves from its stored frontier, if the bytes
/// have the right shape and reproduce `root`.
fn resume(size: u64, frontier: &[u8], root: &Hash) -> Option<TreeBuilder> {
    if !frontier.len().is_multiple_of(32) {
        return None;
    }
    let hashes = frontier
        .chunks_exact(32)
        .map(|chunk| <Hash>::try_from(chunk).ok())
        .collect::<Option<Vec<Hash>>>()?;
    let tree = TreeBuilder::from_frontier(size, hashes).ok()?;
    (tree.root() == *root).then_some(tree)
}

/// A root as checkpoints write it: standard base64.
pub fn root_text(root: &[u8]) -> String {
    BASE64.encode(root)
}

// --- the writer ---------------------------------------------------------------

/// When the background writer signs (DESIGN.md AUD-2: every N events or T).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Sign once this many events are unsigned.
    pub events: u64,
    /// Sign unsigned events once the latest checkpoint is this old.
    pub interval: Duration,
}

impl CheckpointPolicy {
    /// The policy `config` asks for (a zero is taken as one).
    pub fn from_config(config: &Config) -> CheckpointPolicy {
        CheckpointPolicy {
            events: config.audit_checkpoint_events.max(1),
            interval: Duration::from_secs(config.audit_checkpoint_seconds.max(1)),
        }
    }
}

/// What [`AuditChain::checkpoint`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOutcome {
    /// There were no unsigned events; the latest checkpoint, if any.
    UpToDate(Option<AuditCheckpointRow>),
    /// A new checkpoint was signed and stored.
    Signed(AuditCheckpointRow),
    /// Another process stored a checkpoint first; nothing was written.
    Raced,
}

/// The audit log's signer: the store, the clock and the signing key.
pub struct AuditChain {
    /// Where the events and checkpoints live.
    store: Arc<dyn Store>,
    /// Stamps `created_at` and decides when a checkpoint is due.
    clock: Arc<dyn Clock>,
    /// `kirjuri/<log id>/audit`.
    origin: String,
    /// The Ed25519 key, named after the origin.
    signer: AuditSigner,
}

impl fmt::Debug for AuditChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditChain")
            .field("origin", &self.origin)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl AuditChain {
    /// Opens the signer of the log in `store`, creating the signing key at
    /// `key_file` (0600, in a 0700 folder) if it does not exist.
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key_file: &Path,
    ) -> Result<AuditChain> {
        let origin = origin(&store.audit_log_id().await?);
        let signer = AuditSigner::open_or_create(key_file, &origin)?;
        Ok(AuditChain {
            store,
            clock,
            origin,
            signer,
        })
    }

    /// Opens the signer of `app`'s data folder, with the key file its
    /// configuration names.
    pub async fn for_app(app: &Kirjuri) -> Result<AuditChain> {
        AuditChain::open(
            Arc::clone(&app.store),
            Arc::clone(&app.clock),
            &app.config.audit_key_file(),
        )
        .await
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The note verifier key an outside witness configures.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The latest stored checkpoint.
    pub async fn latest(&self) -> Result<Option<AuditCheckpointRow>> {
        Ok(self.store.latest_audit_checkpoint().await?)
    }

    /// Signs a checkpoint of every event stored so far, if any is not yet
    /// covered — after checking that the new tree extends the latest signed
    /// one (see the module docs). Refuses with [`Error::AuditChain`] when it
    /// does not.
    pub async fn checkpoint(&self) -> Result<CheckpointOutcome> {
        let latest = self.store.latest_audit_checkpoint().await?;
        // The head first: events committed later are simply not covered.
        let head = u64::try_from(self.store.audit_head().await?)
            .map_err(|_| refuse("the log's highest sequence number is negative"))?;
        let (mut tree, previous) = match &latest {
            None => (TreeBuilder::new(), None),
            Some(row) => {
                let signed =
                    open_note(&row.note, &self.verifier_key(), &self.origin).map_err(|reason| {
                        refuse(format!(
                            "the latest checkpoint (size {}) {reason}",
                            row.size
                        ))
                    })?;
                if signed.size != row.size {
                    return Err(refuse(format!(
                        "the latest checkpoint row (size {}) holds a note of size {}",
                        row.size, signed.size
                    )));
                }
                let tree = resume(signed.size, &row.frontier, &signed.root).ok_or_else(|| {
                    refuse(format!(
                        "the stored frontier of checkpoint {} does not reproduce its signed root",
                        signed.size
                    ))
                })?;
                (tree, Some(signed))
            }
        };
        let old_size = tree.len();
        if head < old_size {
            return Err(refuse(format!(
                "the log ends at event {head} but checkpoint {old_size} signs {old_size} events"
            )));
        }
        if head == old_size {
            return Ok(CheckpointOutcome::UpToDate(latest));
        }
        let mut proof = ProofBuilder::new(old_size, tree.frontier(), head)
            .ok_or_else(|| refuse("cannot build a consistency proof from the frontier"))?;
        while tree.len() < head {
            let after = tree.len();
            let want =
                u32::try_from((head - after).min(u64::from(EVENT_PAGE))).unwrap_or(EVENT_PAGE);
            let page = self.store.audit_leaves(seq_of(after), want).await?;
            if page.is_empty() {
                return Err(refuse(format!("event {} is missing", after + 1)));
            }
            for event in &page {
                let expected = tree.len() + 1;
                if event.seq != seq_of(expected) {
                    return Err(refuse(format!(
                        "event {expected} is missing (the next stored event is {})",
                        event.seq
                    )));
                }
                tree.push(event.leaf);
                proof.push(event.leaf);
                if tree.len() == head {
                    break;
                }
            }
        }
        let root = tree.root();
        if let Some(previous) = &previous {
            let consistent = proof.finish().is_some_and(|proof| {
                merkle::verify_consistency(previous.size, head, &previous.root, &root, &proof)
            });
            if !consistent {
                return Err(refuse(format!(
                    "the tree of {head} events is not consistent with checkpoint {}",
                    previous.size
                )));
            }
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: head,
            root,
        };
        let row = AuditCheckpointRow {
            size: head,
            root: root.to_vec(),
            note: self.signer.sign(&checkpoint)?,
            frontier: frontier_bytes(&tree),
            created_at: self.clock.now(),
        };
        if self
            .store
            .insert_audit_checkpoint(&row, latest.as_ref().map(|l| l.size))
            .await?
        {
            tracing::info!(size = head, root = %root_text(&root), "signed an audit checkpoint");
            Ok(CheckpointOutcome::Signed(row))
        } else {
            Ok(CheckpointOutcome::Raced)
        }
    }

    /// Whether `policy` wants a checkpoint now.
    async fn due(
        &self,
        policy: &CheckpointPolicy,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let head = u64::try_from(self.store.audit_head().await?).unwrap_or(0);
        let latest = self.store.latest_audit_checkpoint().await?;
        let (signed, since) = match &latest {
            Some(row) => (row.size, row.created_at.max(started)),
            None => (0, started),
        };
        if head <= signed {
            return Ok(false);
        }
        let age = (self.clock.now() - since).to_std().unwrap_or_default();
        Ok(head - signed >= policy.events || age >= policy.interval)
    }
}

/// An [`Error::AuditChain`]: the writer refuses to sign.
fn refuse(reason: impl Into<String>) -> Error {
    Error::AuditChain(reason.into())
}

/// A tree size as a sequence number (they are equal: event n is the n-th leaf).
fn seq_of(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// Checks a stored note: signature by `key`, and our origin.
fn open_note(note: &str, key: &str, origin: &str) -> std::result::Result<Checkpoint, String> {
    let checkpoint = verify_signed(note, key).map_err(|e| format!("does not verify: {e}"))?;
    if checkpoint.origin != origin {
        return Err(format!(
            "is for another log ({}, not {origin})",
            checkpoint.origin
        ));
    }
    Ok(checkpoint)
}

/// Runs the checkpoint writer until `shutdown` resolves, then signs once
/// more so a graceful stop leaves no unsigned events behind. Call it after
/// the HTTP server has drained, with `shutdown` resolving then.
///
/// Failures are logged (sizes and sequence numbers only) and retried; a
/// refusal to sign is logged as an error and leaves the log unsigned until
/// an operator runs `kirjuri audit verify`.
///
/// With several processes or nodes on one database, a due checkpoint is
/// signed only by the holder of `lease` (the `audit-checkpoint` job), so
/// they do not all hash the same new events; the compare-and-set in
/// [`AuditChain::checkpoint`] is what keeps the chain linear even if two
/// sign at once (the final signature at shutdown takes no lease).
pub async fn run_checkpointer(
    chain: AuditChain,
    policy: CheckpointPolicy,
    lease: Option<JobLease>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let started = chain.clock.now();
    let mut wait_until = tokio::time::Instant::now();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(POLL.min(policy.interval)) => {}
        }
        if tokio::time::Instant::now() < wait_until {
            continue;
        }
        let attempt = match chain.due(&policy, started).await {
            Ok(false) => continue,
            Ok(true) => match &lease {
                None => chain.checkpoint().await,
                Some(lease) => match lease.acquire().await {
                    Ok(true) => chain.checkpoint().await,
                    // Another node signs.
                    Ok(false) => continue,
                    Err(e) => Err(e),
                },
            },
            Err(e) => Err(e),
        };
        if let Err(e) = attempt {
            log_failure(&e);
            wait_until = tokio::time::Instant::now() + policy.interval.max(MIN_RETRY);
        }
    }
    if let Err(e) = chain.checkpoint().await {
        log_failure(&e);
    }
    if let Some(lease) = &lease
        && let Err(e) = lease.release().await
    {
        tracing::warn!(error = ?e, "failed to release the audit checkpoint lease");
    }
}

fn log_failure(error: &Error) {
    match error {
        Error::AuditChain(reason) => {
            tracing::error!(%reason, "refused to sign an audit checkpoint; run `kirjuri audit verify`");
        }
        other => tracing::error!(error = ?other, "audit checkpoint failed"),
    }
}

// --- the verifier -------------------------------------------------------------

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

/// A checkpoint as the verifier knows it after checking its note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signed {
    size: u64,
    root: Hash,
}

/// What `kirjuri audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The checkpoint origin verified against.
    pub origin: String,
    /// Events read.
    pub events: u64,
    /// The highest sequence number read.
    pub last_seq: u64,
    /// Checkpoints stored.
    pub checkpoints: u64,
    /// The largest validly signed checkpoint: (size, root).
    pub latest: Option<(u64, Hash)>,
    /// The witness checkpoint checked: (size, root).
    pub witness: Option<(u64, Hash)>,
    /// What is wrong, in log order; empty when the log is intact.
    pub findings: Vec<Finding>,
    /// Whether findings beyond [`MAX_FINDINGS`] were dropped.
    pub truncated_findings: bool,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }

    /// Events after the latest checkpoint (not yet signed).
    pub fn unsigned(&self) -> u64 {
        self.last_seq
            .saturating_sub(self.latest.map_or(0, |(size, _)| size))
    }
}

/// The streaming verifier: fed events in sequence order and, at each
/// checkpoint's size, the checkpoint; see the module docs for the logic.
/// Pure: the driver ([`verify`]) does the reading.
#[derive(Debug)]
struct Verifier {
    /// The validly signed checkpoints, ascending, and the next to reach.
    checkpoints: Vec<Signed>,
    next_checkpoint: usize,
    /// The witness's checkpoint, until reached.
    witness: Option<Signed>,
    /// The events as stored, from seq 1 or the last rebase; `None` while
    /// misaligned after missing events.
    main: Option<TreeBuilder>,
    /// During an undecided mismatch: the tree rebased on the failed
    /// checkpoint's frontier (the hypothesis "the events changed").
    alt: Option<TreeBuilder>,
    /// The undecided mismatch: (last good checkpoint, failed checkpoint).
    pending: Option<(u64, u64)>,
    /// The last checkpoint `main` agrees with or was rebased on.
    anchor: u64,
    /// Events are missing since `anchor` (already reported).
    damaged: bool,
    /// Consistency proofs being built toward a later checkpoint, each with
    /// the old root: one per confirmed checkpoint, plus the witness's.
    proofs: Vec<(ProofBuilder, Hash)>,
    /// The sequence number the next event should have.
    expected: u64,
    findings: Vec<Finding>,
}

fn matches(tree: Option<&TreeBuilder>, checkpoint: &Signed) -> bool {
    tree.is_some_and(|t| t.len() == checkpoint.size && t.root() == checkpoint.root)
}

impl Verifier {
    fn new(checkpoints: Vec<Signed>, witness: Option<Signed>) -> Verifier {
        Verifier {
            checkpoints,
            next_checkpoint: 0,
            witness,
            main: Some(TreeBuilder::new()),
            alt: None,
            pending: None,
            anchor: 0,
            damaged: false,
            proofs: Vec::new(),
            expected: 1,
            findings: Vec::new(),
        }
    }

    /// The size of the next checkpoint (stored or witness) to reach, if it
    /// is below `below`.
    fn due(&self, below: Option<u64>) -> Option<u64> {
        let stored = self.checkpoints.get(self.next_checkpoint).map(|c| c.size);
        let witness = self.witness.map(|w| w.size);
        let next = match (stored, witness) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        below.is_none_or(|below| next < below).then_some(next)
    }

    /// Whether reaching the next boundary may need the stored frontier of
    /// the checkpoint there (to rebase), so the driver fetches it.
    fn wants_frontier(&self) -> bool {
        match self.checkpoints.get(self.next_checkpoint) {
            Some(next) if self.witness.is_none_or(|w| w.size >= next.size) => {
                !matches(self.main.as_ref(), next)
            }
            _ => false,
        }
    }

    /// Takes in the next stored event's number; `false` if it cannot be
    /// part of the log (the event is then left out).
    fn observe(&mut self, seq: i64) -> bool {
        match u64::try_from(seq) {
            Ok(seq) if seq >= self.expected => {
                if seq > self.expected {
                    self.findings.push(Finding::Missing {
                        first: self.expected,
                        last: seq - 1,
                    });
                    self.damaged = true;
                    self.proofs.clear();
                }
                self.expected = seq + 1;
                true
            }
            _ => {
                self.findings.push(Finding::Unexpected {
                    seq,
                    expected: self.expected,
                });
                false
            }
        }
    }

    /// Appends an observed event's leaf to every hypothesis it fits.
    fn push(&mut self, seq: u64, leaf: Hash) {
        for tree in [&mut self.main, &mut self.alt] {
            if let Some(t) = tree {
                if t.len() + 1 == seq {
                    t.push(leaf);
                } else {
                    // Misaligned by missing events (already reported) until
                    // the next rebase.
                    *tree = None;
                }
            }
        }
        for (proof, _) in &mut self.proofs {
            proof.push(leaf);
        }
    }

    /// Reaches the next boundary (see [`Verifier::due`]). `frontier` is the
    /// stored frontier of the checkpoint there, when
    /// [`Verifier::wants_frontier`] asked for it.
    fn reach(&mut self, frontier: Option<&[u8]>) {
        let stored = self.checkpoints.get(self.next_checkpoint).copied();
        match (stored, self.witness) {
            (_, Some(witness)) if stored.is_none_or(|s| witness.size < s.size) => {
                self.witness = None;
                self.reach_witness(witness);
            }
            (Some(checkpoint), _) => {
                self.next_checkpoint += 1;
                self.reach_checkpoint(checkpoint, frontier);
                // A witness of the same size is compared after it.
            }
            (None, _) => {}
        }
    }

    fn reach_checkpoint(&mut self, checkpoint: Signed, frontier: Option<&[u8]>) {
        let main_ok = matches(self.main.as_ref(), &checkpoint);
        let alt_ok = matches(self.alt.as_ref(), &checkpoint);
        let proofs = std::mem::take(&mut self.proofs);
        for (proof, old_root) in proofs {
            if proof.new_size() != checkpoint.size {
                self.proofs.push((proof, old_root));
            } else if main_ok {
                let old = proof.old_size();
                let consistent = proof.finish().is_some_and(|proof| {
                    merkle::verify_consistency(
                        old,
                        checkpoint.size,
                        &old_root,
                        &checkpoint.root,
                        &proof,
                    )
                });
                if !consistent {
                    self.findings.push(Finding::Inconsistent {
                        old,
                        new: checkpoint.size,
                    });
                }
            }
        }
        match self.pending.take() {
            None if main_ok => self.confirm(checkpoint),
            None => self.fail(checkpoint, frontier),
            Some((_, failed)) if main_ok => {
                // The events as stored agree with this later checkpoint, so
                // the failed one is the odd one out.
                self.findings.push(Finding::InconsistentCheckpoint {
                    size: failed,
                    confirmed_by: checkpoint.size,
                });
                self.confirm(checkpoint);
            }
            Some((good, failed)) if alt_ok => {
                // Rebased on the failed checkpoint the events agree again,
                // so it was genuine and the events before it changed.
                self.findings.push(Finding::Changed {
                    first: good + 1,
                    last: failed,
                    checkpoint: failed,
                });
                self.main = self.alt.take();
                self.confirm(checkpoint);
            }
            Some((good, failed)) => {
                self.findings.push(Finding::Mismatch {
                    first: good + 1,
                    last: failed,
                    checkpoint: failed,
                });
                self.main = self.alt.take();
                self.anchor = failed;
                self.fail(checkpoint, frontier);
            }
        }
    }

    /// `main` agrees with `checkpoint`: it becomes the anchor, and a
    /// consistency proof toward the next checkpoint starts.
    fn confirm(&mut self, checkpoint: Signed) {
        self.anchor = checkpoint.size;
        self.damaged = false;
        self.alt = None;
        if let (Some(main), Some(next)) = (&self.main, self.checkpoints.get(self.next_checkpoint))
            && let Some(proof) = ProofBuilder::new(checkpoint.size, main.frontier(), next.size)
        {
            self.proofs.push((proof, checkpoint.root));
        }
    }

    /// `main` does not agree with `checkpoint` (and nothing is pending).
    fn fail(&mut self, checkpoint: Signed, frontier: Option<&[u8]>) {
        let rebased = frontier.and_then(|f| resume(checkpoint.size, f, &checkpoint.root));
        if rebased.is_none() {
            self.findings.push(Finding::DamagedFrontier {
                size: checkpoint.size,
            });
        }
        let aligned = self
            .main
            .as_ref()
            .is_some_and(|m| m.len() == checkpoint.size);
        if self.damaged || !aligned {
            // Explained by missing events, already reported: restart here.
            self.main = rebased;
            self.damaged = self.main.is_none();
            self.anchor = checkpoint.size;
            self.alt = None;
        } else {
            // Either the events changed (rebase) or the checkpoint is not
            // genuine (carry on): the next checkpoint decides.
            self.pending = Some((self.anchor, checkpoint.size));
            self.alt = rebased;
        }
    }

    fn reach_witness(&mut self, witness: Signed) {
        let last = self.expected - 1;
        if witness.size > last {
            self.findings.push(Finding::WitnessTruncated {
                events: last,
                size: witness.size,
            });
            return;
        }
        let aligned: Vec<&TreeBuilder> = [self.main.as_ref(), self.alt.as_ref()]
            .into_iter()
            .flatten()
            .filter(|t| t.len() == witness.size)
            .collect();
        if aligned.is_empty() {
            self.findings
                .push(Finding::WitnessUnchecked { size: witness.size });
            return;
        }
        let Some(tree) = aligned.into_iter().find(|t| t.root() == witness.root) else {
            self.findings
                .push(Finding::WitnessMismatch { size: witness.size });
            return;
        };
        // Also prove the witness's tree is a prefix of the latest signed one.
        if let Some(latest) = self.checkpoints.last().filter(|l| l.size > witness.size)
            && let Some(proof) = ProofBuilder::new(witness.size, tree.frontier(), latest.size)
        {
            self.proofs.push((proof, witness.root));
        }
    }

    /// The stream has ended after event `expected - 1`: the rest of the
    /// checkpoints lie beyond the log (or at its end).
    fn end(&mut self) {
        let last = self.expected - 1;
        let beyond = self
            .checkpoints
            .iter()
            .rev()
            .find(|c| c.size > last)
            .map(|c| c.size);
        if let Some(size) = beyond {
            self.findings
                .push(Finding::Truncated { events: last, size });
            self.damaged = true;
            self.proofs.clear();
        }
    }

    fn finish(mut self) -> Vec<Finding> {
        if let Some((good, failed)) = self.pending.take() {
            self.findings.push(Finding::Mismatch {
                first: good + 1,
                last: failed,
                checkpoint: failed,
            });
        }
        self.findings.sort_by_key(Finding::position);
        self.findings
    }
}

/// Checks a stored checkpoint row: signature, origin, and that its columns
/// agree with the note. The note is what counts.
fn check_row(
    row: &AuditCheckpointRow,
    key: Option<&str>,
    origin: &str,
) -> (Option<Signed>, Option<String>) {
    let Some(key) = key else {
        return (
            None,
            Some(
                "cannot be checked: no verifier key (the signing key file is missing; pass one)"
                    .into(),
            ),
        );
    };
    match open_note(&row.note, key, origin) {
        Err(reason) => (None, Some(format!("is not genuine: its note {reason}"))),
        Ok(checkpoint) if checkpoint.size != row.size => (
            None,
            Some(format!(
                "is stored under the wrong size: its note signs size {}",
                checkpoint.size
            )),
        ),
        Ok(checkpoint) => {
            let signed = Signed {
                size: checkpoint.size,
                root: checkpoint.root,
            };
            if row.root != checkpoint.root {
                (
                    Some(signed),
                    Some("has a root column that differs from its signed note".into()),
                )
            } else {
                (Some(signed), None)
            }
        }
    }
}

/// Verifies the audit log in `store` (see the module docs): reads every
/// event once, in pages, hashing one page while the next is read.
/// `verifier_key` checks the signatures (`None`: any checkpoint is then a
/// finding); `witness` is a signed checkpoint held outside the data folder.
/// An `Err` means verification could not run; damage is in the report.
pub async fn verify(
    store: Arc<dyn Store>,
    origin: &str,
    verifier_key: Option<&str>,
    witness: Option<&str>,
) -> Result<VerifyReport> {
    let fetch = |after: i64| {
        let store = Arc::clone(&store);
        (
            after,
            tokio::spawn(async move { store.audit_leaves(after, EVENT_PAGE).await }),
        )
    };
    // Reading the events starts at once, while the checkpoints' signatures
    // are checked. Two pages are read (and hashed, on blocking threads) at
    // a time: the next one and the one after it, requested on the guess
    // that the log is dense (event n has seq n), as an untouched log is. A
    // page that proves the guess wrong discards the guessed request and
    // continues from its own last event, so tampering only costs speed.
    let guess = |after: i64| after.max(0).saturating_add(i64::from(EVENT_PAGE));
    let mut queue = std::collections::VecDeque::from([fetch(i64::MIN), fetch(guess(i64::MIN))]);
    let mut findings = Vec::new();
    let mut signed = Vec::new();
    let mut stored = 0;
    let mut after = None;
    loop {
        let page = store.audit_checkpoints(after, CHECKPOINT_PAGE).await?;
        for row in &page {
            stored += 1;
            let (checkpoint, problem) = check_row(row, verifier_key, origin);
            if let Some(reason) = problem {
                findings.push(Finding::BadCheckpoint {
                    size: row.size,
                    reason,
                });
            }
            // A frontier is only needed to restart after damage, but one
            // that does not reproduce its signed root is damage itself.
            if let Some(checkpoint) = checkpoint {
                if resume(checkpoint.size, &row.frontier, &checkpoint.root).is_none() {
                    findings.push(Finding::DamagedFrontier {
                        size: checkpoint.size,
                    });
                }
                signed.push(checkpoint);
            }
        }
        match page.last() {
            Some(last) if page.len() == CHECKPOINT_PAGE as usize => after = Some(last.size),
            _ => break,
        }
    }
    let witness = match (witness, verifier_key) {
        (None, _) => None,
        (Some(_), None) => {
            findings.push(Finding::BadWitness {
                reason: "cannot be checked: no verifier key".into(),
            });
            None
        }
        (Some(note), Some(key)) => match open_note(note, key, origin) {
            Ok(checkpoint) => Some(Signed {
                size: checkpoint.size,
                root: checkpoint.root,
            }),
            Err(reason) => {
                findings.push(Finding::BadWitness {
                    reason: format!("is not genuine: it {reason}"),
                });
                None
            }
        },
    };
    let latest = signed.last().map(|c| (c.size, c.root));
    let mut verifier = Verifier::new(signed, witness);
    let mut events = 0u64;
    while let Some((after, pending)) = queue.pop_front() {
        let page = match pending.await {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => {
                verifier.findings.push(Finding::Unreadable {
                    after: verifier.expected - 1,
                    error: e.to_string(),
                });
                break;
            }
            Err(e) => {
                return Err(Error::Internal(format!(
                    "reading the audit log failed: {e}"
                )));
            }
        };
        match page.last() {
            Some(last) if page.len() == EVENT_PAGE as usize => {
                if last.seq != guess(after) {
                    queue.clear();
                    queue.push_back(fetch(last.seq));
                }
                if let Some(&(newest, _)) = queue.back() {
                    queue.push_back(fetch(guess(newest)));
                }
            }
            // The last page.
            _ => queue.clear(),
        }
        for event in &page {
            events += 1;
            if !verifier.observe(event.seq) {
                continue;
            }
            let seq = verifier.expected - 1;
            while verifier.due(Some(seq)).is_some() {
                let frontier = if verifier.wants_frontier() {
                    frontier_of(store.as_ref(), verifier.due(Some(seq))).await?
                } else {
                    None
                };
                verifier.reach(frontier.as_deref());
            }
            verifier.push(seq, event.leaf);
        }
    }
    let last_seq = verifier.expected - 1;
    // Checkpoints up to the last event, then the ones beyond it.
    for below in [Some(last_seq + 1), None] {
        if below.is_none() {
            verifier.end();
        }
        while let Some(size) = verifier.due(below) {
            let frontier = if verifier.wants_frontier() {
                frontier_of(store.as_ref(), Some(size)).await?
            } else {
                None
            };
            verifier.reach(frontier.as_deref());
        }
    }
    for finding in verifier.finish() {
        if !findings.contains(&finding) {
            findings.push(finding);
        }
    }
    findings.sort_by_key(Finding::position);
    let truncated_findings = findings.len() > MAX_FINDINGS;
    findings.truncate(MAX_FINDINGS);
    Ok(VerifyReport {
        origin: origin.to_owned(),
        events,
        last_seq,
        checkpoints: stored,
        latest,
        witness: witness.map(|w| (w.size, w.root)),
        findings,
        truncated_findings,
    })
}

/// The stored frontier of the checkpoint of `size`.
async fn frontier_of(store: &dyn Store, size: Option<u64>) -> Result<Option<Vec<u8>>> {
    let Some(size) = size else {
        return Ok(None);
    };
    let row = store
        .audit_checkpoints(size.checked_sub(1), 1)
        .await?
        .into_iter()
        .next();
    Ok(row.filter(|r| r.size == size).map(|r| r.frontier))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use kirjuri_core::clock::SystemClock;
    use kirjuri_store::{NewAuditEvent, SqliteStore};
    use serde_json::json;

    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect()
    }

    // --- the verifier's logic on synthetic logs ---------------------------------

    /// A log of `n` events: leaves, plus checkpoints at `sizes` signed over
    /// the untouched leaves, plus the frontiers a writer would store.
    struct Log {
        leaves: Vec<Hash>,
        checkpoints: Vec<Signed>,
        frontiers: Vec<(u64, Vec<u8>)>,
    }

    fn log(n: u64, sizes: &[u64]) -> Log {
        let leaves = leaves(n);
        let mut checkpoints = Vec::new();
        let mut frontiers = Vec::new();
        for &size in sizes {
            let tree: TreeBuilder = leaves[..size as usize].iter().copied().collect();
            checkpoints.push(Signed {
                size,
                root: tree.root(),
            });
            frontiers.push((size, frontier_bytes(&tree)));
        }
        Log {
            leaves,
            checkpoints,
            frontiers,
        }
    }

    fn other(i: u64) -> Hash {
        merkle::leaf_hash(format!("changed {i}").as_bytes())
    }

    /// Runs the verifier over `events` (seq, leaf) as the driver does.
    fn run(log: &Log, events: &[(i64, Hash)], witness: Option<Signed>) -> Vec<Finding> {
        let mut verifier = Verifier::new(log.checkpoints.clone(), witness);
        let frontier = |size: Option<u64>| {
            log.frontiers
                .iter()
                .find(|(s, _)| Some(*s) == size)
                .map(|(_, f)| f.clone())
        };
        for &(seq, leaf) in events {
            if !verifier.observe(seq) {
                continue;
            }
            let seq = verifier.expected - 1;
            while let Some(size) = verifier.due(Some(seq)) {
                let f = verifier
                    .wants_frontier()
                    .then(|| frontier(Some(size)))
                    .flatten();
                verifier.reach(f.as_deref());
            }
            verifier.push(seq, leaf);
        }
        let last = verifier.expected - 1;
        for below in [Some(last + 1), None] {
            if below.is_none() {
                verifier.end();
            }
            while let Some(size) = verifier.due(below) {
                let f = verifier
                    .wants_frontier()
                    .then(|| frontier(Some(size)))
                    .flatten();
                verifier.reach(f.as_deref());
            }
        }
        verifier.finish()
    }

    fn events(log: &Log) -> Vec<(i64, Hash)> {
        log.leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| (i as i64 + 1, *leaf))
            .collect()
    }

    const SIZES: &[u64] = &[4, 8, 12, 16];

    #[test]
    fn an_untouched_log_has_no_findings_with_or_without_unsigned_events() {
        for n in [16, 19] {
            let log = log(n, SIZES);
            assert_eq!(run(&log, &events(&log), None), []);
        }
        let empty = log(0, &[]);
        assert_eq!(run(&empty, &[], None), []);
        let zero = log(3, &[0, 3]);
        assert_eq!(run(&zero, &events(&zero), None), []);
    }

    #[test]
    fn a_changed_event_is_localised_to_its_checkpoint_interval() {
        let log = log(18, SIZES);
        for changed in 1..=12u64 {
            let mut events = events(&log);
            events[changed as usize - 1].1 = other(changed);
            let findings = run(&log, &events, None);
            let interval = SIZES.iter().position(|&s| s >= changed).unwrap();
            let last = SIZES[interval];
            let first = if interval == 0 {
                1
            } else {
                SIZES[interval - 1] + 1
            };
            assert_eq!(
                findings,
                [Finding::Changed {
                    first,
                    last,
                    checkpoint: last
                }],
                "event {changed}"
            );
        }
        // In the last interval nothing later decides.
        let mut events = events(&log);
        events[13].1 = other(14);
        assert_eq!(
            run(&log, &events, None),
            [Finding::Mismatch {
                first: 13,
                last: 16,
                checkpoint: 16
            }]
        );
        // Unsigned events are not covered by anything.
        let mut unsigned = self::events(&log);
        unsigned[16].1 = other(17);
        assert_eq!(run(&log, &unsigned, None), []);
    }

    #[test]
    fn two_changed_intervals_are_both_named() {
        let log = log(16, SIZES);
        let mut events = events(&log);
        events[1].1 = other(2);
        events[9].1 = other(10);
        assert_eq!(
            run(&log, &events, None),
            [
                Finding::Changed {
                    first: 1,
                    last: 4,
                    checkpoint: 4
                },
                Finding::Changed {
                    first: 9,
                    last: 12,
                    checkpoint: 12
                },
            ]
        );
    }

    #[test]
    fn swapped_events_are_caught_because_the_position_is_in_the_leaf() {
        // The driver hashes seq into each leaf, so swapping two events' contents
        // changes both leaves; here that is two changed leaves.
        let log = log(16, SIZES);
        let mut events = events(&log);
        events.swap(5, 6);
        events[5].0 = 6;
        events[6].0 = 7;
        let findings = run(&log, &events, None);
        assert_eq!(
            findings,
            [Finding::Changed {
                first: 5,
                last: 8,
                checkpoint: 8
            }]
        );
    }

    #[test]
    fn a_deleted_event_is_named_exactly_and_the_rest_still_checked() {
        let log = log(18, SIZES);
        let mut events = events(&log);
        events.remove(5);
        assert_eq!(
            run(&log, &events, None),
            [Finding::Missing { first: 6, last: 6 }]
        );
        // Deleted across a checkpoint, and a change in a later interval: the
        // interval holding the gap cannot be checked, the next one can.
        let log = self::log(24, &[4, 8, 12, 16, 20]);
        let mut events = self::events(&log);
        events.drain(6..9);
        events.iter_mut().find(|(seq, _)| *seq == 14).unwrap().1 = other(14);
        assert_eq!(
            run(&log, &events, None),
            [
                Finding::Missing { first: 7, last: 9 },
                Finding::Changed {
                    first: 13,
                    last: 16,
                    checkpoint: 16
                }
            ]
        );
    }

    #[test]
    fn a_truncated_log_is_named_by_the_checkpoint_it_falls_short_of() {
        let log = log(16, SIZES);
        let events = events(&log);
        assert_eq!(
            run(&log, &events[..13], None),
            [Finding::Truncated {
                events: 13,
                size: 16
            }]
        );
        assert_eq!(
            run(&log, &[], None),
            [Finding::Truncated {
                events: 0,
                size: 16
            }]
        );
    }

    #[test]
    fn an_inserted_event_is_named() {
        let log = log(16, SIZES);
        // With a number no honest writer hands out…
        let mut events = events(&log);
        events.insert(0, (0, other(0)));
        assert_eq!(
            run(&log, &events, None),
            [Finding::Unexpected {
                seq: 0,
                expected: 1
            }]
        );
        // …or renumbering everything after it: every later interval differs.
        let mut events = self::events(&log);
        events.insert(5, (6, other(6)));
        for (i, event) in events.iter_mut().enumerate().skip(6) {
            event.0 = i as i64 + 1;
        }
        let findings = run(&log, &events, None);
        assert_eq!(
            findings[0],
            Finding::Mismatch {
                first: 5,
                last: 8,
                checkpoint: 8
            }
        );
    }

    #[test]
    fn a_validly_signed_but_inconsistent_checkpoint_is_named_as_such() {
        let mut log = log(16, SIZES);
        log.checkpoints[1].root = other(99);
        // Its frontier was written to match its (wrong) root, as a forger would.
        assert_eq!(
            run(&log, &events(&log), None),
            [
                Finding::DamagedFrontier { size: 8 },
                Finding::InconsistentCheckpoint {
                    size: 8,
                    confirmed_by: 12
                }
            ]
        );
    }

    #[test]
    fn a_damaged_frontier_only_matters_when_checking_must_restart_there() {
        let mut log = log(16, SIZES);
        log.frontiers[1].1[0] ^= 1;
        assert_eq!(run(&log, &events(&log), None), []);
        let mut events = events(&log);
        events[5].1 = other(6);
        assert_eq!(
            run(&log, &events, None),
            [
                Finding::Mismatch {
                    first: 5,
                    last: 8,
                    checkpoint: 8
                },
                Finding::DamagedFrontier { size: 8 },
            ]
        );
    }

    #[test]
    fn a_witness_checkpoint_must_be_extended_by_the_log() {
        let log = log(20, SIZES);
        let events = events(&log);
        let tree: TreeBuilder = log.leaves[..10].iter().copied().collect();
        let witness = Signed {
            size: 10,
            root: tree.root(),
        };
        assert_eq!(run(&log, &events, Some(witness)), []);
        // A witness of the same size as a stored checkpoint.
        assert_eq!(run(&log, &events, Some(log.checkpoints[2])), []);
        // A fork: the witness saw different events.
        let forked = Signed {
            root: other(1),
            ..witness
        };
        assert_eq!(
            run(&log, &events, Some(forked)),
            [Finding::WitnessMismatch { size: 10 }]
        );
        // Rolled back below the witness: only the witness notices.
        let rolled_back = self::log(12, &SIZES[..3]);
        let full: TreeBuilder = log.leaves.iter().copied().collect();
        let later = Signed {
            size: 20,
            root: full.root(),
        };
        assert_eq!(
            run(&rolled_back, &self::events(&rolled_back), Some(later)),
            [Finding::WitnessTruncated {
                events: 12,
                size: 20
            }]
        );
    }

    // --- the writer and the verifier over a real store -----------------------

    fn event(i: u32) -> NewAuditEvent {
        NewAuditEvent {
            at: DateTime::<Utc>::from_timestamp_micros(1_796_000_000_000_000 + i64::from(i))
                .unwrap(),
            actor: None,
            action: "contact.viewed".into(),
            object: Some(format!("0192f5c4-8f5e-7000-8000-{i:012}")),
            purpose: Some("quality_assurance".into()),
            outcome: "success".into(),
            details: json!({"n": i}),
        }
    }

    async fn chain(store: Arc<dyn Store>, dir: &Path) -> AuditChain {
        AuditChain::open(store, Arc::new(SystemClock), &dir.join("keys/audit.key"))
            .await
            .unwrap()
    }

    async fn append(store: &dyn Store, range: std::ops::Range<u32>) {
        let events: Vec<NewAuditEvent> = range.map(event).collect();
        store.append_audit_batch(&events).await.unwrap();
    }

    async fn verify_chain(chain: &AuditChain, witness: Option<&str>) -> VerifyReport {
        verify(
            Arc::clone(&chain.store),
            chain.origin(),
            Some(&chain.verifier_key()),
            witness,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn the_writer_signs_new_events_only_and_verify_accepts_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let chain = chain(Arc::clone(&store), dir.path()).await;
        assert!(chain.origin().starts_with("kirjuri/") && chain.origin().ends_with("/audit"));
        assert_eq!(
            chain.checkpoint().await.unwrap(),
            CheckpointOutcome::UpToDate(None)
        );
        let mut sizes = Vec::new();
        for (from, to) in [(0, 5), (5, 6), (6, 40), (40, 300)] {
            append(store.as_ref(), from..to).await;
            let CheckpointOutcome::Signed(row) = chain.checkpoint().await.unwrap() else {
                panic!("nothing signed");
            };
            assert_eq!(row.size, u64::from(to));
            let signed = verify_signed(&row.note, &chain.verifier_key()).unwrap();
            assert_eq!(
                (signed.size, signed.root.to_vec()),
                (row.size, row.root.clone())
            );
            sizes.push(row.size);
            assert!(matches!(
                chain.checkpoint().await.unwrap(),
                CheckpointOutcome::UpToDate(Some(_))
            ));
        }
        append(store.as_ref(), 300..310).await;
        let report = verify_chain(&chain, None).await;
        assert!(report.is_intact(), "{:?}", report.findings);
        assert_eq!(report.events, 310);
        assert_eq!(report.checkpoints, 4);
        assert_eq!(report.latest.map(|l| l.0), Some(300));
        assert_eq!(report.unsigned(), 10);
        // The root is the RFC 6962 root of the encoded rows.
        let mut buffer = Vec::new();
        let rows = store.stored_audit_events(0, 1000).await.unwrap();
        let leaves: Vec<Hash> = rows[..300]
            .iter()
            .map(|r| event_leaf(r, &mut buffer))
            .collect();
        assert_eq!(report.latest.unwrap().1, merkle::root(&leaves));
    }

    #[tokio::test]
    async fn verify_checks_a_witness_checkpoint_and_refuses_one_from_another_log() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let chain = chain(Arc::clone(&store), dir.path()).await;
        append(store.as_ref(), 0..20).await;
        let CheckpointOutcome::Signed(first) = chain.checkpoint().await.unwrap() else {
            panic!()
        };
        append(store.as_ref(), 20..30).await;
        chain.checkpoint().await.unwrap();
        let report = verify_chain(&chain, Some(&first.note)).await;
        assert!(report.is_intact(), "{:?}", report.findings);
        assert_eq!(report.witness.map(|w| w.0), Some(20));

        // Another data folder's checkpoint, even with the same key file.
        let other_store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let other = chain_with_key(Arc::clone(&other_store), dir.path()).await;
        append(other_store.as_ref(), 0..20).await;
        let CheckpointOutcome::Signed(foreign) = other.checkpoint().await.unwrap() else {
            panic!()
        };
        let report = verify_chain(&chain, Some(&foreign.note)).await;
        assert!(
            matches!(&report.findings[..], [Finding::BadWitness { .. }]),
            "{:?}",
            report.findings
        );
    }

    async fn chain_with_key(store: Arc<dyn Store>, dir: &Path) -> AuditChain {
        chain(store, dir).await
    }

    #[tokio::test]
    async fn a_forged_or_foreign_checkpoint_row_is_a_finding_and_stops_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let chain = chain(Arc::clone(&store), dir.path()).await;
        append(store.as_ref(), 0..8).await;
        let CheckpointOutcome::Signed(good) = chain.checkpoint().await.unwrap() else {
            panic!()
        };
        append(store.as_ref(), 8..12).await;
        // A checkpoint signed by someone else's key, for the right origin.
        let forger =
            AuditSigner::open_or_create(&dir.path().join("forger.key"), chain.origin()).unwrap();
        let mut buffer = Vec::new();
        let rows = store.stored_audit_events(0, 100).await.unwrap();
        let tree: TreeBuilder = rows.iter().map(|r| event_leaf(r, &mut buffer)).collect();
        let forged = AuditCheckpointRow {
            size: 12,
            root: tree.root().to_vec(),
            note: forger
                .sign(&Checkpoint {
                    origin: chain.origin().to_owned(),
                    size: 12,
                    root: tree.root(),
                })
                .unwrap(),
            frontier: frontier_bytes(&tree),
            created_at: good.created_at,
        };
        assert!(
            store
                .insert_audit_checkpoint(&forged, Some(8))
                .await
                .unwrap()
        );
        let report = verify_chain(&chain, None).await;
        assert!(
            matches!(
                &report.findings[..],
                [Finding::BadCheckpoint { size: 12, .. }]
            ),
            "{:?}",
            report.findings
        );
        assert_eq!(report.latest.map(|l| l.0), Some(8));
        append(store.as_ref(), 12..13).await;
        let refused = chain.checkpoint().await.unwrap_err();
        assert!(matches!(refused, Error::AuditChain(_)), "{refused}");
        assert!(refused.to_string().contains("does not verify"), "{refused}");
    }

    #[tokio::test]
    async fn concurrent_writers_on_one_file_never_store_two_checkpoints_of_a_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kirjuri.db");
        let first: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let key = dir.path().join("keys/audit.key");
        let mut chains = Vec::new();
        for _ in 0..4 {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
            chains.push(Arc::new(
                AuditChain::open(store, Arc::new(SystemClock), &key)
                    .await
                    .unwrap(),
            ));
        }
        for round in 0..5u32 {
            append(first.as_ref(), round * 50..round * 50 + 50).await;
            let tasks: Vec<_> = chains
                .iter()
                .map(|chain| {
                    let chain = Arc::clone(chain);
                    tokio::spawn(async move { chain.checkpoint().await })
                })
                .collect();
            let mut signed = 0;
            for task in tasks {
                match task.await.unwrap().unwrap() {
                    CheckpointOutcome::Signed(_) => signed += 1,
                    CheckpointOutcome::Raced | CheckpointOutcome::UpToDate(_) => {}
                }
            }
            assert_eq!(signed, 1, "round {round}");
        }
        let all = first.audit_checkpoints(None, 100).await.unwrap();
        assert_eq!(
            all.iter().map(|c| c.size).collect::<Vec<_>>(),
            [50, 100, 150, 200, 250]
        );
        let report = verify_chain(&chains[0], None).await;
        assert!(report.is_intact(), "{:?}", report.findings);
    }

    #[tokio::test]
    async fn verify_without_a_key_cannot_accept_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let chain = chain(Arc::clone(&store), dir.path()).await;
        append(store.as_ref(), 0..3).await;
        chain.checkpoint().await.unwrap();
        let report = verify(Arc::clone(&store), chain.origin(), None, None)
            .await
            .unwrap();
        assert!(
            matches!(
                &report.findings[..],
                [Finding::BadCheckpoint { size: 3, .. }]
            ),
            "{:?}",
            report.findings
        );
    }

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
