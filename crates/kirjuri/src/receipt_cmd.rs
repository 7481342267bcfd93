//! `kirjuri receipt verify FILE [--key KEY]`: checks a signed erasure
//! receipt offline — no data folder, no configuration, no network — and
//! prints what it says. Exit 0 when the signature holds (and, with `--key`,
//! was made by that key), 1 otherwise with the reason.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kirjuri_app::receipt::{self, MAX_RECEIPT_BYTES};

/// `kirjuri receipt …`.
#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check an erasure receipt's signature and print what it records.
    Verify(VerifyArgs),
}

/// `kirjuri receipt verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt file (`-` for standard input).
    pub file: PathBuf,
    /// The controller's audit verifier key (`kirjuri audit checkpoint` prints it);
    /// without it the receipt is checked against the key it names, which
    /// proves only that it is unchanged since that key signed it.
    #[arg(long)]
    pub key: Option<String>,
}

/// Runs a `receipt` subcommand.
pub fn run(command: ReceiptCommand) -> Result<ExitCode> {
    let ReceiptCommand::Verify(args) = command;
    let mut text = Vec::new();
    let limit = u64::try_from(MAX_RECEIPT_BYTES + 1).unwrap_or(u64::MAX);
    if args.file.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut text)
    } else {
        std::fs::File::open(&args.file)
            .with_context(|| format!("failed to open {}", args.file.display()))?
            .take(limit)
            .read_to_end(&mut text)
    }
    .with_context(|| format!("failed to read {}", args.file.display()))?;
    let verified = match receipt::verify(&text, args.key.as_deref()) {
        Ok(verified) => verified,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let r = &verified.receipt;
    println!("valid erasure receipt {}", r.receipt_id);
    println!("request:   {}", r.request_reference);
    println!("executed:  {}", r.executed_at);
    println!(
        "erased:    {} contacts, {} stored objects",
        r.erased.contacts, r.erased.objects
    );
    for kept in &r.kept {
        println!(
            "kept:      {} contacts, {} stored objects on ground '{}' until {}",
            kept.counts.contacts,
            kept.counts.objects,
            kept.ground,
            kept.until.as_deref().unwrap_or("(no end date)")
        );
    }
    if let Some(block) = r.ledger_block {
        println!("ledger:    erasure-ledger block {block}");
    }
    if verified.trusted {
        println!("signed by the key given: {}", verified.key);
    } else {
        println!(
            "signed by {} — compare it with the controller's published audit verifier key (or pass --key)",
            verified.key
        );
    }
    Ok(ExitCode::SUCCESS)
}
