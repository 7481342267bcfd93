//! The real S3 server the S3 tests, the migration and cluster tests and the
//! S3 benchmarks run against: the one named by `KIRJURI_TEST_S3_ENDPOINT`,
//! `KIRJURI_TEST_S3_BUCKET`, `KIRJURI_TEST_S3_ACCESS_KEY` and
//! `KIRJURI_TEST_S3_SECRET_KEY` (region `garage`), or else a single-node
//! Garage that `scripts/garage` starts once per process and stops (and
//! removes) when the process exits. No mock: without a `garage` binary the
//! tests that need it fail, naming the install command; they never skip.
//!
//! Tests share the bucket and keep apart by prefix ([`fresh_prefix`],
//! [`Garage::store`]). Benchmarks start one of their own in a folder they
//! choose, with the options they need (`--fsync`): [`OwnGarage`], stopped
//! when dropped, its pid known, errors returned rather than panics.
//!
//! Not here: what the tests assert about `S3Store` (kirjuri-vault's tests).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kirjuri_vault::{S3Config, S3Credentials, S3Store};
use secrecy::SecretString;

use crate::SetupError;

/// The S3 target's coordinates.
#[derive(Clone)]
pub struct Garage {
    /// e.g. `http://127.0.0.1:39001`.
    pub endpoint: String,
    /// The bucket the tests write into.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

/// The variables naming a running S3 service, in [`Garage`]'s field order.
const VARS: [&str; 4] = [
    "KIRJURI_TEST_S3_ENDPOINT",
    "KIRJURI_TEST_S3_BUCKET",
    "KIRJURI_TEST_S3_ACCESS_KEY",
    "KIRJURI_TEST_S3_SECRET_KEY",
];

/// The target, started on first use. Panics with the reason if there is
/// none: a missing Garage is a failure, never a skip.
pub fn garage() -> &'static Garage {
    static GARAGE: OnceLock<Result<Garage, String>> = OnceLock::new();
    match GARAGE.get_or_init(|| from_env().unwrap_or_else(|| start(&[]))) {
        Ok(garage) => garage,
        Err(message) => panic!("{message}"),
    }
}

/// A Garage of this process's own, started with `extra` options of
/// `scripts/garage start` (e.g. `--fsync`), whatever the environment says.
pub fn start_own(extra: &[&str]) -> Garage {
    start(extra).unwrap_or_else(|message| panic!("{message}"))
}

/// A prefix in the bucket no other test uses: `<label>-<random>`.
pub fn fresh_prefix(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

/// The target from `KIRJURI_TEST_S3_*`, if the endpoint is set.
fn from_env() -> Option<Result<Garage, String>> {
    std::env::var(VARS[0]).ok().filter(|v| !v.is_empty())?;
    let values: Vec<Option<String>> = VARS
        .iter()
        .map(|v| std::env::var(v).ok().filter(|v| !v.is_empty()))
        .collect();
    let missing: Vec<&str> = VARS
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Some(Err(format!(
            "{} is set but {} are not",
            VARS[0],
            missing.join(", ")
        )));
    }
    let [endpoint, bucket, access_key, secret_key] = <[Option<String>; 4]>::try_from(values)
        .ok()?
        .map(Option::unwrap_or_default);
    Some(Ok(Garage {
        endpoint,
        bucket,
        access_key,
        secret_key,
    }))
}

/// Starts a Garage in a fresh temp folder; it stops and the folder goes
/// when this process exits.
fn start(extra: &[&str]) -> Result<Garage, String> {
    let dir = tempfile::Builder::new()
        .prefix("kirjuri-garage-")
        .tempdir()
        .map_err(|e| format!("cannot create a folder for Garage: {e}"))?
        .keep();
    let mut options = vec!["--remove"];
    options.extend_from_slice(extra);
    start_in(&dir, &options).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    })
}

/// Starts a Garage in `dir` with `scripts/garage start` options `extra`,
/// watching this process (it stops when this process exits).
fn start_in(dir: &Path, extra: &[&str]) -> Result<Garage, String> {
    let script = crate::repository().join("scripts/garage");
    let output = Command::new(&script)
        .arg("start")
        .arg(dir)
        .args(["--watch", &std::process::id().to_string()])
        .args(extra)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the S3 tests need a real Garage and it did not start (install it with \
             `cargo install garage --locked`, or point KIRJURI_TEST_S3_* at a running S3 \
             server):\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("export {name}=")))
            .map(|value| value.trim_matches('\'').to_owned())
            .ok_or_else(|| format!("scripts/garage printed no {name}:\n{text}"))
    };
    Ok(Garage {
        endpoint: value(VARS[0])?,
        bucket: value(VARS[1])?,
        access_key: value(VARS[2])?,
        secret_key: value(VARS[3])?,
    })
}

