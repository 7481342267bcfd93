//! What can stop `migrate-store`: the refusals, each saying what to do, and
//! the failures of a step, each naming the step and keeping its cause. No
//! message quotes the target database's password (see `target`).

use std::path::PathBuf;

use kirjuri_core::ids::ObjectId;
use kirjuri_core::location::LocationError;

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source has no database.
    #[error("{} is not a Kirjuri data folder (it has no kirjuri.db)", .0.display())]
    NotADataFolder(PathBuf),
    /// Some process holds the source folder.
    #[error(
        "the data folder {} is in use by {live} running kirjuri process(es) (serve, import, …): \
         stop them first — migrate-store copies a register at rest",
        dir.display()
    )]
    InUse {
        /// The source folder.
        dir: PathBuf,
        /// Live processes found.
        live: usize,
    },
    /// Neither the flag nor the configuration names a target database.
    #[error(
        "name the target database: --to-database postgres://USER@HOST:PORT/DB, or \
         [database] url in the configuration (KIRJURI_DATABASE__URL)"
    )]
    NoTargetDatabase,
    /// The target database is not PostgreSQL.
    #[error("the target database must be a postgres:// URL")]
    NotPostgres,
    /// The target database's country is not declared (DIS-1).
    #[error(
        "declare where the target database runs: [database] country = \"FI\" (an ISO \
         3166-1 code inside the EU/EEA) in the configuration, or KIRJURI_DATABASE__COUNTRY"
    )]
    NoDatabaseCountry,
    /// A target is declared outside the EU/EEA (DIS-1).
    #[error("refusing to migrate: {setting}")]
    Location {
        /// The setting that declares it.
        setting: &'static str,
        /// Why the location is refused.
        #[source]
        source: LocationError,
    },
    /// The target object store could not be opened.
    #[error("failed to open the target object store")]
    TargetObjects(#[source] Box<Error>),
    /// The `--to-objects` file is not an `[objects.s3]` table. The parser's
    /// message only: its full display would quote the file's lines.
    #[error("{} is not an object store description ([objects.s3] settings): {problem}", path.display())]
    ObjectsFile {
        /// The file.
        path: PathBuf,
        /// What the parser found wrong.
        problem: String,
    },
    /// `backend = "s3"` without its settings.
    #[error("[objects] backend = \"s3\" needs an [objects.s3] table")]
    NoS3Table,
    /// The target database could not be reached. The driver's message is
    /// kept as scrubbed text, not as a cause: a cause would be printed as
    /// it is, and a driver may quote the URL with its password.
    #[error("failed to connect to the target database {url}: {message}")]
    Connect {
        /// The URL, its password replaced.
        url: String,
        /// The driver's message, passwords cut out.
        message: String,
    },
    /// The database URL has no scheme.
    #[error("the database URL is not a URL")]
    NotAUrl,
    /// The target database holds rows.
    #[error(
        "the target database is not empty ({tables}); migrate-store only fills an empty \
         database. If an earlier migrate-store run filled it from this folder, check it with \
         --verify-only; otherwise drop and recreate the database (DROP DATABASE …; CREATE \
         DATABASE …) and run again"
    )]
    NonEmptyTarget {
        /// The occupied tables and their row counts.
        tables: String,
    },
    /// The target bucket holds another register's objects.
    #[error(
        "the target object store {target} holds {count} object(s) that are not this register's; \
         migrate into an empty bucket (or prefix)"
    )]
    ForeignObjects {
        /// The bucket, for people.
        target: String,
        /// Objects that are not the source's.
        count: usize,
    },
    /// A page of the export was of the wrong table (a bug in the store).
    #[error("the source returned a page of another table")]
    WrongPage,
    /// A source row names an object its folder lacks.
    #[error(
        "object {id} ({kind}) has a row in the source database but no file in its object \
         folder: the source is damaged; restore it from a backup before migrating"
    )]
    SourceFileMissing {
        /// The object.
        id: ObjectId,
        /// Its kind.
        kind: String,
    },
    /// A source object's length differs from its row's.
    #[error("source object {id} holds {len} bytes, its row says {row_len}: the source is damaged")]
    SourceLength {
        /// The object.
        id: ObjectId,
        /// Bytes in the file.
        len: u64,
        /// Bytes the row records.
        row_len: u64,
    },
    /// An object that should be in the target is not.
    #[error("object {0} is missing from the target object store")]
    MissingInTarget(ObjectId),
    /// An object found in the target before copying has another length.
    #[error(
        "object {id} in the target holds {target_len} bytes, the source {len}: \
         delete it from the target (or empty the bucket) and run again"
    )]
    TargetLengthBefore {
        /// The object.
        id: ObjectId,
        /// Bytes in the target.
        target_len: u64,
        /// Bytes in the source.
        len: u64,
    },
    /// An object read back from the target has another length.
    #[error("object {id} in the target holds {target_len} bytes, the source {len}")]
    TargetLength {
        /// The object.
        id: ObjectId,
        /// Bytes in the target.
        target_len: u64,
        /// Bytes in the source.
        len: u64,
    },
    /// An object read back from the target differs from the source.
    #[error(
        "object {id} in the target differs from the source in bytes {at}..{end}: \
         delete it from the target and run again"
    )]
    Differs {
        /// The object.
        id: ObjectId,
        /// First byte of the differing chunk.
        at: u64,
        /// End of the differing chunk.
        end: u64,
    },
    /// A database step failed.
    #[error("{context}")]
    Store {
        /// The step.
        context: String,
        /// The database's error.
        #[source]
        source: kirjuri_store::Error,
    },
    /// An object store step failed.
    #[error("{context}")]
    Vault {
        /// The step.
        context: String,
        /// The object store's error.
        #[source]
        source: kirjuri_vault::Error,
    },
    /// A file step failed.
    #[error("{context}")]
    Io {
        /// The step and its path.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An application step (the audit signing key, the verifier) failed.
    #[error("{context}")]
    App {
        /// The step.
        context: String,
        /// The application's error.
        #[source]
        source: crate::Error,
    },
    /// A database step failed where no more can be said than its error.
    #[error(transparent)]
    StoreFailed(#[from] kirjuri_store::Error),
    /// An object store step failed where no more can be said than its error.
    #[error(transparent)]
    VaultFailed(#[from] kirjuri_vault::Error),
}

/// Result alias for the migration.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// For `map_err`: a database step's failure, named.
    pub(super) fn store(context: &'static str) -> impl FnOnce(kirjuri_store::Error) -> Error {
        move |source| Error::Store {
            context: context.to_owned(),
            source,
        }
    }
}
