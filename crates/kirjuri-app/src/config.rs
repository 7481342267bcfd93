//! Runtime configuration. The binary layers defaults, an optional TOML file and
//! `KIRJURI_…` environment variables into this struct (figment); the server
//! only reads it.
//!
//! Keys live in the files it points to, not here. The one secret it may hold
//! is the database URL's password (or the file that holds it): that is a
//! [`SecretString`], never serialised, and its `Debug` is redacted, so neither
//! a log line nor an `invalid configuration` error can show it.
//!
//! Storage is chosen here (README "Scale-out"): no
//! `[database] url` means SQLite in the data folder; a `postgres://` URL means
//! PostgreSQL shared by every node. `[objects] backend` picks the local
//! folder or an S3-compatible bucket. Every storage location outside this
//! machine declares its `country`, which must be in the EU/EEA (DIS-1;
//! checked by `Kirjuri::open`).

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

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
    /// The longest lifetime, in days, of a token issued through the API or
    /// the web UI (the command line's `token create` is not limited).
    pub token_max_lifetime_days: u32,
    /// PEM certificate chain; with `tls_key`, `serve` speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A request or response body that moves no bytes for this long is cut off.
    pub body_idle_timeout_seconds: u64,
    /// A client gets this long for its TLS handshake and for each request's
    /// head (request line and headers); then the connection is closed.
    pub header_read_timeout_seconds: u64,
    /// A kept-alive connection with no request for this long is closed.
    pub keep_alive_idle_seconds: u64,
    /// `serve` exits at most this long after SIGTERM or SIGINT, whatever is
    /// down: requests in flight, the background jobs and the final audit
    /// checkpoint get this long in all, and what did not finish is logged.
    pub shutdown_timeout_seconds: u64,
    /// Connections served at once; at the cap the oldest idle one yields
    /// (see `kirjuri_web::http::connections`). Keep it well under the open-file limit.
    pub max_connections: usize,
    /// The erasure ledger's folder. Defaults to `<data>/erasure-ledger`;
    /// point it at a separate disk or a write-once mount so it outlives the
    /// data folder's backups.
    pub ledger_dir: Option<PathBuf>,
    /// Retention policies, legal-hold limits and the purge's schedule.
    pub retention: crate::retention::RetentionConfig,
    /// The database: embedded SQLite (default) or a shared PostgreSQL.
    pub database: DatabaseConfig,
    /// Object storage: the data folder (default) or an S3-compatible bucket.
    pub objects: ObjectsConfig,
    /// How nodes sharing a database tell each other they are alive.
    pub cluster: ClusterConfig,
    /// Data-subject requests: clock pauses, holidays, assurance, codes.
    pub requests: crate::requests::RequestsConfig,
    /// How email and SMS leave (the durable outbox's senders and pace).
    pub outbox: crate::outbox::OutboxConfig,
    /// The register's description: the privacy notice's and the Art. 30
    /// record's source.
    pub register: crate::register::RegisterConfig,
    /// Secrets of the systems that call Kirjuri's webhooks (the chat
    /// system's, `[webhooks] chat_secret`).
    pub webhooks: crate::transcripts::WebhooksConfig,
    /// Where the LMTP listener takes mail from the mail server
    /// (`KIRJURI_LMTP_LISTEN`); off when unset (docs/email.md).
    pub lmtp_listen: Option<SocketAddr>,
    /// Email: the message size limit and the LMTP intake's settings.
    pub email: crate::messages::EmailConfig,
    /// The public contact form and the forms API (`[forms]`).
    pub forms: crate::forms::FormsConfig,
    /// What attachments may be (`[attachments] media_types`).
    pub attachments: crate::attachments::AttachmentsConfig,
    /// The statistics' disclosure control (`[statistics] k`).
    pub statistics: crate::statistics::StatisticsConfig,
    /// Satisfaction surveys: the reply callback's secret and the replies'
    /// retention (`[surveys]`; the per-service settings are in the
    /// database).
    pub surveys: crate::surveys::SurveysConfig,
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
            token_max_lifetime_days: 365,
            tls_cert: None,
            tls_key: None,
            body_idle_timeout_seconds: 60,
            header_read_timeout_seconds: 10,
            keep_alive_idle_seconds: 5,
            shutdown_timeout_seconds: 10,
            max_connections: 512,
            ledger_dir: None,
            retention: crate::retention::RetentionConfig::default(),
            database: DatabaseConfig::default(),
            objects: ObjectsConfig::default(),
            cluster: ClusterConfig::default(),
            requests: crate::requests::RequestsConfig::default(),
            outbox: crate::outbox::OutboxConfig::default(),
            register: crate::register::RegisterConfig::default(),
            webhooks: crate::transcripts::WebhooksConfig::default(),
            lmtp_listen: None,
            email: crate::messages::EmailConfig::default(),
            forms: crate::forms::FormsConfig::default(),
            attachments: crate::attachments::AttachmentsConfig::default(),
            statistics: crate::statistics::StatisticsConfig::default(),
            surveys: crate::surveys::SurveysConfig::default(),
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

    /// Where the file sender writes messages (`outbox.*.sender = "file"`).
    pub fn outbox_dir(&self) -> PathBuf {
        self.data.join("outbox")
    }

    /// Lock files that mark live processes (see `app::Instance`).
    pub fn instances_dir(&self) -> PathBuf {
        self.data.join("instances")
    }
}

