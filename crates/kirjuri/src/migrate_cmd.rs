//! `kirjuri migrate-store` (issue 6, "Moving up"): copies an embedded
//! register — the SQLite database and the object folder of a data folder —
//! into a PostgreSQL database and an object store (an S3-compatible bucket),
//! verifies the copy, and reports counts. It runs before anything opens the
//! target, like `restore`.
//!
//! What it copies, exactly as stored (ids, times, hashes, ciphertext and
//! wrapped keys; nothing is decrypted or re-encrypted): accounts with their
//! lockout state, UI language and TOTP secrets, API tokens, browser sessions
//! with their chosen purpose (kept, so nobody is signed out by the move),
//! contacts with their blind-index entries, object rows, legal holds and
//! their targets, tombstones, the audit log with its sequence numbers, its
//! signed checkpoints and its identity — and every object's bytes, object
//! store to object store. What it leaves: uploads in flight (there are none
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
//! 3. copy the objects, each verified by reading it back from both stores
//!    and comparing every stored byte (chunk by chunk, in constant memory —
//!    stronger than comparing digests, and no slower, since both sides must
//!    be read either way). An object a crashed earlier run already copied is
//!    checked the same way and kept;
//! 4. copy every row in ONE database transaction — a crash before its
//!    commit leaves the database empty, so the next run starts over without
//!    the operator dropping anything, and re-uses the objects of step 3;
//! 5. verify: every table compared row for row with the source snapshot,
//!    and `audit verify`'s own verifier run on the target (the Merkle tree
//!    recomputed from the rows PostgreSQL holds, every checkpoint signature
//!    checked); then check the source did not change meanwhile.
//!
//! A target that already holds rows is refused (a committed earlier run
//! included: `--verify-only` checks such a target against the source
//! without writing anything).
//!
//! Output carries counts, ids, sizes and hashes only; the database URL is
//! shown with its password replaced, and no error quotes it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use futures::StreamExt;
use kirjuri_core::clock::SystemClock;
use kirjuri_core::ids::ObjectId;
use kirjuri_core::location::check_storage_location;
use kirjuri_server::Config;
use kirjuri_server::audit_chain::{self, AuditChain};
use kirjuri_server::config::{DatabaseUrl, ObjectBackend};
use kirjuri_store::copy::{self, Batch, Export, Import, Table, TableComparison};
use kirjuri_store::prelude::*;
use kirjuri_store::{ObjectRow, PostgresStore, SqliteStore};
use kirjuri_vault::{LocalFolder, ObjectStore, S3Config, S3Credentials, S3Store};

/// `kirjuri migrate-store`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The embedded instance's data folder (its kirjuri.db and objects/). No
    /// kirjuri process may be using it.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The PostgreSQL database to fill; it must be empty. Default: the
    /// configuration's [database] url (KIRJURI_DATABASE__URL, or the
    /// --config file), which keeps a password off the command line.
    #[arg(long, value_name = "URL")]
    pub to_database: Option<String>,
    /// A TOML file with the target bucket's settings, as in the [objects.s3]
    /// table (endpoint, region, bucket, prefix, allow_http, country,
    /// credentials_file). Default: the configuration's [objects].
    #[arg(long, value_name = "FILE")]
    pub to_objects: Option<PathBuf>,
    /// Objects copied at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Copy nothing: check a target an earlier run filled against the source.
    #[arg(long)]
    pub verify_only: bool,
}

/// Bytes read from an object store per request: large enough that a
/// request's overhead is small, small enough that `jobs` of them (plus the
/// target's upload buffers) stay far below the memory of a server.
const CHUNK_LEN: u64 = 4 << 20;

