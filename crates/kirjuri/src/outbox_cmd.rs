//! `kirjuri outbox list`: the durable outbox's delivery state, newest
//! first — state, channel, kind, attempts, next attempt, last error, and
//! never a recipient or a body (the store hands this command none).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use kirjuri_app::Kirjuri;
use kirjuri_store::OutboxState;

/// `kirjuri outbox …`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the newest messages and their delivery state.
    List {
        /// How many messages to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
}

/// Runs an `outbox` subcommand.
pub async fn run(app: &Kirjuri, command: OutboxCommand) -> Result<ExitCode> {
    let OutboxCommand::List { limit } = command;
    let messages = app
        .outbox_messages(limit)
        .await
        .context("failed to read the outbox")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<36}  {:<7}  {:<5}  {:<20}  {:>8}  {:<20}  LAST ERROR",
        "ID", "STATE", "CHAN", "KIND", "ATTEMPTS", "NEXT ATTEMPT / DONE"
    )?;
    for m in &messages {
        let when = match m.state {
            OutboxState::Queued => Some(m.next_attempt_at),
            OutboxState::Sending => m.claimed_until,
            OutboxState::Sent | OutboxState::Failed => m.settled_at,
        }
        .map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        writeln!(
            out,
            "{:<36}  {:<7}  {:<5}  {:<20}  {:>8}  {:<20}  {}",
            m.id,
            m.state.as_str(),
            m.channel.as_str(),
            m.kind,
            m.attempts,
            when,
            m.last_error.as_deref().unwrap_or("-")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
