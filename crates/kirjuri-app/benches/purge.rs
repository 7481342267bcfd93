//! Benchmark of the purge (RET-3; issue 5):
//!
//! 1. **Purge** of `KIRJURI_BENCH_PURGE_OBJECTS` (default 1 000 000) expired
//!    small recordings, each of its own expired contact (two blind-index
//!    entries each), target < 60 s: every data key destroyed with its
//!    tombstone and audit event, every tombstone in the erasure ledger,
//!    every object file deleted, every contact erased. Time per phase
//!    (objects, contacts) and per step (list, shred, ledger, mark, delete).
//! 2. **Dry run** over `KIRJURI_BENCH_DRYRUN_CONTACTS` (default 10 000 000)
//!    calls with a recording each, 1 % expired: time and peak memory.
//!
//! `KIRJURI_BENCH_PURGE_BATCH` sets the rows per batch (default: the
//! purge's own).
//!
//! The purge's natural baseline, measured in the same run just before it:
//! `rm -rf` of as many files of the same size (the unlinks alone, no
//! database, no ledger).
//!
//! Each measurement runs in a child process (this executable again), so its
//! peak RSS (`VmHWM`) is the run's own, not the set-up's. Each formats its
//! item lines as `kirjuri purge` does, into a sink. The child runs with
//! `MALLOC_ARENA_MAX=2`, as the shipped systemd unit runs `kirjuri` (glibc's
//! default, eight arenas per core, keeps freed memory per thread and
//! peaked ≈ 30 MiB higher in the same time); set `MALLOC_ARENA_MAX`
//! yourself to measure another value.
//!
//! Set-up writes rows straight into the SQLite schema (big transactions,
//! `synchronous = OFF`) and tiny object files straight into the object
//! folder: the store's API writes one durable transaction per contact,
//! which would take hours for millions. Wrapped keys are real (wrapped by
//! the folder's own keyring); sealed documents and object bytes are random
//! stand-ins — the purge never decrypts. The dry-run folder is kept and
//! reused when `KIRJURI_BENCH_DRYRUN_DIR=PATH` is set (it is never modified);
//! `KIRJURI_BENCH_PURGE_DIR=PATH` puts the purge's folder there (filled
//! anew each run: a purge consumes it).
//!
//! `KIRJURI_BENCH_PURGE_SETUP_ONLY=1` prepares the purge's folder and
//! stops, for profiling the child by hand.
//!
//! **PostgreSQL**: with `KIRJURI_BENCH_POSTGRES_URL` (a superuser URL of a
//! server that fsyncs — `scripts/pg start` without `--fast`), the same purge
//! runs again on a fresh database of that server, filled by `INSERT …
//! SELECT generate_series` (ids and hashes derived from the row number;
//! wrapped keys are stand-in bytes: the purge never unwraps them), with the
//! same object files. `KIRJURI_BENCH_PURGE_BACKENDS=postgres` (or `sqlite`)
//! runs one backend only. The database is dropped afterwards.
//!
//! A benchmark, not a test: it prints numbers and asserts only that the
//! purge took everything and the dry run listed the expected count.
//! Run: `cargo bench -p kirjuri-app --bench purge`.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kirjuri_app::purge::Purger;
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::clock::{Clock, SystemClock};
use kirjuri_core::ids::{ContactId, ObjectId};
use kirjuri_testkit::server::{MALLOC_ARENAS, malloc_arenas};
use kirjuri_vault::Keyring;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Which measurement a child process runs.
const CHILD: &str = "KIRJURI_BENCH_PURGE_CHILD";
/// The data folder a child process opens.
const CHILD_DATA: &str = "KIRJURI_BENCH_PURGE_CHILD_DATA";
/// The PostgreSQL URL a child process opens, if any.
const CHILD_PG: &str = "KIRJURI_BENCH_PURGE_CHILD_PG";
/// Rows per set-up transaction.
const SETUP_TX_ROWS: usize = 100_000;

