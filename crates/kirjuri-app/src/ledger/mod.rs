//! The erasure ledger (issue 5, SEC-2): every destroyed key and deleted
//! object, appended outside the database and signed with the audit key, so a
//! restore from an older backup can replay it and nothing erased comes back
//! readable.
//!
//! **Layout.** A folder (config `ledger_dir`, by default
//! `<data>/erasure-ledger`, mode 0700) of append-only files
//! `ledger-00000001.jsonl`, `ledger-00000002.jsonl`, … and a lock file
//! `ledger.lock`. A file is closed (made read-only, 0400) once it reaches
//! [`ROLL_BYTES`] and the next block goes to the next file, so an operator can
//! copy closed files to write-once storage while the ledger keeps growing.
//! Keep every file in the folder: verification starts at block 1.
//!
//! **Blocks.** One line per [`ErasureLedger::append`] call:
//!
//! ```text
//! {"sig":"<base64 Ed25519 signature, 88 chars>","block":<body>}\n
//! <body> = {"type":"kirjuri-erasure-ledger-block","v":1,"seq":N,"prev":"<hex>","entries":[…]}
//! ```
//!
//! The signature is the audit signing key's over
//! `"kirjuri-erasure-ledger-block/v1\n" ‖ SHA-256(body)`, the body taken as
//! the bytes exactly as stored (the canonical bytes are the stored bytes:
//! nothing is re-serialised to check them). Signing the digest rather than
//! the body hashes each byte once with SHA-256 instead of twice with
//! SHA-512 (Ed25519's own hashing), a third of the cost of a large block;
//! the prefix keeps these signatures apart from the key's other uses
//! (checkpoint notes, backup manifests). `seq` counts blocks from 1 across
//! all files; `prev` is the
//! SHA-256 of the previous block's whole line without its newline (64 zeros
//! for block 1), so the chain covers signatures too. A reader checks every
//! signature, the chain and the sequence, and names the first bad block.
//!
//! **Concurrency and crashes.** Appenders in any number of processes take
//! an exclusive `flock` on `ledger.lock`, then read the tail (the last
//! complete line, its signature checked) for `prev` and `seq`. A line is
//! written with one `write` in append mode and `fdatasync`ed before
//! `append` returns; creating a file also fsyncs the folder. A crash
//! mid-write leaves a last line without its newline: readers ignore it, and
//! the next appender (holding the lock, so no writer is mid-line) truncates
//! it before writing. The purge appends an erasure again if it never heard
//! of success, so a dropped torn line loses nothing; an entry may appear
//! twice, which replay tolerates.
//!
//! **No personal data.** Entries hold ids, kinds, a digest, a time, the rule
//! text and the reason; [`ErasureLedger::append`] refuses fields outside
//! their narrow shapes, so free text cannot slip in through them.
//!
//! **Code layout.** This file holds the constants and the types readers
//! and callers see; `block.rs` the line format (encode, parse, check),
//! `append.rs` the appender, `read.rs` the verifying reader, `files.rs` the
//! folder's files (listing, the tail, truncation).
//!
//! Not here: deciding what to erase (`purge`), replaying the ledger after a
//! restore (`backup`), the Ed25519 primitives (`kirjuri_vault::checkpoint`),
//! generic file helpers (`kirjuri_vault::fsio`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Error;

mod append;
mod block;
mod files;
mod read;
#[cfg(test)]
mod tests;

pub use append::ErasureLedger;
pub use block::LedgerEntry;
pub use read::{LedgerReader, verify, verify_async};

