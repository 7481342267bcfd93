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
//! Not here: deciding what to erase (`purge`), replaying the ledger after a
//! restore (`backup`), the Ed25519 primitives (`kirjuri_vault::checkpoint`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use kirjuri_core::ids::ContactId;
use kirjuri_store::TombstoneRow;
use kirjuri_vault::AuditSigner;
use kirjuri_vault::checkpoint::{verifier_public_key, verify_bytes};
use kirjuri_vault::fsio::{blocking, create_private_dir, fsync_dir};
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::Kirjuri;
use crate::error::{Error, Result};

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

/// One erasure: what was destroyed (an object, or a contact's document),
/// when and under which rule. The same facts as its tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The object's id, or the contact's id for its document.
    pub id: Uuid,
    /// The contact it belonged to.
    pub contact_id: ContactId,
    /// The object's kind, or `contact`.
    pub kind: String,
    /// The object's SHA-256; `None` for a contact.
    pub sha256: Option<String>,
    /// When its key was destroyed.
    pub deleted_at: DateTime<Utc>,
    /// The rule that destroyed it.
    pub rule: String,
    /// `retention`, `erasure_request` or `ledger_replay`.
    pub reason: String,
}

impl From<&TombstoneRow> for LedgerEntry {
    fn from(t: &TombstoneRow) -> Self {
        Self {
            id: t.id,
            contact_id: t.contact_id,
            kind: t.kind.clone(),
            sha256: t.sha256.clone(),
            deleted_at: t.deleted_at,
            rule: t.rule.clone(),
            reason: t.reason.clone(),
        }
    }
}

impl LedgerEntry {
    /// Whether this entry is a contact's document rather than an object.
    pub fn is_contact(&self) -> bool {
        self.kind == "contact"
    }

    /// Why the entry may not be written, if it may not: every field must
    /// have its narrow shape, so nothing but ids, kinds, digests, times and
    /// rule text reaches the ledger.
    fn problem(&self) -> Option<&'static str> {
        let word = |s: &str| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !word(&self.kind) {
            return Some("kind is not a lower-case word");
        }
        if !word(&self.reason) {
            return Some("reason is not a lower-case word");
        }
        if let Some(sha) = &self.sha256
            && !(sha.len() == 64
                && sha
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Some("sha256 is not 64 lower-case hex digits");
        }
        if self.rule.is_empty()
            || self.rule.len() > MAX_RULE_LEN
            || self.rule.chars().any(char::is_control)
        {
            return Some("rule is empty, too long or has control characters");
        }
        None
    }
}

/// An entry as stored (field names are the format).
#[derive(Serialize)]
struct EntryOut<'a> {
    id: &'a Uuid,
    contact_id: &'a ContactId,
    kind: &'a str,
    sha256: Option<&'a str>,
    deleted_at: &'a DateTime<Utc>,
    rule: &'a str,
    reason: &'a str,
}

/// An entry as read back: unknown fields refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn {
    id: Uuid,
    contact_id: ContactId,
    kind: String,
    sha256: Option<String>,
    deleted_at: DateTime<Utc>,
    rule: String,
    reason: String,
}

/// A block body as written; the field order is the format.
#[derive(Serialize)]
struct BlockOut<'a> {
    r#type: &'static str,
    v: u32,
    seq: u64,
    prev: String,
    entries: Vec<EntryOut<'a>>,
}

/// A block body as read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockIn {
    r#type: String,
    v: u32,
    seq: u64,
    prev: String,
    entries: Vec<EntryIn>,
}

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
            damaged @ LedgerError::Damaged { .. } => Error::Internal(damaged.to_string()),
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

/// An open erasure ledger folder.
#[derive(Debug, Clone)]
pub struct ErasureLedger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The ledger folder.
    dir: PathBuf,
    /// The audit signing key.
    signer: AuditSigner,
    /// Files are closed at this size ([`ROLL_BYTES`]; smaller in tests).
    roll_bytes: u64,
    /// What this handle last wrote, to skip re-reading the tail when no
    /// other appender wrote since; also serialises this handle's appends.
    tail: Mutex<Option<Tail>>,
}

/// Where the ledger ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    /// The number of the last file.
    file_no: u64,
    /// Its length (up to its last complete line).
    file_len: u64,
    /// The last block.
    head: LedgerHead,
}

impl ErasureLedger {
    /// Opens the ledger of `app` (its configured folder, signed with its
    /// audit signing key — created if it does not exist yet), creating the
    /// folder on first use.
    pub fn for_app(app: &Kirjuri) -> Result<Self> {
        let signer = AuditSigner::open_or_create(&app.config.audit_key_file(), LEDGER_KEY_NAME)?;
        Self::open(&app.config.ledger_dir(), signer)
    }

