//! `kirjuri backup --out DIR` and `kirjuri restore --from DIR` (issue 5):
//! a consistent online backup, and a restore that replays the erasure ledger
//! so nothing erased after the backup comes back. (Being written.)

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use kirjuri_server::{Config, Kirjuri};

/// `kirjuri backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The folder to write the backup into (created; must be empty).
    #[arg(long)]
    pub out: PathBuf,
}

/// `kirjuri restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup folder.
    #[arg(long)]
    pub from: PathBuf,
}

/// Runs `backup`.
pub async fn backup(_app: &Kirjuri, _args: BackupArgs) -> Result<ExitCode> {
    bail!("not yet implemented")
}

/// Runs `restore`, before the data folder is opened.
pub async fn restore(_config: Config, _args: RestoreArgs) -> Result<ExitCode> {
    bail!("not yet implemented")
}
