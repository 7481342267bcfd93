//! `kirjuri doctor`: checks an installation the way an operator would before
//! trusting it — the configuration's settings, the key files' permissions
//! and owner, the EU/EEA locations of the configured stores (DIS-1), free
//! space in the data folder, the database's reachability and clock skew
//! against it, the audit log's last checkpoint and the outbox's failed and
//! waiting messages — each a one-line verdict (`ok` / `warn` / `fail` and
//! why). Nothing is changed and no personal data is read: the checks open
//! the database only (not the key file, not the objects) and read counts
//! and times.
//!
//! Not here: printing and the exit code (the `kirjuri` binary).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kirjuri_core::clock::Clock;
use kirjuri_store::{OutboxState, Store};
use serde::Serialize;

use crate::app::{check_locations, open_store, validate_settings};
use crate::config::Config;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing to do.
    Ok,
    /// Works, but look at it.
    Warn,
    /// Broken, or unsafe: fix it.
    Fail,
}

impl Verdict {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One check's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`key file`, `free space`, …).
    pub name: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// Why, in one line: paths, counts, ages — never a secret.
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            name,
            verdict,
            detail: detail.into(),
        }
    }
}

/// The limits the checks judge by (the command's flags).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Free space in the data folder's file system below this fails (and
    /// below twice this warns).
    pub min_free_bytes: u64,
    /// The database's clock this far from this machine's fails (half of
    /// it warns).
    pub max_clock_skew: Duration,
    /// Unsigned audit events whose last checkpoint is older than this fail.
    pub max_checkpoint_age: Duration,
    /// How long to wait for the database.
    pub database_timeout: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_free_bytes: 1 << 30,
            max_clock_skew: Duration::from_secs(5),
            max_checkpoint_age: Duration::from_secs(3600),
            database_timeout: Duration::from_secs(15),
        }
    }
}

/// Runs every check against `config`, in order; a check that needs the
/// database when it cannot be reached fails saying so.
pub async fn diagnose(config: &Config, clock: Arc<dyn Clock>, limits: Thresholds) -> Vec<Check> {
    let mut checks = vec![match validate_settings(config) {
        Ok(()) => Check::new(
            "configuration",
            Verdict::Ok,
            format!(
                "database: {}; objects: {:?}",
                if config.database.url.is_some() {
                    "PostgreSQL"
                } else {
                    "embedded SQLite"
                },
                config.objects.backend
            ),
        ),
        Err(e) => Check::new("configuration", Verdict::Fail, e.to_string()),
    }];
    checks.push(match check_locations(config) {
        Ok(()) => Check::new(
            "locations",
            Verdict::Ok,
            "every configured store is declared in the EU/EEA",
        ),
        Err(e) => Check::new("locations", Verdict::Fail, e.to_string()),
    });
    checks.push(secret_file("key file", &config.key_file(), false));
    checks.push(secret_file(
        "audit signing key",
        &config.audit_key_file(),
        false,
    ));
    if let Some(path) = config
        .objects
        .s3
        .as_ref()
        .and_then(|s3| s3.credentials_file.as_ref())
    {
        checks.push(secret_file("S3 credentials", path, true));
    }
    if let Some(path) = &config.tls_key {
        checks.push(secret_file("TLS key", path, true));
    }
    checks.push(free_space(&config.data, limits.min_free_bytes));

    let store = match tokio::time::timeout(limits.database_timeout, open_store(config)).await {
        Ok(Ok(store)) => {
            checks.push(Check::new("database", Verdict::Ok, "reachable"));
            Some(store)
        }
        Ok(Err(e)) => {
            checks.push(Check::new("database", Verdict::Fail, error_line(&e)));
            None
        }
        Err(_) => {
            checks.push(Check::new(
                "database",
                Verdict::Fail,
                format!("no answer within {} s", limits.database_timeout.as_secs()),
            ));
            None
        }
    };
    let Some(store) = store else {
        for name in ["clock skew", "audit checkpoint", "outbox"] {
            checks.push(Check::new(
                name,
                Verdict::Fail,
                "not checked: the database is unreachable",
            ));
        }
        return checks;
    };
    checks.push(clock_skew(store.as_ref(), clock.as_ref(), limits.max_clock_skew).await);
    checks.push(checkpoint(store.as_ref(), clock.as_ref(), limits.max_checkpoint_age).await);
    checks.push(outbox(store.as_ref()).await);
    checks
}

/// The error and its causes on one line (none of them holds a secret: the
/// database URL's password is never in an error).
fn error_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        line.push_str(": ");
        line.push_str(&e.to_string());
        cause = e.source();
    }
    line.replace('\n', " ")
}

