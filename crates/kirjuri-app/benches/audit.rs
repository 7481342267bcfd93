//! Benchmark of the audit log (docs/requirements.md "Performance targets"; AUD-1, AUD-2):
//!
//! 1. **Append throughput**: events/s through `Kirjuri::audit` (one durable
//!    SQLite commit each), alone and while two readers do contact reads
//!    through `Kirjuri::read_contact` (each read appends its own event).
//! 2. **`audit verify` time** for `KIRJURI_BENCH_AUDIT_EVENTS` events
//!    (default 1 000 000; target ≤ 1 s, so 10 M in ≤ 10 s), with a signed
//!    checkpoint every 256 events as the background writer makes them. The
//!    events are realistic rows (a recording read with its byte range),
//!    generated directly through the store in batches of 256, each batch
//!    followed by `AuditChain::checkpoint` — so filling also measures the
//!    writer. Verification is `audit_chain::verify`, the function
//!    `kirjuri audit verify` calls.
//!
//!    The same on PostgreSQL when `KIRJURI_BENCH_POSTGRES_URL` names a
//!    server (a superuser URL, e.g. from `scripts/pg start`): a fresh
//!    database, dropped afterwards. Baseline in the same run: the hashing
//!    alone — leaf hash of every event's bytes and the streaming Merkle root,
//!    in memory on one core — which no verifier can beat. Peak RSS of the
//!    verification (the fill's is reset first through `/proc/self/clear_refs`),
//!    and each run's CPU seconds: this process's, and a PostgreSQL server's
//!    when it runs on this machine (`server_cpu_seconds`), since on
//!    PostgreSQL producing the rows is a large part of the work.
//!
//! `KIRJURI_BENCH_AUDIT_DB=PATH` keeps the filled SQLite database (and its
//! signing key beside it) and reuses it when it exists. A benchmark, not a
//! test: it prints numbers and asserts only that the log verifies.
//! Run: `KIRJURI_BENCH_POSTGRES_URL=$(scripts/pg start --fast) cargo bench -p kirjuri-app --bench audit`
//! (`KIRJURI_BENCH_AUDIT_EVENTS=10000000` for the 10 M target;
//! `KIRJURI_BENCH_AUDIT_APPENDS=0` skips the append measurement,
//! `KIRJURI_BENCH_AUDIT_SQLITE=0` the SQLite one;
//! `KIRJURI_BENCH_AUDIT_PG_KEEP=NAME` keeps the PostgreSQL database NAME and
//! its key `NAME.signing.key` in the working folder, and reuses them).

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kirjuri_app::audit::to_row;
use kirjuri_app::audit_chain::{self, AuditChain, CheckpointOutcome};
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::access::Actor;
use kirjuri_core::audit::AuditEvent;
use kirjuri_core::clock::{Clock, SystemClock};
use kirjuri_core::contact::ContactInput;
use kirjuri_core::ids::{ContactId, ObjectId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;
use kirjuri_store::prelude::*;
use kirjuri_store::{PostgresStore, SqliteStore};
use kirjuri_testkit::postgres::{admin_execute_on, server_cpu_seconds, with_database};

/// How long each append measurement runs.
const MEASURE: Duration = Duration::from_secs(5);
/// Events per checkpoint while filling (the writer's default).
const PER_CHECKPOINT: u32 = 256;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn main() -> BenchResult<()> {
    let events: u64 = match std::env::var("KIRJURI_BENCH_AUDIT_EVENTS") {
        Ok(value) => value.parse()?,
        Err(_) => 1_000_000,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            if std::env::var("KIRJURI_BENCH_AUDIT_APPENDS").map_or(true, |v| v != "0") {
                appends().await?;
            }
            hashing_floor(events);
            if std::env::var("KIRJURI_BENCH_AUDIT_SQLITE").map_or(true, |v| v != "0") {
                sqlite_verification(events).await?;
            }
            postgres_verification(events).await
        })
}

/// The baseline: what verifying `events` events costs in hashing alone —
/// each event's leaf hash over 100 bytes and the streaming root, in memory,
/// on one core.
fn hashing_floor(events: u64) {
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut tree = kirjuri_core::merkle::TreeBuilder::new();
    let mut event = [0u8; 100];
    for i in 0..events {
        event[..8].copy_from_slice(&i.to_le_bytes());
        tree.push(kirjuri_core::merkle::leaf_hash(&event));
    }
    let root = tree.root();
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu;
    println!(
        "baseline: leaf hashes and Merkle root of {events} events in memory, one core: \
         {elapsed:.3?}, CPU {cpu:.2} s ({:.2} M events/s; root {})",
        events as f64 / elapsed.as_secs_f64() / 1e6,
        hex::encode(&root[..4])
    );
}

