//! The targets of `migrate-store`: the PostgreSQL database (its URL, a
//! password from a file, and errors scrubbed of both) and the object store
//! (a bucket, or a local folder — possibly the source's own, left in place).

use std::path::Path;
use std::sync::Arc;

use kirjuri_core::location::check_storage_location;
use kirjuri_store::PostgresStore;
use kirjuri_vault::{LocalFolder, ObjectStore, S3Config, S3Credentials, S3Store};

use super::{Error, Result, same_folder};
use crate::Config;
use crate::config::{DatabaseUrl, ObjectBackend};

/// The target database's URL: the flag, else the configuration's.
pub(super) fn target_url(config: &Config, flag: Option<&str>) -> Result<DatabaseUrl> {
    let url = match (flag, &config.database.url) {
        (Some(url), _) => DatabaseUrl::new(url),
        (None, Some(url)) => url.clone(),
        (None, None) => return Err(Error::NoTargetDatabase),
    };
    if !url.is_postgres() {
        return Err(Error::NotPostgres);
    }
    Ok(url)
}

/// Connects to the target database (applying its schema), with the
/// configuration's password file if it names one. The error names the
/// server without its password.
pub(super) async fn connect_target(config: &Config, url: &DatabaseUrl) -> Result<PostgresStore> {
    let password = match &config.database.password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| Error::Io {
                    context: format!("failed to read the password file {}", path.display()),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        ),
        None => None,
    };
    let with_password = match &password {
        Some(password) => with_password(url.expose(), password)?,
        None => url.expose().to_owned(),
    };
    PostgresStore::open(&with_password)
        .await
        .map_err(|e| Error::Connect {
            url: url.redacted(),
            message: scrub(&e.to_string(), url, password.as_deref()),
        })
}

/// `url` with `password` (percent-encoded) in place of any it holds.
fn with_password(url: &str, password: &str) -> Result<String> {
    let (scheme, rest) = url.split_once("://").ok_or(Error::NotAUrl)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (userinfo.split(':').next().unwrap_or(""), host),
        None => ("", authority),
    };
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok(format!("{scheme}://{user}:{encoded}@{host}{tail}"))
}

/// `message` with the URL's password and `password` cut out, in case a
/// driver ever quotes them.
fn scrub(message: &str, url: &DatabaseUrl, password: Option<&str>) -> String {
    let mut message = message.replace(url.expose(), &url.redacted());
    let in_url = url
        .expose()
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned());
    for secret in [in_url.as_deref(), password].into_iter().flatten() {
        if !secret.is_empty() {
            message = message.replace(secret, "***");
        }
    }
    message
}

/// Where the objects go.
pub(super) struct TargetObjects {
    /// The store.
    pub(super) store: Arc<dyn ObjectStore>,
    /// Whether it is the source's own folder (PostgreSQL with the objects
    /// left in place): nothing to copy, only to check.
    pub(super) in_place: bool,
    /// For messages: `s3://bucket/prefix` or the folder.
    pub(super) description: String,
}

impl TargetObjects {
    /// For people: where the objects go.
    pub(super) fn describe(&self) -> String {
        if self.in_place {
            format!("{} (left in place)", self.description)
        } else {
            self.description.clone()
        }
    }
}

/// The target object store: the bucket `flag` describes, else the
/// configuration's `[objects]`. A local folder is accepted too; the source's
/// own folder means the objects stay where they are.
pub(super) async fn open_target_objects(
    config: &Config,
    flag: Option<&Path>,
    source_dir: &Path,
) -> Result<TargetObjects> {
    let s3 = match flag {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                context: format!("failed to read {}", path.display()),
                source,
            })?;
            let s3: S3Config = toml::from_str(&text).map_err(|e| Error::ObjectsFile {
                path: path.to_owned(),
                problem: e.message().to_owned(),
            })?;
            Some(s3)
        }
        None => match config.objects.backend {
            ObjectBackend::S3 => Some(config.objects.s3.clone().ok_or(Error::NoS3Table)?),
            ObjectBackend::Local => None,
        },
    };
    match s3 {
        Some(s3) => {
            s3.check_location().map_err(|source| Error::Location {
                setting: "objects.s3",
                source,
            })?;
            let credentials = S3Credentials::load(&s3)?;
            let store = S3Store::open(&s3, credentials)?;
            store.probe().await?;
            let prefix = s3
                .prefix
                .as_deref()
                .map(|p| format!("/{p}"))
                .unwrap_or_default();
            Ok(TargetObjects {
                store: Arc::new(store),
                in_place: false,
                description: format!("s3://{}{prefix}", s3.bucket),
            })
        }
        None => {
            if let Some(country) = &config.objects.country {
                check_storage_location(country, None).map_err(|source| Error::Location {
                    setting: "objects.country",
                    source,
                })?;
            }
            let dir = config.objects_dir();
            let source = source_dir.join("objects");
            let in_place = same_folder(&dir, &source);
            Ok(TargetObjects {
                store: Arc::new(LocalFolder::open(&dir)?),
                in_place,
                description: dir.display().to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_from_a_file_replaces_the_urls_and_is_percent_encoded() {
        assert_eq!(
            with_password("postgres://kirjuri:old@db:5432/k?sslmode=require", "p@ss/w").ok(),
            Some("postgres://kirjuri:p%40ss%2Fw@db:5432/k?sslmode=require".to_owned())
        );
        assert_eq!(
            with_password("postgres://db/k", "s").ok(),
            Some("postgres://:s@db/k".to_owned())
        );
    }

    #[test]
    fn a_drivers_message_loses_both_passwords() {
        let url = DatabaseUrl::new("postgres://kirjuri:hunter2@db/k");
        let scrubbed = scrub(
            "auth failed for hunter2 and filepass",
            &url,
            Some("filepass"),
        );
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert!(!scrubbed.contains("filepass"), "{scrubbed}");
    }
}
