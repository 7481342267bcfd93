//! Where the bucket is and who may write to it: [`S3Config`] (endpoint,
//! region, bucket, prefix, the EEA location check) and [`S3Credentials`]
//! (from the environment or an owner-only file, held as secrets), with the
//! checks on endpoints and prefixes.
//!
//! Not here: connecting (`store.rs`); what errors may quote
//! (`redact.rs`).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kirjuri_core::location::{LocationError, check_storage_location};
use object_store::signer::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, IoContext, Result};

/// Where and how to reach one S3-compatible bucket (a `[objects.s3]`-style
/// table of the server's configuration). Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The service's URL, e.g. `https://s3.example.fi` or
    /// `http://127.0.0.1:3900`; none means AWS S3 itself.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The signing region (`garage` for Garage, `eu-north-1` on AWS).
    pub region: String,
    /// The bucket; it must exist.
    pub bucket: String,
    /// Optional folder inside the bucket, e.g. `kirjuri/objects`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Allow plain `http://` endpoints (loopback tests, a service on the same
    /// host). Credentials are never sent either way (requests are HMAC-signed)
    /// and objects are ciphertext, but without TLS an eavesdropper sees
    /// object names and sizes.
    #[serde(default)]
    pub allow_http: bool,
    /// ISO 3166-1 alpha-2 code of the country the data is stored in; must be
    /// in the EU/EEA (privacy notice §9, DIS-1).
    pub country: String,
    /// An owner-only (0600) TOML file with `access_key_id` and
    /// `secret_access_key`; without it the credentials come from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

impl S3Config {
    /// Whether this is AWS S3 itself: no custom endpoint, or one whose host
    /// is under `amazonaws.com` (or `amazonaws.com.cn`).
    pub fn is_aws(&self) -> bool {
        let Some(endpoint) = &self.endpoint else {
            return true;
        };
        let host = Url::parse(endpoint)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let host = host.trim_end_matches('.');
        ["amazonaws.com", "amazonaws.com.cn"]
            .iter()
            .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
    }

    /// The EU/EEA rule for this location
    /// ([`kirjuri_core::location::check_storage_location`]): the declared
    /// country, and on AWS the region too.
    pub fn check_location(&self) -> Result<(), LocationError> {
        let aws_region = self.is_aws().then_some(self.region.as_str());
        check_storage_location(&self.country, aws_region)
    }
}

/// An S3 access key pair. `Debug` shows neither half.
#[derive(Clone)]
pub struct S3Credentials {
    /// The access key id (e.g. `GK…` on Garage). Not strictly secret, but it
    /// names an account, so it is kept out of logs too.
    pub(super) access_key_id: SecretString,
    /// The secret access key.
    pub(super) secret_access_key: SecretString,
}

/// The credentials file's contents.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CredentialsFile {
    /// See [`S3Credentials::access_key_id`].
    access_key_id: String,
    /// See [`S3Credentials::secret_access_key`].
    secret_access_key: String,
}

impl S3Credentials {
    /// A key pair from values the caller already holds.
    pub fn new(access_key_id: SecretString, secret_access_key: SecretString) -> Result<Self> {
        if access_key_id.expose_secret().is_empty() || secret_access_key.expose_secret().is_empty()
        {
            return Err(Error::InvalidInput(
                "S3 credentials: the access key id and the secret access key must not be empty"
                    .into(),
            ));
        }
        Ok(Self {
            access_key_id,
            secret_access_key,
        })
    }

    /// The credentials for `config`: from its credentials file if it names
    /// one, else from the environment.
    pub fn load(config: &S3Config) -> Result<Self> {
        match &config.credentials_file {
            Some(path) => Self::from_file(path),
            None => Self::from_env(),
        }
    }

    /// From `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub fn from_env() -> Result<Self> {
        let read = |name: &str| {
            std::env::var(name).map(SecretString::from).map_err(|_| {
                Error::InvalidInput(format!(
                    "S3 credentials: {name} is not set (set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY, or credentials_file in the object store's \
                     configuration)"
                ))
            })
        };
        Self::new(read("AWS_ACCESS_KEY_ID")?, read("AWS_SECRET_ACCESS_KEY")?)
    }

    /// From an owner-only TOML file:
    /// ```toml
    /// access_key_id = "GK…"
    /// secret_access_key = "…"
    /// ```
    /// A file that others can read or write is refused, as for the key file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut file = File::open(path)
            .io_context(|| format!("failed to open S3 credentials file {}", path.display()))?;
        let metadata = file
            .metadata()
            .io_context(|| format!("failed to stat S3 credentials file {}", path.display()))?;
        let bad = |message: String| Error::KeyFile {
            path: path.to_owned(),
            message,
        };
        if !metadata.is_file() {
            return Err(bad("not a regular file".into()));
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(Error::InsecureKeyFile {
                path: path.to_owned(),
                mode,
            });
        }
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text)
            .io_context(|| format!("failed to read S3 credentials file {}", path.display()))?;
        // toml's own messages quote the offending line, which may hold the
        // secret: report only where the problem is.
        let parsed: CredentialsFile = toml::from_str(&text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text.get(..span.start).unwrap_or("").lines().count().max(1));
            bad(format!(
                "not an S3 credentials file{}; it must hold exactly access_key_id = \"…\" and \
                 secret_access_key = \"…\"",
                line.map(|line| format!(" (problem on line {line})"))
                    .unwrap_or_default()
            ))
        })?;
        Self::new(
            SecretString::from(parsed.access_key_id),
            SecretString::from(parsed.secret_access_key),
        )
        .map_err(|_| bad("access_key_id and secret_access_key must not be empty".into()))
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &"[redacted]")
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// `""`, or the prefix's segments joined by `/` with a trailing `/`. Segments
/// are letters, digits, `.`, `_` and `-`, never `.` or `..` alone.
pub(super) fn normalize_prefix(prefix: Option<&str>) -> Result<String> {
    let Some(prefix) = prefix else {
        return Ok(String::new());
    };
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for segment in trimmed.split('/') {
        let valid = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(Error::InvalidInput(format!(
                "object store prefix {prefix:?} is not a plain folder path (letters, digits, \
                 '.', '_', '-' separated by '/')"
            )));
        }
    }
    Ok(format!("{trimmed}/"))
}

/// Refuses endpoints that are not `http(s)://host[:port][/path]`, that carry
/// credentials, or that use plain http without `allow_http`.
pub(super) fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidInput(format!("object store endpoint: {why}")));
    let Ok(url) = Url::parse(endpoint) else {
        return bad("not a URL (expected e.g. https://s3.example.fi)");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return bad("must not contain credentials; use credentials_file or the environment");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("has no host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return bad("must not have a query or fragment");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => bad(&format!(
            "{} uses plain http; set allow_http = true to allow that (loopback tests)",
            url.origin().ascii_serialization()
        )),
        other => bad(&format!("unsupported scheme {other:?}; use https")),
    }
}