/// A file is closed once it holds at least this many bytes.
pub const ROLL_BYTES: u64 = 64 << 20;
/// The key name the ledger's signer carries (in its verifier key). The
/// signatures themselves are raw Ed25519: any verifier key of the same
/// public key checks them.
pub const LEDGER_KEY_NAME: &str = "kirjuri-erasure-ledger";
/// What every block body declares itself to be.
const BLOCK_TYPE: &str = "kirjuri-erasure-ledger-block";
/// What a block's signed message starts with (domain separation).
const SIGNED_PREFIX: &[u8] = b"kirjuri-erasure-ledger-block/v1\n";
/// The block format version.
const BLOCK_VERSION: u32 = 1;
/// Ledger files: `ledger-<8 digits>.jsonl`.
const FILE_PREFIX: &str = "ledger-";
const FILE_SUFFIX: &str = ".jsonl";
/// The appenders' lock.
const LOCK_FILE: &str = "ledger.lock";
/// How a line starts, up to the signature.
const LINE_START: &str = "{\"sig\":\"";
/// Between the signature and the body.
const LINE_MIDDLE: &str = "\",\"block\":";
/// A 64-byte signature in padded standard base64.
const SIGNATURE_B64_LEN: usize = 88;
/// A line longer than this is not one of ours (bounds a hostile file's cost).
const MAX_LINE: usize = 256 << 20;
/// The most entries one block may hold (a batch larger than this is split).
pub const MAX_BLOCK_ENTRIES: usize = 100_000;
/// The longest rule text accepted, in bytes (a policy's reference is at
/// most 500 characters on one line, `retention::RetentionConfig`; this
/// leaves room for multi-byte characters and the kind and months).
const MAX_RULE_LEN: usize = 4096;
/// Bytes read per step when looking for the last line from the end.
const TAIL_CHUNK: usize = 64 * 1024;
/// The last block of a ledger: how many blocks it has and the hash of the
/// last one's line. `seq` 0 (and a hash of zeros) is the empty ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerHead {
    /// The number of blocks.
    pub seq: u64,
    /// SHA-256 of the last block's line (lower-case hex in JSON).
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
}

impl LedgerHead {
    /// The empty ledger's head.
    pub const EMPTY: LedgerHead = LedgerHead {
        seq: 0,
        hash: [0; 32],
    };
}

mod hex_hash {
    //! A 32-byte hash as 64 lower-case hex digits in JSON.
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(&text)
            .ok()
            .filter(|_| text.bytes().all(|b| !b.is_ascii_uppercase()))
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| serde::de::Error::custom("not 64 lower-case hex digits"))
    }
}

/// Where and why verification stopped: the first block that is not what
/// it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerDamage {
    /// The file holding the bad block (or the file that is missing).
    pub file: PathBuf,
    /// Its line in that file (1-based; 0 when a whole file is at fault).
    pub line: u64,
    /// The block's position in the chain, i.e. the sequence number it must
    /// have.
    pub seq: u64,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for LedgerDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(
                f,
                "block {}: {} ({})",
                self.seq,
                self.problem,
                self.file.display()
            )
        } else {
            write!(
                f,
                "block {} (line {} of {}): {}",
                self.seq,
                self.line,
                self.file.display(),
                self.problem
            )
        }
    }
}

/// What a reader can fail with: a damaged ledger, or anything else.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The ledger fails verification at this block.
    #[error("the erasure ledger at {dir} fails verification at {damage}")]
    Damaged {
        /// The ledger folder.
        dir: PathBuf,
        /// The first bad block.
        damage: LedgerDamage,
    },
    /// Reading failed.
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<LedgerError> for Error {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Other(e) => e,
            damaged @ LedgerError::Damaged { .. } => Error::Damaged(damaged.to_string()),
        }
    }
}

/// One verified block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerBlock {
    /// Its sequence number.
    pub seq: u64,
    /// SHA-256 of its line.
    pub hash: [u8; 32],
    /// Its entries, in the order appended.
    pub entries: Vec<LedgerEntry>,
}

/// What a full verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerSummary {
    /// The last verified block.
    pub head: LedgerHead,
    /// Entries in all blocks.
    pub entries: u64,
    /// Files read.
    pub files: u64,
    /// Whether the last file ended in an incomplete line (a crash mid-write,
    /// or a write in progress), which was ignored.
    pub torn_tail: bool,
}
