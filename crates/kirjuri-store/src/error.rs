//! The store's one error type. Messages name the table or constraint
//! involved, never a stored value: the values here are ciphertext, keyed
//! hashes and credentials' hashes, none of which belongs in a log.

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A uniqueness rule refused the write; the payload names which one
    /// (e.g. `"user name"`, `"token hash"`). Nothing was written.
    #[error("conflict: {0} already exists")]
    Conflict(&'static str),
    /// The row the operation needs does not exist (an unknown token, a
    /// contact that an object refers to, a pending object to commit).
    #[error("not found")]
    NotFound,
    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded schema migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A value cannot cross the boundary between Rust and the database: a
    /// stored value that breaks an invariant (an unknown role, a timestamp
    /// out of range, malformed JSON) or, on the way in, a number the column
    /// cannot represent. The message names the column, not the value.
    #[error("corrupt value: {0}")]
    Corrupt(String),
    /// The transaction a group of writes shared failed to append its audit
    /// events or to commit (`kirjuri-app`'s group commit): this write is
    /// not stored, nor is any other of its group. The cause is shared by
    /// all of them.
    #[error("the shared commit failed: {0}")]
    SharedCommit(#[source] std::sync::Arc<Error>),
    /// A file of the embedded database could not be created or its
    /// permissions set; `context` names the file.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and to which file.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The database could not be reached: the connection failed, broke, or
    /// no pooled connection came free in time (a server that is down).
    /// A shared commit's failure is its cause's (the error inside the
    /// `Arc` is not among an error's `source()`s, so callers walking the
    /// chain would not see it: a connection cut by a database shutdown in
    /// a group commit was a 500).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::SharedCommit(cause) => cause.is_unreachable(),
            _ => matches!(
                self,
                Error::Database(
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
                )
            ),
        }
    }

    /// The database's disk is full: SQLite's `SQLITE_FULL` (13), or its
    /// `SQLITE_IOERR_SHMSIZE` (4874: the WAL's shared-memory index could not
    /// be grown, which is how a full disk meets a connection opening — it
    /// said "disk I/O error" and looked like a broken disk);
    /// PostgreSQL's `disk_full` (53100).
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::SharedCommit(cause) => cause.is_storage_full(),
            Error::Database(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("13" | "4874" | "53100"))
            }
            Error::Io { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

/// Result alias for the store crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
