//! `kirjuri migrate-store` (issue 6, "Moving up"): copies an embedded
//! register — the SQLite database and the object folder of a data folder —
//! into a PostgreSQL database and an object store (an S3-compatible bucket),
//! verifies the copy, and reports counts. It runs before anything opens the
//! target, like `restore`. The binary parses the flags, shows progress from
//! the [`Step`]s it is handed and prints the [`Migration`]; everything else
//! is here. This module knows nothing of HTTP.
//!
//! What it copies, exactly as stored (ids, times, hashes, ciphertext and
//! wrapped keys; nothing is decrypted or re-encrypted): accounts with their
//! lockout state, UI language and TOTP secrets, API tokens, browser sessions
//! with their chosen purpose (kept, so nobody is signed out by the move),
//! contacts with their blind-index entries, object rows, legal holds and
//! their targets, tombstones, the audit log with its sequence numbers, its
//! signed checkpoints and its identity, the outbox's messages in whatever
//! state they are (a dead sender's claim runs out on the target and the
//! message is tried again, as it would have been on the source),
//! data-subject requests with their identifiers, identity checks, live
//! codes and timelines (`kirjuri_store::copy::Table::ALL` is the list) —
//! and every object's bytes, object store to object store. What it leaves: uploads in flight (there are none
//! while the folder is at rest; rows left by dead processes are what
//! start-up recovery would delete), job leases and instance heartbeats
//! (runtime state), and the key files, which never live in the database or
//! the bucket: every node needs the same `key_file` and `audit_key_file`.
//!
//! The order, and why it is safe to run again after a crash:
//! 1. refuse a source folder some process holds (`instances/*.lock`), and
//!    take one read snapshot of its database;
//! 2. refuse a target database holding any row, and a bucket holding any
//!    object that is not this register's;
//! 3. copy the objects (`objects`), each verified by reading it back from
//!    both stores and comparing every stored byte (chunk by chunk, in
//!    constant memory — stronger than comparing digests, and no slower,
//!    since both sides must be read either way). An object a crashed
//!    earlier run already copied is checked the same way and kept;
//! 4. copy every row in ONE database transaction — a crash before its
//!    commit leaves the database empty, so the next run starts over without
//!    the operator dropping anything, and re-uses the objects of step 3;
//! 5. verify (`verify`): every table compared row for row with the source
//!    snapshot, and `audit verify`'s own verifier run on the target (the
//!    Merkle tree recomputed from the rows PostgreSQL holds, every
//!    checkpoint signature checked); then check the source did not change
//!    meanwhile.
//!
//! A target that already holds rows is refused (a committed earlier run
//! included: `verify_only` checks such a target against the source
//! without writing anything).
//!
//! The report carries counts, ids, sizes and hashes only; the database URL
//! is shown with its password replaced, and no error quotes it
//! (`target`).

mod error;
mod objects;
mod target;
mod verify;

use std::path::{Path, PathBuf};

use kirjuri_core::location::check_storage_location;
use kirjuri_store::SqliteStore;
use kirjuri_store::copy::{self, Export, Import, Table, TableComparison};
use kirjuri_store::prelude::*;
use kirjuri_vault::LocalFolder;

use crate::Config;

pub use error::{Error, Result};
pub use objects::ObjectTally;
pub use verify::{AuditCheck, KeyFile, KeyStatus, SourceChange};

use objects::Transfer;

/// What `kirjuri migrate-store` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The embedded instance's data folder (its kirjuri.db and objects/).
    pub from: PathBuf,
    /// The PostgreSQL database to fill; `None`: the configuration's.
    pub to_database: Option<String>,
    /// A TOML file with the target bucket's `[objects.s3]` settings;
    /// `None`: the configuration's `[objects]`.
    pub to_objects: Option<PathBuf>,
    /// Objects copied at once.
    pub jobs: u16,
    /// Copy nothing: check a target an earlier run filled against the source.
    pub verify_only: bool,
}

