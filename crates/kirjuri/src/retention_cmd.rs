//! `kirjuri retention …` (RET-1): show the policies in force and apply a
//! changed policy to stored deadlines (shortening only). (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use kirjuri_server::Kirjuri;

/// `kirjuri retention …`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show the retention policies in force.
    Policies,
}

/// Runs a `retention` subcommand.
pub async fn run(_app: &Kirjuri, _command: RetentionCommand) -> Result<ExitCode> {
    bail!("not yet implemented")
}