fn main() -> BenchResult<()> {
    if let Ok(which) = std::env::var(CHILD) {
        let data = PathBuf::from(std::env::var(CHILD_DATA)?);
        return tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(child(&which, &data));
    }
    let objects = env_count("KIRJURI_BENCH_PURGE_OBJECTS", 1_000_000)?;
    let contacts = env_count("KIRJURI_BENCH_DRYRUN_CONTACTS", 10_000_000)?;
    println!("purge benchmark: {objects} expired recordings; dry run over {contacts} contacts");
    println!(
        "  each measurement in a child process with {MALLOC_ARENAS}={}",
        malloc_arenas()
    );
    let backends = std::env::var("KIRJURI_BENCH_PURGE_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".to_owned());
    if backends.contains("sqlite") {
        purge_benchmark(objects)?;
        if std::env::var_os("KIRJURI_BENCH_PURGE_SETUP_ONLY").is_some() {
            // The prepared folder is all that was asked for.
            return Ok(());
        }
        dry_run_benchmark(contacts)?;
    }
    if backends.contains("postgres") {
        postgres_purge_benchmark(objects)?;
    }
    Ok(())
}

fn env_count(name: &str, default: usize) -> BenchResult<usize> {
    Ok(match std::env::var(name) {
        Ok(value) => value.replace('_', "").parse()?,
        Err(_) => default,
    })
}

fn config(data: &Path) -> Config {
    Config {
        data: data.to_owned(),
        ..Config::default()
    }
}

/// The configuration of a data folder whose database is on PostgreSQL.
fn pg_config(data: &Path, url: &str) -> Config {
    Config {
        database: kirjuri_app::config::DatabaseConfig {
            url: Some(kirjuri_app::config::DatabaseUrl::new(url)),
            country: Some("FI".into()),
            ..kirjuri_app::config::DatabaseConfig::default()
        },
        ..config(data)
    }
}

/// The instant the data sets are built around.
fn now() -> DateTime<Utc> {
    SystemClock.now()
}

// ---- the measurements, in a child process ----------------------------------------

async fn child(which: &str, data: &Path) -> BenchResult<()> {
    let config = match std::env::var(CHILD_PG) {
        Ok(url) => pg_config(data, &url),
        Err(_) => config(data),
    };
    let app = Kirjuri::open(config, Arc::new(SystemClock)).await?;
    let dry_run = which == "dry-run";
    let started = Instant::now();
    let mut first_contact: Option<Duration> = None;
    let mut sink = std::io::sink();
    let batch = env_count(
        "KIRJURI_BENCH_PURGE_BATCH",
        kirjuri_app::purge::DEFAULT_BATCH as usize,
    )?;
    let report = Purger::new(&app)
        .dry_run(dry_run)
        .batch(u32::try_from(batch)?)
        .on_item(|item| {
            use std::io::Write;
            let _ = writeln!(sink, "{}", item.line());
            if item.kind == "contact" && first_contact.is_none() {
                first_contact = Some(started.elapsed());
            }
        })
        .run()
        .await;
    let elapsed = started.elapsed();
    let hwm = vm_hwm_kib()?;
    if !report.succeeded() {
        return Err(format!("the run failed: {:?}", report.failures).into());
    }
    println!(
        "  {}: {:.2} s, peak RSS (VmHWM) {:.1} MiB; {} items {:?}",
        if dry_run { "dry run" } else { "purge" },
        elapsed.as_secs_f64(),
        hwm as f64 / 1024.0,
        report.total(),
        report.counts
    );
    if let Some(objects_phase) = first_contact {
        println!(
            "    phases: objects {:.2} s, contacts {:.2} s",
            objects_phase.as_secs_f64(),
            (elapsed - objects_phase).as_secs_f64()
        );
    }
    if !report.timings.is_empty() {
        let steps: Vec<String> = report
            .timings
            .iter()
            .map(|(step, t)| format!("{step} {:.2} s", t.as_secs_f64()))
            .collect();
        println!("    steps: {}", steps.join(", "));
        println!(
            "    longest batch write (shred or erase, start to commit): {:.3} s",
            report.longest_write.as_secs_f64()
        );
    }
    // Machine-readable for the parent's checks.
    println!("TOTAL {}", report.total());
    Ok(())
}

