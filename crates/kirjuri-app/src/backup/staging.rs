//! The restore's staging: removing what an interrupted restore left, the
//! staging folder beside the data (removed unless the swap completes), the
//! claim that keeps two restores apart, and moving the old data aside and
//! the staged data into place.
//!
//! Not here: what is staged (`restore.rs`, `replay.rs`).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use kirjuri_vault::fsio::{create_private_dir, fsync_dir};

use super::{DB_FILE, OBJECTS_DIR, REPLACED_PREFIX, STAGING_PREFIX, io_error, refused, rename};
use crate::app::scan_local_instances;
use crate::error::{Error, Result};

/// Removes what an interrupted restore left in the data folder: staging
/// folders and folders of replaced data. Returns how many.
pub(super) fn remove_stale(data: &Path) -> Result<u64> {
    let mut removed = 0;
    for entry in
        fs::read_dir(data).map_err(io_error(format!("failed to list {}", data.display())))?
    {
        let entry = entry.map_err(io_error(format!("failed to list {}", data.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STAGING_PREFIX) || name.starts_with(REPLACED_PREFIX) {
            fs::remove_dir_all(entry.path()).map_err(io_error(format!(
                "failed to remove {}",
                entry.path().display()
            )))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// A staging folder inside the data folder, removed on drop unless swapped
/// in.
pub(super) struct Staging {
    /// `<data>/.restore-staging-<id>`.
    pub(super) path: PathBuf,
}

impl Staging {
    pub(super) fn create(data: &Path) -> Result<Self> {
        let path = data.join(format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io_error(format!("failed to create {}", path.display())))?;
        Ok(Self { path })
    }

    /// Moves the data folder's database files and objects aside and the
    /// staged ones in; removes what was moved aside. Returns whether there
    /// was anything to replace.
    pub(super) fn swap_into(&self, data: &Path) -> Result<bool> {
        let aside = data.join(format!(
            "{REPLACED_PREFIX}{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut replaced = false;
        // The WAL before its database: a database must never meet another's WAL.
        for name in [
            format!("{DB_FILE}-wal"),
            format!("{DB_FILE}-shm"),
            DB_FILE.to_owned(),
            OBJECTS_DIR.to_owned(),
        ] {
            let path = data.join(&name);
            if fs::symlink_metadata(&path).is_ok() {
                if !replaced {
                    DirBuilder::new()
                        .mode(0o700)
                        .create(&aside)
                        .map_err(io_error(format!("failed to create {}", aside.display())))?;
                    replaced = true;
                }
                rename(&path, &aside.join(&name))?;
            }
        }
        rename(&self.path.join(DB_FILE), &data.join(DB_FILE))?;
        rename(&self.path.join(OBJECTS_DIR), &data.join(OBJECTS_DIR))?;
        fsync_dir(data)?;
        if replaced {
            fs::remove_dir_all(&aside)
                .map_err(io_error(format!("failed to remove {}", aside.display())))?;
        }
        Ok(replaced)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.path.exists()
            && let Err(error) = fs::remove_dir_all(&self.path)
        {
            tracing::warn!(folder = %self.path.display(), %error, "failed to remove the restore's staging folder");
        }
    }
}

/// The restore's claim on the data folder: refuses if any process holds an
/// instance lock, then holds one itself until dropped.
pub(super) struct RestoreClaim {
    /// The lock file.
    path: PathBuf,
    /// Held with an exclusive lock.
    _file: File,
}

impl RestoreClaim {
    pub(super) fn take(dir: &Path) -> Result<Self> {
        create_private_dir(dir)?;
        let instances = scan_local_instances(dir)
            .map_err(io_error(format!("failed to list {}", dir.display())))?;
        if let Some(held) = instances.iter().find(|i| i.live) {
            return Err(refused(
                "data_folder_in_use",
                format!(
                    "the data folder is in use by a running kirjuri process ({} is locked): \
                     stop `kirjuri serve` and every other kirjuri command on it, then run \
                     restore again; nothing was restored",
                    held.path.display()
                ),
            ));
        }
        let path = dir.join(format!("{}.lock", uuid::Uuid::new_v4().simple()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_error(format!("failed to create {}", path.display())))?;
        file.try_lock()
            .map_err(|e| Error::io(format!("failed to lock {}", path.display()), e.into()))?;
        Ok(Self { path, _file: file })
    }
}

impl Drop for RestoreClaim {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
