//! The purge (RET-3): destroys what is past its retention deadline and not
//! held, by itself in `serve` ([`start_job`]) and on demand (`kirjuri purge
//! [--dry-run]`, through [`Purger`]).
//!
//! One run reads the clock once and decides everything against that instant.
//! It works in batches and in three phases, each made of the store's
//! idempotent steps (see `kirjuri_store::retention`), so a run killed at any
//! point leaves a state the next run completes:
//! 1. finish what an interrupted run left: tombstones not yet in the erasure
//!    ledger are appended to it; object bytes not yet deleted are deleted;
//! 2. objects (recordings, waveform peaks, …): destroy their wrapped data
//!    keys with a tombstone and an audit event each (crypto-shredding — from
//!    here on every copy is unreadable), append the tombstones to the erasure
//!    ledger, delete the bytes from object storage;
//! 3. contacts with nothing left and their own deadline passed: erase their
//!    sealed document and document key, with a tombstone and an audit event
//!    each, then ledger them;
//! 4. delete the erased contacts' blind-index entries, tens of thousands of
//!    contacts a transaction (dead from their erasure on: no search finds
//!    an erased contact; see `RetentionStore::sweep_erased_index`).
//!
//! A dry run walks phases 2 and 3 with the same queries and the same instant
//! and destroys nothing, so it lists exactly what a real run would. Items are
//! reported by id, kind and deadline only — never personal data. A failed
//! step is recorded and the run goes on with what it can; the next run
//! retries (every step is idempotent).
//!
//! Several processes (the CLI, `serve` on several nodes) purge one at a time:
//! a real run holds the `purge` lease ([`PurgeLease`]) and renews it between
//! batches. A lease left by a process that died on this machine (its
//! instance lock is free) is taken over at once; otherwise it runs out.
//!
//! Not here: the store's SQL (kirjuri-store), the erasure ledger's format
//! (`ledger`), hold management (`holds`); the background job only marks
//! holds whose review date is near as reminded.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures::StreamExt;
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::clock::Clock;
use kirjuri_core::error::with_causes;
use kirjuri_core::ids::{ContactId, ObjectId};
use kirjuri_store::{
    ExpiredContact, ExpiredObject, Shred, ShredMode, StepMarks, TombstoneRow, TombstoneStep,
    truncate_to_storage,
};
use kirjuri_vault::ObjectStore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::{Background, JobLease, Kirjuri, scan_local_instances};
use crate::audit::to_row;
use crate::error::{Error, Outage, Result};
use crate::ledger::{ErasureLedger, LedgerEntry};
use crate::retention::{RetentionConfig, StoredKind};

/// The job name of the purge's lease (`Coordination::try_lease`).
pub const LEASE_JOB: &str = "purge";

/// How long a lease lasts unless renewed. A holder renews it between batches
/// once a third of it has passed, so a batch may take up to two thirds of
/// this before another node could take over.
pub const LEASE_TTL_SECONDS: i64 = 120;

/// [`LEASE_TTL_SECONDS`] as the lease's term.
const LEASE_TTL: StdDuration = StdDuration::from_secs(LEASE_TTL_SECONDS as u64);

/// Objects or contacts per batch: one transaction (the shred or erasure,
/// with the previous batches' marks), one ledger block.
pub const DEFAULT_BATCH: u32 = 2_000;

/// Erased contacts whose index entries one transaction of the sweep
/// deletes (`RetentionStore::sweep_erased_index`). The entries of a batch
/// of contacts are scattered over the whole blind index, so a transaction
/// writes about as many index pages for a few thousand contacts as for
/// tens of thousands: the larger the sweep, the fewer times each page is
/// written, and the longer one transaction holds SQLite's write lock
/// (about a second for 50,000 contacts of a million-contact register).
const SWEEP_CONTACTS: u32 = 50_000;

/// Calls deleting object bytes in flight at once, each over its share of a
/// batch (a folder's is one blocking task of unlinks).
const DELETE_CONCURRENCY: usize = 32;

/// The tombstone reason of a retention purge.
const REASON: &str = "retention";

/// The kind of a contact's own document in tombstones and reports.
pub const CONTACT_KIND: &str = "contact";

/// One thing a purge destroyed (or, in a dry run, would destroy).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PurgeItem {
    /// `recording`, `waveform`, … or `contact`.
    pub kind: String,
    /// The object's id, or the contact's for its document.
    pub id: Uuid,
    /// The contact it belongs to.
    pub contact_id: ContactId,
    /// The deadline it passed.
    pub retain_until: DateTime<Utc>,
}

impl PurgeItem {
    /// The item as `kirjuri purge` prints it:
    /// `<kind>\t<id>\t<contact_id>\t<retain_until>`.
    pub fn line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.kind,
            self.id,
            self.contact_id,
            self.retain_until
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    }
}

/// What a purge run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// The one instant the run decided against.
    pub now: DateTime<Utc>,
    /// Whether nothing was destroyed on purpose.
    pub dry_run: bool,
    /// Destroyed (or to destroy) per kind, `contact` included.
    pub counts: BTreeMap<String, u64>,
    /// Erasures of an earlier, interrupted run that this run finished.
    pub completed: u64,
    /// Listed as expired but left alone when re-checked (a hold placed or
    /// another purge faster in between).
    pub skipped: u64,
    /// Steps that failed, by step and error (ids only); the next run retries.
    pub failures: Vec<String>,
    /// Why steps failed, when it was a full disk or a dependency down
    /// rather than a fault of the data (the first such cause met).
    pub outage: Option<Outage>,
    /// Whether the run stopped early (shutdown, or its lease was lost).
    pub interrupted: bool,
    /// The items, when the run was asked to collect them
    /// ([`Kirjuri::purge`] does).
    pub items: Vec<PurgeItem>,
    /// Time spent per step (`list`, `shred` for objects' keys, `erase` for
    /// contacts' documents, `sweep` for their index entries, `ledger`,
    /// `mark`, `delete`), so a slow run says where its time went. Marks
    /// recorded in a later batch's transaction count under `shred` or
    /// `erase`; `mark` is those recorded on their own.
    pub timings: BTreeMap<&'static str, StdDuration>,
    /// The longest one batch's `shred`, `erase` or `sweep` took, start to
    /// commit: about how long the run held the database's write lock at
    /// once (SQLite; it includes waiting for the lock).
    pub longest_write: StdDuration,
}

