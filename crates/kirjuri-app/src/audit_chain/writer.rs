//! The checkpoint writer: [`AuditChain`] signs a checkpoint of the events
//! stored so far once it has checked that the new tree extends the last
//! signed one (resumed from its stored frontier, a consistency proof built
//! from the new leaves only), and [`run_checkpointer`] runs it in the
//! background by [`CheckpointPolicy`].
//!
//! Not here: reading the whole log back or judging old damage (that is
//! `verify.rs`), the tree maths (`kirjuri_core::merkle`), signing keys
//! (`kirjuri_vault::checkpoint`).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kirjuri_core::clock::Clock;
use kirjuri_core::merkle::{self, TreeBuilder};
use kirjuri_store::{AuditCheckpointRow, Store};
use kirjuri_vault::{AuditSigner, Checkpoint};

use super::{
    EVENT_PAGE, MIN_RETRY, POLL, ProofBuilder, frontier_bytes, open_note, origin, resume, root_text,
};
use crate::app::{JobLease, Kirjuri};
use crate::config::Config;
use crate::error::{Error, Result};

/// When the background writer signs (docs/requirements.md AUD-2: every N events or T).
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

/// Starts `serve`'s checkpoint writer as `app`'s configuration asks (AUD-2):
/// [`run_checkpointer`] under the `audit-checkpoint` lease, so processes
/// and nodes sharing the database take turns (one that dies holding it
/// hands over once `cluster.instance_ttl_seconds` have passed). Stopping
/// the returned task signs the last events; stop it once the server has
/// drained.
pub fn start_checkpointer(chain: AuditChain, app: &Kirjuri) -> crate::app::Background {
    let policy = CheckpointPolicy::from_config(&app.config);
    let lease = JobLease::new(
        app,
        "audit-checkpoint",
        Duration::from_secs(app.config.cluster.instance_ttl_seconds.max(1)),
    );
    crate::app::Background::spawn(move |stop| {
        run_checkpointer(chain, policy, Some(lease), stop.cancelled_owned())
    })
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use kirjuri_core::clock::SystemClock;
    use kirjuri_core::merkle::Hash;
    use kirjuri_store::{NewAuditEvent, SqliteStore};
    use kirjuri_vault::verify_signed;
    use serde_json::json;

    use super::*;
    use crate::audit_chain::{Finding, VerifyReport, event_leaf, verify};

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

    #[tokio::test]
    async fn checkpoints_over_several_pages_are_all_checked_while_the_events_stream() {
        // More checkpoints than two pages of them, over more events than
        // one page of events, so the checked checkpoints are handed to the
        // verifier page by page as the events arrive.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kirjuri.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let chain = chain(Arc::clone(&store), dir.path()).await;
        let count = 2 * super::super::CHECKPOINT_PAGE + 52;
        let per = super::super::EVENT_PAGE / count + 1;
        let mut witness = None;
        for i in 0..count {
            append(store.as_ref(), i * per..(i + 1) * per).await;
            let CheckpointOutcome::Signed(row) = chain.checkpoint().await.unwrap() else {
                panic!("nothing signed");
            };
            if i == 100 {
                witness = Some(row.note);
            }
        }
        let events = u64::from(count * per);
        assert!(events > u64::from(super::super::EVENT_PAGE));
        let report = verify_chain(&chain, witness.as_deref()).await;
        assert!(report.is_intact(), "{:?}", report.findings);
        assert_eq!(report.events, events);
        assert_eq!(report.checkpoints, u64::from(count));
        assert_eq!(report.latest.map(|l| l.0), Some(events));
        assert_eq!(report.witness.map(|w| w.0), Some(u64::from(101 * per)));

        // An event changed behind the second page of checkpoints is named
        // by its interval: that page reached the verifier in time.
        let changed = u64::from(2 * super::super::CHECKPOINT_PAGE * per - per / 2);
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(&format!(
            "DROP TRIGGER audit_events_refuse_update; \
             UPDATE audit_events SET purpose = 'training' WHERE seq = {changed};"
        ))
        .unwrap();
        let last = changed.div_ceil(u64::from(per)) * u64::from(per);
        let report = verify_chain(&chain, None).await;
        assert_eq!(
            report.findings,
            [Finding::Changed {
                first: last - u64::from(per) + 1,
                last,
                checkpoint: last
            }]
        );
        db.execute_batch(&format!(
            "UPDATE audit_events SET purpose = 'quality_assurance' WHERE seq = {changed};"
        ))
        .unwrap();

        // A forged checkpoint in the last page is named; the genuine ones
        // before it still count.
        append(store.as_ref(), count * per..count * per + 1).await;
        let forger =
            AuditSigner::open_or_create(&dir.path().join("forger.key"), chain.origin()).unwrap();
        let mut buffer = Vec::new();
        let rows = store.stored_audit_events(0, u32::MAX).await.unwrap();
        let tree: TreeBuilder = rows.iter().map(|r| event_leaf(r, &mut buffer)).collect();
        let forged = AuditCheckpointRow {
            size: events + 1,
            root: tree.root().to_vec(),
            note: forger
                .sign(&Checkpoint {
                    origin: chain.origin().to_owned(),
                    size: events + 1,
                    root: tree.root(),
                })
                .unwrap(),
            frontier: frontier_bytes(&tree),
            created_at: SystemClock.now(),
        };
        assert!(
            store
                .insert_audit_checkpoint(&forged, Some(events))
                .await
                .unwrap()
        );
        let report = verify_chain(&chain, witness.as_deref()).await;
        assert!(
            matches!(
                &report.findings[..],
                [Finding::BadCheckpoint { size, .. }] if *size == events + 1
            ),
            "{:?}",
            report.findings
        );
        assert_eq!(report.checkpoints, u64::from(count) + 1);
        assert_eq!(report.latest.map(|l| l.0), Some(events));
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
}
