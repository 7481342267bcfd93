//! The application's integration tests, one binary: whole jobs run against
//! a real data folder (SQLite, key files, object files, the erasure ledger)
//! with the clock injected, below the command line and HTTP. The black-box
//! tests of the same jobs through the binary are `crates/kirjuri/tests/api`.

mod backup;
mod purge;
