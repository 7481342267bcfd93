//! The appender: [`ErasureLedger`] takes the folder's lock, finds the tail
//! (truncating a torn last line), writes one signed block per call with one
//! `write` and `fdatasync`s it, rolling to a new file at [`super::ROLL_BYTES`].
//!
//! Not here: the line format (`block.rs`), reading the ledger back
//! (`read.rs`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kirjuri_vault::AuditSigner;
use kirjuri_vault::fsio::{blocking, fsync_dir};

use super::block::{encode_block, parse_line};
use super::files::{
    close_file, create_dir, file_len, file_path, io_error, list_files, read_last_line, sha256,
    truncate,
};
use super::{LEDGER_KEY_NAME, LOCK_FILE, LedgerEntry, LedgerHead, MAX_BLOCK_ENTRIES, ROLL_BYTES};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

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
    /// malformed. An empty slice writes nothing. Answers the head the last
    /// block written made (its `seq` is the block that records the last of
    /// `entries`, whatever other appenders wrote since), or `None` when
    /// nothing was written.
    pub async fn append(&self, entries: &[LedgerEntry]) -> Result<Option<LedgerHead>> {
        if entries.is_empty() {
            return Ok(None);
        }
        if let Some((index, problem)) = entries
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.problem().map(|p| (i, p)))
        {
            return Err(Error::Damaged(format!(
                "erasure ledger: entry {index} of the batch is refused: {problem}"
            )));
        }
        let inner = Arc::clone(&self.inner);
        let entries = entries.to_vec();
        blocking(move || {
            let mut head = None;
            for chunk in entries.chunks(MAX_BLOCK_ENTRIES) {
                head = Some(inner.append_block(chunk)?);
            }
            Ok(head)
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
                        return Err(Error::Damaged(format!(
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
                Error::Damaged(format!(
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

    /// Writes one block of at most [`MAX_BLOCK_ENTRIES`] entries; answers
    /// the head it made.
    fn append_block(&self, entries: &[LedgerEntry]) -> Result<LedgerHead> {
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
        let head = LedgerHead { seq, hash };
        *cached = Some(Tail {
            file_no,
            file_len: start_len + line_len,
            head,
        });
        Ok(head)
    }
}
