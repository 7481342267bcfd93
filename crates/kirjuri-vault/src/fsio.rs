//! Local-filesystem helpers shared by everything that keeps private files on
//! disk: the object folder, key files, the erasure ledger and backups.
//!
//! - [`fsync_dir`] makes a directory's new or renamed entries durable.
//! - [`create_private_dir`] creates a folder (and its parents) mode 0700.
//! - [`write_new_private`] writes a new owner-only (0600) file and fsyncs it,
//!   refusing to overwrite.
//! - [`write_private_atomically`] writes an owner-only file beside its target
//!   and links or renames it into place, so a reader never sees half of it.
//! - [`blocking`] runs file work on tokio's blocking pool.
//!
//! Every failure is an [`Error`] that names the step and path and keeps the
//! operating system's error as its `source`; nothing here panics.
//!
//! Not here: what the files hold or how they are named (their owners),
//! encryption (`stream`, `keyring`), object storage semantics (`objects`).
//! Unix only, like the rest of Kirjuri's file handling (modes, `fsync` of a
//! directory).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ring::rand::SecureRandom;

/// A failed filesystem step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O step failed; `context` says which, on which path.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. "failed to fsync directory /data/ledger".
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A task on the blocking pool panicked or was cancelled.
    #[error("a background file task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The random number generator failed while naming a temp file.
    #[error("the system random number generator failed")]
    Random,
}

/// Attaches `context()` to an `io::Error`, computed only on failure.
fn context<T>(result: io::Result<T>, context: impl FnOnce() -> String) -> Result<T, Error> {
    result.map_err(|source| Error::Io {
        context: context(),
        source,
    })
}

/// Makes a directory's entries (a new, linked or renamed file) durable.
pub fn fsync_dir(dir: &Path) -> Result<(), Error> {
    context(File::open(dir).and_then(|d| d.sync_all()), || {
        format!("failed to fsync directory {}", dir.display())
    })
}

/// Creates `dir` and any missing parents, each new one mode 0700. An
/// existing folder is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    context(
        DirBuilder::new().recursive(true).mode(0o700).create(dir),
        || format!("failed to create {}", dir.display()),
    )
}

/// Creates `path` (mode 0600; it must not exist), writes `bytes` and fsyncs
/// the file. The directory entry is not fsynced: callers that need it do
/// that once for many files with [`fsync_dir`].
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = context(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path),
        || format!("failed to create {}", path.display()),
    )?;
    context(file.write_all(bytes).and_then(|()| file.sync_all()), || {
        format!("failed to write {}", path.display())
    })
}

/// What [`write_private_atomically`] does when the target exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Leave it alone and return `false` (the file is hard-linked into
    /// place, which fails rather than overwrite).
    Keep,
    /// Replace it (the file is renamed into place).
    Replace,
}

/// Writes `contents` to a temp file beside `path` (mode 0600, fsynced), then
/// links or renames it into place as `existing` says, and fsyncs the
/// directory: a reader sees the old file or the whole new one, never part of
/// it, and a crash leaves at most a stray `.<random>.tmp` beside it. Returns
/// `false` if `path` existed and `existing` is [`Existing::Keep`].
///
/// `rng` names the temp file, so two writers never share one.
pub fn write_private_atomically(
    path: &Path,
    contents: &[u8],
    existing: Existing,
    rng: &dyn SecureRandom,
) -> Result<bool, Error> {
    let dir = parent_dir(path);
    let mut suffix = [0u8; 8];
    rng.fill(&mut suffix).map_err(|_| Error::Random)?;
    let temp = TempFile(sibling(path, &format!(".{}.tmp", hex::encode(suffix))));
    write_new_private(&temp.0, contents)?;
    match existing {
        Existing::Keep => match fs::hard_link(&temp.0, path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(source) => {
                return Err(Error::Io {
                    context: format!("failed to link the new file into {}", path.display()),
                    source,
                });
            }
        },
        Existing::Replace => context(fs::rename(&temp.0, path), || {
            format!("failed to rename the new file onto {}", path.display())
        })?,
    }
    drop(temp);
    fsync_dir(dir)?;
    Ok(true)
}

/// A temp file removed when dropped (after a link, or on any error).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: after a rename the file is already gone, and after a
        // link the target keeps the contents.
        let _ = fs::remove_file(&self.0);
    }
}

/// The directory holding `path` ("." for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `path` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(suffix);
    parent_dir(path).join(name)
}

/// Runs blocking file work on tokio's blocking pool and returns its result;
/// a task that panics or is cancelled is an [`Error::Task`], converted into
/// the caller's error type.
pub async fn blocking<T, E, F>(work: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(E::from(Error::Task(join))),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::os::unix::fs::PermissionsExt;

    use ring::rand::SystemRandom;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_private_file_is_owner_only_and_never_overwritten() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a");
        write_new_private(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(mode(&path), 0o600);
        let error = write_new_private(&path, b"two").unwrap_err();
        assert!(error.to_string().starts_with("failed to create "));
        assert_eq!(
            error
                .source()
                .and_then(|s| s.downcast_ref::<io::Error>())
                .map(io::Error::kind),
            Some(io::ErrorKind::AlreadyExists)
        );
        assert_eq!(fs::read(&path).unwrap(), b"one");
    }

    #[test]
    fn an_atomic_write_keeps_or_replaces_and_leaves_no_temp_file() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("key");
        let rng = SystemRandom::new();
        assert!(write_private_atomically(&path, b"one", Existing::Keep, &rng).unwrap());
        assert!(!write_private_atomically(&path, b"two", Existing::Keep, &rng).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert!(write_private_atomically(&path, b"three", Existing::Replace, &rng).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"three");
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = fs::read_dir(temp.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn private_dirs_are_0700_and_fsync_names_its_path() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&temp.path().join("a")), 0o700);
        fsync_dir(&dir).unwrap();
        let missing = temp.path().join("missing");
        let error = fsync_dir(&missing).unwrap_err();
        assert!(error.to_string().contains(&missing.display().to_string()));
        assert!(error.source().is_some());
    }

    #[test]
    fn sibling_and_parent_dir_handle_bare_names() {
        assert_eq!(parent_dir(Path::new("key")), Path::new("."));
        assert_eq!(sibling(Path::new("key"), ".tmp"), Path::new("./key.tmp"));
        assert_eq!(
            sibling(Path::new("/k/audit.key"), ".x"),
            Path::new("/k/audit.key.x")
        );
    }

    #[tokio::test]
    async fn blocking_returns_the_work_result_and_turns_a_panic_into_an_error() {
        let value: Result<u32, Error> = blocking(|| Ok(7)).await;
        assert_eq!(value.unwrap(), 7);
        let panicked: Result<(), Error> = blocking(|| panic!("boom")).await;
        let error = panicked.unwrap_err();
        assert!(matches!(error, Error::Task(_)));
        assert!(error.source().is_some());
    }
}