/// Peak resident set size of this process, in KiB.
fn vm_hwm_kib() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmHWM")?
        .parse()?)
}

/// Runs this executable as a child for one measurement; returns the item
/// total it reports.
fn run_child(which: &str, data: &Path) -> BenchResult<u64> {
    run_child_on(which, data, None)
}

/// [`run_child`], on the PostgreSQL database at `pg` if given.
fn run_child_on(which: &str, data: &Path, pg: Option<&str>) -> BenchResult<u64> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .env(CHILD, which)
        .env(CHILD_DATA, data)
        .env("KIRJURI_LOG", "warn")
        .env(MALLOC_ARENAS, malloc_arenas());
    if let Some(url) = pg {
        command.env(CHILD_PG, url);
    }
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|l| !l.starts_with("TOTAL ")) {
        println!("{line}");
    }
    if !output.status.success() {
        return Err(format!(
            "the {which} child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let total = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TOTAL "))
        .ok_or("the child reported no total")?;
    Ok(total.parse()?)
}

// ---- the purge ---------------------------------------------------------------------

fn purge_benchmark(objects: usize) -> BenchResult<()> {
    let keep = std::env::var_os("KIRJURI_BENCH_PURGE_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir()?;
    let data = keep.unwrap_or_else(|| temp.path().join("purge"));
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let started = Instant::now();
    let keyring = create_folder(&data)?;
    fill(&data, &keyring, objects, |_| true, true)?;
    println!(
        "  set-up: {objects} contacts, recordings and object files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if std::env::var_os("KIRJURI_BENCH_PURGE_SETUP_ONLY").is_some() {
        // For profiling the purge by hand: run this executable with
        // KIRJURI_BENCH_PURGE_CHILD=purge and KIRJURI_BENCH_PURGE_CHILD_DATA.
        println!("  prepared {} (not purged)", data.display());
        std::mem::forget(temp);
        return Ok(());
    }
    baseline_and_purge("", &data, objects, None)
}

/// Times `rm -rf` of `objects` files like the object files, then the
/// purge of the folder `data` (on the PostgreSQL database at `pg` if
/// given) in a child process, prints both and their ratio (each line
/// begins with `label`), checks that every contact and recording went
/// and no object file is left, and removes the folder.
fn baseline_and_purge(
    label: &str,
    data: &Path,
    objects: usize,
    pg: Option<&str>,
) -> BenchResult<()> {
    let baseline = rm_baseline(data, objects)?;
    println!(
        "  {label}baseline: `rm -rf` of {objects} files of the same size in 256 folders: {:.2} s",
        baseline.as_secs_f64()
    );
    let started = Instant::now();
    let total = run_child_on("purge", data, pg)?;
    let purge = started.elapsed();
    println!(
        "  {label}purge / rm: {:.1}x (the purge's child process, start to exit)",
        purge.as_secs_f64() / baseline.as_secs_f64()
    );
    let expected = 2 * objects as u64;
    if total != expected {
        return Err(format!("the purge destroyed {total}, expected {expected}").into());
    }
    let left = count_files(&data.join("objects"))?;
    if left != 0 {
        return Err(format!("{left} object files are left").into());
    }
    std::fs::remove_dir_all(data)?;
    Ok(())
}

/// The natural baseline of the purge, in the same run: writes `n` files
/// like the object files (same size, spread over 256 folders) next to the
/// data folder, then times `rm -rf` of them.
fn rm_baseline(data: &Path, n: usize) -> BenchResult<Duration> {
    let dir = data.with_extension("rm-baseline");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    for fan in 0..256 {
        std::fs::create_dir_all(dir.join(format!("{fan:02x}")))?;
    }
    let mut bytes = Bytes(0x2545_F491_4F6C_DD1D);
    let mut written = 0;
    while written < n {
        let end = (written + SETUP_TX_ROWS).min(n);
        let jobs = (written..end)
            .map(|i| {
                (
                    dir.join(format!("{:02x}", i % 256))
                        .join(format!("{i}.kjr")),
                    bytes.fill(256),
                )
            })
            .collect();
        write_files(jobs)?;
        written = end;
    }
    let started = Instant::now();
    let status = Command::new("rm").arg("-rf").arg(&dir).status()?;
    let took = started.elapsed();
    if !status.success() {
        return Err(format!("rm -rf {} failed: {status}", dir.display()).into());
    }
    Ok(took)
}

// ---- the purge on PostgreSQL -------------------------------------------------------

/// The purge of `objects` expired recordings on a fresh database of the
/// server `KIRJURI_BENCH_POSTGRES_URL` names, with its own `rm -rf`
/// baseline; skipped without it.
fn postgres_purge_benchmark(objects: usize) -> BenchResult<()> {
    let Some(server) = kirjuri_testkit::postgres::bench_server() else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = format!("bench_purge_{}", uuid::Uuid::new_v4().simple());
    let url = kirjuri_testkit::postgres::with_database(&server, &name);
    runtime.block_on(kirjuri_testkit::postgres::admin_execute_on(
        &server,
        &format!("CREATE DATABASE {name}"),
    ));
    let measured = (|| {
        let temp = tempfile::tempdir()?;
        let data = std::env::var_os("KIRJURI_BENCH_PURGE_DIR")
            .map(|dir| PathBuf::from(dir).with_extension("pg"))
            .unwrap_or_else(|| temp.path().join("purge-pg"));
        if data.exists() {
            std::fs::remove_dir_all(&data)?;
        }
        let started = Instant::now();
        runtime.block_on(async {
            let app = Kirjuri::open(pg_config(&data, &url), Arc::new(SystemClock)).await?;
            app.close().await;
            Ok::<_, Box<dyn Error + Send + Sync>>(())
        })?;
        pg_fill(&runtime, &data, &url, objects)?;
        println!(
            "  postgres set-up: {objects} contacts, recordings and object files in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        baseline_and_purge("postgres ", &data, objects, Some(&url))
    })();
    runtime.block_on(kirjuri_testkit::postgres::admin_execute_on(
        &server,
        &format!("DROP DATABASE {name} WITH (FORCE)"),
    ));
    measured
}

/// A row number's id, the same in SQL (`pg_id`) and here: `prefix` tells
/// contacts (1) from objects (2).
fn bench_id(prefix: u8, i: usize) -> String {
    format!("{prefix:08x}-0000-7000-8000-{i:012x}")
}

/// [`bench_id`] in SQL, of the row number `i`.
fn pg_id(prefix: u8) -> String {
    format!("('{prefix:08x}-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid")
}

/// Fills the PostgreSQL database at `url` as [`fill`] fills SQLite (every
/// call expired, two blind-index entries each), with `n` object files.
fn pg_fill(runtime: &tokio::runtime::Runtime, data: &Path, url: &str, n: usize) -> BenchResult<()> {
    let (contact, object) = (pg_id(1), pg_id(2));
    let objects_dir = config(data).objects_dir();
    let mut bytes = Bytes(0x9E37_79B9_7F4A_7C15);
    let mut written = 0;
    while written < n {
        let end = (written + SETUP_TX_ROWS).min(n);
        let rows = format!(
            "FROM (SELECT i, now() - interval '400 days' - make_interval(secs => i % 2000000) \
             AS t FROM generate_series({written}, {last}) AS i) AS s",
            last = end - 1
        );
        let statements = [
            format!(
                "INSERT INTO contacts (id, channel, started_at, agent, service, created_at, \
                 created_by, sealed_document, document_key, retain_until) \
                 SELECT {contact}, 'call_in', t, \
                 (ARRAY['aino', 'bertta', 'cecilia', 'daniel'])[i % 4 + 1], 'water-billing', t, \
                 '00000000-0000-0000-0000-000000000000', decode(repeat(md5(i::text), 19), 'hex'), \
                 decode(repeat(md5('k' || i), 2), 'hex'), t + interval '365 days' {rows}"
            ),
            format!(
                "INSERT INTO objects (id, contact_id, kind, wrapped_key, sha256, plaintext_len, \
                 stored_len, media, retain_until, created_at) \
                 SELECT {object}, {contact}, 'recording', decode(repeat(md5('w' || i), 3), 'hex'), \
                 md5('s' || i) || md5('h' || i), 8044, 8088, \
                 '{{\"container\":\"wav\",\"encoding\":\"pcm_s16le\",\"sample_rate\":8000,\"channels\":1}}', \
                 t + interval '365 days', t {rows}"
            ),
            format!(
                "INSERT INTO contact_index (contact_id, kind, hash) \
                 SELECT {contact}, k.kind, sha256(convert_to(k.kind || i, 'UTF8')) \
                 {rows} CROSS JOIN (VALUES ('phone'), ('name')) AS k (kind)"
            ),
        ];
        for statement in &statements {
            runtime.block_on(kirjuri_testkit::postgres::admin_execute_on(url, statement));
        }
        let jobs = (written..end)
            .map(|i| {
                let name = bench_id(2, i);
                let path = objects_dir
                    .join(&name[name.len() - 2..])
                    .join(format!("{name}.kjr"));
                (path, bytes.fill(256))
            })
            .collect();
        write_files(jobs)?;
        written = end;
    }
    runtime.block_on(kirjuri_testkit::postgres::admin_execute_on(
        url,
        "VACUUM ANALYZE",
    ));
    Ok(())
}

// ---- the dry run -------------------------------------------------------------------

fn dry_run_benchmark(contacts: usize) -> BenchResult<()> {
    let keep = std::env::var_os("KIRJURI_BENCH_DRYRUN_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir()?;
    let data = keep.clone().unwrap_or_else(|| temp.path().join("dry-run"));
    let marker = data.join("bench-dry-run-contacts");
    let reuse = std::fs::read_to_string(&marker).is_ok_and(|n| n.trim() == contacts.to_string());
    if reuse {
        println!("  reusing the dry-run folder {}", data.display());
    } else {
        if data.exists() {
            std::fs::remove_dir_all(&data)?;
        }
        let started = Instant::now();
        let keyring = create_folder(&data)?;
        fill(&data, &keyring, contacts, |i| i % 100 == 0, false)?;
        std::fs::write(&marker, contacts.to_string())?;
        println!(
            "  set-up: {contacts} contacts with recordings (1 % expired) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let total = run_child("dry-run", &data)?;
    let expected = 2 * contacts.div_ceil(100) as u64;
    if total != expected {
        return Err(format!("the dry run listed {total}, expected {expected}").into());
    }
    if keep.is_none() {
        std::fs::remove_dir_all(&data)?;
    }
    Ok(())
}

// ---- set-up --------------------------------------------------------------------------

/// Creates a data folder (schema, key file) the way every command does, and
/// returns its keyring.
fn create_folder(data: &Path) -> BenchResult<Keyring> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let app = Kirjuri::open(config(data), Arc::new(SystemClock)).await?;
            app.close().await;
            Ok::<_, Box<dyn Error + Send + Sync>>(())
        })?;
    Ok(Keyring::open_or_create(&config(data).key_file())?)
}

/// A small deterministic generator for stand-in bytes (xorshift64).
struct Bytes(u64);

impl Bytes {
    fn fill(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            out.extend_from_slice(&self.0.to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// Writes `n` calls, each a contact with one recording object, straight into
/// the schema. Contact `i` is expired when `expired(i)`; with `files`, each
/// object also gets a tiny file and each contact two blind-index entries.
fn fill(
    data: &Path,
    keyring: &Keyring,
    n: usize,
    expired: impl Fn(usize) -> bool,
    files: bool,
) -> BenchResult<()> {
    let now = now();
    let micros = |t: DateTime<Utc>| t.timestamp_micros();
    let mut db = rusqlite::Connection::open(config(data).database_file())?;
    db.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")?;
    let data_key = keyring.generate_data_key()?;
    let mut bytes = Bytes(0x9E37_79B9_7F4A_7C15);
    let objects_dir = config(data).objects_dir();
    let mut written = 0;
    while written < n {
        let end = (written + SETUP_TX_ROWS).min(n);
        let tx = db.transaction()?;
        let mut file_jobs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        {
            let mut contact = tx.prepare(
                "INSERT INTO contacts (id, channel, started_at, agent, service, created_at, \
                 created_by, sealed_document, document_key, retain_until) \
                 VALUES (?1, 'call_in', ?2, ?3, 'water-billing', ?2, ?4, ?5, ?6, ?7)",
            )?;
            let mut index = tx.prepare(
                "INSERT INTO contact_index (contact_id, kind, hash) VALUES (?1, ?2, ?3)",
            )?;
            let mut object = tx.prepare(
                "INSERT INTO objects (id, contact_id, kind, wrapped_key, sha256, plaintext_len, \
                 stored_len, media, retain_until, created_at) \
                 VALUES (?1, ?2, 'recording', ?3, ?4, 8044, 8088, \
                 '{\"container\":\"wav\",\"encoding\":\"pcm_s16le\",\"sample_rate\":8000,\"channels\":1}', \
                 ?5, ?6)",
            )?;
            for i in written..end {
                let is_expired = expired(i);
                // Expired calls started 13–14 months ago; the rest last month.
                let started = if is_expired {
                    now - chrono::Duration::days(400)
                        - chrono::Duration::seconds((i % 2_000_000) as i64)
                } else {
                    now - chrono::Duration::days(30)
                        - chrono::Duration::seconds((i % 2_000_000) as i64)
                };
                let retain_until = started + chrono::Duration::days(365);
                let contact_id = ContactId::new_v7();
                let object_id = ObjectId::new_v7();
                let (document_len, key_len) = if files { (300, 60) } else { (32, 40) };
                contact.execute(rusqlite::params![
                    contact_id.as_bytes().as_slice(),
                    micros(started),
                    ["aino", "bertta", "cecilia", "daniel"][i % 4],
                    [0u8; 16].as_slice(),
                    bytes.fill(document_len),
                    bytes.fill(key_len),
                    micros(retain_until),
                ])?;
                let wrapped_key = if files {
                    keyring.wrap(&data_key, &object_id)?
                } else {
                    bytes.fill(40)
                };
                object.execute(rusqlite::params![
                    object_id.as_bytes().as_slice(),
                    contact_id.as_bytes().as_slice(),
                    wrapped_key,
                    hex::encode(bytes.fill(32)),
                    micros(retain_until),
                    micros(started),
                ])?;
                if files {
                    for kind in ["phone", "name"] {
                        index.execute(rusqlite::params![
                            contact_id.as_bytes().as_slice(),
                            kind,
                            bytes.fill(32),
                        ])?;
                    }
                    let name = object_id.to_string();
                    let path = objects_dir
                        .join(&name[name.len() - 2..])
                        .join(format!("{name}.kjr"));
                    file_jobs.push((path, bytes.fill(256)));
                }
            }
        }
        tx.commit()?;
        write_files(file_jobs)?;
        written = end;
    }
    Ok(())
}

/// Writes the object files on four threads (no fsync: a benchmark's set-up).
fn write_files(jobs: Vec<(PathBuf, Vec<u8>)>) -> BenchResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let per_thread = jobs.len().div_ceil(4);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || -> std::io::Result<()> {
                    for (path, bytes) in chunk {
                        std::fs::write(path, bytes)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| "a file-writing thread panicked")??;
        }
        Ok(())
    })
}

fn count_files(dir: &Path) -> BenchResult<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            n += count_files(&entry.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}