impl PurgeReport {
    /// How many things were destroyed (or would be) in all.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Whether every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }

    fn time(&mut self, step: &'static str, started: Instant) {
        *self.timings.entry(step).or_default() += started.elapsed();
    }

    fn fail(&mut self, step: &str, error: &(dyn std::error::Error + 'static)) {
        let error_text = with_causes(error);
        tracing::error!(step, error = %error_text, "a purge step failed; the next run retries it");
        self.failures.push(format!("{step}: {error_text}"));
        if self.outage.is_none() {
            self.outage = Outage::find(error);
        }
    }

    /// The summary lines `kirjuri purge` prints after the items.
    pub fn summary_lines(&self) -> Vec<String> {
        let now = self.now.to_rfc3339_opts(SecondsFormat::Micros, true);
        let verb = if self.dry_run {
            "would destroy"
        } else {
            "destroyed"
        };
        let mut lines = vec![format!(
            "# {} at {now}: {verb} {}",
            if self.dry_run { "dry run" } else { "purge" },
            self.total()
        )];
        for (kind, n) in &self.counts {
            lines.push(format!("# {kind}\t{n}"));
        }
        if self.completed > 0 {
            lines.push(format!(
                "# completed from an interrupted run\t{}",
                self.completed
            ));
        }
        if self.skipped > 0 {
            lines.push(format!("# held back when re-checked\t{}", self.skipped));
        }
        if self.interrupted {
            lines.push("# stopped early; the next run continues".to_owned());
        }
        if !self.failures.is_empty() {
            lines.push(format!("# failed steps\t{}", self.failures.len()));
        }
        lines
    }
}

/// Asked between batches whether a run may go on: `false` when the process
/// is shutting down or the run's lease was lost.
#[async_trait]
pub trait Pacer: Send + Sync {
    /// Whether to start another batch.
    async fn keep_going(&self) -> bool;
}

/// A callback that sees each item as it is destroyed (or listed).
type ItemSink<'a> = Box<dyn FnMut(&PurgeItem) + Send + Sync + 'a>;

/// One purge run, configured: `Purger::new(&app).dry_run(true).run()`.
pub struct Purger<'a> {
    /// The application.
    app: &'a Kirjuri,
    /// The run's one instant.
    now: DateTime<Utc>,
    /// Destroy nothing; list.
    dry_run: bool,
    /// Rows per batch.
    batch: u32,
    /// Sees every item.
    on_item: Option<ItemSink<'a>>,
    /// Asked between batches.
    pacer: Option<&'a dyn Pacer>,
}