/// Which `KIRJURI_…` environment variables are configuration. The test and
/// benchmark harnesses and `scripts/pg` share the prefix for their own knobs
/// (`KIRJURI_TEST_POSTGRES_URL`, `KIRJURI_BENCH_…`, `KIRJURI_PG_DIR`, …);
/// those are not configuration and must not be refused as unknown keys.
/// `KIRJURI_DATA`, `KIRJURI_LOG` and `KIRJURI_LOG_FORMAT` are read
/// elsewhere (the `--data` flag, the log's filter and format). `key` is the variable's name without the prefix, in any
/// case; a nested key is written with `__` (`KIRJURI_DATABASE__URL`).
pub fn is_config_env_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key != "data"
        && key != "log"
        && key != "log_format"
        && !["bench", "test_", "pg_", "garage_"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
}

/// `[database]`: where the rows live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/db`. Absent: embedded SQLite in the data
    /// folder. May carry the password; better set it through the environment
    /// (`KIRJURI_DATABASE__URL`) or `password_file` than in a file others read.
    #[serde(skip_serializing)]
    pub url: Option<DatabaseUrl>,
    /// A file whose contents (trailing newline removed) are the database
    /// password, e.g. a container secret; overrides a password in the URL.
    pub password_file: Option<PathBuf>,
    /// The ISO 3166-1 alpha-2 code of the country the database server is in
    /// (`FI`, `SE`, …); required with a URL and must be in the EU/EEA (DIS-1).
    pub country: Option<String>,
    /// Whether each node brings the schema up to date when it connects
    /// (the default: the connecting role owns the schema). Set `false` when
    /// the schema's owner migrates at deployment and grants the nodes' role
    /// only what it needs — then the nodes cannot rewrite the audit log even
    /// by mistake; a node refuses a schema older than itself.
    pub migrate: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            password_file: None,
            country: None,
            migrate: true,
        }
    }
}

/// A database URL. It may hold a password, so it is kept secret: redacted
/// in `Debug`, never serialised, and errors about it never quote it.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL itself, password included: hand it to the database driver and
    /// nowhere else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether it names a PostgreSQL server (`postgres://` or `postgresql://`).
    pub fn is_postgres(&self) -> bool {
        let url = self.expose();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The URL with any password replaced by `***`, for messages about which
    /// server was meant (`postgres://kirjuri:***@db.example:5432/kirjuri`).
    pub fn redacted(&self) -> String {
        let url = self.expose();
        let Some((scheme, rest)) = url.split_once("://") else {
            return "(not a URL)".to_owned();
        };
        // The authority ends at the first '/', '?' or '#'; its userinfo at
        // the last '@' inside it.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                if userinfo.contains(':') {
                    format!("{user}:***@{host}")
                } else {
                    format!("{user}@{host}")
                }
            }
            None => authority.to_owned(),
        };
        // A query string may carry `password=…` too: drop it whole.
        let path = tail.split(['?', '#']).next().unwrap_or("");
        format!("{scheme}://{authority}{path}")
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl([REDACTED])")
    }
}

impl PartialEq for DatabaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for DatabaseUrl {}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through `SecretString`, whose error for a non-string names only
        // the type, never the value.
        SecretString::deserialize(deserializer).map(DatabaseUrl)
    }
}

/// `[cluster]`: liveness of processes that share a database but not a data
/// folder. Meaningful only with a `[database] url`; one machine's processes
/// also hold lock files in their shared data folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Seconds between a process's heartbeats in the shared database.
    pub heartbeat_seconds: u64,
    /// A process whose last heartbeat is older than this is dead: a survivor
    /// removes the uploads it left pending. Several heartbeats long, so a
    /// slow moment is not mistaken for death.
    pub instance_ttl_seconds: u64,
    /// Seconds between `serve`'s recovery runs (one node at a time, under
    /// the `recover` lease), which clean up after nodes that died.
    pub recover_interval_seconds: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            heartbeat_seconds: 5,
            instance_ttl_seconds: 30,
            recover_interval_seconds: 30,
        }
    }
}

/// `[objects]`: where the sealed objects (recordings, …) live.
///
/// ```toml
/// [objects]
/// backend = "s3"
/// [objects.s3]
/// endpoint = "https://s3.example.fi"   # none: AWS S3 in `region`
/// region = "garage"
/// bucket = "kirjuri"
/// country = "FI"                       # required, EU/EEA only
/// credentials_file = "/etc/kirjuri/s3-credentials.toml"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// `local` (the data folder's `objects/`) or `s3`.
    pub backend: ObjectBackend,
    /// With the `local` backend, the ISO 3166-1 alpha-2 code of the country
    /// this machine is in; optional, checked against the EU/EEA when given.
    /// (An S3 bucket declares its own in `[objects.s3] country`.)
    pub country: Option<String>,
    /// The bucket, for `backend = "s3"`: the vault's own settings (endpoint,
    /// region, bucket, prefix, `allow_http`, country, `credentials_file`;
    /// without a file the keys come from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`). Holds no secret.
    #[serde(skip_serializing)]
    pub s3: Option<kirjuri_vault::S3Config>,
}

/// Which object storage backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectBackend {
    /// Files in the data folder (embedded default; one node).
    #[default]
    Local,
    /// An S3-compatible bucket shared by every node.
    S3,
}