/// Runs `migrate-store`, before any data folder or database is opened.
pub async fn run(config: Config, args: MigrateArgs) -> Result<ExitCode> {
    let source_dir = args.from.clone();
    let database_file = source_dir.join("kirjuri.db");
    if !database_file.is_file() {
        bail!(
            "{} is not a Kirjuri data folder (it has no kirjuri.db)",
            source_dir.display()
        );
    }
    refuse_folder_in_use(&source_dir)?;

    let url = target_url(&config, args.to_database.as_deref())?;
    // DIS-1: copying is storing, so the target must be declared inside the
    // EU/EEA before anything is copied — as `Kirjuri::open` demands of a node.
    let Some(country) = &config.database.country else {
        bail!(
            "declare where the target database runs: [database] country = \"FI\" (an ISO \
             3166-1 code inside the EU/EEA) in the configuration, or KIRJURI_DATABASE__COUNTRY"
        );
    };
    check_storage_location(country, None)
        .map_err(|e| anyhow!("refusing to migrate: database.country: {e}"))?;
    let target_objects = open_target_objects(&config, args.to_objects.as_deref(), &source_dir)
        .await
        .context("failed to open the target object store")?;

    let source_store = SqliteStore::open(&database_file)
        .await
        .with_context(|| format!("failed to open {}", database_file.display()))?;
    let source = source_store
        .begin_export()
        .await
        .context("failed to read the source database")?;
    let source_objects = LocalFolder::open(&source_dir.join("objects"))
        .context("failed to open the source object folder")?;
    let pending = source_store
        .pending_objects()
        .await
        .context("failed to read the source database")?
        .len();

    let target = connect_target(&config, &url).await?;
    eprintln!(
        "migrating {} to {} and {}",
        source_dir.display(),
        url.redacted(),
        target_objects.describe()
    );

    let object_rows = source
        .count(Table::Objects)
        .await
        .context("failed to count the source's objects")?;
    let objects = if args.verify_only {
        let objects = transfer_objects(
            &source,
            &source_objects,
            &target_objects,
            Transfer::VerifyOnly,
            args.jobs,
            object_rows,
        )
        .await?;
        eprintln!("verified {} objects", objects.objects);
        objects
    } else {
        refuse_non_empty_target(&target).await?;
        refuse_foreign_objects(&source, &target_objects).await?;
        let objects = transfer_objects(
            &source,
            &source_objects,
            &target_objects,
            Transfer::Copy,
            args.jobs,
            object_rows,
        )
        .await?;
        eprintln!(
            "objects: {} copied, {} already in the target from an earlier run, {}",
            objects.copied,
            objects.already_there,
            megabytes(objects.bytes)
        );
        copy_database(&source, &target).await?;
        objects
    };

    // Verification reads everything back from the target.
    let comparisons = copy::compare_rows(&source, &target, &mut |_, _| {})
        .await
        .context("failed to compare the target database with the source")?;
    let index = (
        source
            .count_index_entries()
            .await
            .context("failed to count the source's index entries")?,
        target
            .count_index_entries()
            .await
            .context("failed to count the target's index entries")?,
    );
    let log_id = source
        .log_id()
        .await
        .context("failed to read the source's audit log identity")?;
    let target_log_id = target
        .log_id()
        .await
        .context("failed to read the target's audit log identity")?;
    let audit = verify_audit(&config, &source_dir, &target, &log_id).await?;
    let changed = source_changed(&source_store, &comparisons).await?;

    print_report(&Report {
        comparisons: &comparisons,
        index,
        objects: &objects,
        audit: &audit,
        log_ids: (&log_id, &target_log_id),
        pending,
    });
    print_keys(&config, &source_dir);
    let intact = comparisons.iter().all(TableComparison::is_equal)
        && index.0 == index.1
        && log_id == target_log_id
        && audit.is_intact();
    if let Some(note) = changed {
        println!("NOT migrated intact: {note}");
        return Ok(ExitCode::FAILURE);
    }
    if intact {
        println!(
            "verified: every table equal row for row, every object's bytes equal, \
             the audit log intact on the target"
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT migrated intact: see the differences above");
        Ok(ExitCode::FAILURE)
    }
}

/// Refuses a data folder that some process holds: a lock file in
/// `instances/` that cannot be locked belongs to a live `serve`, `import`
/// or other command, which could write while the copy reads.
fn refuse_folder_in_use(dir: &Path) -> Result<()> {
    let instances = dir.join("instances");
    let live = kirjuri_server::app::scan_local_instances(&instances)
        .with_context(|| format!("failed to list {}", instances.display()))?
        .iter()
        .filter(|i| i.live)
        .count();
    if live > 0 {
        bail!(
            "the data folder {} is in use by {live} running kirjuri process(es) (serve, import, …): \
             stop them first — migrate-store copies a register at rest",
            dir.display()
        );
    }
    Ok(())
}

/// The target database's URL: the flag, else the configuration's.
fn target_url(config: &Config, flag: Option<&str>) -> Result<DatabaseUrl> {
    let url = match (flag, &config.database.url) {
        (Some(url), _) => DatabaseUrl::new(url),
        (None, Some(url)) => url.clone(),
        (None, None) => bail!(
            "name the target database: --to-database postgres://USER@HOST:PORT/DB, or \
             [database] url in the configuration (KIRJURI_DATABASE__URL)"
        ),
    };
    if !url.is_postgres() {
        bail!("the target database must be a postgres:// URL");
    }
    Ok(url)
}

/// Connects to the target database (applying its schema), with the
/// configuration's password file if it names one. The error names the
/// server without its password.
async fn connect_target(config: &Config, url: &DatabaseUrl) -> Result<PostgresStore> {
    let password = match &config.database.password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("failed to read the password file {}", path.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        ),
        None => None,
    };
    let with_password = match &password {
        Some(password) => with_password(url.expose(), password)?,
        None => url.expose().to_owned(),
    };
    PostgresStore::open(&with_password).await.map_err(|e| {
        anyhow!(
            "failed to connect to the target database {}: {}",
            url.redacted(),
            scrub(&e.to_string(), url, password.as_deref())
        )
    })
}