impl std::fmt::Debug for Purger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Purger")
            .field("now", &self.now)
            .field("dry_run", &self.dry_run)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl<'a> Purger<'a> {
    /// A real run at the app clock's current instant.
    pub fn new(app: &'a Kirjuri) -> Self {
        Self {
            app,
            now: truncate_to_storage(app.clock.now()),
            dry_run: false,
            batch: DEFAULT_BATCH,
            on_item: None,
            pacer: None,
        }
    }

    /// Lists instead of destroying.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Rows per batch (at least 1).
    pub fn batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Calls `sink` for every item destroyed (or, dry, listed), in order.
    pub fn on_item(mut self, sink: impl FnMut(&PurgeItem) + Send + Sync + 'a) -> Self {
        self.on_item = Some(Box::new(sink));
        self
    }

    /// Asks `pacer` before every batch whether to go on.
    pub fn pacer(mut self, pacer: &'a dyn Pacer) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// Runs the purge. Failed steps are in the report, not an error: the run
    /// does what it can and the next one retries the rest.
    pub async fn run(mut self) -> PurgeReport {
        let mut report = PurgeReport {
            now: self.now,
            dry_run: self.dry_run,
            ..PurgeReport::default()
        };
        if self.dry_run {
            self.phase(Phase::Objects, None, &mut report).await;
            if !report.interrupted {
                self.phase(Phase::Contacts, None, &mut report).await;
            }
            return report;
        }
        let ledger = match ErasureLedger::for_app(self.app) {
            Ok(ledger) => Some(ledger),
            Err(e) => {
                report.fail("opening the erasure ledger", &e);
                None
            }
        };
        self.finish_interrupted(ledger.as_ref(), &mut report).await;
        if !report.interrupted {
            self.phase(Phase::Objects, ledger.as_ref(), &mut report)
                .await;
        }
        if !report.interrupted {
            self.phase(Phase::Contacts, ledger.as_ref(), &mut report)
                .await;
        }
        if !report.interrupted {
            // Survey replies' words and invitations past their own
            // retention (`surveys`); their roll-ups stay.
            match self.app.purge_surveys(self.now).await {
                Ok(purged) => {
                    for (kind, n) in [
                        ("survey_comment", purged.comments),
                        ("survey_invitation", purged.invitations),
                    ] {
                        if n > 0 {
                            *report.counts.entry(kind.to_owned()).or_default() += n;
                        }
                    }
                }
                Err(e) => report.fail("purging survey replies and invitations", &e),
            }
        }
        let swept = if self.dry_run {
            0
        } else {
            self.sweep_index(&mut report).await
        };
        if !self.dry_run
            && (report.total() > 0 || swept > 0)
            && let Err(e) = self.app.store.flush_erasures().await
        {
            report.fail("flushing erased rows out of the database's log", &e);
        }
        let event = AuditEvent::PurgeRun {
            destroyed: report.counts.clone(),
            completed: report.completed,
            failures: report.failures.len() as u64,
        };
        if let Err(e) = self.app.audit(None, &event).await {
            // The store's error says what went wrong (a full disk, say);
            // the application's says only "database failure".
            match &e {
                Error::Store(cause) => report.fail("auditing the run", cause),
                other => report.fail("auditing the run", other),
            }
        }
        tracing::info!(
            destroyed = report.total(),
            completed = report.completed,
            skipped = report.skipped,
            failures = report.failures.len(),
            interrupted = report.interrupted,
            counts = ?report.counts,
            timings = ?report.timings,
            "purge run finished"
        );
        report
    }

    /// Deletes the index entries of the contacts this run (or an earlier,
    /// interrupted one) erased, [`SWEEP_CONTACTS`] contacts a transaction;
    /// how many contacts' entries it deleted.
    async fn sweep_index(&self, report: &mut PurgeReport) -> u64 {
        let mut swept = 0;
        while self.keep_going(report).await {
            let started = Instant::now();
            let done = self.app.store.sweep_erased_index(SWEEP_CONTACTS).await;
            let took = started.elapsed();
            *report.timings.entry("sweep").or_default() += took;
            report.longest_write = report.longest_write.max(took);
            match done {
                Ok(0) => break,
                Ok(n) => swept += n,
                Err(e) => {
                    report.fail("deleting erased contacts' index entries", &e);
                    break;
                }
            }
        }
        swept
    }

    async fn keep_going(&self, report: &mut PurgeReport) -> bool {
        let go = match self.pacer {
            Some(pacer) => pacer.keep_going().await,
            None => true,
        };
        if !go {
            report.interrupted = true;
        }
        go
    }

    fn emit(&mut self, item: PurgeItem, report: &mut PurgeReport) {
        *report.counts.entry(item.kind.clone()).or_default() += 1;
        if let Some(sink) = self.on_item.as_mut() {
            sink(&item);
        }
    }

    /// Phase 1: the ledger and storage steps of tombstones an interrupted
    /// run (or an erasure elsewhere) left unfinished.
    async fn finish_interrupted(
        &mut self,
        ledger: Option<&ErasureLedger>,
        report: &mut PurgeReport,
    ) {
        loop {
            if !self.keep_going(report).await {
                return;
            }
            let started = Instant::now();
            let unfinished = self.app.store.unfinished_tombstones(self.batch).await;
            report.time("list", started);
            let unfinished = match unfinished {
                Ok(unfinished) => unfinished,
                Err(e) => {
                    report.fail("reading unfinished tombstones", &e);
                    return;
                }
            };
            if unfinished.is_empty() {
                return;
            }
            let finished = self.finish(&unfinished, ledger, report).await;
            report.completed += finished.done;
            // A batch that moved nothing forward would come back unchanged:
            // its failures are recorded, the next run retries.
            if finished.steps == 0 {
                return;
            }
        }
    }

    /// Phases 2 and 3: expired, unheld objects, or then contacts with
    /// nothing left. Pipelined: while batch k's keys are destroyed in the
    /// database, batch k−1's tombstones go to the erasure ledger and its
    /// bytes are deleted (no database work); the steps that did are then
    /// marked in batch k+1's transaction, so a batch costs one commit. A
    /// crash loses at most the marks of two batches: the next run finds
    /// those steps open and does them again (both are idempotent).
    async fn phase(
        &mut self,
        phase: Phase,
        ledger: Option<&ErasureLedger>,
        report: &mut PurgeReport,
    ) {
        let mut after: Option<(DateTime<Utc>, Uuid)> = None;
        let mut previous: Vec<TombstoneRow> = Vec::new();
        // Steps done but not yet recorded in the database.
        let mut marks: Vec<StepMarks> = Vec::new();
        loop {
            if !self.keep_going(report).await {
                break;
            }
            let started = Instant::now();
            let listed = self.list(phase, after).await;
            report.time("list", started);
            let candidates = match listed {
                Ok(candidates) => candidates,
                Err(e) => {
                    report.fail(phase.listing(), &e);
                    break;
                }
            };
            let Some(last) = candidates.last() else { break };
            after = Some((last.item.retain_until, last.item.id));
            if self.dry_run {
                for candidate in candidates {
                    self.emit(candidate.item, report);
                }
                continue;
            }
            let (items, shreds): (Vec<PurgeItem>, Vec<Shred>) =
                candidates.into_iter().map(|c| (c.item, c.shred)).unzip();
            let recording = std::mem::take(&mut marks);
            let shredding = async {
                let started = Instant::now();
                let done = self.shred(phase, &shreds, &recording).await;
                (done, started.elapsed())
            };
            let ((shredded, took), io) =
                tokio::join!(shredding, self.ledger_and_delete(&previous, ledger));
            *report.timings.entry(phase.step()).or_default() += took;
            report.longest_write = report.longest_write.max(took);
            marks = self.steps_done(io, report);
            previous = Vec::new();
            let destroyed = match shredded {
                Ok(destroyed) => destroyed,
                Err(e) => {
                    report.fail(phase.shredding(), &e);
                    // The marks went down with the shred's transaction: on
                    // their own, they may still go in.
                    let mut unrecorded = recording;
                    unrecorded.append(&mut marks);
                    self.record(&unrecorded, report).await;
                    return;
                }
            };
            report.skipped += (items.len() - destroyed.len()) as u64;
            for (item, shred) in items.into_iter().zip(shreds) {
                if destroyed.contains(&item.id) {
                    previous.push(shred.tombstone);
                    self.emit(item, report);
                }
            }
        }
        if !previous.is_empty() {
            let io = self.ledger_and_delete(&previous, ledger).await;
            marks.append(&mut self.steps_done(io, report));
        }
        self.record(&marks, report).await;
    }

    /// The next page of what `phase` destroys at the run's instant.
    async fn list(
        &self,
        phase: Phase,
        after: Option<(DateTime<Utc>, Uuid)>,
    ) -> kirjuri_store::Result<Vec<Candidate>> {
        let config = &self.app.config.retention;
        Ok(match phase {
            Phase::Objects => self
                .app
                .store
                .expired_objects(
                    self.now,
                    after.map(|(t, id)| (t, ObjectId::from_uuid(id))),
                    self.batch,
                )
                .await?
                .iter()
                .map(|row| Candidate {
                    item: object_item(row),
                    shred: object_shred(row, config, self.now, REASON),
                })
                .collect(),
            Phase::Contacts => self
                .app
                .store
                .expired_contacts(
                    self.now,
                    after.map(|(t, id)| (t, ContactId::from_uuid(id))),
                    self.batch,
                )
                .await?
                .iter()
                .map(|row| Candidate {
                    item: contact_item(row),
                    shred: contact_shred(row, config, self.now, REASON),
                })
                .collect(),
        })
    }

    /// Destroys keys (objects) or documents (contacts), recording `marks`
    /// in the same transaction; the ids done.
    async fn shred(
        &self,
        phase: Phase,
        shreds: &[Shred],
        marks: &[StepMarks],
    ) -> kirjuri_store::Result<HashSet<Uuid>> {
        let mode = ShredMode::Expired { now: self.now };
        Ok(match phase {
            Phase::Objects => self
                .app
                .store
                .shred_objects_marking(shreds, mode, marks)
                .await?
                .iter()
                .map(|id| *id.as_uuid())
                .collect(),
            Phase::Contacts => self
                .app
                .store
                .erase_contacts_marking(shreds, mode, marks)
                .await?
                .iter()
                .map(|id| *id.as_uuid())
                .collect(),
        })
    }

    /// The steps after a key is destroyed, for these tombstones: append the
    /// ones not yet ledgered to the erasure ledger, delete the bytes not yet
    /// deleted, and mark each step done.
    async fn finish(
        &self,
        tombstones: &[TombstoneRow],
        ledger: Option<&ErasureLedger>,
        report: &mut PurgeReport,
    ) -> Finished {
        let io = self.ledger_and_delete(tombstones, ledger).await;
        self.mark_done(tombstones, io, report).await
    }

    /// The steps outside the database: appends the tombstones not yet
    /// ledgered to the erasure ledger, then deletes the bytes not yet
    /// deleted (a contact has none).
    async fn ledger_and_delete(
        &self,
        tombstones: &[TombstoneRow],
        ledger: Option<&ErasureLedger>,
    ) -> OutsideSteps {
        let mut outcome = OutsideSteps::default();
        let to_ledger: Vec<&TombstoneRow> = tombstones
            .iter()
            .filter(|t| t.ledgered_at.is_none())
            .collect();
        if !to_ledger.is_empty()
            && let Some(ledger) = ledger
        {
            let entries: Vec<LedgerEntry> =
                to_ledger.iter().map(|t| LedgerEntry::from(*t)).collect();
            let started = Instant::now();
            match ledger.append(&entries).await {
                Ok(head) => {
                    outcome.ledgered = to_ledger.iter().map(|t| t.id).collect();
                    outcome.ledger_block = head.map(|h| h.seq);
                }
                Err(e) => {
                    outcome.outage = e.outage();
                    outcome.failures.push(format!(
                        "appending to the erasure ledger: {}",
                        with_causes(&e)
                    ));
                }
            }
            outcome.ledger_time = started.elapsed();
        }
        let to_delete: Vec<(Uuid, bool)> = tombstones
            .iter()
            .filter(|t| t.storage_deleted_at.is_none())
            .map(|t| (t.id, t.kind == CONTACT_KIND))
            .collect();
        if !to_delete.is_empty() {
            let started = Instant::now();
            let (deleted, failed, first_failure) =
                delete_objects(&self.app.objects, to_delete).await;
            outcome.delete_time = started.elapsed();
            outcome.deleted = deleted;
            if let Some(error) = first_failure {
                outcome.failures.push(format!(
                    "deleting object bytes: {failed} failed, the first: {error}"
                ));
            }
        }
        outcome
    }

    /// Records in the database what [`Purger::ledger_and_delete`] did.
    async fn mark_done(
        &self,
        tombstones: &[TombstoneRow],
        outcome: OutsideSteps,
        report: &mut PurgeReport,
    ) -> Finished {
        let ledger_block = outcome.ledger_block;
        let marks = self.steps_done(outcome, report);
        let mut steps = 0u64;
        let mut ledgered: HashSet<Uuid> = tombstones
            .iter()
            .filter(|t| t.ledgered_at.is_some())
            .map(|t| t.id)
            .collect();
        let mut storage_done: HashSet<Uuid> = tombstones
            .iter()
            .filter(|t| t.storage_deleted_at.is_some())
            .map(|t| t.id)
            .collect();
        for mark in &marks {
            if !self.mark(mark, report).await {
                continue;
            }
            steps += (mark.ids.len() * mark.steps.len()) as u64;
            for step in &mark.steps {
                match step {
                    TombstoneStep::Ledgered => ledgered.extend(mark.ids.iter().copied()),
                    TombstoneStep::StorageDeleted => storage_done.extend(mark.ids.iter().copied()),
                }
            }
        }
        let done = tombstones
            .iter()
            .filter(|t| ledgered.contains(&t.id) && storage_done.contains(&t.id))
            .count() as u64;
        Finished {
            steps,
            done,
            ledger_block,
        }
    }

    /// The steps [`Purger::ledger_and_delete`] did, as marks to record; its
    /// timings and failures go to the report. A batch's two steps are
    /// marked together: the ids both steps did (every object, usually) in
    /// one mark, the rest step by step.
    fn steps_done(&self, outcome: OutsideSteps, report: &mut PurgeReport) -> Vec<StepMarks> {
        *report.timings.entry("ledger").or_default() += outcome.ledger_time;
        *report.timings.entry("delete").or_default() += outcome.delete_time;
        for failure in &outcome.failures {
            tracing::error!(error = %failure, "a purge step failed; the next run retries it");
        }
        report.failures.extend(outcome.failures);
        if report.outage.is_none() {
            report.outage = outcome.outage;
        }
        let deleted: HashSet<Uuid> = outcome.deleted.iter().copied().collect();
        let (both, only_ledgered): (Vec<Uuid>, Vec<Uuid>) =
            outcome.ledgered.iter().partition(|id| deleted.contains(id));
        let both_set: HashSet<Uuid> = both.iter().copied().collect();
        let only_deleted: Vec<Uuid> = outcome
            .deleted
            .iter()
            .copied()
            .filter(|id| !both_set.contains(id))
            .collect();
        let at = self.app.clock.now();
        [
            (
                both,
                vec![TombstoneStep::Ledgered, TombstoneStep::StorageDeleted],
            ),
            (only_ledgered, vec![TombstoneStep::Ledgered]),
            (only_deleted, vec![TombstoneStep::StorageDeleted]),
        ]
        .into_iter()
        .filter(|(ids, _)| !ids.is_empty())
        .map(|(ids, steps)| StepMarks { ids, steps, at })
        .collect()
    }

    /// Records `marks` on their own (a mark each), where no batch's
    /// transaction takes them; a failure is reported.
    async fn record(&self, marks: &[StepMarks], report: &mut PurgeReport) {
        for mark in marks {
            self.mark(mark, report).await;
        }
    }

    /// Records one mark; `false` (reported) if that failed.
    async fn mark(&self, mark: &StepMarks, report: &mut PurgeReport) -> bool {
        let started = Instant::now();
        let marked = self
            .app
            .store
            .mark_tombstones(&mark.ids, &mark.steps, mark.at)
            .await;
        report.time("mark", started);
        match marked {
            Ok(()) => true,
            Err(e) => {
                let what = match mark.steps.as_slice() {
                    [TombstoneStep::Ledgered] => "marking tombstones ledgered",
                    [TombstoneStep::StorageDeleted] => "marking object bytes deleted",
                    _ => "marking tombstones ledgered and object bytes deleted",
                };
                report.fail(what, &e);
                false
            }
        }
    }
}

/// The purge's two destroying phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Objects: recordings, derived artefacts, ….
    Objects,
    /// Contacts' own documents, once they have nothing left.
    Contacts,
}

