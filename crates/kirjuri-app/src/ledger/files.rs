//! The ledger folder's files: their names and listing, the last complete
//! line read from the end, truncating a torn tail, closing (0400) a full
//! file, creating the folder.
//!
//! Not here: what a line means (`block.rs`); generic helpers (fsync of
//! a folder, private folders, the blocking pool) are `kirjuri_vault::fsio`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kirjuri_vault::fsio::{create_private_dir, fsync_dir};
use ring::digest::{SHA256, digest};

use super::{FILE_PREFIX, FILE_SUFFIX, MAX_LINE, TAIL_CHUNK};
use crate::error::{Error, Result};

/// The path of file number `number`.
pub(super) fn file_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{FILE_PREFIX}{number:08}{FILE_SUFFIX}"))
}

/// The ledger files in `dir`, by number. Other names are ignored.
pub(super) fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
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

pub(super) fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .map_err(io_error(format!("failed to stat {}", path.display())))?
        .len())
}

/// The length of `path` up to its last newline, and its last complete line
/// (without the newline), reading backwards from `len`.
pub(super) fn read_last_line(path: &Path, len: u64) -> Result<(u64, Option<Vec<u8>>)> {
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
        return Err(Error::Damaged(format!(
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

pub(super) fn read_error_clone(make: &impl Fn(io::Error) -> Error, e: io::Error) -> Error {
    make(e)
}

pub(super) fn truncate(path: &Path, len: u64) -> Result<()> {
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
pub(super) fn close_file(path: &Path) {
    if let Err(error) = fs::set_permissions(path, fs::Permissions::from_mode(0o400)) {
        tracing::warn!(file = %path.display(), %error, "erasure ledger: could not make a closed file read-only");
    }
}

pub(super) fn create_dir(dir: &Path) -> Result<()> {
    let existed = dir.is_dir();
    create_private_dir(dir)?;
    if !existed && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent)?;
    }
    Ok(())
}

pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest(&SHA256, bytes).as_ref());
    hash
}

pub(super) fn io_error(context: String) -> impl Fn(io::Error) -> Error {
    move |e| Error::io(context.clone(), e)
}
