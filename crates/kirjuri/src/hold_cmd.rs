//! `kirjuri hold …` (RET-2): place, list, show, review and lift legal holds
//! from the command line, as the operator (audited with no actor). The same
//! `Kirjuri` methods serve the API, so the rules are the same: a ground, an
//! owner and a review date at most `retention.hold_max_review_months` ahead.
//!
//! `hold add` prints only the new hold's id on stdout, so scripts can
//! capture it. Exit status: 0 done, 1 refused or not found (one line on
//! stderr saying why), 2 a usage error (clap).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kirjuri_app::holds::{
    DraftNames, DraftTarget, HoldDraft, HoldView, NewHold, parse_date, parse_hold_id,
};
use kirjuri_app::{Error, Kirjuri};
use kirjuri_core::purpose::Purpose;

/// `kirjuri hold …`.
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a hold on a contact, a recording, or every contact of a phone
    /// number within dates; prints only the hold's id.
    Add(AddArgs),
    /// List active holds (with --all, every hold ever placed).
    List {
        /// Include lifted and expired holds.
        #[arg(long)]
        all: bool,
    },
    /// Show a hold and everything it keeps.
    Show {
        /// The hold's id.
        id: String,
    },
    /// Lift a hold; the purge may then take what it kept.
    Lift {
        /// The hold's id.
        id: String,
        /// Why it is lifted (kept with the hold).
        #[arg(long)]
        reason: String,
    },
    /// Move a hold's review date.
    Review {
        /// The hold's id.
        id: String,
        /// The new review date (YYYY-MM-DD).
        #[arg(long)]
        review: String,
    },
}

/// `kirjuri hold add`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["contact", "recording", "phone"])))]
pub struct AddArgs {
    /// Hold one contact (its id).
    #[arg(long)]
    pub contact: Option<String>,
    /// Hold one recording (its object id, from the contact's `objects`).
    #[arg(long)]
    pub recording: Option<String>,
    /// Hold every contact of this phone number from --from to --to.
    #[arg(long, requires_all = ["from", "to"])]
    pub phone: Option<String>,
    /// The first day of a phone query (YYYY-MM-DD).
    #[arg(long, requires = "phone")]
    pub from: Option<String>,
    /// The last day of a phone query (YYYY-MM-DD, included).
    #[arg(long, requires = "phone")]
    pub to: Option<String>,
    /// The ground: statute section, contract clause, case number, ….
    #[arg(long)]
    pub ground: String,
    /// statute, contract, complaint, case or authority_request.
    #[arg(long, default_value = "case")]
    pub ground_kind: String,
    /// The account answerable for the hold (registrar, supervisor, admin
    /// or responsible).
    #[arg(long)]
    pub owner: String,
    /// The review date (YYYY-MM-DD), at most 24 months ahead by default.
    #[arg(long)]
    pub review: String,
    /// The day the hold ends by itself (YYYY-MM-DD).
    #[arg(long)]
    pub expires: Option<String>,
}

impl AddArgs {
    fn into_new_hold(self) -> kirjuri_app::Result<NewHold> {
        // clap lets exactly one target through.
        let on = if let Some(contact) = &self.contact {
            DraftTarget::Contact(contact)
        } else if let Some(recording) = &self.recording {
            DraftTarget::Recording(recording)
        } else {
            DraftTarget::Phone {
                phone: self.phone.as_deref().unwrap_or(""),
                from: self.from.as_deref().unwrap_or(""),
                to: self.to.as_deref().unwrap_or(""),
            }
        };
        HoldDraft {
            on,
            ground_kind: &self.ground_kind,
            ground: self.ground.clone(),
            owner: self.owner.clone(),
            review_by: &self.review,
            expires_on: self.expires.as_deref(),
            // The operator holds for legal claims; a phone query is audited
            // as a search for that purpose, without an actor.
            purpose: Some(Purpose::LegalClaim.as_str()),
        }
        .parse(&DraftNames::COMMAND_LINE)
    }
}

/// Runs a `hold` subcommand.
pub async fn run(app: &Kirjuri, command: HoldCommand) -> Result<ExitCode> {
    match execute(app, command).await {
        Ok(code) => Ok(code),
        Err(Failure::Refused(e)) => {
            eprintln!("error: {}", refusal(&e));
            Ok(ExitCode::FAILURE)
        }
        Err(Failure::Other(e)) => Err(e),
    }
}

