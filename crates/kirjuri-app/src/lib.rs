//! Kirjuri's application, with no HTTP in it: the assembled app (`app`),
//! intake of contacts and recordings (`intake`), the audited read path
//! (`read`), accounts and tokens (`auth`), sessions (`session`), legal holds
//! (`holds`), retention and the purge (`retention`, `purge`), the durable
//! outbox for email and SMS (`outbox`), `serve`'s
//! background jobs started in one call (`jobs`), operational metrics
//! (`metrics`), the installation's self-check (`doctor`), the audit log
//! and its signed checkpoints (`audit`, `audit_chain`), the erasure ledger
//! (`ledger`), backup and restore (`backup`), batch import (`import`),
//! moving an embedded register to PostgreSQL and S3 (`migrate`), signed ZIP
//! packages of personal data for the data subject or an authority
//! (`package`), signed erasure receipts (`receipt`) and demo
//! data (`demo`). The web
//! layer (`kirjuri-web`) and the command line (`kirjuri`) each call into it.
//!
//! It owns no storage format and no cryptography of its own — those are
//! `kirjuri-store` and `kirjuri-vault` — and no access rule: it asks
//! `kirjuri_core::access::authorize` every time. It knows no HTTP: its
//! [`Error`] says what went wrong and whose fault it was; the web layer
//! decides the status code.

pub mod app;
pub mod attachments;
pub mod audit;
pub mod audit_chain;
pub mod auth;
pub mod backup;
pub mod config;
pub mod content;
pub mod demo;
pub mod disclosures;
pub mod doctor;
pub mod error;
pub mod forms;
pub mod group_commit;
pub mod holds;
pub mod import;
pub mod incidents;
pub mod intake;
pub mod jobs;
pub mod ledger;
pub mod messages;
pub mod metrics;
pub mod migrate;
pub mod outbox;
pub mod package;
pub mod purge;
pub mod read;
pub mod receipt;
pub mod recipients;
pub mod register;
pub mod requests;
pub mod retention;
pub mod rollup_backfill;
pub mod session;
pub mod statistics;
pub mod subject_limits;
pub mod surveys;
pub mod transcripts;

pub use app::Kirjuri;
pub use config::Config;
pub use error::{Error, Result};
