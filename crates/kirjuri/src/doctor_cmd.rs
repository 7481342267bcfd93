//! `kirjuri doctor`: prints each of `kirjuri_app::doctor`'s checks as one
//! line (`ok` / `warn` / `fail`, the check, why), or all of them as JSON
//! with `--json`; exits 1 when any check fails, 0 otherwise (warnings
//! included). A configuration that does not even parse is itself a failed
//! check, so a broken installation still gets a verdict rather than only
//! an error.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use kirjuri_app::Config;
use kirjuri_app::doctor::{Check, Thresholds, Verdict, diagnose};
use kirjuri_core::clock::SystemClock;

/// `kirjuri doctor`'s flags.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as one JSON document.
    #[arg(long)]
    json: bool,
    /// Fail when the data folder's file system has less than this many MiB free.
    #[arg(long, default_value_t = 1024)]
    min_free_mib: u64,
    /// Fail when the database's clock is this many milliseconds off.
    #[arg(long, default_value_t = 5000)]
    max_clock_skew_ms: u64,
    /// Fail when events are unsigned and the last checkpoint is older than this (seconds).
    #[arg(long, default_value_t = 3600)]
    max_checkpoint_age: u64,
}

/// Runs the checks (`config` is `Err` when the configuration did not load).
pub async fn run(config: Result<Config>, args: DoctorArgs) -> Result<ExitCode> {
    let checks = match config {
        Ok(config) => {
            let limits = Thresholds {
                min_free_bytes: args.min_free_mib.saturating_mul(1 << 20),
                max_clock_skew: Duration::from_millis(args.max_clock_skew_ms),
                max_checkpoint_age: Duration::from_secs(args.max_checkpoint_age),
                ..Thresholds::default()
            };
            diagnose(&config, Arc::new(SystemClock), limits).await
        }
        Err(e) => vec![Check {
            name: "configuration",
            verdict: Verdict::Fail,
            detail: format!("{e:#}").replace('\n', " "),
        }],
    };
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({"ok": !failed, "checks": checks}),
        )?;
        writeln!(out)?;
    } else {
        for check in &checks {
            writeln!(
                out,
                "{:<4}  {:<18}  {}",
                check.verdict.as_str(),
                check.name,
                check.detail
            )?;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
