//! `kirjuri purge [--dry-run]` (RET-3). (Being written — issue 5.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use kirjuri_server::Kirjuri;

/// `kirjuri purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// List what a real run at this instant would destroy, and destroy nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `purge`.
pub async fn run(_app: &Kirjuri, _args: PurgeArgs) -> Result<ExitCode> {
    bail!("not yet implemented")
}
