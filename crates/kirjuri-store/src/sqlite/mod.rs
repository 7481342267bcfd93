//! The SQLite adapter: [`SqliteStore`] opens (and creates, and migrates) one
//! database file and implements [`Store`] with SQLite's SQL. The queries live
//! in one submodule per area, or, where both backends share them, in the
//! crate's `*_sql` modules; this module owns the connection settings and the
//! transaction discipline (its `BEGIN IMMEDIATE` is `Backend::begin_write`).
//!
//! Connection settings, and why:
//! * WAL journal (set once, when the file is prepared; it is persistent):
//!   readers never block the writer, so `serve` keeps answering while the
//!   command line writes.
//! * `synchronous = FULL`: a commit is on disk before the caller hears of it —
//!   a 201 promises durability.
//! * `busy_timeout` of 10 s: another process holding the write lock (the
//!   command line next to `serve`) makes a writer wait, not fail.
//! * Foreign keys on.
//! * A pool of eight connections, all kept open: a request never waits for
//!   a connection to be opened for it.
//! * A page cache of up to 32 MiB per connection (SQLite's default is 2 MiB)
//!   and temporary structures in memory: a purge batch of 10 000 objects
//!   dirties more pages than 2 MiB, and SQLite then spills them to the WAL
//!   and statement journals mid-transaction — measured, the shred cost
//!   halved with the larger cache. The cache fills only as pages are read.
//!
//! * The purge's batch writes (its shreds and erasures, and an erasure
//!   request's) go through a connection of their own whose automatic
//!   checkpoint waits for [`PURGE_CHECKPOINT_PAGES`] pages of write-ahead
//!   log instead of SQLite's 1 000: erasing a contact deletes its
//!   blind-index entries, whose keys are random, so every batch dirties
//!   thousands of pages scattered over the whole index, and checkpointing
//!   after each batch wrote them all into the database file again (with an
//!   fsync). A larger log lets a checkpoint write a page once for many
//!   batches: the contacts phase of a purge of 1 M contacts went from
//!   158 s to 117 s, its block-device writes from 124 GB to 72 GB
//!   (BENCHMARKS.md). The checkpoint runs after the commit has released
//!   the write lock. The other connections keep the default, so an
//!   ordinary write committing during a purge folds what the purge left in
//!   the log (at most about [`PURGE_CHECKPOINT_PAGES`] pages); the purge
//!   ends with a truncating checkpoint (`flush_erasures`), so no erased
//!   byte stays in the log. `soft_heap_limit` is the process's, so the
//!   extra connection's cache adds no memory beyond it.
//!
//! The database file is created owner-only (0600) before SQLite opens it,
//! and SQLite gives its `-wal` and `-shm` files the database file's mode; a
//! file (or `-wal`/`-shm`) left with group or world access by an older
//! version is tightened to 0600 on open. It holds password hashes, the
//! audit log and contact metadata.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, taking the write
//! lock up front. A deferred transaction that reads and then writes would
//! fail outright (`SQLITE_BUSY`, no waiting) whenever another connection
//! committed in between; an immediate one just waits its turn.

mod accounts;
mod audit;
mod backup;
mod codec;
mod contacts;
mod export;
mod objects;
mod retention;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Error, Result};

pub use backup::SnapshotContents;
pub use export::SqliteExport;

/// The schema, embedded at compile time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The page cache limit per connection, in KiB (negative: SQLite's unit
/// for "kibibytes" rather than pages).
const CACHE_SIZE: &str = "-32768";

/// SQLite's memory in this process, all connections together, in bytes:
/// past it, the page caches recycle their pages instead of growing. Without
/// it each of the pool's connections could fill its own `CACHE_SIZE`, and a
/// long read over many rows (an access package of thousands of contacts,
/// which reads through whichever connections are free) grew the server by
/// the pages it touched. The same as one connection's cache, so one busy
/// connection (a purge) keeps what it had.
const SOFT_HEAP_LIMIT: &str = "33554432";