impl Phase {
    fn listing(self) -> &'static str {
        match self {
            Phase::Objects => "listing expired objects",
            Phase::Contacts => "listing expired contacts",
        }
    }

    /// The name of the phase's database step in [`PurgeReport::timings`].
    fn step(self) -> &'static str {
        match self {
            Phase::Objects => "shred",
            Phase::Contacts => "erase",
        }
    }

    fn shredding(self) -> &'static str {
        match self {
            Phase::Objects => "destroying data keys",
            Phase::Contacts => "erasing contacts",
        }
    }
}

/// One object or contact a phase found expired: how it is reported and how
/// it is destroyed.
#[derive(Debug, Clone)]
struct Candidate {
    /// Its report line.
    item: PurgeItem,
    /// Its tombstone and audit event.
    shred: Shred,
}

/// What the steps outside the database did for a batch.
#[derive(Debug, Default)]
struct OutsideSteps {
    /// Appended to the erasure ledger.
    ledgered: Vec<Uuid>,
    /// The ledger block that holds the last of them.
    ledger_block: Option<u64>,
    /// Bytes deleted (or none to delete).
    deleted: Vec<Uuid>,
    /// What failed, by step (ids only).
    failures: Vec<String>,
    /// Why the ledger step failed, if a full disk or an outage.
    outage: Option<Outage>,
    /// Time in the ledger append.
    ledger_time: StdDuration,
    /// Time deleting bytes.
    delete_time: StdDuration,
}