/// `url` with `password` (percent-encoded) in place of any it holds.
fn with_password(url: &str, password: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("the database URL is not a URL"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (userinfo.split(':').next().unwrap_or(""), host),
        None => ("", authority),
    };
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok(format!("{scheme}://{user}:{encoded}@{host}{tail}"))
}

/// `message` with the URL's password and `password` cut out, in case a
/// driver ever quotes them.
fn scrub(message: &str, url: &DatabaseUrl, password: Option<&str>) -> String {
    let mut message = message.replace(url.expose(), &url.redacted());
    let in_url = url
        .expose()
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned());
    for secret in [in_url.as_deref(), password].into_iter().flatten() {
        if !secret.is_empty() {
            message = message.replace(secret, "***");
        }
    }
    message
}

/// Where the objects go.
struct TargetObjects {
    /// The store.
    store: Arc<dyn ObjectStore>,
    /// Whether it is the source's own folder (PostgreSQL with the objects
    /// left in place): nothing to copy, only to check.
    in_place: bool,
    /// For messages: `s3://bucket/prefix` or the folder.
    description: String,
}

impl TargetObjects {
    fn describe(&self) -> String {
        if self.in_place {
            format!("{} (left in place)", self.description)
        } else {
            self.description.clone()
        }
    }
}