/// Rows a connection's worker thread may hand over before it waits for the
/// reader to take them (sqlx's default is 50). A purge batch lists and
/// returns thousands of rows; with 50 the worker and the reader woke each
/// other every few rows (futex wake-ups were a visible share of the purge's
/// CPU). A streaming reader that falls behind holds at most this many rows
/// of a connection's in memory.
const ROW_BUFFER: usize = 1_024;

/// Pages of write-ahead log (4 KiB each) after which a commit on the
/// purge's own connection checkpoints (SQLite's default is 1 000): about
/// 100 MiB of log on disk at most, between a purge's checkpoints.
pub(crate) const PURGE_CHECKPOINT_PAGES: &str = "25000";

/// How long the purge's own connection stays open once idle.
const PURGE_IDLE: Duration = Duration::from_secs(30);

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per file-backed pool: WAL lets readers run in parallel; writers
/// take turns on SQLite's one write lock whatever the pool size.
const MAX_CONNECTIONS: u32 = 8;

/// How often opening a file retries after losing a race with another opener.
const PREPARE_ATTEMPTS: u32 = 10;

/// [`Store`] on an SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The connection pool; cloning the store shares it.
    pool: SqlitePool,
    /// The database file (`None` in memory), for bulk reads that bypass the
    /// pool (the audit log's bulk leaf reader, `audit`).
    path: Option<std::path::PathBuf>,
    /// The purge's batch writes: one connection, opened when first needed
    /// and closed once idle, whose automatic checkpoint waits for
    /// [`PURGE_CHECKPOINT_PAGES`]. `None` in memory (one connection only).
    purge_pool: Option<SqlitePool>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if missing and
    /// bringing its schema up to date. Any number of processes may open the
    /// same file, also at the same moment; they see each other's commits at
    /// once. The folder must exist.
    #[tracing::instrument(skip_all)]
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", CACHE_SIZE)
            .pragma("soft_heap_limit", SOFT_HEAP_LIMIT)
            .pragma("temp_store", "memory")
            .row_buffer_size(ROW_BUFFER)
            // A destroyed wrapped key must not linger in free pages of the
            // file (crypto-shredding): deleted content is overwritten.
            .pragma("secure_delete", "ON");
        owner_only_files(path)?;
        prepare_file(&options).await?;
        // WAL is a property of the file by now, so the pool's connections
        // need not (and must not race to) switch it.
        let purge_pool = SqlitePoolOptions::new()
            .min_connections(0)
            .max_connections(1)
            .idle_timeout(PURGE_IDLE)
            .after_release(|conn, _| Box::pin(still_usable(conn)))
            .connect_lazy_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", PURGE_CHECKPOINT_PAGES),
            );
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // All of them kept open (sqlx opens them in the background and
            // replaces one that reaches its maximum lifetime): opening one
            // — the file, the WAL index, the pragmas — takes milliseconds,
            // and a burst of requests used to pay it on the spot. The seek
            // benchmark's slowest audited reads (13–16 ms, against a p50 of
            // 3 ms) were the 8 readers' first requests on new connections
            // (issue 16 §3, BENCHMARKS.md).
            .min_connections(MAX_CONNECTIONS)
            // sqlx pings an idle connection before handing it out, by
            // default: for SQLite a round trip to the connection's worker
            // thread and back before every statement, which tells nothing
            // (a file cannot hang up) and doubled the thread hand-offs of
            // an audited seek (issue 16 §3). A connection a failed
            // transaction left unusable is closed on release instead
            // (`still_usable`).
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(still_usable(conn)))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            path: Some(path.to_owned()),
            purge_pool: Some(purge_pool),
        })
    }

    /// A fresh private database in memory, for tests and experiments. It
    /// lives on exactly one connection that is never recycled (an in-memory
    /// database vanishes with its last connection), so all access to it is
    /// serialised.
    pub async fn in_memory() -> Result<Self> {
        // `sqlite::memory:` names a new shared-cache memory database per call.
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            path: None,
            purge_pool: None,
        })
    }

    /// The connection pool, for what the trait does not cover (diagnostics,
    /// backups, tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The pool of the purge's batch writes (the main pool in memory).
    pub(crate) fn purge_pool(&self) -> &SqlitePool {
        self.purge_pool.as_ref().unwrap_or(&self.pool)
    }

    /// Closes both pools.
    pub(crate) async fn close_pools(&self) {
        if let Some(purge) = &self.purge_pool {
            purge.close().await;
        }
        self.pool.close().await;
    }
}