/// What the migration is doing, for the caller's progress display.
#[derive(Debug)]
pub enum Step<'a> {
    /// Both sides are open.
    Started {
        /// The source data folder.
        source: &'a Path,
        /// The target database's URL, its password replaced.
        database: String,
        /// The target object store, for people.
        objects: String,
    },
    /// Objects are about to be copied or checked; `total` of them.
    ObjectsStarted {
        /// Object rows in the source.
        total: u64,
    },
    /// One more object was copied or checked.
    ObjectDone,
    /// Every object was copied or checked.
    ObjectsFinished(&'a ObjectTally),
    /// Rows are about to be copied; `total` of them.
    RowsStarted {
        /// Rows in the source, all tables.
        total: u64,
    },
    /// `n` more rows were copied.
    RowsCopied(u64),
    /// Every row is written; the transaction is committing.
    Committing,
    /// The rows are committed.
    Committed {
        /// Rows copied.
        total: u64,
    },
}

/// What a migration found, for the report.
#[derive(Debug)]
pub struct Migration {
    /// Whether this run only checked (`verify_only`).
    pub verify_only: bool,
    /// Every table compared row for row.
    pub comparisons: Vec<TableComparison>,
    /// Blind-index entries in the source and the target.
    pub index: (u64, u64),
    /// What happened to the objects.
    pub objects: ObjectTally,
    /// `audit verify` on the target.
    pub audit: AuditCheck,
    /// The audit log identity in the source and the target.
    pub log_ids: (String, String),
    /// Pending uploads left in the source by dead processes (not copied).
    pub pending: usize,
    /// Set if the source changed after its snapshot was taken.
    pub changed: Option<SourceChange>,
    /// The key files every node needs, and whether the configuration finds them.
    pub keys: Vec<KeyFile>,
    /// The source's erasure ledger, when the configuration points elsewhere.
    pub ledger_elsewhere: Option<PathBuf>,
}

impl Migration {
    /// Whether the target equals the source: every table, the index, the
    /// audit log's identity, and an intact audit log on the target.
    pub fn is_intact(&self) -> bool {
        self.comparisons.iter().all(TableComparison::is_equal)
            && self.index.0 == self.index.1
            && self.log_ids.0 == self.log_ids.1
            && self.audit.is_intact()
    }
}

