//! Runtime configuration. The binary layers defaults, an optional TOML file and
//! `KIRJURI_…` environment variables into this struct (figment); the server
//! only reads it. Nothing here is secret: keys live in the key file it points to.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything `kirjuri` needs to know that is not in the data folder itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The data folder: database, object files and (by default) the key file.
    pub data: PathBuf,
    /// Where `serve` listens.
    pub listen: SocketAddr,
    /// The key file. Defaults to `<data>/keys/keyring.json`; production points
    /// it off the data disk so a stolen data disk holds no keys.
    pub key_file: Option<PathBuf>,
    /// The audit log's Ed25519 checkpoint signing key (AUD-2). Defaults to
    /// `<data>/keys/audit-signing.key`; keep it like the key file.
    pub audit_key_file: Option<PathBuf>,
    /// `serve` signs an audit checkpoint once this many events are unsigned…
    pub audit_checkpoint_events: u64,
    /// …or once unsigned events are this many seconds past the last checkpoint.
    pub audit_checkpoint_seconds: u64,
    /// Largest accepted recording body in bytes.
    pub max_recording_bytes: u64,
    /// Largest accepted JSON body in bytes.
    pub max_json_bytes: usize,
    /// A browser session ends after this many seconds without a request.
    pub session_idle_seconds: u64,
    /// A browser session ends this many seconds after sign-in, however busy.
    pub session_absolute_seconds: u64,
    /// Consecutive failed logins that lock an account until an admin unlocks it.
    pub lockout_after_failures: u32,
    /// Failed logins one client address may make in a burst before it must
    /// wait (HTTP 429); the allowance refills over `login_ip_window_seconds`.
    pub login_ip_max_failures: u32,
    /// How long one client address's failure allowance takes to refill fully.
    pub login_ip_window_seconds: u64,
    /// PEM certificate chain; with `tls_key`, `serve` speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A request or response body that moves no bytes for this long is cut off.
    pub body_idle_timeout_seconds: u64,
    /// The erasure ledger's folder. Defaults to `<data>/erasure-ledger`;
    /// point it at a separate disk or a write-once mount so it outlives the
    /// data folder's backups.
    pub ledger_dir: Option<PathBuf>,
    /// Retention policies, legal-hold limits and the purge's schedule.
    pub retention: crate::retention::RetentionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("kirjuri-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            key_file: None,
            audit_key_file: None,
            audit_checkpoint_events: 256,
            audit_checkpoint_seconds: 300,
            // 8 GiB: about 70 hours of 8 kHz stereo PCM16, far past any call.
            max_recording_bytes: 8 << 30,
            max_json_bytes: 1 << 20,
            session_idle_seconds: 30 * 60,
            session_absolute_seconds: 12 * 60 * 60,
            lockout_after_failures: 5,
            login_ip_max_failures: 10,
            login_ip_window_seconds: 60,
            tls_cert: None,
            tls_key: None,
            body_idle_timeout_seconds: 60,
            ledger_dir: None,
            retention: crate::retention::RetentionConfig::default(),
        }
    }
}

impl Config {
    /// The key file's path, defaulted inside the data folder.
    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data.join("keys").join("keyring.json"))
    }

    /// The audit checkpoint signing key's path, defaulted beside the key file.
    pub fn audit_key_file(&self) -> PathBuf {
        self.audit_key_file
            .clone()
            .unwrap_or_else(|| self.data.join("keys").join("audit-signing.key"))
    }

    /// The erasure ledger's folder, defaulted inside the data folder.
    pub fn ledger_dir(&self) -> PathBuf {
        self.ledger_dir
            .clone()
            .unwrap_or_else(|| self.data.join("erasure-ledger"))
    }

    /// The SQLite database file.
    pub fn database_file(&self) -> PathBuf {
        self.data.join("kirjuri.db")
    }

    /// The encrypted object folder.
    pub fn objects_dir(&self) -> PathBuf {
        self.data.join("objects")
    }

    /// Lock files that mark live processes (see `app::Instance`).
    pub fn instances_dir(&self) -> PathBuf {
        self.data.join("instances")
    }
}