    /// Opens (creating, mode 0700) the ledger folder `dir`, to append blocks
    /// signed by `signer`.
    pub fn open(dir: &Path, signer: AuditSigner) -> Result<Self> {
        Self::open_with_roll_bytes(dir, signer, ROLL_BYTES)
    }

    /// Like [`ErasureLedger::open`], closing files at `roll_bytes` instead
    /// of [`ROLL_BYTES`] (tests and benchmarks of rolling).
    pub fn open_with_roll_bytes(dir: &Path, signer: AuditSigner, roll_bytes: u64) -> Result<Self> {
        create_dir(dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                signer,
                roll_bytes: roll_bytes.max(1),
                tail: Mutex::new(None),
            }),
        })
    }

    /// The ledger folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The raw public key its blocks verify with.
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.signer.public_key()
    }

    /// The note verifier key of the signing key (what `--verifier-key`
    /// options take).
    pub fn verifier_key(&self) -> String {
        self.inner.signer.verifier_key()
    }

    /// Appends `entries` as one signed block (several blocks above
    /// [`MAX_BLOCK_ENTRIES`]); durable when it returns. Safe with concurrent
    /// appenders in other processes. Nothing is written if any entry is
    /// malformed. An empty slice writes nothing.
    pub async fn append(&self, entries: &[LedgerEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        if let Some((index, problem)) = entries
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.problem().map(|p| (i, p)))
        {
            return Err(Error::Internal(format!(
                "erasure ledger: entry {index} of the batch is refused: {problem}"
            )));
        }
        let inner = Arc::clone(&self.inner);
        let entries = entries.to_vec();
        blocking(move || {
            for chunk in entries.chunks(MAX_BLOCK_ENTRIES) {
                inner.append_block(chunk)?;
            }
            Ok(())
        })
        .await
    }

    /// The ledger's current head (its last complete block, signature
    /// checked), read under the appenders' lock.
    pub async fn head(&self) -> Result<LedgerHead> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let _lock = inner.lock()?;
            let mut cached = inner.cached_tail();
            let tail = inner.tail(&mut cached)?;
            Ok(tail.head)
        })
        .await
    }
}

impl Inner {
    /// Takes the appenders' exclusive lock (released when the file is
    /// dropped, or by the OS when the process dies).
    fn lock(&self) -> Result<File> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_error(format!("failed to open {}", path.display())))?;
        file.lock()
            .map_err(io_error(format!("failed to lock {}", path.display())))?;
        Ok(file)
    }

    /// This handle's knowledge of the tail; holding it serialises the
    /// handle's own appends.
    fn cached_tail(&self) -> std::sync::MutexGuard<'_, Option<Tail>> {
        // A panic while holding it leaves nothing half-done in memory that
        // matters: the tail is re-read from disk when in doubt.
        match self.tail.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                *guard = None;
                guard
            }
        }
    }

    /// Where the ledger ends, under the lock: from `cached` if the last file
    /// is as this handle left it, else read from disk — truncating a torn
    /// last line and checking the last block's signature.
    fn tail(&self, cached: &mut Option<Tail>) -> Result<Tail> {
        let files = list_files(&self.dir)?;
        let Some((last_no, last_path)) = files.last() else {
            *cached = None;
            return Ok(Tail {
                file_no: 0,
                file_len: 0,
                head: LedgerHead::EMPTY,
            });
        };
        let len = file_len(last_path)?;
        if let Some(tail) = *cached
            && tail.file_no == *last_no
            && tail.file_len == len
        {
            return Ok(tail);
        }
        *cached = None;
        let (complete, line) = read_last_line(last_path, len)?;
        if complete < len {
            // A crash mid-write: no appender is writing (we hold the lock),
            // so these bytes are a torn line that was never acknowledged.
            truncate(last_path, complete)?;
            tracing::warn!(
                file = %last_path.display(),
                bytes = len - complete,
                "erasure ledger: removed a torn last line left by an interrupted append"
            );
        }
        let head = match line {
            Some(line) => self.check_tail_line(&line, last_path)?,
            None if files.len() >= 2 => {
                // The last file was created but never written to.
                let (_, previous) = &files[files.len() - 2];
                let previous_len = file_len(previous)?;
                match read_last_line(previous, previous_len)? {
                    (complete, Some(line)) if complete == previous_len => {
                        self.check_tail_line(&line, previous)?
                    }
                    _ => {
                        return Err(Error::Internal(format!(
                            "the erasure ledger's closed file {} does not end in a complete \
                             block; nothing was appended",
                            previous.display()
                        )));
                    }
                }
            }
            None => LedgerHead::EMPTY,
        };
        let tail = Tail {
            file_no: *last_no,
            file_len: complete,
            head,
        };
        *cached = Some(tail);
        Ok(tail)
    }

    /// The head a tail line stands for, if it is a block this key signed.
    fn check_tail_line(&self, line: &[u8], file: &Path) -> Result<LedgerHead> {
        let seq = parse_line(line, &self.signer.public_key())
            .map(|block| block.seq)
            .map_err(|problem| {
                Error::Internal(format!(
                    "the erasure ledger's last block (in {}) is not valid: {problem}; nothing \
                     was appended",
                    file.display()
                ))
            })?;
        Ok(LedgerHead {
            seq,
            hash: sha256(line),
        })
    }

    /// Writes one block of at most [`MAX_BLOCK_ENTRIES`] entries.
    fn append_block(&self, entries: &[LedgerEntry]) -> Result<()> {
        let mut cached = self.cached_tail();
        let _lock = self.lock()?;
        let tail = self.tail(&mut cached)?;
        let seq = tail.head.seq + 1;
        let line = encode_block(&self.signer, seq, &tail.head.hash, entries)?;
        let hash = sha256(&line[..line.len() - 1]);

        let line_len = line.len() as u64;
        let (file_no, start_len) = if tail.file_no == 0 {
            (1, 0)
        } else if tail.file_len > 0 && tail.file_len + line_len > self.roll_bytes {
            (tail.file_no + 1, 0)
        } else {
            (tail.file_no, tail.file_len)
        };
        let path = file_path(&self.dir, file_no);
        let mut file = if file_no != tail.file_no {
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_error(format!("failed to create {}", path.display())))?;
            fsync_dir(&self.dir)?;
            if tail.file_no > 0 {
                close_file(&file_path(&self.dir, tail.file_no));
            }
            file
        } else {
            OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_error(format!("failed to open {}", path.display())))?
        };
        let written = file.write_all(&line).and_then(|()| file.sync_data());
        if let Err(error) = written {
            // Leave no partial line behind if we can help it; if we cannot,
            // the next appender truncates it.
            let _ = file.set_len(start_len).and_then(|()| file.sync_data());
            return Err(io_error(format!("failed to append to {}", path.display()))(
                error,
            ));
        }
        *cached = Some(Tail {
            file_no,
            file_len: start_len + line_len,
            head: LedgerHead { seq, hash },
        });
        Ok(())
    }
}

