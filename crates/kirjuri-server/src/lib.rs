//! Kirjuri's application layer: the assembled app (`app`), intake of contacts
//! and recordings (`intake`), the audited read path (`read`), accounts and
//! tokens (`auth`), browser sessions (`session`), the HTTP API (`http`) and demo data (`demo`).
//!
//! It owns no storage format and no cryptography of its own — those are
//! `kirjuri-store` and `kirjuri-vault` — and no access rule: it asks
//! `kirjuri_core::access::authorize` every time.

pub mod app;
pub mod audit;
pub mod audit_chain;
pub mod auth;
pub mod backup;
pub mod config;
pub mod demo;
pub mod error;
pub mod holds;
pub mod http;
pub mod import;
pub mod intake;
pub mod ledger;
pub mod migrate;
pub mod purge;
pub mod read;
pub mod retention;
pub mod session;
pub mod ui;

pub use app::Kirjuri;
pub use config::Config;
pub use error::{Error, Result};