/// Creates the database file owner-only (0600) if it is missing — SQLite
/// then creates its `-wal` and `-shm` with the same mode — and takes group
/// and world access away from an existing database file, `-wal` and `-shm`.
fn owner_only_files(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |what: &str, file: &Path| {
        let context = format!("failed to {what} {}", file.display());
        move |source| Error::Io { context, source }
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io("create database file", path))?;
    let mut companions = Vec::with_capacity(3);
    companions.push(path.to_owned());
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        companions.push(name.into());
    }
    for file in &companions {
        let mode = match std::fs::metadata(file) {
            Ok(metadata) => metadata.permissions().mode() & 0o7777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("stat", file)(e)),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                .map_err(io("make owner-only", file))?;
        }
    }
    Ok(())
}

/// Switches the file to WAL and applies the embedded migrations, on one
/// connection of its own, retrying what a concurrent opener can make fail:
/// * Switching to WAL needs an exclusive lock that SQLite does not wait for
///   (the busy timeout does not apply), so two processes creating the file
///   together can get "database is locked".
/// * SQLite's migrator takes no lock, so both can try to apply the same
///   migration; the loser's attempt fails inside its transaction ("table
///   already exists") and changes nothing.
///
/// Either way another opener made progress, and the next attempt finds WAL
/// on and the migration applied. A fault that is not a race fails every
/// attempt and is returned.
async fn prepare_file(options: &SqliteConnectOptions) -> Result<()> {
    let mut attempt = 1;
    loop {
        match try_prepare_file(options).await {
            Ok(()) => return Ok(()),
            Err(err) if attempt < PREPARE_ATTEMPTS && lost_race(&err) => {
                tracing::debug!(attempt, error = %err, "opening raced another opener; retrying");
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Whether a connection coming back to the pool may be handed out again.
/// Not when a transaction on it is still counted open: SQLite rolls a
/// transaction back by itself on some errors (`SQLITE_FULL` on a full disk
/// among them), the dropped transaction's own `ROLLBACK` then fails ("no
/// transaction is active"), and sqlx keeps counting it — every later
/// `BEGIN` on that connection failed with "attempted to call begin_with at
/// non-zero transaction depth", even once the disk had space again. Such a
/// connection is closed; the pool opens a fresh one.
async fn still_usable(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<bool> {
    use sqlx::Connection as _;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction's ROLLBACK is queued on the connection's worker;
    // the ping runs after it, so the count is settled by then.
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}

async fn try_prepare_file(options: &SqliteConnectOptions) -> Result<()> {
    // A one-connection pool rather than a bare connection: `Migrator::run` on
    // `&mut SqliteConnection` yields a future that is not `Send` for every
    // lifetime, which would keep `open` out of `tokio::spawn`.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone().journal_mode(SqliteJournalMode::Wal))
        .await?;
    let migrated = MIGRATOR.run(&pool).await;
    pool.close().await;
    Ok(migrated?)
}

/// Whether `err` is what a concurrent opener can cause: a lock SQLite would
/// not wait for, or a failed migration.
fn lost_race(err: &Error) -> bool {
    match err {
        Error::Database(sqlx::Error::Database(db)) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            // The primary result code is the low byte: 5 is SQLITE_BUSY,
            // 6 is SQLITE_LOCKED, whatever the extended code.
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        Error::Migrate(_) => true,
        _ => false,
    }
}

impl crate::backend::SqlStore for SqliteStore {
    type Db = Sqlite;

    fn sql_pool(&self) -> &sqlx::Pool<Sqlite> {
        &self.pool
    }
}