/// The target object store: the bucket `--to-objects` describes, else the
/// configuration's `[objects]`. A local folder is accepted too; the source's
/// own folder means the objects stay where they are.
async fn open_target_objects(
    config: &Config,
    flag: Option<&Path>,
    source_dir: &Path,
) -> Result<TargetObjects> {
    let s3 = match flag {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            let s3: S3Config = toml::from_str(&text).map_err(|e| {
                anyhow!(
                    "{} is not an object store description ([objects.s3] settings): {}",
                    path.display(),
                    e.message()
                )
            })?;
            Some(s3)
        }
        None => match config.objects.backend {
            ObjectBackend::S3 => Some(config.objects.s3.clone().ok_or_else(|| {
                anyhow!("[objects] backend = \"s3\" needs an [objects.s3] table")
            })?),
            ObjectBackend::Local => None,
        },
    };
    match s3 {
        Some(s3) => {
            s3.check_location()
                .map_err(|e| anyhow!("refusing to migrate: objects.s3: {e}"))?;
            let credentials = S3Credentials::load(&s3)?;
            let store = S3Store::open(&s3, credentials)?;
            store.probe().await?;
            let prefix = s3
                .prefix
                .as_deref()
                .map(|p| format!("/{p}"))
                .unwrap_or_default();
            Ok(TargetObjects {
                store: Arc::new(store),
                in_place: false,
                description: format!("s3://{}{prefix}", s3.bucket),
            })
        }
        None => {
            if let Some(country) = &config.objects.country {
                check_storage_location(country, None)
                    .map_err(|e| anyhow!("refusing to migrate: objects.country: {e}"))?;
            }
            let dir = config.objects_dir();
            let source = source_dir.join("objects");
            let in_place = same_folder(&dir, &source);
            Ok(TargetObjects {
                store: Arc::new(LocalFolder::open(&dir)?),
                in_place,
                description: dir.display().to_string(),
            })
        }
    }
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Refuses a target database that holds any row: nothing is ever merged.
async fn refuse_non_empty_target(target: &PostgresStore) -> Result<()> {
    let occupied = copy::occupied_tables(target)
        .await
        .context("failed to read the target database")?;
    if occupied.is_empty() {
        return Ok(());
    }
    let tables = occupied
        .iter()
        .map(|t| format!("{} {}", t.table.name(), t.rows))
        .collect::<Vec<_>>()
        .join(", ");
    bail!(
        "the target database is not empty ({tables}); migrate-store only fills an empty \
         database. If an earlier migrate-store run filled it from this folder, check it with \
         --verify-only; otherwise drop and recreate the database (DROP DATABASE …; CREATE \
         DATABASE …) and run again"
    )
}

/// Refuses a bucket holding objects that are not the source's: they would
/// be another register's, and the copy never mixes registers. Objects of
/// the source found there are a crashed earlier run's, checked and kept.
async fn refuse_foreign_objects(source: &dyn Export, target: &TargetObjects) -> Result<()> {
    if target.in_place {
        return Ok(());
    }
    let listed = target
        .store
        .list()
        .await
        .context("failed to list the target object store")?;
    if listed.is_empty() {
        return Ok(());
    }
    let mut foreign: HashSet<ObjectId> = listed.into_iter().collect();
    let mut after = None;
    loop {
        let batch = source
            .export(Table::Objects, after, copy::PAGE_ROWS)
            .await?;
        let Batch::Objects(rows) = &batch else {
            bail!("the source returned a page of another table");
        };
        for row in rows {
            foreign.remove(&row.id);
        }
        if rows.len() < copy::PAGE_ROWS as usize {
            break;
        }
        after = batch.next_cursor();
    }
    if !foreign.is_empty() {
        bail!(
            "the target object store {} holds {} object(s) that are not this register's; \
             migrate into an empty bucket (or prefix)",
            target.description,
            foreign.len()
        );
    }
    Ok(())
}

/// Copies every row into the target in one transaction.
async fn copy_database(source: &dyn Export, target: &PostgresStore) -> Result<()> {
    let log_id = source.log_id().await?;
    let mut tx = target
        .begin_import(&log_id)
        .await
        .context("failed to start writing the target database")?;
    let total: u64 = {
        let mut total = 0;
        for table in Table::ALL {
            total += source.count(table).await?;
        }
        total
    };
    let bar = progress_bar(total, "rows");
    copy::copy_rows(source, tx.as_mut(), &mut |_, n| bar.inc(n))
        .await
        .context("failed to copy the database (the target is left empty; run again)")?;
    bar.set_message("committing");
    tx.commit()
        .await
        .context("failed to commit the copy (the target is left empty; run again)")?;
    bar.finish_and_clear();
    eprintln!("database: {total} rows copied and committed");
    Ok(())
}

