//! Group commit (issue 16): concurrent uploads share their database commit.
//!
//! Every intake write that would otherwise be a transaction — and an fsync
//! of SQLite's WAL, and a wait for its single write lock — of its own (a
//! new contact, an upload's pending rows, an upload's commit) is queued
//! here instead. Whoever holds the commit *turn* takes everything queued
//! (up to [`MAX_GROUP`]) and writes it in one transaction
//! ([`ContactStore::write_group`]); while that commit is being made
//! durable, new writes queue up for the next turn. So one caller alone pays
//! one commit, as before, and N callers at once pay about one commit
//! between them, without any timer or added wait.
//!
//! No caller is answered before the commit that holds its write is
//! durable: each gets its own outcome only after `write_group` returns,
//! and if the shared append or commit fails, every write of the group
//! fails with [`kirjuri_store::Error::SharedCommit`] (nothing of it was
//! stored). A write that fails on its own (a constraint, a pending row
//! that recovery took) fails alone.
//!
//! Each turn runs in a task of its own, so a caller that goes away (a
//! client that hangs up) neither cancels the others' commit nor leaves its
//! write stranded in the queue.
//!
//! What this is not: the transaction's content (the store's `group.rs`),
//! or the file fsyncs, which the object store does before a write is
//! queued here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use kirjuri_store::{GroupOutcome, GroupWrite, Store};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// At most this many writes share one transaction, so one turn stays short
/// and its memory bounded; the rest wait for the next turn.
pub const MAX_GROUP: usize = 256;

/// A write waiting for its turn, and where its outcome goes.
struct Queued {
    /// The write.
    write: GroupWrite,
    /// Its caller, waiting.
    done: oneshot::Sender<kirjuri_store::Result<GroupOutcome>>,
}

/// The queue and the turn (see the module doc). One per opened data folder.
pub struct GroupCommit {
    /// The database every group is written to.
    store: Arc<dyn Store>,
    /// Writes waiting for the next turn, oldest first.
    queue: Mutex<VecDeque<Queued>>,
    /// Held while a group is written: one transaction at a time.
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Group commit over `store`.
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            store,
            queue: Mutex::new(VecDeque::new()),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    /// Queues `write` and answers once the transaction holding it has
    /// committed (or failed).
    pub async fn write(self: &Arc<Self>, write: GroupWrite) -> Result<GroupOutcome> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(Queued { write, done });
        // One turn per write queued, so every write is taken by some turn;
        // a turn that finds the queue empty (an earlier one took its write)
        // does nothing.
        let this = Arc::clone(self);
        tokio::spawn(async move { this.take_turn().await });
        match outcome.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(Error::Internal("the group commit stopped")),
        }
    }

    /// Waits for the turn, then writes what is queued in one transaction
    /// and answers each caller.
    async fn take_turn(&self) {
        let _turn = self.turn.lock().await;
        let group: Vec<Queued> = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let n = queue.len().min(MAX_GROUP);
            queue.drain(..n).collect()
        };
        if group.is_empty() {
            return;
        }
        let (writes, callers): (Vec<GroupWrite>, Vec<_>) =
            group.into_iter().map(|q| (q.write, q.done)).unzip();
        match self.store.write_group(&writes).await {
            Ok(results) if results.len() == callers.len() => {
                for (caller, result) in callers.into_iter().zip(results) {
                    // A caller that went away needs no answer.
                    let _ = caller.send(result);
                }
            }
            Ok(_) => {
                let broken = Arc::new(kirjuri_store::Error::Corrupt(
                    "write_group: not one result per write".into(),
                ));
                for caller in callers {
                    let _ = caller.send(Err(kirjuri_store::Error::SharedCommit(broken.clone())));
                }
            }
            Err(error) => {
                tracing::warn!(n_writes = writes.len(), error = %error, "a group commit failed; none of its writes is stored");
                let shared = Arc::new(error);
                for caller in callers {
                    let _ = caller.send(Err(kirjuri_store::Error::SharedCommit(shared.clone())));
                }
            }
        }
    }
}
