//! The application's integration tests, one binary: whole jobs run against
//! a real data folder (SQLite, key files, object files, the erasure ledger)
//! with the clock injected, below the command line and HTTP. The black-box
//! tests of the same jobs through the binary are `crates/kirjuri/tests/api`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test binary: a failed expectation is a failed test"
)]

mod audit;
mod backup;
mod group_commit;
mod outbox;
mod purge;
mod reads;
mod surveys;

use futures::StreamExt;
use kirjuri_app::{Error, Kirjuri};
use kirjuri_core::access::Actor;
use kirjuri_core::ids::{ContactId, UserId};
use kirjuri_core::purpose::Purpose;
use kirjuri_core::role::Role;
use kirjuri_core::username::UserName;

/// Reads a contact's whole recording as a supervisor would.
async fn read_recording_as_supervisor(app: &Kirjuri, contact: ContactId) -> Result<Vec<u8>, Error> {
    let actor = Actor {
        name: UserName::parse("sanna", "user").unwrap(),
        role: Role::Supervisor,
        confidentiality_agreement: false,
        reason: None,
    };
    let body = app
        .read_recording(
            &actor,
            UserId::new_v7(),
            contact,
            Purpose::ComplaintVerification,
            None,
        )
        .await?;
    let mut bytes = Vec::new();
    let mut stream = body.stream;
    while let Some(piece) = stream.next().await {
        bytes.extend_from_slice(&piece?);
    }
    Ok(bytes)
}
