//! Times the erasure ledger: appends `N` entries (default 1,000,000) in
//! batches of `B` (default 10,000) — one signed, fsynced block per batch, as
//! the purge writes them — then verifies the whole ledger.
//!
//! ```text
//! cargo run --release -p kirjuri-app --example ledger_append -- [N] [B] [DIR]
//! ```
//!
//! `DIR` (default: a temporary folder under the system temp dir) should be
//! on the disk the ledger will live on: the fsyncs are part of the cost.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a timing harness: a failure ends the run with its message"
)]

use std::path::PathBuf;
use std::time::Instant;

use chrono::DateTime;
use kirjuri_app::ledger::{self, ErasureLedger, LedgerEntry};
use kirjuri_core::ids::ContactId;
use kirjuri_vault::AuditSigner;
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let batch: u64 = args.next().map_or(10_000, |a| a.parse().expect("B"));
    let temp = tempfile::tempdir().expect("a temp folder");
    let root = args
        .next()
        .map_or_else(|| temp.path().to_owned(), PathBuf::from);
    let dir = root.join("erasure-ledger");
    let signer =
        AuditSigner::open_or_create(&root.join("audit-signing.key"), ledger::LEDGER_KEY_NAME)
            .expect("the signing key");
    let key = signer.public_key();
    let ledger = ErasureLedger::open(&dir, signer).expect("the ledger");

    let entries = |from: u64, n: u64| -> Vec<LedgerEntry> {
        (from..from + n)
            .map(|i| LedgerEntry {
                id: Uuid::now_v7(),
                contact_id: ContactId::new_v7(),
                kind: "recording".into(),
                sha256: Some(format!("{:064x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15)),
                deleted_at: DateTime::from_timestamp_micros(1_750_000_000_000_000 + i as i64)
                    .expect("a time"),
                rule: "call_recording: 12 months after the call (privacy notice §12)".into(),
                reason: "retention".into(),
            })
            .collect()
    };

    let mut appending = std::time::Duration::ZERO;
    let mut written = 0;
    while written < total {
        let n = batch.min(total - written);
        let batch = entries(written, n);
        let started = Instant::now();
        ledger.append(&batch).await.expect("append");
        appending += started.elapsed();
        written += n;
    }
    let bytes: u64 = std::fs::read_dir(&dir)
        .expect("list the ledger")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "appended {total} entries in {} blocks of {batch}: {:.2} s ({:.0} entries/s), {:.1} MiB on disk",
        total.div_ceil(batch),
        appending.as_secs_f64(),
        total as f64 / appending.as_secs_f64(),
        bytes as f64 / (1 << 20) as f64
    );
    let started = Instant::now();
    let summary = ledger::verify_async(&dir, key).await.expect("verify");
    println!(
        "verified {} blocks, {} entries, {} files in {:.2} s",
        summary.head.seq,
        summary.entries,
        summary.files,
        started.elapsed().as_secs_f64()
    );
}