/// Deletes the bytes of `(id, is_contact)` objects (a contact has none):
/// [`DELETE_CONCURRENCY`] calls of [`ObjectStore::delete_many`] at once,
/// each over its share of the batch. Returns the ids done, how many failed
/// and the first failure's message.
async fn delete_objects(
    objects: &Arc<dyn ObjectStore>,
    ids: Vec<(Uuid, bool)>,
) -> (Vec<Uuid>, u64, Option<String>) {
    let mut deleted = Vec::with_capacity(ids.len());
    let mut failed = 0u64;
    let mut first_failure = None;
    let mut to_delete = Vec::with_capacity(ids.len());
    for (id, contact) in ids {
        if contact {
            deleted.push(id);
        } else {
            to_delete.push(ObjectId::from_uuid(id));
        }
    }
    let per_call = to_delete.len().div_ceil(DELETE_CONCURRENCY).max(1);
    let shares: Vec<Vec<ObjectId>> = to_delete.chunks(per_call).map(<[_]>::to_vec).collect();
    let mut deletions = futures::stream::iter(shares)
        .map(|share| {
            let objects = Arc::clone(objects);
            async move {
                let outcomes = objects.delete_many(&share).await;
                (share, outcomes)
            }
        })
        .buffer_unordered(DELETE_CONCURRENCY);
    while let Some((share, outcomes)) = deletions.next().await {
        // An id without an outcome is not known deleted: the next run
        // retries it.
        for (id, outcome) in share.iter().zip(outcomes) {
            match outcome {
                Ok(()) => deleted.push(*id.as_uuid()),
                Err(e) => {
                    failed += 1;
                    first_failure.get_or_insert_with(|| with_causes(&e));
                }
            }
        }
    }
    (deleted, failed, first_failure)
}

