//! The register's description (NOT-1, issue 13 §1): who the controller is,
//! whom to contact, the purposes with their legal bases, the categories of
//! data subjects and data, sources, recipients, transfers, security
//! measures and the rights — configuration (`[register]`), in Finnish,
//! Swedish and English, validated at start-up with errors that name the
//! setting. The defaults are the privacy notice Kirjuri was built from
//! (HSY's notice of its customer-service contact register); a deployment
//! for another controller sets its own.
//!
//! From it, and from the retention policies in force (never typed twice),
//! [`Kirjuri::processing_record`] makes the GDPR Art. 30(1) record of
//! processing; the published privacy notice and a data subject's access
//! package read the same description, so the three cannot drift.
//!
//! Not here: rendering (HTML and CSV are the web layer's), the notice's
//! dated versions.

mod defaults;
mod notice;

pub use notice::{NoticeChange, NoticeView, VersionSummary};

use kirjuri_core::email::EmailAddress;
use kirjuri_core::location::check_country;
use kirjuri_core::purpose::Purpose;
use kirjuri_core::wire_enum;
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use crate::app::Kirjuri;
use crate::error::{Error, Result};
use crate::retention::StoredKind;

/// The longest text of a description, in characters.
const MAX_TEXT: usize = 4000;

/// A text in each of the notice's languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub fi: String,
    pub sv: String,
    pub en: String,
}

impl Text {
    /// The text in `language` (`fi`, `sv`, `en`; anything else: Finnish).
    pub fn get(&self, language: &str) -> &str {
        match language {
            "sv" => &self.sv,
            "en" => &self.en,
            _ => &self.fi,
        }
    }

    fn check(&self, setting: &'static str) -> Result<()> {
        for (language, text) in [("fi", &self.fi), ("sv", &self.sv), ("en", &self.en)] {
            let chars = text.trim().chars().count();
            if chars == 0 || chars > MAX_TEXT {
                return Err(Error::config(
                    setting,
                    format!("the {language} text must be 1–{MAX_TEXT} characters"),
                ));
            }
        }
        Ok(())
    }
}

wire_enum! {
    /// A legal basis of Art. 6(1).
    pub enum LegalBasis("legal basis") {
        /// (a) consent.
        Consent = "consent",
        /// (b) a contract with the data subject.
        Contract = "contract",
        /// (c) a legal obligation of the controller.
        LegalObligation = "legal_obligation",
        /// (d) vital interests.
        VitalInterests = "vital_interests",
        /// (e) a task in the public interest.
        PublicTask = "public_task",
        /// (f) legitimate interests.
        LegitimateInterests = "legitimate_interests",
    }
}

impl LegalBasis {
    /// Whether the right to data portability (Art. 20(1)(a)) applies:
    /// only to processing based on consent or a contract.
    pub fn allows_portability(self) -> bool {
        matches!(self, LegalBasis::Consent | LegalBasis::Contract)
    }
}

wire_enum! {
    /// A kind of recipient (§8).
    pub enum RecipientKind("recipient kind") {
        /// A processor acting on the controller's behalf (Art. 28).
        Processor = "processor",
        /// A partner.
        Partner = "partner",
        /// A public authority.
        Authority = "authority",
        /// The police.
        Police = "police",
    }
}

/// The controller (§1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub name: String,
    pub business_id: String,
    pub address: String,
    /// ISO 3166-1 alpha-2; must be in the EU/EEA.
    pub country: String,
}

/// The contact person for the register (§3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPoint {
    /// A title, not a person's name.
    pub title: Text,
    pub address: String,
    pub phone: String,
}

/// The data protection officer (§13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionOfficer {
    pub email: String,
}

/// One purpose of processing with its legal basis (§5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeEntry {
    pub purpose: Purpose,
    pub legal_basis: LegalBasis,
    pub text: Text,
}

/// A category of recipients (§8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientCategory {
    pub kind: RecipientKind,
    pub text: Text,
}

/// `[register]`: the register's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterConfig {
    /// The register's name (§2).
    pub name: Text,
    pub controller: Controller,
    pub contact: ContactPoint,
    /// The responsible person's title (§4).
    pub responsible: Text,
    pub dpo: ProtectionOfficer,
    /// Every purpose data are read for, each with its legal basis.
    pub purposes: Vec<PurposeEntry>,
    /// The purposes in general terms (§5's opening).
    pub purpose_summary: Text,
    /// Categories of data subjects.
    pub data_subjects: Vec<Text>,
    /// Categories of personal data (§6).
    pub data_categories: Vec<Text>,
    /// Where the data come from (§7).
    pub sources: Text,
    /// Categories of recipients (§8).
    pub recipients: Vec<RecipientCategory>,
    /// Transfers outside the EU/EEA (§9): none.
    pub transfers: Text,
    /// Security measures (§10).
    pub security: Vec<Text>,
    /// The rights and how to use them (§11).
    pub rights: Text,
    /// How the change that makes the current version is announced. Not
    /// part of the description (its digest leaves it out).
    #[serde(skip_serializing)]
    pub change: ChangeNotice,
}