/// One block's line, newline included.
fn encode_block(
    signer: &AuditSigner,
    seq: u64,
    prev: &[u8; 32],
    entries: &[LedgerEntry],
) -> Result<Vec<u8>> {
    let block = BlockOut {
        r#type: BLOCK_TYPE,
        v: BLOCK_VERSION,
        seq,
        prev: hex::encode(prev),
        entries: entries
            .iter()
            .map(|e| EntryOut {
                id: &e.id,
                contact_id: &e.contact_id,
                kind: &e.kind,
                sha256: e.sha256.as_deref(),
                deleted_at: &e.deleted_at,
                rule: &e.rule,
                reason: &e.reason,
            })
            .collect(),
    };
    let mut body = Vec::with_capacity(entries.len() * 280 + 200);
    serde_json::to_writer(&mut body, &block)
        .map_err(|e| Error::Internal(format!("failed to encode a ledger block: {e}")))?;
    let signature = BASE64.encode(signer.sign_bytes(&signed_message(&body)));
    let mut line = Vec::with_capacity(body.len() + SIGNATURE_B64_LEN + 24);
    line.extend_from_slice(LINE_START.as_bytes());
    line.extend_from_slice(signature.as_bytes());
    line.extend_from_slice(LINE_MIDDLE.as_bytes());
    line.extend_from_slice(&body);
    line.extend_from_slice(b"}\n");
    Ok(line)
}

/// What a block's signature covers: the prefix and the body's SHA-256.
fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNED_PREFIX.len() + 32);
    message.extend_from_slice(SIGNED_PREFIX);
    message.extend_from_slice(&sha256(body));
    message
}

/// Checks one line (without its newline): its framing and its signature by
/// `key`, then parses the body. Sequence and chain are the caller's.
fn parse_line(line: &[u8], key: &[u8; 32]) -> std::result::Result<BlockIn, String> {
    let not_a_block = || "not a ledger block line".to_owned();
    let rest = line
        .strip_prefix(LINE_START.as_bytes())
        .ok_or_else(not_a_block)?;
    if rest.len() < SIGNATURE_B64_LEN {
        return Err(not_a_block());
    }
    let (signature, rest) = rest.split_at(SIGNATURE_B64_LEN);
    let body = rest
        .strip_prefix(LINE_MIDDLE.as_bytes())
        .and_then(|rest| rest.strip_suffix(b"}"))
        .ok_or_else(not_a_block)?;
    let signature = BASE64
        .decode(signature)
        .map_err(|_| "its signature is not base64".to_owned())?;
    verify_bytes(key, &signed_message(body), &signature).map_err(|_| {
        "its signature does not verify (the block was changed, or signed by another key)".to_owned()
    })?;
    let block: BlockIn = serde_json::from_slice(body)
        .map_err(|e| format!("its body is not a ledger block ({e})"))?;
    if block.r#type != BLOCK_TYPE || block.v != BLOCK_VERSION {
        return Err(format!(
            "it is a {:?} of version {}, not a ledger block of version {BLOCK_VERSION}",
            block.r#type, block.v
        ));
    }
    Ok(block)
}

