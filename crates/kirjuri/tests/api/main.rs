//! The black-box API tests (STYLE.md 15): one test binary that drives the real
//! `kirjuri` executable — `serve` on port 0 with a fresh data folder, and the
//! `user`, `token` and `import` commands — over HTTP and the command line, the
//! way integrations and operators do (the README's command and HTTP tables).
//! It deliberately links nothing of the server: what a user cannot see through
//! the interface is not asserted here, except the data folder's files, which
//! the leak and crash tests read as a thief or an operator would. `migrate`
//! moves an embedded register to PostgreSQL and Garage with `kirjuri
//! migrate-store` and serves it from there. The harness is
//! `kirjuri_testkit`'s, bound to this binary in `helpers`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary: a failed expectation is a failed test, reported with its message"
)]

mod access;
mod accounts;
mod attack_data;
mod attack_login;
mod attack_net;
mod audit;
mod backup;
mod contacts;
mod crash;
mod disclosures;
mod disk_full;
mod doctor;
mod email;
mod email_mta;
mod execute;
mod forms;
mod helpers;
mod holds;
mod import;
mod incidents;
mod kill_loop;
mod leaks;
mod limits;
mod metrics;
mod migrate;
mod openapi;
mod public_request;
mod purge;
mod receipt;
mod recipients;
mod recordings;
mod register;
mod registrar_forms;
mod requests;
mod requests_ui;
mod statistics;
mod statistics_reports;
mod surveys;
mod surveys_ui;
mod transcripts;