/// `[register.change]`: the announcement of a change to the notice
/// (§14): whether it is significant — a banner on the public pages for
/// `banner_days` — and a note on what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangeNotice {
    pub significant: bool,
    pub note: Option<Text>,
    pub banner_days: u32,
}

impl Default for ChangeNotice {
    fn default() -> Self {
        Self {
            significant: false,
            note: None,
            banner_days: 30,
        }
    }
}

impl Default for RegisterConfig {
    fn default() -> Self {
        defaults::hsy()
    }
}

impl RegisterConfig {
    /// Refuses a description that cannot be published, naming the setting.
    pub fn validate(&self) -> Result<()> {
        self.name.check("register.name")?;
        for (setting, value) in [
            ("register.controller.name", &self.controller.name),
            (
                "register.controller.business_id",
                &self.controller.business_id,
            ),
            ("register.controller.address", &self.controller.address),
            ("register.contact.address", &self.contact.address),
            ("register.contact.phone", &self.contact.phone),
        ] {
            let chars = value.trim().chars().count();
            if chars == 0 || chars > 200 {
                return Err(Error::config(setting, "must be 1–200 characters"));
            }
        }
        check_country(&self.controller.country).map_err(|e| Error::Config {
            setting: "register.controller.country",
            problem: "must be an ISO 3166-1 code of a country in the EU/EEA".into(),
            source: Some(Box::new(e)),
        })?;
        self.contact.title.check("register.contact.title")?;
        self.responsible.check("register.responsible")?;
        EmailAddress::parse(&self.dpo.email, "register.dpo.email")
            .map_err(|_| Error::config("register.dpo.email", "must be an email address"))?;
        self.purpose_summary.check("register.purpose_summary")?;
        for entry in &self.purposes {
            entry.text.check("register.purposes")?;
        }
        // Every purpose a read may state is one the notice describes.
        if let Some(missing) = Purpose::ALL
            .iter()
            .find(|p| !self.purposes.iter().any(|e| e.purpose == **p))
        {
            return Err(Error::config(
                "register.purposes",
                format!("must describe every purpose reads are made for; {missing} is missing"),
            ));
        }
        for (setting, list) in [
            ("register.data_subjects", &self.data_subjects),
            ("register.data_categories", &self.data_categories),
            ("register.security", &self.security),
        ] {
            if list.is_empty() {
                return Err(Error::config(setting, "must list at least one entry"));
            }
            for text in list {
                text.check(setting)?;
            }
        }
        for recipient in &self.recipients {
            recipient.text.check("register.recipients")?;
        }
        self.sources.check("register.sources")?;
        self.transfers.check("register.transfers")?;
        self.rights.check("register.rights")?;
        if let Some(note) = &self.change.note {
            note.check("register.change.note")?;
        }
        if !(1..=365).contains(&self.change.banner_days) {
            return Err(Error::config(
                "register.change.banner_days",
                format!(
                    "must be between 1 and 365 (it is {})",
                    self.change.banner_days
                ),
            ));
        }
        Ok(())
    }
}

/// One retention rule as the record shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionEntry {
    /// `call_recording`, `chat_transcript`, …
    pub kind: String,
    /// Calendar months after the contact's day.
    pub months: u32,
    /// The rule's legal or contractual reference.
    pub reference: String,
}

/// A purpose as the record shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPurpose {
    pub purpose: Purpose,
    pub legal_basis: LegalBasis,
    pub description: String,
}

/// A recipient category as the record shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRecipient {
    pub kind: RecipientKind,
    pub description: String,
}