/// Runs `migrate-store`, before any data folder or database is opened.
/// `progress` hears each [`Step`] as it happens.
pub async fn run(
    config: &Config,
    options: &Options,
    progress: &mut (dyn FnMut(Step<'_>) + Send),
) -> Result<Migration> {
    let source_dir = options.from.as_path();
    let database_file = source_dir.join("kirjuri.db");
    if !database_file.is_file() {
        return Err(Error::NotADataFolder(source_dir.to_owned()));
    }
    refuse_folder_in_use(source_dir)?;

    let url = target::target_url(config, options.to_database.as_deref())?;
    // DIS-1: copying is storing, so the target must be declared inside the
    // EU/EEA before anything is copied — as `Kirjuri::open` demands of a node.
    let Some(country) = &config.database.country else {
        return Err(Error::NoDatabaseCountry);
    };
    check_storage_location(country, None).map_err(|source| Error::Location {
        setting: "database.country",
        source,
    })?;
    let target_objects =
        target::open_target_objects(config, options.to_objects.as_deref(), source_dir)
            .await
            .map_err(|e| Error::TargetObjects(Box::new(e)))?;

    let source_store = SqliteStore::open(&database_file)
        .await
        .map_err(|source| Error::Store {
            context: format!("failed to open {}", database_file.display()),
            source,
        })?;
    let source = source_store
        .begin_export()
        .await
        .map_err(Error::store("failed to read the source database"))?;
    let source_objects =
        LocalFolder::open(&source_dir.join("objects")).map_err(|source| Error::Vault {
            context: "failed to open the source object folder".into(),
            source,
        })?;
    let pending = source_store
        .pending_objects()
        .await
        .map_err(Error::store("failed to read the source database"))?
        .len();

    let target = target::connect_target(config, &url).await?;
    progress(Step::Started {
        source: source_dir,
        database: url.redacted(),
        objects: target_objects.describe(),
    });

    let object_rows = source
        .count(Table::Objects)
        .await
        .map_err(Error::store("failed to count the source's objects"))?;
    let mode = if options.verify_only {
        Transfer::VerifyOnly
    } else {
        refuse_non_empty_target(&target).await?;
        objects::refuse_foreign_objects(&source, &target_objects).await?;
        Transfer::Copy
    };
    progress(Step::ObjectsStarted { total: object_rows });
    let objects = objects::transfer_objects(
        &source,
        &source_objects,
        &target_objects,
        mode,
        options.jobs,
        &mut || progress(Step::ObjectDone),
    )
    .await?;
    progress(Step::ObjectsFinished(&objects));
    if mode == Transfer::Copy {
        copy_database(&source, &target, progress).await?;
    }

    // Verification reads everything back from the target.
    let comparisons = copy::compare_rows(&source, &target, &mut |_, _| {})
        .await
        .map_err(Error::store(
            "failed to compare the target database with the source",
        ))?;
    let index = (
        source
            .count_index_entries()
            .await
            .map_err(Error::store("failed to count the source's index entries"))?,
        target
            .count_index_entries()
            .await
            .map_err(Error::store("failed to count the target's index entries"))?,
    );
    let log_id = source.log_id().await.map_err(Error::store(
        "failed to read the source's audit log identity",
    ))?;
    let target_log_id = target.log_id().await.map_err(Error::store(
        "failed to read the target's audit log identity",
    ))?;
    let audit = verify::verify_audit(config, source_dir, &target, &log_id).await?;
    let changed = verify::source_changed(&source_store, &comparisons).await?;
    Ok(Migration {
        verify_only: options.verify_only,
        comparisons,
        index,
        objects,
        audit,
        log_ids: (log_id, target_log_id),
        pending,
        changed,
        keys: verify::key_files(config, source_dir),
        ledger_elsewhere: verify::ledger_elsewhere(config, source_dir),
    })
}

/// Refuses a data folder that some process holds: a lock file in
/// `instances/` that cannot be locked belongs to a live `serve`, `import`
/// or other command, which could write while the copy reads.
fn refuse_folder_in_use(dir: &Path) -> Result<()> {
    let instances = dir.join("instances");
    let live = crate::app::scan_local_instances(&instances)
        .map_err(|source| Error::Io {
            context: format!("failed to list {}", instances.display()),
            source,
        })?
        .iter()
        .filter(|i| i.live)
        .count();
    if live > 0 {
        return Err(Error::InUse {
            dir: dir.to_owned(),
            live,
        });
    }
    Ok(())
}

/// Refuses a target database that holds any row: nothing is ever merged.
async fn refuse_non_empty_target(target: &kirjuri_store::PostgresStore) -> Result<()> {
    let occupied = copy::occupied_tables(target)
        .await
        .map_err(Error::store("failed to read the target database"))?;
    if occupied.is_empty() {
        return Ok(());
    }
    let tables = occupied
        .iter()
        .map(|t| format!("{} {}", t.table.name(), t.rows))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::NonEmptyTarget { tables })
}

/// Copies every row into the target in one transaction.
async fn copy_database(
    source: &dyn Export,
    target: &kirjuri_store::PostgresStore,
    progress: &mut (dyn FnMut(Step<'_>) + Send),
) -> Result<()> {
    let log_id = source.log_id().await?;
    let mut tx = target
        .begin_import(&log_id)
        .await
        .map_err(Error::store("failed to start writing the target database"))?;
    let total: u64 = {
        let mut total = 0;
        for table in Table::ALL {
            total += source.count(table).await?;
        }
        total
    };
    progress(Step::RowsStarted { total });
    copy::copy_rows(source, tx.as_mut(), &mut |_, n| {
        progress(Step::RowsCopied(n))
    })
    .await
    .map_err(Error::store(
        "failed to copy the database (the target is left empty; run again)",
    ))?;
    progress(Step::Committing);
    tx.commit().await.map_err(Error::store(
        "failed to commit the copy (the target is left empty; run again)",
    ))?;
    progress(Step::Committed { total });
    Ok(())
}

/// Whether two paths name the same folder (or file), resolving links.
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