/// A Garage of the caller's own in a folder it chooses, stopped when
/// dropped (or when this process exits); the folder is left to its owner.
pub struct OwnGarage {
    /// The folder `scripts/garage` manages.
    dir: PathBuf,
    /// Its coordinates.
    pub garage: Garage,
    /// The Garage process (to count its CPU time).
    pub pid: u32,
}

impl OwnGarage {
    /// Starts Garage in `dir` with `scripts/garage start` options `extra`
    /// (e.g. `--fsync`).
    pub fn start(dir: &Path, extra: &[&str]) -> Result<Self, SetupError> {
        let garage = start_in(dir, extra)?;
        let pid = read_pid(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            garage,
            pid,
        })
    }

    /// Starts this Garage again after it was stopped or killed, on the same
    /// ports and with the same keys and data, so clients reconnect to the
    /// same endpoint.
    pub fn restart(&mut self) -> Result<(), SetupError> {
        let again = start_in(&self.dir, &["--same-ports"]).map_err(SetupError)?;
        if again.endpoint != self.garage.endpoint {
            return Err(SetupError(format!(
                "Garage came back at {} instead of {}",
                again.endpoint, self.garage.endpoint
            )));
        }
        self.pid = read_pid(&self.dir)?;
        Ok(())
    }
}

/// The pid `scripts/garage` wrote into `dir`.
fn read_pid(dir: &Path) -> Result<u32, SetupError> {
    let pid_file = dir.join("garage.pid");
    std::fs::read_to_string(&pid_file)
        .map_err(|e| SetupError(format!("cannot read {}: {e}", pid_file.display())))?
        .trim()
        .parse()
        .map_err(|e| SetupError(format!("{} holds no pid: {e}", pid_file.display())))
}

impl std::fmt::Debug for OwnGarage {
    // Not derived: the coordinates hold the secret key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnGarage")
            .field("dir", &self.dir)
            .field("endpoint", &self.garage.endpoint)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Drop for OwnGarage {
    fn drop(&mut self) {
        let _ = Command::new(crate::repository().join("scripts/garage"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

impl Garage {
    /// A configuration for this target with objects under `prefix`.
    pub fn config(&self, prefix: &str) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            region: "garage".into(),
            bucket: self.bucket.clone(),
            prefix: Some(prefix.into()),
            allow_http: self.endpoint.starts_with("http://"),
            country: "FI".into(),
            credentials_file: None,
        }
    }

    /// The target's credentials.
    pub fn credentials(&self) -> S3Credentials {
        S3Credentials::new(
            SecretString::from(self.access_key.clone()),
            SecretString::from(self.secret_key.clone()),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A store under a prefix of its own, so tests do not see each other.
    pub fn store(&self) -> S3Store {
        self.store_at(&fresh_prefix("test"))
    }

    /// A store under `prefix`.
    pub fn store_at(&self, prefix: &str) -> S3Store {
        S3Store::open(&self.config(prefix), self.credentials()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Writes the credentials as the owner-only TOML file `[objects.s3]
    /// credentials_file` names, at `path`, and returns it.
    pub fn credentials_file(&self, path: &Path) -> PathBuf {
        std::fs::write(
            path,
            format!(
                "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
                self.access_key, self.secret_key
            ),
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("cannot make {} owner-only: {e}", path.display()));
        path.to_owned()
    }

    /// The `[objects]` sections of a `kirjuri` configuration file that put
    /// the register's objects in this target under `prefix`, with the
    /// credentials from `credentials_file` or, without one, from the
    /// environment ([`Garage::aws_env`]).
    pub fn objects_toml(&self, prefix: &str, credentials_file: Option<&Path>) -> String {
        let credentials = credentials_file
            .map(|path| format!("credentials_file = \"{}\"\n", path.display()))
            .unwrap_or_default();
        format!(
            "[objects]\nbackend = \"s3\"\n\n[objects.s3]\nendpoint = \"{}\"\nregion = \"garage\"\n\
             bucket = \"{}\"\nprefix = \"{prefix}\"\nallow_http = true\ncountry = \"FI\"\n{credentials}",
            self.endpoint, self.bucket
        )
    }

    /// A scale-out node's whole configuration file: its data folder, the
    /// key files in `keys` (shared by the nodes), a PostgreSQL database
    /// (its URL goes in through `KIRJURI_DATABASE__URL`) and this bucket
    /// under `prefix`.
    pub fn node_toml(&self, data: &Path, keys: &Path, prefix: &str) -> String {
        format!(
            "data = \"{data}\"\nkey_file = \"{keys}/keyring.json\"\n\
             audit_key_file = \"{keys}/audit-signing.key\"\n\n[database]\ncountry = \"FI\"\n\n{objects}",
            data = data.display(),
            keys = keys.display(),
            objects = self.objects_toml(prefix, None),
        )
    }

    /// The credentials as the environment a `kirjuri` command reads them
    /// from (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub fn aws_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
        ]
    }
}
