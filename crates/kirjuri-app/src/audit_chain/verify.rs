//! The verifier behind `kirjuri audit verify`: [`verify`] streams every
//! event once in constant memory and checks sequence numbers, every stored
//! checkpoint's signature and root, consistency between consecutive
//! checkpoints and against an outside witness, and localises damage to a
//! checkpoint interval (see the parent module's docs for the reasoning).
//! The logic is the pure `Verifier`; `verify` only reads pages and feeds it.
//!
//! Not here: signing (the writer in `writer.rs`), the wording of a
//! [`Finding`] (`findings.rs`), the tree maths (`kirjuri_core::merkle`).

use std::sync::Arc;

use kirjuri_core::merkle::{self, Hash, TreeBuilder};
use kirjuri_store::{AuditCheckpointRow, Store};

use super::{CHECKPOINT_PAGE, EVENT_PAGE, Finding, MAX_FINDINGS, ProofBuilder, open_note, resume};
use crate::error::{Error, Result};

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
    /// The witness's consistency proof toward the latest checkpoint while
    /// it is built, with the witness's root (see [`Verifier::confirm`] for
    /// why consecutive checkpoints need none).
    proofs: Vec<(ProofBuilder, Hash)>,
    /// The sequence number the next event should have.
    expected: u64,
    findings: Kept,
}

/// The first findings by position, at most [`MAX_FINDINGS`] + 1 of them
/// (one more than a report shows, which says more were found), however
/// many there are: damage can be found millions of times over (every other
/// event deleted), and a verifier that kept them all would grow with the
/// damage and merge its two lists in quadratic time. Findings arrive
/// nearly in order; twice the bound are gathered, then sorted and cut.
#[derive(Debug, Default)]
struct Kept(Vec<Finding>);

impl Kept {
    fn push(&mut self, finding: Finding) {
        self.0.push(finding);
        if self.0.len() >= 2 * (MAX_FINDINGS + 1) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.0.sort_by_key(Finding::position);
        self.0.truncate(MAX_FINDINGS + 1);
    }

    /// The findings kept, by position.
    fn into_sorted(mut self) -> Vec<Finding> {
        self.trim();
        self.0
    }
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
            findings: Kept::default(),
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

    /// `main` agrees with `checkpoint`: it becomes the anchor.
    ///
    /// No consistency proof toward the next checkpoint is built: `main` is
    /// one unbroken sequence of leaves (a gap or a rebase restarts it, and
    /// a gap drops every proof), so when it reproduces the next checkpoint
    /// too, the two signed trees are prefixes of one another by
    /// construction, and a proof built from those same leaves could not
    /// fail. Building it cost two SHA-256 blocks per event on the
    /// verifier's one thread (issue 16 §5). The witness's proof stays: it
    /// can span a rebase, where it is not implied.
    fn confirm(&mut self, checkpoint: Signed) {
        self.anchor = checkpoint.size;
        self.damaged = false;
        self.alt = None;
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

    /// The findings by position, at most [`MAX_FINDINGS`] + 1 (see [`Kept`]).
    fn finish(mut self) -> Vec<Finding> {
        if let Some((good, failed)) = self.pending.take() {
            self.findings.push(Finding::Mismatch {
                first: good + 1,
                last: failed,
                checkpoint: failed,
            });
        }
        self.findings.into_sorted()
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
/// event once, in pages, hashing one page while the next is read, and
/// checks the checkpoints' signatures alongside (see [`Checkpoints`]).
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
    // Reading the events starts at once, as does checking the checkpoints.
    // Two pages are read (and hashed, by the store) at a time: the next one
    // and the one after it, requested on the guess that the log
    // is dense (event n has seq n), as an untouched log is. A page that
    // proves the guess wrong discards the guessed request and continues
    // from its own last event, so tampering only costs speed.
    let guess = |after: i64| after.max(0).saturating_add(i64::from(EVENT_PAGE));
    let mut queue = std::collections::VecDeque::from([fetch(i64::MIN), fetch(guess(i64::MIN))]);
    let mut checkpoints = Checkpoints::start(Arc::clone(&store), verifier_key, origin);
    let mut findings = Kept::default();
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
    let mut verifier = Verifier::new(Vec::new(), witness);
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
            Err(source) => {
                return Err(Error::Join {
                    task: "reading the audit log",
                    source,
                });
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
        // Every checkpoint this page can reach, and the one after it, must
        // be known before its events are taken in (the witness's proof
        // needs the latest of all).
        let reach = page
            .last()
            .map_or(0, |last| u64::try_from(last.seq).unwrap_or(0));
        let all = verifier.witness.is_some_and(|w| w.size <= reach);
        checkpoints
            .load(&mut verifier, &mut findings, (!all).then_some(reach))
            .await?;
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
    checkpoints.load(&mut verifier, &mut findings, None).await?;
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
    let latest = verifier.checkpoints.last().map(|c| (c.size, c.root));
    let mut findings = findings.into_sorted();
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
        checkpoints: checkpoints.stored,
        latest,
        witness: witness.map(|w| (w.size, w.root)),
        findings,
        truncated_findings,
    })
}

/// One stored checkpoint as checked: the checkpoint, when its note is
/// genuine, and what is wrong with the row.
type Verdict = (Option<Signed>, Vec<Finding>);

/// The stored checkpoints, read a page at a time and checked (signature,
/// note, frontier) on a blocking thread by a task of their own while the
/// events are read and hashed, a page or two ahead of the verifier: at
/// 10 M events the 39,063 Ed25519 signatures are seconds of one core,
/// which checking them all first left the rest of the pipeline waiting on
/// (issue 16 §5). The verifier takes them in order ([`Checkpoints::load`]).
struct Checkpoints {
    /// Checked pages, in order; closed after the last.
    pages: tokio::sync::mpsc::Receiver<Result<Vec<Verdict>>>,
    /// The largest size received so far.
    known: Option<u64>,
    /// Whether the last page has been received.
    done: bool,
    /// Checkpoint rows received.
    stored: u64,
}

impl Checkpoints {
    /// Starts reading and checking `store`'s checkpoints.
    fn start(store: Arc<dyn Store>, key: Option<&str>, origin: &str) -> Self {
        // One page being checked, one waiting: memory stays a few pages.
        let (sender, pages) = tokio::sync::mpsc::channel(1);
        let (key, origin) = (key.map(str::to_owned), origin.to_owned());
        tokio::spawn(async move {
            let mut after = None;
            loop {
                let checked = match store.audit_checkpoints(after, CHECKPOINT_PAGE).await {
                    Ok(page) => {
                        after = match page.last() {
                            Some(last) if page.len() == CHECKPOINT_PAGE as usize => Some(last.size),
                            _ => None,
                        };
                        let (key, origin) = (key.clone(), origin.clone());
                        tokio::task::spawn_blocking(move || {
                            page.iter()
                                .map(|row| check_checkpoint(row, key.as_deref(), &origin))
                                .collect()
                        })
                        .await
                        .map_err(|source| Error::Join {
                            task: "checking the audit checkpoints",
                            source,
                        })
                    }
                    Err(e) => Err(e.into()),
                };
                let last = checked.is_err() || after.is_none();
                // The verifier has gone (an error, or it finished): stop.
                if sender.send(checked).await.is_err() || last {
                    break;
                }
            }
        });
        Self {
            pages,
            known: None,
            done: false,
            stored: 0,
        }
    }