/// Checks a parsed block's place in the chain and its entries.
fn check_block(
    block: BlockIn,
    line: &[u8],
    prev: &LedgerHead,
) -> std::result::Result<LedgerBlock, String> {
    let expected = prev.seq + 1;
    if block.seq != expected {
        return Err(format!(
            "it has sequence number {}, expected {expected} (a block is missing, repeated or \
             out of order)",
            block.seq
        ));
    }
    if block.prev != hex::encode(prev.hash) {
        return Err(format!(
            "it does not chain to block {} (its previous-block hash differs)",
            prev.seq
        ));
    }
    if block.entries.is_empty() {
        return Err("it holds no entries".into());
    }
    let mut entries = Vec::with_capacity(block.entries.len());
    for (index, e) in block.entries.into_iter().enumerate() {
        let entry = LedgerEntry {
            id: e.id,
            contact_id: e.contact_id,
            kind: e.kind,
            sha256: e.sha256,
            deleted_at: e.deleted_at,
            rule: e.rule,
            reason: e.reason,
        };
        if let Some(problem) = entry.problem() {
            return Err(format!("its entry {index}: {problem}"));
        }
        entries.push(entry);
    }
    Ok(LedgerBlock {
        seq: block.seq,
        hash: sha256(line),
        entries,
    })
}

// --- reading ------------------------------------------------------------------

/// Reads a ledger folder block by block, verifying each (signature by the
/// given key, sequence, chain, entries) before yielding it, and stops at the
/// first bad one. Needs no lock: a last line still being written is seen as
/// a torn tail and ignored.
#[derive(Debug)]
pub struct LedgerReader {
    /// The ledger folder.
    dir: PathBuf,
    /// The Ed25519 public key blocks must be signed with.
    key: [u8; 32],
    /// The ledger's files, by number, as listed at open.
    files: Vec<(u64, PathBuf)>,
    /// The index in `files` of the next file to open.
    next_file: usize,
    /// The file being read, its path, and the current line number.
    current: Option<(BufReader<File>, PathBuf, u64)>,
    /// The last verified block.
    head: LedgerHead,
    /// Entries verified so far.
    entries: u64,
    /// Whether the last file ended in an incomplete line.
    torn_tail: bool,
    /// Set after the end or a failure; `next_block` then yields nothing.
    finished: bool,
    /// The line buffer.
    buffer: Vec<u8>,
}

impl LedgerReader {
    /// Opens the ledger in `dir` for reading with the Ed25519 public `key`.
    /// A folder that does not exist is an empty ledger.
    pub fn open(dir: &Path, key: [u8; 32]) -> Result<Self> {
        let files = match fs::metadata(dir) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            _ => list_files(dir)?,
        };
        Ok(Self {
            dir: dir.to_owned(),
            key,
            files,
            next_file: 0,
            current: None,
            head: LedgerHead::EMPTY,
            entries: 0,
            torn_tail: false,
            finished: false,
            buffer: Vec::new(),
        })
    }

    /// The public key of a note verifier key (`--verifier-key`), for
    /// [`LedgerReader::open`].
    pub fn key_of(verifier_key: &str) -> Result<[u8; 32]> {
        Ok(verifier_public_key(verifier_key)?)
    }

    /// The next verified block; `None` at the end.
    pub fn next_block(&mut self) -> std::result::Result<Option<LedgerBlock>, LedgerError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.read_block();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    /// The last block verified so far.
    pub fn head(&self) -> LedgerHead {
        self.head
    }

    /// What has been verified so far (everything, after the end).
    pub fn summary(&self) -> LedgerSummary {
        LedgerSummary {
            head: self.head,
            entries: self.entries,
            files: self.next_file as u64,
            torn_tail: self.torn_tail,
        }
    }

    fn damaged(&self, file: &Path, line: u64, problem: String) -> LedgerError {
        LedgerError::Damaged {
            dir: self.dir.clone(),
            damage: LedgerDamage {
                file: file.to_owned(),
                line,
                seq: self.head.seq + 1,
                problem,
            },
        }
    }

    fn read_block(&mut self) -> std::result::Result<Option<LedgerBlock>, LedgerError> {
        loop {
            if self.current.is_none() {
                let Some((number, path)) = self.files.get(self.next_file).cloned() else {
                    return Ok(None);
                };
                let expected = self.next_file as u64 + 1;
                if number != expected {
                    let missing = file_path(&self.dir, expected);
                    return Err(self.damaged(
                        &missing,
                        0,
                        "its file is missing (every ledger file must stay in the folder)".into(),
                    ));
                }
                let file = File::open(&path)
                    .map_err(io_error(format!("failed to open {}", path.display())))?;
                self.current = Some((BufReader::with_capacity(1 << 20, file), path, 0));
                self.next_file += 1;
            }
            let is_last_file = self.next_file == self.files.len();
            let Some((reader, path, line_no)) = self.current.as_mut() else {
                continue;
            };
            self.buffer.clear();
            let read = reader
                .by_ref()
                .take(MAX_LINE as u64 + 2)
                .read_until(b'\n', &mut self.buffer)
                .map_err(io_error(format!("failed to read {}", path.display())))?;
            *line_no += 1;
            let (path, line_no) = (path.clone(), *line_no);
            if read == 0 {
                if line_no == 1 && !is_last_file {
                    return Err(self.damaged(&path, 0, "a closed file is empty".into()));
                }
                self.current = None;
                continue;
            }
            if self.buffer.len() > MAX_LINE {
                return Err(self.damaged(&path, line_no, "the line is too long".into()));
            }
            let Some(line) = self.buffer.strip_suffix(b"\n") else {
                if is_last_file {
                    // A crash mid-write, or a write in progress: not a block yet.
                    self.torn_tail = true;
                    return Ok(None);
                }
                return Err(self.damaged(
                    &path,
                    line_no,
                    "a closed file ends in an incomplete line".into(),
                ));
            };
            let block = parse_line(line, &self.key)
                .and_then(|block| check_block(block, line, &self.head))
                .map_err(|problem| self.damaged(&path, line_no, problem))?;
            self.head = LedgerHead {
                seq: block.seq,
                hash: block.hash,
            };
            self.entries += block.entries.len() as u64;
            return Ok(Some(block));
        }
    }
}