/// What [`Purger::finish`] moved forward.
#[derive(Debug, Clone, Copy)]
struct Finished {
    /// Steps marked done.
    steps: u64,
    /// Tombstones with every step done now.
    done: u64,
    /// The erasure-ledger block this call appended (the last, if several).
    ledger_block: Option<u64>,
}

impl Kirjuri {
    /// Purges at the clock's current instant — or, with `dry_run`, lists what
    /// a purge at this instant would destroy — and returns the report with
    /// its items. Holds no lease: callers that may race another purge use
    /// [`PurgeLease`] (a concurrent run is safe, only wasteful).
    pub async fn purge(&self, dry_run: bool) -> Result<PurgeReport> {
        let mut items = Vec::new();
        let mut report = Purger::new(self)
            .dry_run(dry_run)
            .on_item(|item| items.push(item.clone()))
            .run()
            .await;
        report.items = items;
        Ok(report)
    }
}

/// The tombstone reason of an erasure a data subject asked for (DSR-4).
pub const ERASURE_REQUEST_REASON: &str = "erasure_request";

/// What [`Kirjuri::erase_unheld`] destroyed and left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Objects whose data keys were destroyed.
    pub objects: u64,
    /// Contacts whose documents and blind indexes were erased.
    pub contacts: u64,
    /// Objects still there afterwards (a hold keeps them).
    pub kept_objects: BTreeMap<ContactId, u64>,
    /// Contacts still there afterwards (a hold keeps them or one of their
    /// objects).
    pub kept_contacts: Vec<ContactId>,
    /// Steps after the key destruction that failed (ids only); the next
    /// purge run finishes them from the tombstones.
    pub failures: Vec<String>,
    /// The erasure-ledger block that records what was destroyed (the last
    /// one, if it took several); `None` when nothing was destroyed or the
    /// ledger step failed (the next purge run ledgers it then).
    pub ledger_block: Option<u64>,
}

impl Kirjuri {
    /// Erases everything of `contacts` that no active hold keeps, whatever
    /// its deadline (a data subject's erasure, DSR-4), on the purge's own
    /// path: data keys destroyed with a tombstone and an audit event each
    /// (crypto-shredding), then the contacts' documents and blind indexes,
    /// then the erasure ledger and the object bytes — the same steps, so an
    /// interrupted erasure is finished by the next purge run. Idempotent:
    /// what is already erased is skipped.
    pub(crate) async fn erase_unheld(
        &self,
        contacts: &[ContactId],
        reason: &str,
    ) -> Result<Erasure> {
        let purger = Purger::new(self);
        let now = purger.now;
        let mode = ShredMode::Unheld { now };
        let config = &self.config.retention;
        let mut object_shreds = Vec::new();
        let mut rows = Vec::new();
        for id in contacts {
            let Some(row) = self.store.contact(id).await? else {
                continue;
            };
            if row.is_erased() {
                continue;
            }
            for object in self.store.objects_for_contact(id).await? {
                object_shreds.push(object_shred(&(&object).into(), config, now, reason));
            }
            rows.push(row);
        }
        let shredded: HashSet<Uuid> = self
            .store
            .shred_objects(&object_shreds, mode)
            .await?
            .iter()
            .map(|id| *id.as_uuid())
            .collect();
        let contact_shreds: Vec<Shred> = rows
            .iter()
            .map(|row| contact_shred(&row.into(), config, now, reason))
            .collect();
        let erased: HashSet<ContactId> = self
            .store
            .erase_contacts(&contact_shreds, mode)
            .await?
            .into_iter()
            .collect();
        let tombstones: Vec<TombstoneRow> = object_shreds
            .iter()
            .filter(|s| shredded.contains(&s.tombstone.id))
            .chain(
                contact_shreds
                    .iter()
                    .filter(|s| erased.contains(&ContactId::from_uuid(s.tombstone.id))),
            )
            .map(|s| s.tombstone.clone())
            .collect();
        let mut report = PurgeReport {
            now,
            ..PurgeReport::default()
        };
        let ledger = match ErasureLedger::for_app(self) {
            Ok(ledger) => Some(ledger),
            Err(e) => {
                report.fail("opening the erasure ledger", &e);
                None
            }
        };
        let finished = purger
            .finish(&tombstones, ledger.as_ref(), &mut report)
            .await;
        if !tombstones.is_empty()
            && let Err(e) = self.store.flush_erasures().await
        {
            report.fail("flushing erased rows out of the database's log", &e);
        }
        let mut erasure = Erasure {
            objects: shredded.len() as u64,
            contacts: erased.len() as u64,
            failures: report.failures,
            ledger_block: finished.ledger_block,
            ..Erasure::default()
        };
        for row in &rows {
            if erased.contains(&row.id) {
                continue;
            }
            erasure.kept_contacts.push(row.id);
            let left = self.store.objects_for_contact(&row.id).await?.len() as u64;
            if left > 0 {
                erasure.kept_objects.insert(row.id, left);
            }
        }
        Ok(erasure)
    }
}

/// The stored kind whose policy governs an object or contact of `kind`
/// (`recording`, `waveform`, …, `contact`): derived artefacts never outlive
/// their source, so an unknown kind with a source counts as derived.
pub fn stored_kind(kind: &str, derived: bool) -> Option<StoredKind> {
    match StoredKind::of_object(kind) {
        Some(stored) => Some(stored),
        None if kind == CONTACT_KIND => Some(StoredKind::ContactMetadata),
        None if derived => Some(StoredKind::Derived),
        None => None,
    }
}

/// The rule a tombstone and its audit event quote, e.g. `call_recording:
/// 12 months (Privacy notice §12: …)`.
pub fn rule_for_kind(config: &RetentionConfig, kind: &str, derived: bool) -> String {
    match stored_kind(kind, derived) {
        Some(stored) => config.policy(stored).rule(stored),
        None => format!("{kind}: the deadline fixed at intake"),
    }
}

