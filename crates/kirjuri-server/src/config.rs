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
    /// Largest accepted recording body in bytes.
    pub max_recording_bytes: u64,
    /// Largest accepted JSON body in bytes.
    pub max_json_bytes: usize,
    /// PEM certificate chain; with `tls_key`, `serve` speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A request or response body that moves no bytes for this long is cut off.
    pub body_idle_timeout_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("kirjuri-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            key_file: None,
            // 8 GiB: about 70 hours of 8 kHz stereo PCM16, far past any call.
            max_recording_bytes: 8 << 30,
            max_json_bytes: 1 << 20,
            tls_cert: None,
            tls_key: None,
            body_idle_timeout_seconds: 60,
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