/// Verifies the whole ledger in `dir` with the public `key`.
pub fn verify(dir: &Path, key: [u8; 32]) -> std::result::Result<LedgerSummary, LedgerError> {
    let mut reader = LedgerReader::open(dir, key)?;
    while reader.next_block()?.is_some() {}
    Ok(reader.summary())
}

/// [`verify`] on the blocking pool.
pub async fn verify_async(
    dir: &Path,
    key: [u8; 32],
) -> std::result::Result<LedgerSummary, LedgerError> {
    let dir = dir.to_owned();
    match tokio::task::spawn_blocking(move || verify(&dir, key)).await {
        Ok(result) => result,
        Err(e) => Err(Error::Internal(format!("the ledger verification task failed: {e}")).into()),
    }
}

// --- files --------------------------------------------------------------------

/// The path of file number `number`.
fn file_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{FILE_PREFIX}{number:08}{FILE_SUFFIX}"))
}

/// The ledger files in `dir`, by number. Other names are ignored.
fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(io_error(format!("failed to list {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(io_error(format!("failed to list {}", dir.display())))?;
        let name = entry.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|n| n.strip_prefix(FILE_PREFIX))
            .and_then(|n| n.strip_suffix(FILE_SUFFIX))
            .filter(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n > 0)
        else {
            continue;
        };
        files.push((number, entry.path()));
    }
    files.sort();
    Ok(files)
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .map_err(io_error(format!("failed to stat {}", path.display())))?
        .len())
}

/// The length of `path` up to its last newline, and its last complete line
/// (without the newline), reading backwards from `len`.
fn read_last_line(path: &Path, len: u64) -> Result<(u64, Option<Vec<u8>>)> {
    let mut file =
        File::open(path).map_err(io_error(format!("failed to open {}", path.display())))?;
    let read_error = io_error(format!("failed to read {}", path.display()));
    // Positions of the last two newlines, found scanning backwards.
    let mut newlines: Vec<u64> = Vec::with_capacity(2);
    let mut end = len;
    let mut chunk = vec![0u8; TAIL_CHUNK];
    while end > 0 && newlines.len() < 2 {
        let start = end.saturating_sub(TAIL_CHUNK as u64);
        let piece = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(piece))
            .map_err(|e| read_error_clone(&read_error, e))?;
        for (offset, byte) in piece.iter().enumerate().rev() {
            if *byte == b'\n' {
                newlines.push(start + offset as u64);
                if newlines.len() == 2 {
                    break;
                }
            }
        }
        if newlines
            .first()
            .is_some_and(|last| last - start > MAX_LINE as u64)
            || (newlines.is_empty() && len - start > MAX_LINE as u64)
        {
            break;
        }
        end = start;
    }
    let Some(&last) = newlines.first() else {
        return Ok((0, None));
    };
    let start = newlines.get(1).map_or(0, |previous| previous + 1);
    let line_len = usize::try_from(last - start).unwrap_or(usize::MAX);
    if line_len > MAX_LINE {
        return Err(Error::Internal(format!(
            "the erasure ledger file {} ends in a line too long to be a block",
            path.display()
        )));
    }
    let mut line = vec![0u8; line_len];
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_exact(&mut line))
        .map_err(|e| read_error_clone(&read_error, e))?;
    Ok((last + 1, Some(line)))
}