/// Whether objects are copied or only checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    Copy,
    VerifyOnly,
}

/// What happened to the objects.
#[derive(Debug, Default)]
struct ObjectTally {
    /// Object rows in the source.
    objects: u64,
    /// Copied now.
    copied: u64,
    /// Found in the target already (an earlier run, or left in place), and
    /// checked.
    already_there: u64,
    /// Stored bytes of all objects.
    bytes: u64,
}

/// What one object's transfer did.
enum ObjectOutcome {
    Copied(u64),
    AlreadyThere(u64),
}

/// Copies (or only checks) every object the source's rows name, `jobs` at
/// a time, each read back and compared with the source byte for byte.
async fn transfer_objects(
    source: &dyn Export,
    source_objects: &LocalFolder,
    target: &TargetObjects,
    mode: Transfer,
    jobs: u16,
    total: u64,
) -> Result<ObjectTally> {
    let bar = progress_bar(total, "objects");
    let mut tally = ObjectTally::default();
    let mut after = None;
    loop {
        let batch = source
            .export(Table::Objects, after, copy::PAGE_ROWS)
            .await?;
        let Batch::Objects(rows) = &batch else {
            bail!("the source returned a page of another table");
        };
        let mut results = futures::stream::iter(rows.iter())
            .map(|row| transfer_object(row, source_objects, target, mode))
            .buffer_unordered(usize::from(jobs));
        while let Some(result) = results.next().await {
            tally.objects += 1;
            match result? {
                ObjectOutcome::Copied(bytes) => {
                    tally.copied += 1;
                    tally.bytes += bytes;
                }
                ObjectOutcome::AlreadyThere(bytes) => {
                    tally.already_there += 1;
                    tally.bytes += bytes;
                }
            }
            bar.inc(1);
        }
        if rows.len() < copy::PAGE_ROWS as usize {
            break;
        }
        after = batch.next_cursor();
    }
    bar.finish_and_clear();
    Ok(tally)
}

async fn transfer_object(
    row: &ObjectRow,
    source: &LocalFolder,
    target: &TargetObjects,
    mode: Transfer,
) -> Result<ObjectOutcome> {
    let id = row.id;
    let len = match source.len(&id).await {
        Ok(len) => len,
        Err(kirjuri_vault::Error::NotFound(_)) => bail!(
            "object {id} ({}) has a row in the source database but no file in its object \
             folder: the source is damaged; restore it from a backup before migrating",
            row.kind
        ),
        Err(e) => return Err(e).with_context(|| format!("failed to read source object {id}")),
    };
    if len != row.stored_len {
        bail!(
            "source object {id} holds {len} bytes, its row says {}: the source is damaged",
            row.stored_len
        );
    }
    let present = match target.store.len(&id).await {
        Ok(target_len) => Some(target_len),
        Err(kirjuri_vault::Error::NotFound(_)) => None,
        Err(e) => {
            return Err(e).with_context(|| format!("failed to look up object {id} in the target"));
        }
    };
    if present.is_none() && (mode == Transfer::VerifyOnly || target.in_place) {
        bail!("object {id} is missing from the target object store");
    }
    match present {
        Some(target_len) => {
            if target_len != len {
                bail!(
                    "object {id} in the target holds {target_len} bytes, the source {len}: \
                     delete it from the target (or empty the bucket) and run again"
                );
            }
            if target.in_place {
                return Ok(ObjectOutcome::AlreadyThere(len));
            }
        }
        None => copy_object(source, target.store.as_ref(), &id, len)
            .await
            .with_context(|| format!("failed to copy object {id}"))?,
    }
    compare_object(source, target.store.as_ref(), &id, len).await?;
    Ok(match present {
        Some(_) => ObjectOutcome::AlreadyThere(len),
        None => ObjectOutcome::Copied(len),
    })
}

