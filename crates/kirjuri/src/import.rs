//! `kirjuri import PATH…` (docs/requirements.md ING-2): the progress bar and
//! the report. What is imported, and how, is `kirjuri_app::import`.
//! Error messages name the file, never its personal contents.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use kirjuri_app::Kirjuri;
use kirjuri_app::import::{self, Step};

/// Runs an import and prints the report. Exit status 1 when any item failed.
pub async fn run(app: &Kirjuri, paths: &[PathBuf]) -> Result<ExitCode> {
    let mut bar: Option<ProgressBar> = None;
    let mut progress = |step: Step| match step {
        Step::Planned { items } => {
            let new = ProgressBar::new(items as u64);
            new.set_style(
                ProgressStyle::with_template("{spinner} importing [{bar:40}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar = Some(new);
        }
        Step::ItemDone => {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
    };
    let report = import::run(app, paths, &mut progress).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for problem in &report.problems {
        eprintln!("error: {problem}");
    }
    println!(
        "imported {} items: {} new contacts, {} already present; {} new recordings, {} already present; {} failed",
        report.items,
        report.contacts_new,
        report.contacts_existing,
        report.recordings_new,
        report.recordings_existing,
        report.problems.len(),
    );
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
