//! `kirjuri retention …` (RET-1): show the policies in force, and apply a
//! changed policy to stored deadlines — shortening only. A deadline the new
//! policy would move later is refused and counted, never lengthened: a
//! longer policy reaches only what arrives after it. A real `apply` commits
//! every shortened deadline with one audit event carrying the counts.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use kirjuri_app::Kirjuri;
use kirjuri_app::retention::PolicyApplication;

/// `kirjuri retention …`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show the retention policies in force.
    Policies,
    /// Recompute stored deadlines under the policies in force; shortens
    /// only, and reports what would lengthen (refused).
    Apply {
        /// Count what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `retention` subcommand.
pub async fn run(app: &Kirjuri, command: RetentionCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        RetentionCommand::Policies => {
            writeln!(out, "{:<17}  {:>6}  REFERENCE", "KIND", "MONTHS")?;
            for policy in app.policies() {
                writeln!(
                    out,
                    "{:<17}  {:>6}  {}",
                    policy.kind.as_str(),
                    policy.months,
                    policy.reference
                )?;
            }
            if let Some(reason) = &app.config.retention.call_recording_exceeds_notice_reason {
                writeln!(
                    out,
                    "call recordings are kept past the notice's 12 months: {reason}"
                )?;
            }
        }
        RetentionCommand::Apply { dry_run } => {
            let outcome = app
                .apply_policies(dry_run)
                .await
                .context("failed to apply the retention policies")?;
            write_outcome(&mut out, &outcome)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_outcome(out: &mut impl Write, outcome: &PolicyApplication) -> Result<()> {
    writeln!(
        out,
        "{:<17}  {:>10}  {:>15}  {:>10}",
        "KIND", "SHORTENED", "REFUSED_LONGER", "UNCHANGED"
    )?;
    for (kind, counts) in &outcome.kinds {
        writeln!(
            out,
            "{:<17}  {:>10}  {:>15}  {:>10}",
            kind.as_str(),
            counts.shortened,
            counts.refused_longer,
            counts.unchanged
        )?;
    }
    let verb = if outcome.dry_run {
        "would shorten"
    } else {
        "shortened"
    };
    writeln!(
        out,
        "{verb} {} deadline(s); {} would lengthen and were refused (deadlines never move later)",
        if outcome.dry_run {
            outcome.shortened()
        } else {
            outcome.applied
        },
        outcome.refused_longer()
    )?;
    if outcome.unknown_kinds > 0 {
        writeln!(
            out,
            "{} stored object(s) of a kind no policy names were left alone",
            outcome.unknown_kinds
        )?;
    }
    if outcome.dry_run {
        writeln!(out, "dry run: nothing was changed")?;
    }
    Ok(())
}