/// The record of processing activities, Art. 30(1), in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingRecord {
    /// A digest of everything below (the description and the rules in
    /// force): a new version whenever any of it changes.
    pub version: String,
    pub language: String,
    pub register: String,
    /// (a) the controller, the contact point, the responsible person, the DPO.
    pub controller: Controller,
    pub contact: String,
    pub contact_address: String,
    pub contact_phone: String,
    pub responsible: String,
    pub dpo_email: String,
    /// (b) the purposes.
    pub purpose_summary: String,
    pub purposes: Vec<RecordPurpose>,
    /// (c) the categories of data subjects and of personal data.
    pub data_subjects: Vec<String>,
    pub data_categories: Vec<String>,
    pub sources: String,
    /// (d) the categories of recipients.
    pub recipients: Vec<RecordRecipient>,
    /// (e) transfers to third countries.
    pub transfers: String,
    /// (f) the time limits for erasure, from the policies in force.
    pub retention: Vec<RetentionEntry>,
    /// (g) the security measures.
    pub security: Vec<String>,
    /// The rights and how to use them (Art. 13(2)(b)–(d)).
    pub rights: String,
}

impl ProcessingRecord {
    /// The record as `(section, value)` rows: for CSV and plain listings.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("version", self.version.clone()),
            ("register", self.register.clone()),
            ("controller", self.controller.name.clone()),
            (
                "controller_business_id",
                self.controller.business_id.clone(),
            ),
            ("controller_address", self.controller.address.clone()),
            ("controller_country", self.controller.country.clone()),
            ("contact", self.contact.clone()),
            ("contact_address", self.contact_address.clone()),
            ("contact_phone", self.contact_phone.clone()),
            ("responsible", self.responsible.clone()),
            ("dpo_email", self.dpo_email.clone()),
            ("purpose_summary", self.purpose_summary.clone()),
        ];
        for p in &self.purposes {
            rows.push((
                "purpose",
                format!("{} ({}): {}", p.purpose, p.legal_basis, p.description),
            ));
        }
        rows.extend(
            self.data_subjects
                .iter()
                .map(|s| ("data_subjects", s.clone())),
        );
        rows.extend(
            self.data_categories
                .iter()
                .map(|s| ("data_category", s.clone())),
        );
        rows.push(("sources", self.sources.clone()));
        for r in &self.recipients {
            rows.push(("recipient", format!("{}: {}", r.kind, r.description)));
        }
        rows.push(("transfers", self.transfers.clone()));
        for r in &self.retention {
            rows.push((
                "retention",
                format!("{}: {} months ({})", r.kind, r.months, r.reference),
            ));
        }
        rows.extend(self.security.iter().map(|s| ("security", s.clone())));
        rows.push(("rights", self.rights.clone()));
        rows
    }
}

impl ProcessingRecord {
    /// The record as CSV: a header `section,value`, then [`Self::rows`].
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        // Writing into a Vec fails only on a broken record shape.
        let failed = |_: csv::Error| Error::Internal("the record's CSV could not be written");
        writer.write_record(["section", "value"]).map_err(failed)?;
        for (section, value) in self.rows() {
            writer
                .write_record([section, value.as_str()])
                .map_err(failed)?;
        }
        writer
            .into_inner()
            .map_err(|_| Error::Internal("the record's CSV could not be finished"))
    }
}

impl Kirjuri {
    /// `GET /api/v1/processing-record`: the Art. 30 record for those who
    /// may read the retention overview (registrars, the responsible
    /// person, supervisors, administrators); others are refused 403,
    /// audited.
    pub async fn read_processing_record(
        &self,
        actor: &kirjuri_core::access::Actor,
        actor_id: kirjuri_core::ids::UserId,
        language: &str,
    ) -> Result<ProcessingRecord> {
        self.authorize_register(
            actor,
            actor_id,
            kirjuri_core::access::Action::ReadRetention,
            None,
        )
        .await?;
        self.processing_record(language)
    }

    /// The Art. 30 record in `language` (`fi`, `sv` or `en`), from the
    /// description and the retention policies in force.
    pub fn processing_record(&self, language: &str) -> Result<ProcessingRecord> {
        let language = match language {
            "fi" | "sv" | "en" => language,
            _ => {
                return Err(Error::bad_request(
                    "invalid_language",
                    "lang must be fi, sv or en",
                ));
            }
        };
        let d = &self.config.register;
        let t = |text: &Text| text.get(language).to_owned();
        let retention = StoredKind::ALL
            .iter()
            .map(|kind| {
                let policy = self.config.retention.policy(*kind);
                RetentionEntry {
                    kind: kind.as_str().to_owned(),
                    months: policy.months,
                    reference: policy.reference.clone(),
                }
            })
            .collect();
        let mut record = ProcessingRecord {
            version: String::new(),
            language: language.to_owned(),
            register: t(&d.name),
            controller: d.controller.clone(),
            contact: t(&d.contact.title),
            contact_address: d.contact.address.clone(),
            contact_phone: d.contact.phone.clone(),
            responsible: t(&d.responsible),
            dpo_email: d.dpo.email.clone(),
            purpose_summary: t(&d.purpose_summary),
            purposes: d
                .purposes
                .iter()
                .map(|p| RecordPurpose {
                    purpose: p.purpose,
                    legal_basis: p.legal_basis,
                    description: t(&p.text),
                })
                .collect(),
            data_subjects: d.data_subjects.iter().map(t).collect(),
            data_categories: d.data_categories.iter().map(t).collect(),
            sources: t(&d.sources),
            recipients: d
                .recipients
                .iter()
                .map(|r| RecordRecipient {
                    kind: r.kind,
                    description: t(&r.text),
                })
                .collect(),
            transfers: t(&d.transfers),
            retention,
            security: d.security.iter().map(t).collect(),
            rights: t(&d.rights),
        };
        record.version = self.description_version()?;
        Ok(record)
    }

