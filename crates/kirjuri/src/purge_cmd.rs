//! `kirjuri purge [--dry-run]` (RET-3): destroys now what is past its
//! retention deadline and not held — or, with `--dry-run`, lists exactly what
//! a real run at this instant would destroy.
//!
//! Output, on stdout: one line per item, `<kind>\t<id>\t<contact_id>\t
//! <retain_until>`, in the order destroyed (a real run prints what it
//! destroyed, in the same form, so the two can be compared), then summary
//! lines starting with `#` (counts per kind). Ids and deadlines only, never
//! personal data. Exit 0 when every step succeeded; 1 when a step failed —
//! after doing everything else it could; the next run retries.
//!
//! A real run holds the `purge` lease (`kirjuri_app::purge::run_exclusive`),
//! so it waits for a purge already running elsewhere (`serve`'s background
//! job, another node) to finish.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, Result};
use clap::Args;
use kirjuri_app::Kirjuri;
use kirjuri_app::purge::{self, DEFAULT_BATCH, LEASE_PATIENCE};

/// `kirjuri purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// List what a real run at this instant would destroy, and destroy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Objects or contacts per batch (one transaction and one erasure-ledger
    /// block each). Smaller batches hold the database's write lock for less
    /// time at once.
    #[arg(long, default_value_t = DEFAULT_BATCH, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
}

/// Runs `purge`.
pub async fn run(app: &Kirjuri, args: PurgeArgs) -> Result<ExitCode> {
    // Items are printed as they go, buffered: a million lines must not cost
    // a million writes.
    let out = Mutex::new(BufWriter::new(std::io::stdout()));
    let write_failed = std::sync::atomic::AtomicBool::new(false);
    let report = purge::run_exclusive(app, args.dry_run, args.batch, LEASE_PATIENCE, |item| {
        if let Ok(mut out) = out.lock()
            && writeln!(out, "{}", item.line()).is_err()
        {
            write_failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .await?;
    let mut out = out
        .into_inner()
        .map_err(|_| anyhow::anyhow!("the output lock was poisoned"))?;
    for line in report.summary_lines() {
        writeln!(out, "{line}").context("failed to write to stdout")?;
    }
    out.flush().context("failed to write to stdout")?;
    drop(out);
    if let Some(outage) = report.outage {
        eprintln!(
            "error: {}: {}; {} purge steps failed, nothing was left half done, and the next \
             run retries them",
            outage.code(),
            outage.what(),
            report.failures.len()
        );
    }
    for failure in &report.failures {
        eprintln!("error: {failure}");
    }
    if write_failed.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("error: failed to write some item lines to stdout");
        return Ok(ExitCode::FAILURE);
    }
    // A run that lost its lease to another process stopped early: not done.
    Ok(if report.succeeded() && !report.interrupted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
