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
//! **Verification** ([`verify()`]) streams every event once in constant memory
//! and checks: sequence numbers run 1, 2, 3, … (a gap is a deleted event, a
//! number out of place an inserted one); every stored checkpoint's signature
//! and origin; the recomputed root at each checkpoint's size (so two
//! consecutive checkpoints that one unbroken run of stored events
//! reproduces are consistent by construction: no proof between them is
//! needed, unlike for the writer, which never rereads old events); that the
//! log is not shorter than any checkpoint (truncation); and, given a
//! checkpoint exported earlier to an outside witness, that the log still
//! extends it (an RFC 9162 consistency proof from the witness's tree to the
//! latest signed one, built from the leaves in hand).
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
//! **Layout.** This file holds what the writer and verifier share (origin,
//! leaf hash, stored frontier, note check); `writer.rs` signs, `verify.rs`
//! checks, `verify_log.rs` picks the witness and key for `kirjuri audit
//! verify`, `findings.rs` names what is wrong.
//!
//! Not here: the leaf encoding (core), the tree, its proofs and the streaming
//! [`ProofBuilder`] (`kirjuri_core::merkle`), the note format and Ed25519
//! (`kirjuri_vault::checkpoint`), storage (`kirjuri_store`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kirjuri_core::audit::leaf_hash_of;
use kirjuri_core::merkle::{Hash, TreeBuilder};
use kirjuri_store::StoredAuditEvent;
use kirjuri_vault::{Checkpoint, verify_signed};

mod findings;
mod verify;
mod verify_log;
mod writer;

pub use findings::Finding;
/// The streaming consistency-proof builder, now in core (pure maths).
pub use kirjuri_core::merkle::ProofBuilder;
pub use verify::{VerifyReport, verify};
pub use verify_log::{LogVerification, VerifyLogError, verify_log};
pub use writer::{
    AuditChain, CheckpointOutcome, CheckpointPolicy, run_checkpointer, start_checkpointer,
};

/// Events read (and hashed, by the store) per query.
const EVENT_PAGE: u32 = 65_536;
/// Checkpoints read per query; the verifier checks one such page's
/// signatures (about 15 ms of one core) while the events stream.
const CHECKPOINT_PAGE: u32 = 256;
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
/// store computes the same in bulk: [`Store::audit_leaves`](kirjuri_store::AuditStore::audit_leaves).)
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