fn read_error_clone(make: &impl Fn(io::Error) -> Error, e: io::Error) -> Error {
    make(e)
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(format!("failed to open {}", path.display())))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(io_error(format!("failed to truncate {}", path.display())))
}

/// Makes a closed file read-only. Best effort: a file left writable is
/// still never appended to, since appends go to the last file.
fn close_file(path: &Path) {
    if let Err(error) = fs::set_permissions(path, fs::Permissions::from_mode(0o400)) {
        tracing::warn!(file = %path.display(), %error, "erasure ledger: could not make a closed file read-only");
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    let existed = dir.is_dir();
    create_private_dir(dir)?;
    if !existed && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent)?;
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest(&SHA256, bytes).as_ref());
    hash
}

fn io_error(context: String) -> impl Fn(io::Error) -> Error {
    move |e| Error::Internal(format!("{context}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::process::Command;

    use super::*;

    fn signer(dir: &Path, name: &str) -> AuditSigner {
        AuditSigner::open_or_create(&dir.join(name), LEDGER_KEY_NAME).unwrap()
    }

    fn fixture() -> (tempfile::TempDir, PathBuf, [u8; 32]) {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("ledger");
        let key = signer(temp.path(), "audit.key").public_key();
        (temp, dir, key)
    }

    fn open(temp: &Path, dir: &Path) -> ErasureLedger {
        ErasureLedger::open(dir, signer(temp, "audit.key")).unwrap()
    }

    fn entry(n: u128) -> LedgerEntry {
        LedgerEntry {
            id: Uuid::from_u128(n),
            contact_id: ContactId::from_uuid(Uuid::from_u128(1_000_000 + n)),
            kind: "recording".into(),
            sha256: Some(format!("{:064x}", n)),
            deleted_at: DateTime::from_timestamp_micros(1_750_000_000_000_000 + n as i64).unwrap(),
            rule: "call_recording: 12 months (privacy notice §12)".into(),
            reason: "retention".into(),
        }
    }

    fn batch(from: u128, n: u128) -> Vec<LedgerEntry> {
        (from..from + n).map(entry).collect()
    }

    fn read_all(dir: &Path, key: [u8; 32]) -> std::result::Result<Vec<LedgerBlock>, LedgerError> {
        let mut reader = LedgerReader::open(dir, key)?;
        let mut blocks = Vec::new();
        while let Some(block) = reader.next_block()? {
            blocks.push(block);
        }
        Ok(blocks)
    }

    fn damage_of(dir: &Path, key: [u8; 32]) -> LedgerDamage {
        match verify(dir, key) {
            Err(LedgerError::Damaged { damage, .. }) => damage,
            other => panic!("expected damage, got {other:?}"),
        }
    }

    fn lines(path: &Path) -> Vec<Vec<u8>> {
        let bytes = fs::read(path).unwrap();
        bytes
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn write_lines(path: &Path, lines: &[Vec<u8>]) {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(path, lines.concat()).unwrap();
    }

    #[tokio::test]
    async fn appended_blocks_read_back_in_order_with_their_entries() {
        let (temp, dir, key) = fixture();
        let ledger = open(temp.path(), &dir);
        ledger.append(&batch(1, 3)).await.unwrap();
        ledger.append(&[]).await.unwrap();
        let mut contact = entry(4);
        contact.kind = "contact".into();
        contact.sha256 = None;
        ledger.append(&[contact.clone()]).await.unwrap();

        let blocks = read_all(&dir, key).unwrap();
        assert_eq!(blocks.len(), 2, "an empty batch writes no block");
        assert_eq!(blocks[0].seq, 1);
        assert_eq!(blocks[0].entries, batch(1, 3));
        assert_eq!(blocks[1].entries, vec![contact]);
        let summary = verify(&dir, key).unwrap();
        assert_eq!(summary.entries, 4);
        assert!(!summary.torn_tail);
        assert_eq!(summary.head, ledger.head().await.unwrap());
        assert_eq!(summary.head.seq, 2);
        assert_eq!(summary.head.hash, blocks[1].hash);
        // The folder is private.
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[tokio::test]
    async fn a_missing_or_empty_folder_is_an_empty_ledger() {
        let (temp, dir, key) = fixture();
        assert_eq!(verify(&dir, key).unwrap().head, LedgerHead::EMPTY);
        let ledger = open(temp.path(), &dir);
        assert_eq!(ledger.head().await.unwrap(), LedgerHead::EMPTY);
        assert_eq!(verify(&dir, key).unwrap().entries, 0);
    }

    #[test]
    fn appenders_with_separate_handles_on_many_threads_keep_one_chain() {
        let (temp, dir, key) = fixture();
        let threads: Vec<_> = (0..4u128)
            .map(|t| {
                let ledger = open(temp.path(), &dir);
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    for i in 0..25u128 {
                        let from = t * 1_000 + i * 10;
                        runtime.block_on(ledger.append(&batch(from, 3))).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let blocks = read_all(&dir, key).unwrap();
        assert_eq!(blocks.len(), 100);
        let ids: BTreeSet<Uuid> = blocks
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| e.id)
            .collect();
        assert_eq!(ids.len(), 300, "every entry written exactly once");
    }

    /// The child half of the two-process test: appends when told to.
    const CHILD_DIR: &str = "KIRJURI_LEDGER_TEST_CHILD_DIR";

    #[test]
    fn appenders_in_two_processes_keep_one_chain() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        if let Ok(root) = std::env::var(CHILD_DIR) {
            // Running as a child: append 40 blocks as fast as possible.
            let root = PathBuf::from(root);
            let ledger = open(&root, &root.join("ledger"));
            let base = u128::from(std::process::id()) * 1_000_000;
            for i in 0..40 {
                runtime
                    .block_on(ledger.append(&batch(base + i * 10, 2)))
                    .unwrap();
            }
            return;
        }
        let (temp, dir, key) = fixture();
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "ledger::tests::appenders_in_two_processes_keep_one_chain",
                    ])
                    .env(CHILD_DIR, temp.path())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let ledger = open(temp.path(), &dir);
        for i in 0..40 {
            runtime.block_on(ledger.append(&batch(i * 10, 2))).unwrap();
        }
        for mut child in children {
            assert!(child.wait().unwrap().success(), "a child appender failed");
        }
        let blocks = read_all(&dir, key).unwrap();
        assert_eq!(
            blocks.len(),
            120,
            "three appenders, forty blocks each, one chain"
        );
        let ids: BTreeSet<Uuid> = blocks
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| e.id)
            .collect();
        assert_eq!(ids.len(), 240);
    }

    #[tokio::test]
    async fn a_flipped_byte_anywhere_in_a_block_names_that_block() {
        let (temp, dir, key) = fixture();
        let ledger = open(temp.path(), &dir);
        for i in 0..3 {
            ledger.append(&batch(i * 10, 2)).await.unwrap();
        }
        let path = file_path(&dir, 1);
        let original = lines(&path);
        let line = &original[1];
        // Every byte of block 2 but its newline (whose loss is a torn line
        // or a merged one, covered below).
        for position in 0..line.len() - 1 {
            let mut changed = original.clone();
            changed[1][position] ^= 0x01;
            write_lines(&path, &changed);
            let damage = damage_of(&dir, key);
            assert_eq!(
                (damage.seq, damage.line),
                (2, 2),
                "byte {position}: {damage}"
            );
        }
        write_lines(&path, &original);
        verify(&dir, key).unwrap();
    }

    #[tokio::test]
    async fn a_removed_or_reordered_block_is_named() {
        let (temp, dir, key) = fixture();
        let ledger = open(temp.path(), &dir);
        for i in 0..4 {
            ledger.append(&batch(i * 10, 2)).await.unwrap();
        }
        let path = file_path(&dir, 1);
        let original = lines(&path);

        let mut removed = original.clone();
        removed.remove(1);
        write_lines(&path, &removed);
        let damage = damage_of(&dir, key);
        assert_eq!((damage.seq, damage.line), (2, 2));
        assert!(
            damage.problem.contains("sequence number 3, expected 2"),
            "{damage}"
        );

        let mut reordered = original.clone();
        reordered.swap(1, 2);
        write_lines(&path, &reordered);
        let damage = damage_of(&dir, key);
        assert_eq!((damage.seq, damage.line), (2, 2));

        // Dropping the last block is invisible to the ledger alone: the
        // head kept elsewhere (a backup's manifest) is what shows it.
        write_lines(&path, &original[..3]);
        assert_eq!(verify(&dir, key).unwrap().head.seq, 3);
    }

    #[tokio::test]
    async fn a_block_signed_with_another_key_is_named_and_not_appended_to() {
        let (temp, dir, key) = fixture();
        let ledger = open(temp.path(), &dir);
        ledger.append(&batch(0, 2)).await.unwrap();
        let head = ledger.head().await.unwrap();
        let intruder = signer(temp.path(), "other.key");
        let forged = encode_block(&intruder, 2, &head.hash, &batch(100, 1)).unwrap();
        let path = file_path(&dir, 1);
        let mut all = lines(&path);
        all.push(forged);
        write_lines(&path, &all);

        let damage = damage_of(&dir, key);
        assert_eq!((damage.seq, damage.line), (2, 2));
        assert!(
            damage.problem.contains("signature does not verify"),
            "{damage}"
        );
        // A fresh handle will not chain onto a block it cannot verify.
        let error = open(temp.path(), &dir)
            .append(&batch(200, 1))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("nothing was appended"),
            "{error}"
        );
        assert_eq!(lines(&path).len(), 2);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored_by_readers_and_truncated_by_the_next_append() {
        let (temp, dir, key) = fixture();
        let ledger = open(temp.path(), &dir);
        ledger.append(&batch(0, 2)).await.unwrap();
        ledger.append(&batch(10, 2)).await.unwrap();
        let path = file_path(&dir, 1);
        let complete = fs::read(&path).unwrap();
        // A crash mid-write of block 3: half its line, no newline.
        let half = encode_block(
            &signer(temp.path(), "audit.key"),
            3,
            &[0; 32],
            &batch(20, 5),
        )
        .unwrap();
        let mut torn = complete.clone();
        torn.extend_from_slice(&half[..half.len() / 2]);
        fs::write(&path, &torn).unwrap();

        let summary = verify(&dir, key).unwrap();
        assert!(summary.torn_tail);
        assert_eq!(summary.head.seq, 2);

        // A fresh handle (another process) truncates it and carries on.
        open(temp.path(), &dir).append(&batch(30, 1)).await.unwrap();
        let summary = verify(&dir, key).unwrap();
        assert!(!summary.torn_tail);
        assert_eq!(summary.head.seq, 3);
        assert_eq!(&fs::read(&path).unwrap()[..complete.len()], &complete[..]);
        // And the handle that wrote before notices the file changed.
        ledger.append(&batch(40, 1)).await.unwrap();
        assert_eq!(verify(&dir, key).unwrap().head.seq, 4);
    }

    #[tokio::test]
    async fn files_roll_at_the_size_limit_and_a_missing_file_is_named() {
        let (temp, dir, key) = fixture();
        let ledger =
            ErasureLedger::open_with_roll_bytes(&dir, signer(temp.path(), "audit.key"), 2_000)
                .unwrap();
        for i in 0..10 {
            ledger.append(&batch(i * 10, 3)).await.unwrap();
        }
        let files = list_files(&dir).unwrap();
        assert!(files.len() >= 4, "{} files", files.len());
        for (_, path) in &files[..files.len() - 1] {
            assert!(file_len(path).unwrap() <= 2_000);
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o400, "a closed file is read-only");
        }
        let summary = verify(&dir, key).unwrap();
        assert_eq!((summary.head.seq, summary.entries), (10, 30));
        assert_eq!(summary.files, files.len() as u64);

        let (_, second) = &files[1];
        let first_seq_of_second = {
            let mut reader = LedgerReader::open(&dir, key).unwrap();
            let mut seq = 0;
            while reader.next_file < 2 {
                seq = reader.next_block().unwrap().unwrap().seq;
            }
            seq
        };
        fs::rename(second, temp.path().join("shipped-away")).unwrap();
        let damage = damage_of(&dir, key);
        assert_eq!(damage.file, *second);
        assert_eq!(damage.seq, first_seq_of_second);
        assert!(damage.problem.contains("missing"), "{damage}");
    }

    #[tokio::test]
    async fn entries_with_anything_but_their_narrow_shapes_are_refused_whole() {
        let (temp, dir, key) = fixture();
        let ledger = open(temp.path(), &dir);
        let mutations: [fn(&mut LedgerEntry); 6] = [
            |e| e.kind = "Recording of Matti Meikäläinen".into(),
            |e| e.reason = "asked by +358401234567".into(),
            |e| e.sha256 = Some("not a digest".into()),
            |e| e.sha256 = Some("AB".repeat(32)),
            |e| e.rule = "line\nbreak".into(),
            |e| e.rule = String::new(),
        ];
        for mutate in mutations {
            let mut entries = batch(0, 3);
            mutate(&mut entries[1]);
            let error = ledger.append(&entries).await.unwrap_err();
            assert!(error.to_string().contains("entry 1"), "{error}");
        }
        assert_eq!(verify(&dir, key).unwrap().head, LedgerHead::EMPTY);
    }

    #[tokio::test]
    async fn a_block_holds_only_ids_kinds_digests_times_rules_and_reasons() {
        let (temp, dir, _) = fixture();
        let ledger = open(temp.path(), &dir);
        ledger.append(&batch(0, 2)).await.unwrap();
        for line in lines(&file_path(&dir, 1)) {
            let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["block", "sig"]);
            let block = value["block"].as_object().unwrap();
            let keys: BTreeSet<&str> = block.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                BTreeSet::from(["entries", "prev", "seq", "type", "v"])
            );
            for entry in block["entries"].as_array().unwrap() {
                let keys: BTreeSet<&str> = entry
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(
                    keys,
                    BTreeSet::from([
                        "contact_id",
                        "deleted_at",
                        "id",
                        "kind",
                        "reason",
                        "rule",
                        "sha256"
                    ])
                );
            }
        }
    }
}