/// A refusal the user can act on (exit 1 with its message), or anything
/// else (an internal failure).
enum Failure {
    Refused(Error),
    Other(anyhow::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        if e.is_callers() {
            Failure::Refused(e)
        } else {
            Failure::Other(e.into())
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

fn refusal(e: &Error) -> String {
    match e {
        Error::NotFound => "no hold has this id".to_owned(),
        other => other.to_string(),
    }
}

async fn execute(app: &Kirjuri, command: HoldCommand) -> Result<ExitCode, Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        HoldCommand::Add(args) => {
            let placed = app.place_hold(None, args.into_new_hold()?).await?;
            writeln!(out, "{}", placed.id).context("failed to write to stdout")?;
            eprintln!("hold placed on {} target(s)", placed.targets);
        }
        HoldCommand::List { all } => {
            let holds = app.list_holds(None, all).await?;
            write_table(&mut out, &holds).context("failed to write to stdout")?;
        }
        HoldCommand::Show { id } => {
            let id = parse_hold_id(&id)?;
            let mut after: Option<String> = None;
            let mut first = true;
            loop {
                let detail = app
                    .show_hold(None, id, after.as_deref(), Some(1000))
                    .await?;
                if first {
                    write_hold(&mut out, &detail.hold).context("failed to write to stdout")?;
                    writeln!(out, "targets:").context("failed to write to stdout")?;
                    first = false;
                }
                for target in &detail.target_list {
                    match target.object_id {
                        Some(object) => {
                            writeln!(out, "  contact {}  object {object}", target.contact_id)
                        }
                        None => writeln!(out, "  contact {}  (whole contact)", target.contact_id),
                    }
                    .context("failed to write to stdout")?;
                }
                match detail.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        HoldCommand::Lift { id, reason } => {
            let hold = app.lift_hold(None, parse_hold_id(&id)?, &reason).await?;
            writeln!(out, "lifted hold {}", hold.id).context("failed to write to stdout")?;
        }
        HoldCommand::Review { id, review } => {
            let review_by = parse_date(&review, "--review")?;
            let hold = app
                .review_hold(None, parse_hold_id(&id)?, review_by)
                .await?;
            writeln!(
                out,
                "hold {} is now due for review by {}",
                hold.id, hold.review_by
            )
            .context("failed to write to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Cuts a text to `max` characters for a table cell.
fn cell(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

fn write_table(out: &mut impl Write, holds: &[HoldView]) -> std::io::Result<()> {
    if holds.is_empty() {
        return writeln!(out, "no holds");
    }
    writeln!(
        out,
        "{:<36}  {:<17}  {:<40}  {:<16}  {:<12}  {:<10}  {:>7}  STATE",
        "ID", "GROUND KIND", "GROUND", "OWNER", "REVIEW", "EXPIRES", "TARGETS"
    )?;
    for hold in holds {
        // A `!` marks a review date that is due (within the reminder window
        // or past).
        let review = format!(
            "{}{}",
            hold.review_by,
            if hold.due_for_review { " !" } else { "" }
        );
        writeln!(
            out,
            "{:<36}  {:<17}  {:<40}  {:<16}  {:<12}  {:<10}  {:>7}  {}",
            hold.id,
            hold.ground_kind,
            cell(&hold.ground, 40),
            cell(hold.owner.as_deref().unwrap_or("-"), 16),
            review,
            hold.expires_on
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            hold.targets,
            hold.state,
        )?;
    }
    if holds.iter().any(|h| h.due_for_review) {
        writeln!(out, "! due for review")?;
    }
    Ok(())
}

fn write_hold(out: &mut impl Write, hold: &HoldView) -> std::io::Result<()> {
    writeln!(out, "id:          {}", hold.id)?;
    writeln!(out, "state:       {}", hold.state)?;
    writeln!(out, "ground kind: {}", hold.ground_kind)?;
    writeln!(out, "ground:      {}", hold.ground)?;
    writeln!(
        out,
        "owner:       {}",
        hold.owner.as_deref().unwrap_or("(account removed)")
    )?;
    writeln!(
        out,
        "review by:   {}{}",
        hold.review_by,
        if hold.due_for_review {
            " (due for review)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "expires:     {}",
        hold.expires_on
            .map(|d| d.to_string())
            .unwrap_or_else(|| "never (until lifted)".into())
    )?;
    writeln!(out, "scope:       {}", hold.scope)?;
    writeln!(
        out,
        "placed:      {} by {}",
        hold.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        hold.created_by.as_deref().unwrap_or("the operator")
    )?;
    if let Some(lifted_at) = hold.lifted_at {
        writeln!(
            out,
            "lifted:      {} by {}: {}",
            lifted_at.format("%Y-%m-%d %H:%M:%S UTC"),
            hold.lifted_by.as_deref().unwrap_or("the operator"),
            hold.lift_reason.as_deref().unwrap_or("")
        )?;
    }
    writeln!(out, "targets:     {}", hold.targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_grounds_are_cut_for_the_table() {
        assert_eq!(cell("short", 40), "short");
        let cut = cell(&"x".repeat(100), 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with('…'));
    }
}