fn object_item(row: &ExpiredObject) -> PurgeItem {
    PurgeItem {
        kind: row.kind.clone(),
        id: *row.id.as_uuid(),
        contact_id: row.contact_id,
        retain_until: row.retain_until,
    }
}

fn contact_item(row: &ExpiredContact) -> PurgeItem {
    PurgeItem {
        kind: CONTACT_KIND.to_owned(),
        id: *row.id.as_uuid(),
        contact_id: row.id,
        retain_until: row.retain_until,
    }
}

fn object_shred(
    row: &ExpiredObject,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    reason: &str,
) -> Shred {
    let rule = rule_for_kind(config, &row.kind, row.source.is_some());
    let event = AuditEvent::ObjectPurged {
        object: row.id,
        contact: row.contact_id,
        kind: row.kind.clone(),
        sha256: row.sha256.clone(),
        rule: rule.clone(),
        retain_until: row.retain_until,
    };
    Shred {
        tombstone: TombstoneRow {
            id: *row.id.as_uuid(),
            contact_id: row.contact_id,
            kind: row.kind.clone(),
            rule,
            reason: reason.to_owned(),
            sha256: Some(row.sha256.clone()),
            retain_until: row.retain_until,
            deleted_at: now,
            ledgered_at: None,
            storage_deleted_at: None,
        },
        audit: to_row(now, None, &event),
    }
}

fn contact_shred(
    row: &ExpiredContact,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    reason: &str,
) -> Shred {
    let rule = rule_for_kind(config, CONTACT_KIND, false);
    let event = AuditEvent::ContactErased {
        contact: row.id,
        rule: rule.clone(),
        retain_until: row.retain_until,
    };
    Shred {
        tombstone: TombstoneRow {
            id: *row.id.as_uuid(),
            contact_id: row.id,
            kind: CONTACT_KIND.to_owned(),
            rule,
            reason: reason.to_owned(),
            sha256: None,
            retain_until: row.retain_until,
            deleted_at: now,
            ledgered_at: None,
            // A contact's document has no bytes outside its row.
            storage_deleted_at: Some(now),
        },
        audit: to_row(now, None, &event),
    }
}

// --- the lease: one purge at a time ----------------------------------------

/// This process's hold on the `purge` [`JobLease`], renewed between
/// batches and released at the end of a run.
#[derive(Debug)]
pub struct PurgeLease {
    /// The lease itself.
    lease: JobLease,
    /// "Now", for when to renew.
    clock: Arc<dyn Clock>,
    /// When the lease was last taken or renewed.
    renewed_at: Mutex<DateTime<Utc>>,
    /// Set once the process is asked to stop (the background job's shutdown).
    stop: Option<CancellationToken>,
}

impl PurgeLease {
    /// Takes the lease if it is free, ran out, or was left by a dead process
    /// on this machine; `None` if another live purge holds it.
    pub async fn try_acquire(app: &Kirjuri) -> Result<Option<Self>> {
        let now = app.clock.now();
        let lease = JobLease::new(app, LEASE_JOB, LEASE_TTL);
        if !lease.acquire().await? {
            // The holder cannot be read back, but releasing the lease of
            // every dead local instance frees it if one of them holds it.
            for dead in dead_local_instances(&app.config.instances_dir(), &app.instance.id) {
                lease.release_for_dead(&dead).await?;
            }
            if !lease.acquire().await? {
                return Ok(None);
            }
        }
        Ok(Some(Self {
            lease,
            clock: Arc::clone(&app.clock),
            renewed_at: Mutex::new(now),
            stop: None,
        }))
    }

    /// Takes the lease, waiting (polling every second) up to `patience` for
    /// another purge to finish; `None` if it did not.
    pub async fn acquire(app: &Kirjuri, patience: StdDuration) -> Result<Option<Self>> {
        let started = tokio::time::Instant::now();
        let mut told = false;
        loop {
            if let Some(lease) = Self::try_acquire(app).await? {
                return Ok(Some(lease));
            }
            if started.elapsed() >= patience {
                return Ok(None);
            }
            if !told {
                tracing::info!("another purge is running; waiting for it to finish");
                told = true;
            }
            tokio::time::sleep(StdDuration::from_secs(1)).await;
        }
    }

    /// Stops the run (between batches) once `stop` is cancelled.
    pub fn stop_on(mut self, stop: CancellationToken) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Renews the lease if a third of it has passed; `false` if another
    /// process took it meanwhile.
    async fn renew(&self) -> bool {
        let now = self.clock.now();
        let due = match self.renewed_at.lock() {
            Ok(at) => now - *at >= Duration::seconds(LEASE_TTL_SECONDS / 3),
            Err(_) => true,
        };
        if !due {
            return true;
        }
        match self.lease.acquire().await {
            Ok(true) => {
                if let Ok(mut at) = self.renewed_at.lock() {
                    *at = now;
                }
                true
            }
            Ok(false) => {
                tracing::warn!("the purge lease was taken by another process; stopping this run");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "failed to renew the purge lease; stopping this run");
                false
            }
        }
    }

    /// Gives the lease up.
    pub async fn release(self) {
        if let Err(e) = self.lease.release().await {
            tracing::warn!(error = %e, "failed to release the purge lease; it runs out by itself");
        }
    }
}

#[async_trait]
impl Pacer for PurgeLease {
    async fn keep_going(&self) -> bool {
        if self
            .stop
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
        {
            return false;
        }
        self.renew().await
    }
}

/// Ids of the instances on this machine whose lock file nobody holds (their
/// process is gone), other than `me`. A folder that cannot be read names
/// none: the lease then waits for its term to run out.
fn dead_local_instances(dir: &Path, me: &str) -> Vec<String> {
    scan_local_instances(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.live && i.id != me && !i.id.is_empty())
        .filter(|i| i.id.chars().all(|c| c.is_ascii_hexdigit()))
        .map(|i| i.id)
        .collect()
}

