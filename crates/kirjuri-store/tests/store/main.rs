//! The store's tests, in one binary. `contract` and `accounts` state what
//! every [`Store`] must do and run each case, through `&dyn Store` only,
//! against an in-memory SQLite store, a file-backed one and PostgreSQL
//! (`support::on_every_backend!`; `support` explains where the PostgreSQL
//! server comes from — a missing one fails the tests, it never skips them).
//! `sqlite` checks what is particular to the SQLite adapter: its settings,
//! its triggers, several handles and processes on one file, and the query
//! plans behind the lookup-speed target. `postgres` does the same for the
//! PostgreSQL adapter: audit order across connection pools, the application
//! role's privileges, races between pools, and its query plans.
//!
//! [`Store`]: kirjuri_store::Store

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test should fail loudly at the line that broke"
)]

mod accounts;
mod contract;
mod copy;
mod disclosures;
mod incidents;
mod limits;
mod notices;
mod outbox;
mod postgres;
mod requests;
mod retention;
mod sqlite;
mod statistics;
mod support;
mod surveys;