    /// The description's version: the first 12 hex digits of the SHA-256
    /// of the description and the retention rules in force, as JSON — the
    /// same in every language.
    pub fn description_version(&self) -> Result<String> {
        let rules: Vec<(&str, u32, &str)> = StoredKind::ALL
            .iter()
            .map(|kind| {
                let policy = self.config.retention.policy(*kind);
                (kind.as_str(), policy.months, policy.reference.as_str())
            })
            .collect();
        let bytes = serde_json::to_vec(&(&self.config.register, rules)).map_err(|source| {
            Error::Encode {
                what: "the register's description",
                source,
            }
        })?;
        let hash = digest(&SHA256, &bytes);
        Ok(hash.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_description_is_the_notice_and_validates() {
        let config = RegisterConfig::default();
        config.validate().unwrap();
        assert!(config.controller.name.contains("HSY"));
        assert_eq!(config.purposes.len(), Purpose::ALL.len());
        assert!(
            config
                .purposes
                .iter()
                .all(|p| p.legal_basis == LegalBasis::LegalObligation),
            "§5: the controller's statutory obligation"
        );
    }

    #[test]
    fn a_broken_description_is_refused_naming_the_setting() {
        let mut config = RegisterConfig::default();
        config.controller.country = "US".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("register.controller.country"), "{error}");

        let mut config = RegisterConfig::default();
        config.purposes.retain(|p| p.purpose != Purpose::Training);
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("register.purposes") && error.contains("training"),
            "{error}"
        );

        let mut config = RegisterConfig::default();
        config.rights.sv = " ".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("register.rights") && error.contains("sv"),
            "{error}"
        );

        let mut config = RegisterConfig::default();
        config.dpo.email = "not an address".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("register.dpo.email"), "{error}");
        assert!(!error.contains("not an address"), "{error}");

        let mut config = RegisterConfig::default();
        config.security.clear();
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("register.security")
        );
    }

    async fn app(dir: &std::path::Path, months: u32) -> Kirjuri {
        let mut retention = crate::retention::RetentionConfig::default();
        retention.chat_transcript.months = months;
        let config = crate::Config {
            data: dir.to_path_buf(),
            retention,
            ..crate::Config::default()
        };
        let clock = std::sync::Arc::new(kirjuri_core::clock::FixedClock::new(
            "2026-12-06T12:00:00Z".parse().unwrap(),
        ));
        Kirjuri::open(config, clock).await.unwrap()
    }

    #[tokio::test]
    async fn a_changed_retention_rule_changes_the_record_and_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let twelve = app(dir.path(), 12).await;
        let before = twelve.processing_record("fi").unwrap();
        drop(twelve);
        let six = app(dir.path(), 6).await;
        let after = six.processing_record("fi").unwrap();

        let chat = |r: &ProcessingRecord| {
            r.retention
                .iter()
                .find(|e| e.kind == "chat_transcript")
                .unwrap()
                .months
        };
        assert_eq!((chat(&before), chat(&after)), (12, 6));
        assert_ne!(before.version, after.version);
        assert_eq!(after.version, six.processing_record("en").unwrap().version);
        assert!(
            after
                .rows()
                .iter()
                .any(|(k, v)| *k == "retention" && v.starts_with("chat_transcript: 6 months"))
        );
        assert_eq!(
            six.processing_record("de").unwrap_err().code(),
            "invalid_language"
        );
    }

    #[test]
    fn portability_applies_only_to_consent_and_contract() {
        let allowed: Vec<_> = LegalBasis::ALL
            .iter()
            .filter(|b| b.allows_portability())
            .collect();
        assert_eq!(allowed, [&LegalBasis::Consent, &LegalBasis::Contract]);
    }
}