/// This process's peak resident set since the last [`reset_peak_rss`], in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The peak of this process's anonymous resident memory (`RssAnon`: its
/// heap and stacks, not the file pages SQLite maps), sampled every 5 ms
/// by a thread until the returned flag is set; the thread answers MiB.
fn sample_peak_anon() -> (Arc<AtomicBool>, std::thread::JoinHandle<f64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&stop);
    let sampler = std::thread::spawn(move || {
        let mut peak = 0.0f64;
        while !done.load(Ordering::Relaxed) {
            let kib = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
                    line.split_whitespace().nth(1)?.parse::<f64>().ok()
                });
            peak = peak.max(kib.unwrap_or(0.0) / 1024.0);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    (stop, sampler)
}

/// CPU seconds (user + system, all threads) this process has used.
fn cpu_seconds() -> f64 {
    kirjuri_testkit::app::process_times(std::process::id())
        .map_or(f64::NAN, |t| t.own as f64 / 100.0)
}

/// Starts a new peak-RSS measurement (Linux: writing 5 to `clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn supervisor() -> BenchResult<Actor> {
    Ok(Actor {
        name: UserName::parse("sanna", "bench")?,
        role: Role::Supervisor,
        confidentiality_agreement: false,
        reason: None,
    })
}

fn read_event(i: u64) -> AuditEvent {
    AuditEvent::RecordingRead {
        contact: ContactId::new_v7(),
        object: ObjectId::new_v7(),
        purpose: Purpose::QualityAssurance,
        range: Some((i * 65_536, i * 65_536 + 65_535)),
        reason: None,
    }
}

async fn appends() -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let config = Config {
        data: dir.path().to_path_buf(),
        ..Config::default()
    };
    let app = Kirjuri::open(config, Arc::new(SystemClock)).await?;
    let actor = supervisor()?;
    let actor_id = UserId::new_v7();
    let mut contacts = Vec::new();
    for i in 0..100 {
        let json = format!(
            r#"{{"channel":"call_in","started_at":"2026-11-29T09:15:02+02:00","agent":"aino",
                "customer":{{"name":"Bench Customer {i}","phone":"040 123 {i:04}"}}}}"#
        );
        let (id, _) = app
            .create_contact(None, ContactInput::from_json(json.as_bytes())?)
            .await?;
        contacts.push(id);
    }
    let contacts = Arc::new(contacts);

    println!("audit append throughput (durable commit per event), {MEASURE:?} each:");
    for readers in [0usize, 2] {
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for r in 0..readers {
            let (app, actor, contacts) = (app.clone(), actor.clone(), Arc::clone(&contacts));
            let (stop, reads) = (Arc::clone(&stop), Arc::clone(&reads));
            tasks.push(tokio::spawn(async move {
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let id = contacts[i % contacts.len()];
                    app.read_contact(&actor, actor_id, id, Purpose::QualityAssurance)
                        .await?;
                    reads.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                Ok::<(), kirjuri_app::Error>(())
            }));
        }
        let started = Instant::now();
        let mut appended = 0u64;
        while started.elapsed() < MEASURE {
            app.audit(Some(actor_id), &read_event(appended)).await?;
            appended += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await??;
        }
        let reads = reads.load(Ordering::Relaxed);
        println!(
            "  {readers} concurrent readers: appender {:.0} events/s; readers {:.0} contact reads/s \
             (each audited); all appends {:.0} events/s",
            appended as f64 / elapsed,
            reads as f64 / elapsed,
            (appended + reads) as f64 / elapsed,
        );
    }
    Ok(())
}

async fn sqlite_verification(events: u64) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let path = match std::env::var_os("KIRJURI_BENCH_AUDIT_DB") {
        Some(path) => PathBuf::from(path),
        None => dir.path().join("audit.db"),
    };
    let key_file = path.with_extension("signing.key");
    let existing = path.exists();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await?);
    if existing {
        println!(
            "sqlite: reusing {} with {} events",
            path.display(),
            store.audit_head().await?
        );
    }
    verification(
        "sqlite",
        store,
        &key_file,
        if existing { 0 } else { events },
        None,
    )
    .await?;
    let size = std::fs::metadata(&path)?.len();
    println!("sqlite: database {:.0} MiB", size as f64 / (1 << 20) as f64);
    Ok(())
}

