//! `kirjuri backup --out DIR [--include-keys]` and `kirjuri restore --from
//! DIR [--force] [--verifier-key KEY]` (issue 5): a consistent online
//! backup, and a restore that replays the erasure ledger so nothing erased
//! after the backup comes back. The work is `kirjuri_app::backup`; this
//! parses flags and prints summaries (counts and sizes, never personal
//! data).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use kirjuri_app::backup::{self, KeySource, RestoreOptions};
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::clock::SystemClock;

/// `kirjuri backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The folder to write the backup into (created; must be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Also copy the key-encryption key file and the audit signing key into
    /// DIR/keys/. Without them the backup is ciphertext only.
    #[arg(long)]
    pub include_keys: bool,
}

/// `kirjuri restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup folder.
    #[arg(long)]
    pub from: PathBuf,
    /// Replace the database and objects of a data folder that has them.
    #[arg(long)]
    pub force: bool,
    /// Check the backup and the erasure ledger with this audit verifier key
    /// (as `kirjuri audit checkpoint` prints it) instead of the data
    /// folder's key.
    #[arg(long)]
    pub verifier_key: Option<String>,
    /// Restore into a new data folder without an erasure ledger, vouching
    /// that nothing was erased since the backup (otherwise refused: the
    /// erased data would come back).
    #[arg(long)]
    pub without_ledger: bool,
}

/// Runs `backup`.
pub async fn backup(app: &Kirjuri, args: BackupArgs) -> Result<ExitCode> {
    let report = backup::backup(app, &args.out, args.include_keys)
        .await
        .with_context(|| format!("backup into {} failed", args.out.display()))?;
    let manifest = &report.manifest;
    let counts = &manifest.counts;
    println!("backup written to {}", args.out.display());
    println!(
        "  contacts: {} ({} already erased), tombstones: {}, audit events: {}",
        counts.contacts, counts.erased_contacts, counts.tombstones, counts.audit_events
    );
    println!(
        "  objects: {} ({}), erased by a purge during the backup: {}",
        counts.objects,
        size(counts.object_bytes),
        counts.erased_after_snapshot
    );
    println!(
        "  database: {}; total written: {}",
        size(manifest.database.bytes),
        size(report.bytes)
    );
    println!(
        "  erasure ledger at backup time: block {}",
        manifest.ledger.seq
    );
    if args.include_keys {
        eprintln!(
            "WARNING: {}/keys/ holds the key-encryption key file and the audit signing key. \
             With them, anyone holding this backup can decrypt every recording and contact in \
             it. Keep the keys apart from the backup (another medium, another custodian) and \
             delete that folder from the backup once they are stored safely.",
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `restore`, before the data folder is opened.
pub async fn restore(config: Config, args: RestoreArgs) -> Result<ExitCode> {
    let options = RestoreOptions {
        from: args.from.clone(),
        force: args.force,
        verifier_key: args.verifier_key,
        without_ledger: args.without_ledger,
    };
    let report = backup::restore(&config, Arc::new(SystemClock), &options)
        .await
        .with_context(|| format!("restore from {} failed", args.from.display()))?;
    let manifest = &report.manifest;
    if report.key_source == KeySource::Backup {
        eprintln!(
            "note: there was no audit signing key in the data folder, so the backup was checked \
             with its own copy of the key: that proves it complete and unchanged since it was \
             written, not who wrote it. Pass --verifier-key to check it against a key you trust."
        );
    }
    if report.stale_removed > 0 {
        eprintln!(
            "note: removed {} folder(s) left by an interrupted restore",
            report.stale_removed
        );
    }
    println!(
        "restored the backup of {} from {} into {}{}",
        manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        args.from.display(),
        config.data.display(),
        if report.replaced {
            " (its previous database and objects were replaced)"
        } else {
            ""
        }
    );
    println!(
        "  restored: {} contacts, {} objects ({})",
        manifest.counts.contacts,
        manifest.counts.objects,
        size(manifest.counts.object_bytes)
    );
    println!(
        "  erasure ledger replayed: {} blocks, {} entries; objects made unreadable: {}; contacts \
         erased: {}",
        report.replay.blocks,
        report.replay.entries,
        report.replay.objects_shredded,
        report.replay.contacts_erased
    );
    for path in &report.keys_installed {
        println!("  installed key file {} from the backup", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes for people.
fn size(bytes: u64) -> String {
    const MIB: f64 = (1 << 20) as f64;
    if bytes < 1 << 20 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}