/// Streams the object from `source` into `target` in chunks.
async fn copy_object(
    source: &dyn ObjectStore,
    target: &dyn ObjectStore,
    id: &ObjectId,
    len: u64,
) -> Result<()> {
    let mut writer = target.put(id).await?;
    let mut at = 0;
    while at < len {
        let end = (at + CHUNK_LEN).min(len);
        let chunk = match source.get_range(id, at..end).await {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        };
        if let Err(e) = writer.write(chunk).await {
            let _ = writer.abort().await;
            return Err(e.into());
        }
        at = end;
    }
    writer.commit().await?;
    Ok(())
}

/// Reads the object back from both stores, a chunk of each at a time, and
/// fails unless every stored byte is equal — stronger than comparing
/// digests, in the same constant memory.
async fn compare_object(
    source: &dyn ObjectStore,
    target: &dyn ObjectStore,
    id: &ObjectId,
    len: u64,
) -> Result<()> {
    let mut at = 0;
    while at < len {
        let end = (at + CHUNK_LEN).min(len);
        let (ours, theirs) =
            tokio::try_join!(source.get_range(id, at..end), target.get_range(id, at..end))
                .with_context(|| format!("failed to read object {id} back from both stores"))?;
        if ours != theirs {
            bail!(
                "object {id} in the target differs from the source in bytes {at}..{end}: \
                 delete it from the target and run again"
            );
        }
        at = end;
    }
    let target_len = target
        .len(id)
        .await
        .with_context(|| format!("failed to look up object {id} in the target"))?;
    if target_len != len {
        bail!("object {id} in the target holds {target_len} bytes, the source {len}");
    }
    Ok(())
}

/// `audit verify` on the target: its verifier, over the target's rows,
/// with the signing key the nodes will use (the configuration's
/// `audit_key_file`, else the source folder's).
async fn verify_audit(
    config: &Config,
    source_dir: &Path,
    target: &PostgresStore,
    log_id: &str,
) -> Result<AuditCheck> {
    let configured = config.audit_key_file();
    let in_source = source_dir.join("keys").join("audit-signing.key");
    let key_file = [configured, in_source]
        .into_iter()
        .find(|path| path.is_file());
    let store: Arc<dyn Store> = Arc::new(target.clone());
    let verifier_key = match &key_file {
        Some(path) => Some(
            AuditChain::open(Arc::clone(&store), Arc::new(SystemClock), path)
                .await
                .with_context(|| {
                    format!("failed to open the audit signing key {}", path.display())
                })?
                .verifier_key(),
        ),
        None => None,
    };
    let origin = audit_chain::origin(log_id);
    let report = audit_chain::verify(store, &origin, verifier_key.as_deref(), None)
        .await
        .context("failed to verify the audit log on the target")?;
    Ok(AuditCheck { report, key_file })
}

/// The outcome of `audit verify` on the target.
struct AuditCheck {
    report: audit_chain::VerifyReport,
    /// The signing key whose verifier key checked the signatures.
    key_file: Option<PathBuf>,
}

impl AuditCheck {
    fn is_intact(&self) -> bool {
        self.report.is_intact()
    }
}

/// A note if the source changed after the snapshot the copy was made from
/// (a process started on it meanwhile): its audit log or object count moved.
async fn source_changed(
    store: &SqliteStore,
    comparisons: &[TableComparison],
) -> Result<Option<String>> {
    let now = store
        .begin_export()
        .await
        .context("failed to re-read the source database")?;
    for table in [Table::AuditEvents, Table::Objects, Table::Contacts] {
        let copied = comparisons
            .iter()
            .find(|c| c.table == table)
            .map_or(0, |c| c.source_rows);
        let rows = now.count(table).await?;
        if rows != copied {
            return Ok(Some(format!(
                "the source changed during the migration ({} now has {rows} rows, {copied} were \
                 copied): some process used the data folder. Stop every kirjuri process on it, \
                 drop the target database and run again",
                table.name()
            )));
        }
    }
    Ok(None)
}