    /// Hands `verifier` checked pages until it knows a checkpoint beyond
    /// `beyond` (`None`: all of them); the rows' problems go to `findings`.
    async fn load(
        &mut self,
        verifier: &mut Verifier,
        findings: &mut Kept,
        beyond: Option<u64>,
    ) -> Result<()> {
        while !self.done && beyond.is_none_or(|b| self.known.is_none_or(|k| k <= b)) {
            let Some(page) = self.pages.recv().await else {
                // The reader ended without an error after its last page.
                self.done = true;
                break;
            };
            let page = page?;
            if page.len() < CHECKPOINT_PAGE as usize {
                self.done = true;
            }
            for (checkpoint, problems) in page {
                self.stored += 1;
                for problem in problems {
                    findings.push(problem);
                }
                if let Some(checkpoint) = checkpoint {
                    self.known = Some(checkpoint.size);
                    verifier.checkpoints.push(checkpoint);
                }
            }
        }
        Ok(())
    }
}

/// Checks a stored checkpoint row ([`check_row`]) and its frontier: a
/// frontier is only needed to restart after damage, but one that does not
/// reproduce its signed root is damage itself.
fn check_checkpoint(row: &AuditCheckpointRow, key: Option<&str>, origin: &str) -> Verdict {
    let (checkpoint, problem) = check_row(row, key, origin);
    let mut findings = Vec::new();
    if let Some(reason) = problem {
        findings.push(Finding::BadCheckpoint {
            size: row.size,
            reason,
        });
    }
    if let Some(checkpoint) = checkpoint
        && resume(checkpoint.size, &row.frontier, &checkpoint.root).is_none()
    {
        findings.push(Finding::DamagedFrontier {
            size: checkpoint.size,
        });
    }
    (checkpoint, findings)
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
    use kirjuri_core::merkle;

    use super::*;
    use crate::audit_chain::frontier_bytes;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect()
    }

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
    fn damage_found_without_end_keeps_only_the_first_findings() {
        // Every other event deleted: 5,000 gaps, of which the report keeps
        // the first ones (and one more, which marks it truncated).
        let log = log(10_000, &[]);
        let events: Vec<_> = events(&log).into_iter().step_by(2).collect();
        let findings = run(&log, &events, None);
        assert_eq!(findings.len(), MAX_FINDINGS + 1);
        for (i, finding) in findings.iter().enumerate() {
            let gap = 2 * i as u64 + 2;
            assert_eq!(
                finding,
                &Finding::Missing {
                    first: gap,
                    last: gap
                }
            );
        }
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
}