// --- the background job (`serve`) ---------------------------------------------

/// The purge running in `serve` every `retention.purge_interval_seconds`,
/// and the hold-review reminders with it: a run once per interval, the
/// first one interval after start. Not at once: a start (or a restart loop)
/// must not race an operator who is about to run `kirjuri purge --dry-run`
/// and then the real purge, or a restore that is checking what came back;
/// an operator who wants the catch-up now runs `kirjuri purge`. Stopping
/// the returned task lets a run in progress end after its batch.
pub fn start_job(app: Kirjuri) -> Background {
    Background::spawn(move |stop| run_job(app, stop))
}

async fn run_job(app: Kirjuri, stop: CancellationToken) {
    let interval = StdDuration::from_secs(app.config.retention.purge_interval_seconds.max(1));
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
        scheduled_run(&app, &stop).await;
    }
}

/// One scheduled run: under the lease, the purge, then the hold-review
/// reminders and the data-subject requests' watch (deadline reminders, the
/// end of closed requests' records). Failures are logged; the next interval retries.
pub async fn scheduled_run(app: &Kirjuri, stop: &CancellationToken) -> Option<PurgeReport> {
    let lease = match PurgeLease::try_acquire(app).await {
        Ok(Some(lease)) => lease.stop_on(stop.clone()),
        Ok(None) => {
            tracing::debug!("another process is purging; skipping this interval");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "failed to take the purge lease; retrying next interval");
            return None;
        }
    };
    let report = Purger::new(app).pacer(&lease).run().await;
    app.metrics.purged(&report);
    if !report.interrupted {
        match remind_holds(app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reminded = n, "legal holds due for review"),
            Err(e) => tracing::error!(error = %e, "failed to check hold review dates"),
        }
        if let Err(e) = app.watch_requests().await {
            tracing::error!(error = %e, "failed to watch data-subject requests' deadlines and records");
        }
    }
    lease.release().await;
    Some(report)
}

/// Marks every active hold whose review date is within
/// `retention.hold_reminder_days` and whose owner was not yet reminded, with
/// an audit event and a log line each. Returns how many.
pub async fn remind_holds(app: &Kirjuri) -> Result<u64> {
    let now = app.clock.now();
    let horizon = now + Duration::days(i64::from(app.config.retention.hold_reminder_days));
    let mut reminded = 0;
    for summary in app.store.holds(Some(now)).await? {
        let hold = summary.hold;
        if hold.reminded_at.is_some() || hold.review_by > horizon {
            continue;
        }
        let event = AuditEvent::HoldReviewDue {
            hold: hold.id,
            owner: hold.owner,
            review_by: hold.review_by,
        };
        app.store
            .mark_hold_reminded(&hold.id, now, &to_row(now, None, &event))
            .await?;
        tracing::warn!(
            hold = %hold.id,
            owner = %hold.owner,
            review_by = %hold.review_by.to_rfc3339_opts(SecondsFormat::Secs, true),
            "a legal hold is due for review"
        );
        reminded += 1;
    }
    Ok(reminded)
}

// --- `kirjuri purge`: one run, under the lease ----------------------------------

/// How long `kirjuri purge` waits for a purge running elsewhere (`serve`'s
/// background job, another node) to finish.
pub const LEASE_PATIENCE: StdDuration = StdDuration::from_secs(600);

/// Why [`run_exclusive`] did not run.
#[derive(Debug, thiserror::Error)]
pub enum ExclusiveRunError {
    /// The lease could not be read or written.
    #[error("failed to take the purge lease")]
    Lease(#[source] crate::Error),
    /// Another purge kept the lease for all of `patience`.
    #[error("another purge has been running for {} s; try again later", patience.as_secs())]
    Busy {
        /// How long this run waited.
        patience: StdDuration,
    },
}

/// One purge run as `kirjuri purge` does it: a dry run at once; a real run
/// under the purge lease, waiting up to `patience` for another purge to
/// finish, renewing it between batches and releasing it at the end. The run
/// takes its instant once it holds the lease. `on_item` sees every item.
pub async fn run_exclusive(
    app: &Kirjuri,
    dry_run: bool,
    batch: u32,
    patience: StdDuration,
    on_item: impl FnMut(&PurgeItem) + Send + Sync,
) -> Result<PurgeReport, ExclusiveRunError> {
    let lease = if dry_run {
        None
    } else {
        match PurgeLease::acquire(app, patience)
            .await
            .map_err(ExclusiveRunError::Lease)?
        {
            Some(lease) => Some(lease),
            None => return Err(ExclusiveRunError::Busy { patience }),
        }
    };
    let mut purger = Purger::new(app)
        .dry_run(dry_run)
        .batch(batch)
        .on_item(on_item);
    if let Some(lease) = &lease {
        purger = purger.pacer(lease);
    }
    let report = purger.run().await;
    if let Some(lease) = lease {
        lease.release().await;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::with_causes;
    use crate::Error;

    #[test]
    fn a_failure_names_the_operating_systems_cause_once() {
        let full = std::io::Error::from_raw_os_error(28);
        let error = Error::io(
            "failed to append to /data/erasure-ledger/ledger-00000001.jsonl",
            full,
        );
        let text = with_causes(&error);
        assert!(
            text.starts_with("failed to append to /data/erasure-ledger/"),
            "{text}"
        );
        assert!(text.contains("No space left on device"), "{text}");
        // A message that already quotes its cause does not repeat it.
        let quoted = Error::io(
            "failed: No space left on device (os error 28)",
            std::io::Error::from_raw_os_error(28),
        );
        assert_eq!(
            with_causes(&quoted),
            "failed: No space left on device (os error 28)"
        );
    }
}