/// What the report prints.
struct Report<'a> {
    comparisons: &'a [TableComparison],
    /// Blind-index entries in the source and the target.
    index: (u64, u64),
    objects: &'a ObjectTally,
    audit: &'a AuditCheck,
    /// The audit log identity in the source and the target.
    log_ids: (&'a str, &'a str),
    /// Pending uploads left in the source by dead processes (not copied).
    pending: usize,
}

fn print_report(report: &Report<'_>) {
    println!("{:<20} {:>12} {:>12}", "table", "source", "target");
    for comparison in report.comparisons {
        let mark = match &comparison.first_difference {
            Some(key) => format!("  DIFFERS at {key}"),
            None if comparison.source_rows != comparison.target_rows => "  DIFFERS".to_owned(),
            None => String::new(),
        };
        println!(
            "{:<20} {:>12} {:>12}{mark}",
            comparison.table.name(),
            comparison.source_rows,
            comparison.target_rows
        );
        if comparison.table == Table::Contacts {
            let (source, target) = report.index;
            let mark = if source == target { "" } else { "  DIFFERS" };
            println!("{:<20} {source:>12} {target:>12}{mark}", "contact_index");
        }
    }
    let objects = report.objects;
    println!(
        "object bytes: {} objects, {} ({} copied now, {} already in the target), each \
         read back and equal to the source byte for byte",
        objects.objects,
        megabytes(objects.bytes),
        objects.copied,
        objects.already_there
    );
    let (source_log, target_log) = report.log_ids;
    if source_log == target_log {
        println!("audit log identity: {source_log} (kept, so its checkpoints still verify)");
    } else {
        println!("audit log identity DIFFERS: source {source_log}, target {target_log}");
    }
    let audit = &report.audit.report;
    match audit.findings.first() {
        None => println!(
            "audit verify on the target: intact, {} events, {} checkpoints, latest signed size {}",
            audit.events,
            audit.checkpoints,
            audit.latest.map_or(0, |(size, _)| size)
        ),
        Some(first) => println!(
            "audit verify on the target: NOT intact ({} findings), first: {first}",
            audit.findings.len()
        ),
    }
    match &report.audit.key_file {
        Some(path) => println!("  signatures checked with the key in {}", path.display()),
        None => println!("  no audit signing key found: signatures were not checked"),
    }
    println!(
        "not copied: {} upload(s) left pending by processes that died (start-up recovery \
         would delete them), job leases, instance heartbeats",
        report.pending
    );
}

/// The key files and the erasure ledger stay files, outside the database
/// and the bucket: say which ones every node needs, and whether the
/// configuration finds them.
fn print_keys(config: &Config, source_dir: &Path) {
    let keys = source_dir.join("keys");
    for (what, configured, in_source) in [
        ("key_file", config.key_file(), keys.join("keyring.json")),
        (
            "audit_key_file",
            config.audit_key_file(),
            keys.join("audit-signing.key"),
        ),
    ] {
        let differs = !same_folder(&configured, &in_source)
            && configured.is_file()
            && in_source.is_file()
            && std::fs::read(&configured).ok() != std::fs::read(&in_source).ok();
        if differs {
            println!(
                "keys: WARNING: the configuration's {what} ({}) is not the source's ({}): \
                 nodes using it cannot read what was migrated (or verify its checkpoints)",
                configured.display(),
                in_source.display()
            );
        } else if configured.is_file() {
            println!("keys: {what} = {}", configured.display());
        } else {
            println!(
                "keys: the configuration's {what} ({}) does not exist — copy {} there (mode \
                 0600) on every node before starting it, or nothing migrated can be read",
                configured.display(),
                in_source.display()
            );
        }
    }
    let ledger = source_dir.join("erasure-ledger");
    if ledger.is_dir() && !same_folder(&config.ledger_dir(), &ledger) {
        println!(
            "erasure ledger: the source's is {}; point every node's ledger_dir at it (or a \
             copy of it) so a restore can still replay every erasure",
            ledger.display()
        );
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn progress_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {unit} {{msg}}"
    )) {
        bar.set_style(style);
    }
    bar
}
