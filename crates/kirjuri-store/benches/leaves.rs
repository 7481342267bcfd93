//! Benchmark of the store's side of `kirjuri audit verify` (docs/requirements.md: 10
//! million audit entries verified in under 10 s): reading every event's
//! Merkle leaf through `AuditStore::audit_leaves`, in pages of 65 536 with two
//! pages in flight, as the server's verifier reads them — on SQLite and, when
//! `KIRJURI_BENCH_POSTGRES_URL` names a server (a superuser URL, e.g. from
//! `scripts/pg start`), on PostgreSQL in a fresh database that is dropped
//! afterwards.
//!
//! `KIRJURI_BENCH_AUDIT_EVENTS` sets the log's size (default 1 000 000). The
//! events are realistic rows (a recording read with its byte range), appended
//! with `append_audit_batch` in batches of 10 000, so the fill also shows
//! the bulk append's rate. The leaves are checked against hashing the stored
//! rows for the first page; the Merkle root itself is the server's business.
//!
//! A benchmark, not a test: it prints numbers. Run with
//! `KIRJURI_BENCH_POSTGRES_URL=$(scripts/pg start) cargo bench -p kirjuri-store --bench leaves`.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta};
use kirjuri_core::ids::UserId;
use kirjuri_store::prelude::*;
use kirjuri_store::{NewAuditEvent, PostgresStore, SqliteStore};
use kirjuri_testkit::postgres::{admin_execute_on, with_database};

/// Events per append.
const BATCH: i64 = 10_000;
/// Events per read, as the server's verifier asks.
const PAGE: u32 = 65_536;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn main() -> BenchResult<()> {
    let events: i64 = match std::env::var("KIRJURI_BENCH_AUDIT_EVENTS") {
        Ok(value) => value.parse()?,
        Err(_) => 1_000_000,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(events))
}

async fn run(events: i64) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await?);
    measure("sqlite", sqlite, events).await?;

    let Some(server) = kirjuri_testkit::postgres::bench_server() else {
        return Ok(());
    };
    let name = format!("bench_leaves_{}", uuid::Uuid::new_v4().simple());
    admin_execute_on(&server, &format!("CREATE DATABASE {name}")).await;
    let measured = async {
        let store = PostgresStore::open(&with_database(&server, &name)).await?;
        let result = measure("postgres", Arc::new(store.clone()), events).await;
        store.pool().close().await;
        result
    }
    .await;
    admin_execute_on(&server, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    measured
}

async fn measure(name: &str, store: Arc<dyn Store>, events: i64) -> BenchResult<()> {
    let started = Instant::now();
    let actor = UserId::new_v7();
    let mut first = 0;
    while first < events {
        let batch: Vec<NewAuditEvent> = (first..(first + BATCH).min(events))
            .map(|i| event(i, actor))
            .collect();
        store.append_audit_batch(&batch).await?;
        first += BATCH;
    }
    let filled = started.elapsed();
    println!(
        "{name}: appended {events} events in {filled:.1?} ({:.0} events/s)",
        events as f64 / filled.as_secs_f64()
    );

    // The first page agrees with hashing the stored rows.
    let mut buffer = Vec::new();
    let expected: Vec<[u8; 32]> = store
        .stored_audit_events(0, 1000)
        .await?
        .iter()
        .map(|e| kirjuri_core::audit::leaf_hash_of(&e.leaf_fields(), &mut buffer))
        .collect();
    let got: Vec<[u8; 32]> = store
        .audit_leaves(0, 1000)
        .await?
        .iter()
        .map(|l| l.leaf)
        .collect();
    assert_eq!(
        got, expected,
        "bulk leaves differ from the stored rows' hashes"
    );

    for run in 1..=2 {
        let started = Instant::now();
        let read = read_all(&store).await?;
        let elapsed = started.elapsed();
        assert_eq!(read, events);
        println!(
            "{name}: read {read} leaves in {elapsed:.2?} ({:.0} events/s; run {run})",
            read as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// Reads every leaf with two pages in flight, guessing that the log is
/// dense as the server's verifier does; returns how many were read.
async fn read_all(store: &Arc<dyn Store>) -> BenchResult<i64> {
    let fetch = |after: i64| {
        let store = Arc::clone(store);
        tokio::spawn(async move { store.audit_leaves(after, PAGE).await })
    };
    let mut next = fetch(0);
    let mut after = 0;
    let mut read = 0;
    loop {
        let ahead = fetch(after + i64::from(PAGE));
        let page = next.await??;
        let Some(last) = page.last() else { break };
        read += page.len() as i64;
        after = last.seq;
        next = ahead;
    }
    Ok(read)
}

/// Event `i`: a recording read with its byte range, like the server's.
fn event(i: i64, actor: UserId) -> NewAuditEvent {
    NewAuditEvent {
        at: DateTime::from_timestamp_micros(1_796_000_000_000_000).unwrap_or_default()
            + TimeDelta::milliseconds(i),
        actor: Some(actor),
        action: "recording.read".into(),
        object: Some(format!("0192f5c4-8f5e-7000-8000-{i:012x}")),
        purpose: Some("quality_assurance".into()),
        outcome: "success".into(),
        details: serde_json::json!({
            "contact": format!("0192f5c4-8f5e-7000-8000-{i:012x}"),
            "range": {"start": i * 65_536, "end": i * 65_536 + 65_535},
            "reason": null,
        }),
    }
}
