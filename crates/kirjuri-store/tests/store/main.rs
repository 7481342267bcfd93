//! The store's tests, in one binary. `contract` states what every [`Store`]
//! must do and runs each case against an in-memory and a file-backed SQLite
//! store through `&dyn Store` only — the PostgreSQL adapter will run the same
//! cases. `sqlite` checks what is particular to the SQLite adapter: its
//! settings, its triggers, several handles and processes on one file, and the
//! query plans behind the lookup-speed target.
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
mod retention;
mod sqlite;
mod support;
