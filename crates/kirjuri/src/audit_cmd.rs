//! `kirjuri audit …` (AUD-2, docs/requirements.md): `verify` proves the
//! audit log intact or names the first bad entry; `checkpoint` signs the
//! events not yet covered and, with `--export`, hands the latest signed
//! checkpoint to an outside witness.
//!
//! The work is `kirjuri_app::audit_chain`'s; this module parses, prints
//! and picks the exit code. Output names sequence numbers, sizes and hashes,
//! never an event's content.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use kirjuri_app::Kirjuri;
use kirjuri_app::audit_chain::{
    self, AuditChain, CheckpointOutcome, LogVerification, VerifyReport,
};

/// `kirjuri audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's Merkle tree from the stored events and check
    /// every signed checkpoint against it. Exits 0 with a summary when the
    /// log is intact, 1 naming the first bad entry otherwise.
    Verify {
        /// A checkpoint exported earlier (e.g. kept by an outside witness):
        /// the log must still extend it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Check signatures with this note verifier key (as `audit checkpoint`
        /// prints it) instead of the data folder's own signing key — pin it
        /// outside the data folder to catch a replaced key.
        #[arg(long, value_name = "KEY")]
        verifier_key: Option<String>,
    },
    /// Sign a checkpoint of the events not yet covered by one.
    Checkpoint {
        /// Write the latest signed checkpoint (a C2SP signed note) for an
        /// outside witness, to stdout or `--out`.
        #[arg(long)]
        export: bool,
        /// Where `--export` writes the checkpoint.
        #[arg(long, value_name = "FILE", requires = "export")]
        out: Option<PathBuf>,
    },
}

/// Runs an `audit` subcommand.
pub async fn run(app: &Kirjuri, command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            checkpoint,
            verifier_key,
        } => verify(app, checkpoint, verifier_key).await,
        AuditCommand::Checkpoint { export, out } => checkpoint(app, export, out).await,
    }
}

async fn verify(
    app: &Kirjuri,
    witness: Option<PathBuf>,
    verifier_key: Option<String>,
) -> Result<ExitCode> {
    let LogVerification {
        report,
        verifier_key,
    } = audit_chain::verify_log(app, witness.as_deref(), verifier_key).await?;
    print_report(&report, verifier_key.as_deref());
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(report: &VerifyReport, verifier_key: Option<&str>) {
    let latest = match report.latest {
        Some((size, root)) => format!("size {size}, root {}", audit_chain::root_text(&root)),
        None => "none".to_owned(),
    };
    if let Some(first) = report.findings.first() {
        println!("audit log NOT intact: first bad entry: {first}");
        println!("findings ({}):", report.findings.len());
        for finding in &report.findings {
            println!("  - {finding}");
        }
        if report.truncated_findings {
            println!("  - … (more not shown)");
        }
    } else {
        println!(
            "audit log intact: {} events, {} checkpoints",
            report.events, report.checkpoints
        );
    }
    println!("origin: {}", report.origin);
    println!(
        "events read: {}, highest sequence number: {}",
        report.events, report.last_seq
    );
    println!("latest valid checkpoint: {latest}");
    println!("events not yet signed: {}", report.unsigned());
    if let Some((size, root)) = report.witness {
        println!(
            "witness checkpoint: size {size}, root {}",
            audit_chain::root_text(&root)
        );
    }
    match verifier_key {
        Some(key) => println!("verifier key: {key}"),
        None => println!("verifier key: none (the signing key file is missing)"),
    }
}

async fn checkpoint(app: &Kirjuri, export: bool, out: Option<PathBuf>) -> Result<ExitCode> {
    let chain = AuditChain::for_app(app)
        .await
        .context("failed to open the audit signing key")?;
    let outcome = chain
        .checkpoint()
        .await
        .context("failed to sign an audit checkpoint")?;
    let Some(latest) = chain
        .latest()
        .await
        .context("failed to read the latest checkpoint")?
    else {
        bail!("the audit log has no events yet, so there is no checkpoint");
    };
    let what = match outcome {
        CheckpointOutcome::Signed(_) => "signed",
        CheckpointOutcome::UpToDate(_) => "already up to date",
        CheckpointOutcome::Raced => "signed by another process",
    };
    let root = audit_chain::root_text(&latest.root);
    if !export {
        println!("checkpoint {what}: size {}, root {root}", latest.size);
        println!("verifier key: {}", chain.verifier_key());
        return Ok(ExitCode::SUCCESS);
    }
    match out {
        Some(path) => {
            std::fs::write(&path, &latest.note)
                .with_context(|| format!("failed to write {}", path.display()))?;
            println!(
                "wrote the checkpoint of size {} (root {root}) to {}",
                latest.size,
                path.display()
            );
            println!("verifier key: {}", chain.verifier_key());
        }
        None => {
            // stdout carries the note alone, so it can be piped to a witness.
            print!("{}", latest.note);
            eprintln!("verifier key: {}", chain.verifier_key());
        }
    }
    Ok(ExitCode::SUCCESS)
}
