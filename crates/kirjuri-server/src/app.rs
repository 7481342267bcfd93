//! The assembled application: store, keyring, object storage and clock, opened
//! from a data folder. Every command (`serve`, `import`, `user add`, …) opens
//! one of these; several may run on the same folder at once.
//!
//! Start-up recovery lives here too. A process that dies mid-upload leaves a
//! pending-object row and perhaps a temporary or finished object file; those
//! are removed once no live process owns them. Liveness is an exclusive lock
//! on `instances/<id>.lock` that the OS releases when a process dies, so a
//! recovery never deletes an upload another live process is still writing.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use kirjuri_core::clock::Clock;
use kirjuri_store::{SqliteStore, Store};
use kirjuri_vault::{Keyring, LocalFolder, ObjectStore};

use crate::auth::LoginThrottle;
use crate::config::Config;
use crate::error::{Error, Result};

/// A running process's claim on the data folder.
#[derive(Debug)]
pub struct Instance {
    /// Random id written into pending-object rows this process creates.
    pub id: String,
    /// Held open with an exclusive lock for the life of the process.
    _lock: File,
}

impl Instance {
    fn claim(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Internal(format!("failed to create {}: {e}", dir.display())))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = dir.join(format!("{id}.lock"));
        let lock = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::Internal(format!("failed to create {}: {e}", path.display())))?;
        lock.try_lock()
            .map_err(|e| Error::Internal(format!("failed to lock {}: {e}", path.display())))?;
        Ok(Self { id, _lock: lock })
    }

    /// Whether the process that wrote `id` is gone. A missing lock file means
    /// gone; a lock file nobody holds means gone (and it is removed).
    fn is_dead(dir: &Path, id: &str) -> bool {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return true;
        }
        let path = dir.join(format!("{id}.lock"));
        match OpenOptions::new().write(true).open(&path) {
            Err(_) => true,
            Ok(file) => match file.try_lock() {
                Ok(()) => {
                    let _ = std::fs::remove_file(&path);
                    true
                }
                Err(_) => false,
            },
        }
    }
}

/// What start-up recovery cleaned up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Uploads abandoned by a dead process.
    pub abandoned_uploads: usize,
    /// Object files with no row at all.
    pub orphaned_objects: usize,
}

/// The application, shared by every request handler and command.
#[derive(Debug, Clone)]
pub struct Kirjuri {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Key-encryption keys and the blind-index key.
    pub keyring: Arc<Keyring>,
    /// Where encrypted objects live.
    pub objects: Arc<dyn ObjectStore>,
    /// The only source of "now".
    pub clock: Arc<dyn Clock>,
    /// The configuration it was opened with.
    pub config: Arc<Config>,
    /// This process's liveness claim.
    pub instance: Arc<Instance>,
    /// Failed sign-ins per client address (in memory, per process).
    pub login_throttle: Arc<LoginThrottle>,
}

impl Kirjuri {
    /// Opens (creating on first use) the data folder named in `config`.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        std::fs::create_dir_all(&config.data).map_err(|e| {
            Error::Internal(format!(
                "failed to create data folder {}: {e}",
                config.data.display()
            ))
        })?;
        let keyring = Keyring::open_or_create(&config.key_file())?;
        let store = SqliteStore::open(&config.database_file()).await?;
        let objects = LocalFolder::open(&config.objects_dir())?;
        let instance = Instance::claim(&config.instances_dir())?;
        let login_throttle = Arc::new(LoginThrottle::new(
            config.login_ip_max_failures,
            config.login_ip_window_seconds,
        ));
        Ok(Self {
            store: Arc::new(store),
            keyring: Arc::new(keyring),
            objects: Arc::new(objects),
            clock,
            config: Arc::new(config),
            instance: Arc::new(instance),
            login_throttle,
        })
    }

    /// Removes what dead processes left half-done: pending uploads (row and
    /// file) and object files that no row knows. Safe to run while other
    /// processes work on the same folder.
    pub async fn recover(&self) -> Result<Recovery> {
        let mut recovery = Recovery::default();
        let dir = self.config.instances_dir();
        for pending in self.store.pending_objects().await? {
            if pending.instance_id != self.instance.id
                && Instance::is_dead(&dir, &pending.instance_id)
            {
                self.objects.delete(&pending.id).await?;
                self.store.abort_object(&pending.id).await?;
                recovery.abandoned_uploads += 1;
            }
        }
        // List files first, then rows: a live upload inserts its row before
        // creating its file, so any file listed here has its row by now.
        let listed = self.objects.list().await?;
        let known = self.store.known_object_ids().await?;
        for id in listed {
            if !known.contains(&id) {
                self.objects.delete(&id).await?;
                recovery.orphaned_objects += 1;
            }
        }
        if recovery != Recovery::default() {
            tracing::warn!(
                abandoned_uploads = recovery.abandoned_uploads,
                orphaned_objects = recovery.orphaned_objects,
                "recovered from an interrupted run"
            );
        }
        Ok(recovery)
    }
}
