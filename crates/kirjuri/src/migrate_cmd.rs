//! `kirjuri migrate-store` (issue 6): the flags, the progress bars and the
//! report. The migration itself — what is copied, in which order, how it
//! is verified, and why a crashed run can simply be run again — is
//! `kirjuri_app::migrate`. Output carries counts, ids, sizes and hashes
//! only; the database URL is shown with its password replaced.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kirjuri_app::Config;
use kirjuri_app::migrate::{self, KeyStatus, Migration, Options, Step};
use kirjuri_store::copy::Table;

/// `kirjuri migrate-store`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The embedded instance's data folder (its kirjuri.db and objects/). No
    /// kirjuri process may be using it.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The PostgreSQL database to fill; it must be empty. Default: the
    /// configuration's [database] url (KIRJURI_DATABASE__URL, or the
    /// --config file), which keeps a password off the command line.
    #[arg(long, value_name = "URL")]
    pub to_database: Option<String>,
    /// A TOML file with the target bucket's settings, as in the [objects.s3]
    /// table (endpoint, region, bucket, prefix, allow_http, country,
    /// credentials_file). Default: the configuration's [objects].
    #[arg(long, value_name = "FILE")]
    pub to_objects: Option<PathBuf>,
    /// Objects copied at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Copy nothing: check a target an earlier run filled against the source.
    #[arg(long)]
    pub verify_only: bool,
}

/// Runs `migrate-store`, before any data folder or database is opened.
pub async fn run(config: Config, args: MigrateArgs) -> Result<ExitCode> {
    let options = Options {
        from: args.from,
        to_database: args.to_database,
        to_objects: args.to_objects,
        jobs: args.jobs,
        verify_only: args.verify_only,
    };
    let mut bar = None;
    let mut progress = |step: Step<'_>| show(step, &mut bar, options.verify_only);
    let migration = migrate::run(&config, &options, &mut progress).await?;
    print_report(&migration);
    if let Some(change) = &migration.changed {
        println!(
            "NOT migrated intact: the source changed during the migration ({} now has {} rows, \
             {} were copied): some process used the data folder. Stop every kirjuri process on \
             it, drop the target database and run again",
            change.table.name(),
            change.rows,
            change.copied
        );
        return Ok(ExitCode::FAILURE);
    }
    if migration.is_intact() {
        println!(
            "verified: every table equal row for row, every object's bytes equal, \
             the audit log intact on the target"
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT migrated intact: see the differences above");
        Ok(ExitCode::FAILURE)
    }
}

/// Shows one step: a progress bar for objects and rows, a line on stderr
/// when a phase ends.
fn show(step: Step<'_>, bar: &mut Option<indicatif::ProgressBar>, verify_only: bool) {
    match step {
        Step::Started {
            source,
            database,
            objects,
        } => eprintln!("migrating {} to {database} and {objects}", source.display()),
        Step::ObjectsStarted { total } => *bar = Some(progress_bar(total, "objects")),
        Step::ObjectDone => {
            if let Some(bar) = bar {
                bar.inc(1);
            }
        }
        Step::ObjectsFinished(objects) => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            if verify_only {
                eprintln!("verified {} objects", objects.objects);
            } else {
                eprintln!(
                    "objects: {} copied, {} already in the target from an earlier run, {}",
                    objects.copied,
                    objects.already_there,
                    megabytes(objects.bytes)
                );
            }
        }
        Step::RowsStarted { total } => *bar = Some(progress_bar(total, "rows")),
        Step::RowsCopied(n) => {
            if let Some(bar) = bar {
                bar.inc(n);
            }
        }
        Step::Committing => {
            if let Some(bar) = bar {
                bar.set_message("committing");
            }
        }
        Step::Committed { total } => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            eprintln!("database: {total} rows copied and committed");
        }
    }
}

fn print_report(report: &Migration) {
    println!("{:<20} {:>12} {:>12}", "table", "source", "target");
    for comparison in &report.comparisons {
        let mark = match &comparison.first_difference {
            Some(key) => format!("  DIFFERS at {key}"),
            None if comparison.source_rows != comparison.target_rows => "  DIFFERS".to_owned(),
            None => String::new(),
        };
        println!(
            "{:<20} {:>12} {:>12}{mark}",
            comparison.table.name(),
            comparison.source_rows,
            comparison.target_rows
        );
        if comparison.table == Table::Contacts {
            let (source, target) = report.index;
            let mark = if source == target { "" } else { "  DIFFERS" };
            println!("{:<20} {source:>12} {target:>12}{mark}", "contact_index");
        }
    }
    let objects = &report.objects;
    println!(
        "object bytes: {} objects, {} ({} copied now, {} already in the target), each \
         read back and equal to the source byte for byte",
        objects.objects,
        megabytes(objects.bytes),
        objects.copied,
        objects.already_there
    );
    let (source_log, target_log) = &report.log_ids;
    if source_log == target_log {
        println!("audit log identity: {source_log} (kept, so its checkpoints still verify)");
    } else {
        println!("audit log identity DIFFERS: source {source_log}, target {target_log}");
    }
    let audit = &report.audit.report;
    match audit.findings.first() {
        None => println!(
            "audit verify on the target: intact, {} events, {} checkpoints, latest signed size {}",
            audit.events,
            audit.checkpoints,
            audit.latest.map_or(0, |(size, _)| size)
        ),
        Some(first) => println!(
            "audit verify on the target: NOT intact ({} findings), first: {first}",
            audit.findings.len()
        ),
    }
    match &report.audit.key_file {
        Some(path) => println!("  signatures checked with the key in {}", path.display()),
        None => println!("  no audit signing key found: signatures were not checked"),
    }
    println!(
        "not copied: {} upload(s) left pending by processes that died (start-up recovery \
         would delete them), job leases, instance heartbeats",
        report.pending
    );
    print_keys(report);
}

/// The key files and the erasure ledger stay files, outside the database
/// and the bucket: say which ones every node needs, and whether the
/// configuration finds them.
fn print_keys(report: &Migration) {
    for key in &report.keys {
        let (what, configured, in_source) = (
            key.setting,
            key.configured.display(),
            key.in_source.display(),
        );
        match key.status {
            KeyStatus::Differs => println!(
                "keys: WARNING: the configuration's {what} ({configured}) is not the source's \
                 ({in_source}): nodes using it cannot read what was migrated (or verify its \
                 checkpoints)"
            ),
            KeyStatus::Found => println!("keys: {what} = {configured}"),
            KeyStatus::Missing => println!(
                "keys: the configuration's {what} ({configured}) does not exist — copy \
                 {in_source} there (mode 0600) on every node before starting it, or nothing \
                 migrated can be read"
            ),
        }
    }
    if let Some(ledger) = &report.ledger_elsewhere {
        println!(
            "erasure ledger: the source's is {}; point every node's ledger_dir at it (or a \
             copy of it) so a restore can still replay every erasure",
            ledger.display()
        );
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn progress_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {unit} {{msg}}"
    )) {
        bar.set_style(style);
    }
    bar
}