/// The same on a fresh PostgreSQL database, when the environment names a
/// server; the database is dropped afterwards.
async fn postgres_verification(events: u64) -> BenchResult<()> {
    let Some(server) = kirjuri_testkit::postgres::bench_server() else {
        return Ok(());
    };
    // A kept database (and its signing key in the working folder) is
    // reused when it exists, like KIRJURI_BENCH_AUDIT_DB.
    let kept = std::env::var("KIRJURI_BENCH_AUDIT_PG_KEEP")
        .ok()
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    let name = kept
        .clone()
        .unwrap_or_else(|| format!("bench_audit_{}", uuid::Uuid::new_v4().simple()));
    let dir = tempfile::tempdir()?;
    let key_file = match &kept {
        Some(name) => PathBuf::from(format!("{name}.signing.key")),
        None => dir.path().join("signing.key"),
    };
    let existing = kept.is_some() && key_file.exists();
    if !existing {
        admin_execute_on(&server, &format!("CREATE DATABASE {name}")).await;
    }
    let measured = async {
        let store = PostgresStore::open(&with_database(&server, &name)).await?;
        if existing {
            println!(
                "postgres: reusing {name} with {} events",
                store.audit_head().await?
            );
        }
        let fill = if existing { 0 } else { events };
        let result = verification(
            "postgres",
            Arc::new(store.clone()),
            &key_file,
            fill,
            Some(&server),
        )
        .await;
        store.pool().close().await;
        result
    }
    .await;
    if kept.is_none() {
        admin_execute_on(&server, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    }
    measured
}

/// Fills `store` with `events` events (none: it is filled already) and
/// times three verifications of it.
async fn verification(
    backend: &str,
    store: Arc<dyn Store>,
    key_file: &std::path::Path,
    events: u64,
    server: Option<&str>,
) -> BenchResult<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let chain = AuditChain::open(Arc::clone(&store), Arc::clone(&clock), key_file).await?;
    if events > 0 {
        let started = Instant::now();
        fill(store.as_ref(), &chain, clock.now(), events).await?;
        let elapsed = started.elapsed();
        println!(
            "{backend}: filled {events} events with a checkpoint every {PER_CHECKPOINT} in \
             {elapsed:.1?} ({:.0} events/s in batches)",
            events as f64 / elapsed.as_secs_f64()
        );
    }
    reset_peak_rss();
    let (stop_sampling, sampler) = sample_peak_anon();
    let key = chain.verifier_key();
    let mut times = Vec::new();
    for run in 0..3 {
        let server_cpu = match server {
            Some(url) => server_cpu_seconds(url).await,
            None => None,
        };
        let cpu = cpu_seconds();
        let started = Instant::now();
        let report =
            audit_chain::verify(Arc::clone(&store), chain.origin(), Some(&key), None).await?;
        let elapsed = started.elapsed();
        let cpu = cpu_seconds() - cpu;
        let server_cpu = match (server, server_cpu) {
            (Some(url), Some(before)) => server_cpu_seconds(url).await.map_or_else(
                || "unknown".to_owned(),
                |after| format!("{:.2} s", after - before),
            ),
            (Some(_), None) => "unknown (not on this machine)".to_owned(),
            (None, _) => "none (embedded)".to_owned(),
        };
        if !report.is_intact() {
            return Err(format!("the generated log does not verify: {:?}", report.findings).into());
        }
        println!(
            "{backend}:   verify run {run}: {} events, {} checkpoints in {elapsed:.3?} \
             ({:.2} M events/s); CPU: this process {cpu:.2} s, database server {server_cpu}",
            report.events,
            report.checkpoints,
            report.events as f64 / elapsed.as_secs_f64() / 1e6
        );
        times.push(elapsed);
    }
    times.sort();
    stop_sampling.store(true, Ordering::Relaxed);
    let peak_anon = sampler.join().map_err(|_| "the memory sampler panicked")?;
    println!(
        "{backend}: audit verify of {} events: best {:.3?}, median {:.3?} (target ≤ 1 s per \
         million); peak RSS while verifying {} (VmHWM, mapped file pages included), \
         of it anonymous memory {peak_anon:.0} MiB (RssAnon, sampled every 5 ms)",
        store.audit_head().await?,
        times[0],
        times[1],
        peak_rss_mib().map_or_else(|| "unknown".to_owned(), |mib| format!("{mib:.0} MiB"))
    );
    Ok(())
}

/// Appends `events` events in batches of [`PER_CHECKPOINT`], signing a
/// checkpoint after each batch as the background writer would.
async fn fill(
    store: &dyn Store,
    chain: &AuditChain,
    start: DateTime<Utc>,
    events: u64,
) -> BenchResult<()> {
    let actor = Some(UserId::new_v7());
    let mut written = 0u64;
    while written < events {
        let n = (events - written).min(u64::from(PER_CHECKPOINT));
        let batch: Vec<_> = (written..written + n)
            .map(|i| {
                let at = start + chrono::Duration::milliseconds(i64::try_from(i).unwrap_or(0));
                to_row(at, actor, &read_event(i))
            })
            .collect();
        store.append_audit_batch(&batch).await?;
        written += n;
        match chain.checkpoint().await? {
            CheckpointOutcome::Signed(_) => {}
            other => return Err(format!("expected a new checkpoint, got {other:?}").into()),
        }
        if written % 100_000 < u64::from(PER_CHECKPOINT) {
            eprint!("\r  filling: {written}/{events}");
        }
    }
    eprintln!();
    Ok(())
}