/// A file only its owner may read: this process's user must own it and
/// nobody else may have any access. A key file not yet made is a warning
/// (the first start makes it); a configured credentials or TLS file that is
/// missing fails.
fn secret_file(name: &'static str, path: &Path, must_exist: bool) -> Check {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Check::new(
                name,
                Verdict::Warn,
                format!(
                    "{} does not exist yet (the first start creates it)",
                    path.display()
                ),
            );
        }
        Err(e) => {
            return Check::new(
                name,
                Verdict::Fail,
                format!("cannot read {}: {e}", path.display()),
            );
        }
    };
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Check::new(
            name,
            Verdict::Fail,
            format!(
                "{} has mode {mode:04o}; only its owner may have access (chmod 600 {})",
                path.display(),
                path.display()
            ),
        );
    }
    // This process's user, as the kernel reports it.
    match std::fs::metadata("/proc/self") {
        Ok(me) if me.uid() != metadata.uid() => Check::new(
            name,
            Verdict::Fail,
            format!(
                "{} is owned by uid {}, not by the uid Kirjuri runs as ({})",
                path.display(),
                metadata.uid(),
                me.uid()
            ),
        ),
        _ => Check::new(
            name,
            Verdict::Ok,
            format!("{} is {mode:04o}, owned by this user", path.display()),
        ),
    }
}

/// Free space in the file system that holds the data folder (or, before
/// it exists, its parent).
fn free_space(data: &Path, min_free: u64) -> Check {
    let existing = data
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or_else(|| Path::new("."));
    let stat = match rustix::fs::statvfs(existing) {
        Ok(stat) => stat,
        Err(e) => {
            return Check::new(
                "free space",
                Verdict::Fail,
                format!("cannot read the file system of {}: {e}", existing.display()),
            );
        }
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let total = stat.f_blocks.saturating_mul(stat.f_frsize);
    let detail = format!(
        "{} MiB free of {} MiB under {} (limit {} MiB)",
        free >> 20,
        total >> 20,
        existing.display(),
        min_free >> 20
    );
    let verdict = if free < min_free {
        Verdict::Fail
    } else if free < min_free.saturating_mul(2) {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    Check::new("free space", verdict, detail)
}

async fn clock_skew(store: &dyn Store, clock: &dyn Clock, max: Duration) -> Check {
    let before = clock.now();
    let theirs = match store.database_now().await {
        Ok(theirs) => theirs,
        Err(e) => return Check::new("clock skew", Verdict::Fail, error_line(&e)),
    };
    let after = clock.now();
    // Against the middle of the round trip.
    let ours = before + (after - before) / 2;
    let skew = (theirs - ours).abs();
    let skew_ms = skew.num_milliseconds();
    let max_ms = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
    let verdict = if skew_ms > max_ms {
        Verdict::Fail
    } else if skew_ms > max_ms / 2 {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    Check::new(
        "clock skew",
        verdict,
        format!(
            "the database's clock is {skew_ms} ms from this machine's (limit {} ms)",
            max_ms
        ),
    )
}

async fn checkpoint(store: &dyn Store, clock: &dyn Clock, max_age: Duration) -> Check {
    let head = match store.audit_head().await {
        Ok(head) => u64::try_from(head).unwrap_or(0),
        Err(e) => return Check::new("audit checkpoint", Verdict::Fail, error_line(&e)),
    };
    let latest = match store.latest_audit_checkpoint().await {
        Ok(latest) => latest,
        Err(e) => return Check::new("audit checkpoint", Verdict::Fail, error_line(&e)),
    };
    let max_seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    match latest {
        None if head == 0 => Check::new("audit checkpoint", Verdict::Ok, "the audit log is empty"),
        None => Check::new(
            "audit checkpoint",
            Verdict::Warn,
            format!("none signed yet; {head} events unsigned (`serve` signs them)"),
        ),
        Some(row) => {
            let age = (clock.now() - row.created_at).num_seconds();
            let unsigned = head.saturating_sub(row.size);
            let detail = format!(
                "the last checkpoint is {age} s old and covers {} of {head} events (limit {max_seconds} s)",
                row.size
            );
            let verdict = if unsigned > 0 && age > max_seconds {
                Verdict::Fail
            } else {
                Verdict::Ok
            };
            Check::new("audit checkpoint", verdict, detail)
        }
    }
}

async fn outbox(store: &dyn Store) -> Check {
    let depth = match store.outbox_depth().await {
        Ok(depth) => depth,
        Err(e) => return Check::new("outbox", Verdict::Fail, error_line(&e)),
    };
    let count = |wanted: OutboxState| -> u64 {
        depth
            .iter()
            .filter(|(state, _, _)| *state == wanted)
            .map(|(_, _, n)| n)
            .sum()
    };
    let failed = count(OutboxState::Failed);
    let waiting = count(OutboxState::Queued) + count(OutboxState::Sending);
    let detail = format!(
        "{failed} failed, {waiting} waiting, {} sent (`kirjuri outbox list` shows them)",
        count(OutboxState::Sent)
    );
    let verdict = if failed > 0 {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    Check::new("outbox", verdict, detail)
}
