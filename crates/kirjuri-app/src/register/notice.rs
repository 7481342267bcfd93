//! The published privacy notice (NOT-1, issue 13 §2): every change of the
//! register's description or of the retention rules in force becomes a
//! dated version when `serve` starts ([`Kirjuri::publish_notice`]); each
//! version keeps its content in every language as it was published, so
//! older versions stay readable, and shows its difference from the one
//! before it as rows removed and added. A change marked significant
//! (`[register.change] significant = true`) puts a banner on the public
//! pages for `banner_days`.
//!
//! Not here: HTML (the web layer renders [`NoticeView`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kirjuri_store::NewAuditEvent;
use kirjuri_store::notices::NoticeVersionRow;
use serde::Serialize;
use serde_json::json;

use super::{ProcessingRecord, Text};
use crate::app::Kirjuri;
use crate::error::{Error, Result};

/// Versions listed at most.
const MAX_VERSIONS: u32 = 500;

/// The languages a notice is published in.
const LANGUAGES: [&str; 3] = ["fi", "sv", "en"];

/// One version in the list of versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionSummary {
    pub version: String,
    pub published_at: DateTime<Utc>,
    pub significant: bool,
    /// The note on what changed, in the asked language.
    pub note: Option<String>,
}

/// What changed from the previous version, as the record's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeChange {
    /// The version compared with.
    pub previous: String,
    pub removed: Vec<(String, String)>,
    pub added: Vec<(String, String)>,
}

/// A notice as shown: one version in one language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeView {
    pub version: VersionSummary,
    /// Whether this is the version in force.
    pub current: bool,
    pub record: ProcessingRecord,
    /// The difference from the version before (none for the first).
    pub change: Option<NoticeChange>,
    /// The banner the public pages show now, if a significant change is
    /// recent: the current version's note (or an empty string).
    pub banner: Option<String>,
}

/// The checked language.
fn language(language: &str) -> Result<&'static str> {
    LANGUAGES
        .iter()
        .copied()
        .find(|l| *l == language)
        .ok_or_else(|| Error::bad_request("invalid_language", "lang must be fi, sv or en"))
}

fn summary(row: &NoticeVersionRow, language: &str) -> Result<VersionSummary> {
    let note = match &row.note {
        Some(json) => {
            let text: Text = serde_json::from_str(json)
                .map_err(|e| Error::decode("a notice's note", &row.version, &e))?;
            Some(text.get(language).to_owned())
        }
        None => None,
    };
    Ok(VersionSummary {
        version: row.version.clone(),
        published_at: row.published_at,
        significant: row.significant,
        note,
    })
}

fn record_of(row: &NoticeVersionRow, language: &str) -> Result<ProcessingRecord> {
    let mut content: BTreeMap<String, ProcessingRecord> = serde_json::from_str(&row.content)
        .map_err(|e| Error::decode("a notice version", &row.version, &e))?;
    content
        .remove(language)
        .ok_or(Error::Internal("a notice version lacks a language"))
}

fn rows(record: &ProcessingRecord) -> Vec<(String, String)> {
    record
        .rows()
        .into_iter()
        .filter(|(section, _)| *section != "version")
        .map(|(section, value)| (section.to_owned(), value))
        .collect()
}

impl Kirjuri {
    /// Publishes the current description as a new version unless it is
    /// published already; `true` if it was. Audited `notice.published`.
    pub async fn publish_notice(&self) -> Result<bool> {
        let mut content = BTreeMap::new();
        for language in LANGUAGES {
            content.insert(language, self.processing_record(language)?);
        }
        let change = &self.config.register.change;
        let encode = |what: &'static str| move |source| Error::Encode { what, source };
        let row = NoticeVersionRow {
            version: self.description_version()?,
            published_at: self.clock.now(),
            significant: change.significant,
            note: change
                .note
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(encode("a notice's note"))?,
            content: serde_json::to_string(&content).map_err(encode("a notice version"))?,
        };
        let audit = NewAuditEvent {
            at: row.published_at,
            actor: None,
            action: "notice.published".into(),
            object: Some(row.version.clone()),
            purpose: None,
            outcome: "success".into(),
            details: json!({"significant": row.significant}),
        };
        Ok(self.store.publish_notice(&row, &audit).await?)
    }

    /// Every published version, newest first, in `language`.
    pub async fn notice_versions(&self, language: &str) -> Result<Vec<VersionSummary>> {
        let language = self::language(language)?;
        self.store
            .notice_versions(MAX_VERSIONS)
            .await?
            .iter()
            .map(|row| summary(row, language))
            .collect()
    }

    /// The notice in `language`: the version in force, or `version`.
    /// [`Error::NotFound`] for a version never published (or none yet).
    pub async fn notice(&self, language: &str, version: Option<&str>) -> Result<NoticeView> {
        let language = self::language(language)?;
        let versions = self.store.notice_versions(MAX_VERSIONS).await?;
        let latest = versions.first().ok_or(Error::NotFound)?;
        let at = match version {
            None => 0,
            Some(wanted) => versions
                .iter()
                .position(|v| v.version == wanted)
                .ok_or(Error::NotFound)?,
        };
        let row = &versions[at];
        let record = record_of(row, language)?;
        let change = match versions.get(at + 1) {
            Some(previous) => {
                let before = rows(&record_of(previous, language)?);
                let after = rows(&record);
                Some(NoticeChange {
                    previous: previous.version.clone(),
                    removed: before
                        .iter()
                        .filter(|r| !after.contains(r))
                        .cloned()
                        .collect(),
                    added: after
                        .iter()
                        .filter(|r| !before.contains(r))
                        .cloned()
                        .collect(),
                })
            }
            None => None,
        };
        let days = i64::from(self.config.register.change.banner_days);
        let banner = (latest.significant
            && self.clock.now() < latest.published_at + Duration::days(days))
        .then(|| summary(latest, language).map(|s| s.note.unwrap_or_default()))
        .transpose()?;
        Ok(NoticeView {
            version: summary(row, language)?,
            current: at == 0,
            record,
            change,
            banner,
        })
    }
}
