//! `kirjuri hold …` (RET-2): place, list, review and lift legal holds from
//! the command line, as the operator. (Being written — issue 5.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use kirjuri_server::Kirjuri;

/// `kirjuri hold …`.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// List holds.
    List,
}

/// Runs a `hold` subcommand.
pub async fn run(_app: &Kirjuri, _command: HoldCommand) -> Result<ExitCode> {
    bail!("not yet implemented")
}
