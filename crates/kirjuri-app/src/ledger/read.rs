//! The verifying reader: [`LedgerReader`] yields the ledger block by block,
//! each checked before it is yielded, and stops at the first bad one;
//! [`verify`] reads it all.
//!
//! Not here: writing (the appender in `append.rs`), the line format
//! (`block.rs`). It takes no lock: a line being written is a torn tail.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use kirjuri_vault::checkpoint::verifier_public_key;

use super::block::{check_block, parse_line};
use super::files::{file_path, io_error, list_files};
use super::{LedgerBlock, LedgerDamage, LedgerError, LedgerHead, LedgerSummary, MAX_LINE};
use crate::error::{Error, Result};

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
    pub(super) next_file: usize,
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
        Err(source) => Err(Error::Join {
            task: "the ledger verification task",
            source,
        }
        .into()),
    }
}
