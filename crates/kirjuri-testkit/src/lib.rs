//! Kirjuri's test support, in one place: the real servers the tests run
//! against and the real binary they drive. Every test and benchmark that
//! needs one of these takes it from here rather than writing its own.
//!
//! - [`postgres`]: a fresh database per test on the PostgreSQL at
//!   `KIRJURI_TEST_POSTGRES_URL`, or one `scripts/pg start --fast` starts.
//! - [`garage`]: the S3 service named by `KIRJURI_TEST_S3_*`, or a Garage
//!   `scripts/garage start` starts; a fresh prefix per test.
//! - [`server`]: the `kirjuri` binary — its commands ([`server::Kirjuri`])
//!   and `kirjuri serve` on port 0 ([`server::Server`]: waits until it
//!   listens, captures its output, is killed when dropped).
//! - [`app`]: [`app::TestApp`], a running server over a fresh data folder
//!   with an account and token per role, and a method per endpoint.
//! - [`smtp`]: an aiosmtpd SMTP server delivering into a Maildir, and
//!   [`kannel`]: Kannel's bearerbox and smsbox with the fake SMSC — the
//!   outbox's real servers, on free ports, killed on drop.
//! - [`fixtures`]: what the tests deliver and how they check answers
//!   (contacts, WAVs, bodies, error shapes, file scans).
//!
//! A missing server fails the tests that need it, naming what to install;
//! none of them skips. The benchmarks, which report rather than assert, use
//! the `try_` and `Own…` forms, which return a [`SetupError`] instead of
//! panicking. Not here: assertions about behaviour (the tests), and
//! anything of `kirjuri-app`, `kirjuri-web` or the binary crate — the binary's path is
//! passed in (`env!("CARGO_BIN_EXE_kirjuri")`), so this crate sees only the
//! interface, as the black-box tests do.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test support: a failed expectation is a failed test, reported with its message"
)]

pub mod app;
pub mod fixtures;
pub mod garage;
pub mod kannel;
pub mod postgres;
pub mod server;
pub mod smtp;

/// Why a server or command the caller asked for did not start or failed:
/// what was attempted and, in the text, what it said (test support keeps
/// the cause as text — it crosses a process boundary anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

impl From<String> for SetupError {
    fn from(message: String) -> Self {
        SetupError(message)
    }
}

/// The repository root (for `scripts/pg` and `scripts/garage`).
fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
